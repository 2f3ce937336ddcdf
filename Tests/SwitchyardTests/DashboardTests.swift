import Foundation
import SwitchyardRuntime
import TestSupport
import Testing

let chromium = ["/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome"].first {
    FileManager.default.isExecutableFile(atPath: $0)
}

@Suite(
    "Dashboard in headless Chromium", .serialized,
    .enabled(if: chromium != nil, "needs Chromium (apt-get install chromium) for the headless screenshot"))
struct DashboardTests {
    @Test func dashboardRendersRegionsComponentsAndTheActiveRegion() async throws {
        try await DevFixture.with(regions: 2, dags: fastDAGs) { f in
            for r in ["us-east", "eu-west"] {
                try f.start("s-\(r)", ["scheduler", "--region", r, "--node-id", "s-\(r)"])
            }
            let url = try await f.startAgent("us-east")
            await f.state.redis["eu-west"]!.stop()
            try #require(
                await f.waitUntil(timeout: .seconds(15)) {
                    let s = try await f.status(url)
                    return s.regions.first { $0.name == "eu-west" }?.health == .down
                        && s.regions.first { $0.name == "us-east" }?.health == .healthy
                } != nil)
            let browser = try #require(chromium)
            let flags = [
                "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--window-size=1280,720",
                "--virtual-time-budget=4000",
            ]
            let dom = try await Subprocess.run(browser, flags + ["--dump-dom", url + "/"], check: false)
            // The page rendered /status: region cards, the active one marked, component states, the leader.
            #expect(dom.output.contains("class=\"card active\""))
            #expect(dom.output.contains("us-east") && dom.output.contains("eu-west"))
            #expect(dom.output.contains("<span class=\"pill down\">down</span>"))
            #expect(dom.output.contains("s-us-east"))
            let png = f.state.directory + "/dashboard.png"
            _ = try await Subprocess.run(browser, flags + ["--screenshot=\(png)", url + "/"], check: false)
            let bytes = try Data(contentsOf: URL(fileURLWithPath: png))
            #expect(bytes.starts(with: [0x89, 0x50, 0x4E, 0x47]))
            #expect(bytes.count > 20_000)
        }
    }
}
