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
    /// The DOM with every `<script>…</script>` element cut out.
    static func withoutScripts(_ dom: String) -> String {
        var text = dom
        while let open = text.range(of: "<script"),
            let close = text.range(of: "</script>", range: open.upperBound..<text.endIndex)
        {
            text.removeSubrange(open.lowerBound..<close.upperBound)
        }
        return text
    }

    @Test func dashboardRendersRegionsHistoryTimelineTrendsAndEvents() async throws {
        try await DevFixture.with(regions: 2, dags: fastDAGs) { f in
            for r in ["us-east", "eu-west"] {
                try f.start("s-\(r)", ["scheduler", "--region", r, "--node-id", "s-\(r)"])
            }
            let url = try await f.startAgent("us-east")
            let control = try await f.connectControl()
            try #require(await f.waitSteady(control, observers: 1))
            // A failover for the history and its timeline, then a standby component down.
            let failover = try await SwitchyardBinary.run([
                "failover", "--to", "eu-west", "--force", "--config", f.config, "--reason", "dashboard <b>test</b>",
            ])
            try #require(failover.status == 0, "\(failover.output) \(failover.errors)")
            await f.state.redis["us-east"]!.stop()
            try #require(
                await f.waitUntil(timeout: .seconds(20)) {
                    let s = try await f.status(url)
                    let history = try await f.get(url, "/history").bodyText
                    let trends = try await f.get(url, "/trends").bodyText
                    return s.regions.first { $0.name == "us-east" }?.health == .down
                        && s.regions.first { $0.name == "eu-west" }?.health == .healthy
                        && history.contains("\"state\":\"completed\"")
                        && trends.components(separatedBy: "\"health\"").count > 6
                } != nil)
            let browser = try #require(chromium)
            // Checked on what the browser rendered, with the page's own script cut out: the script spells most
            // of the markup it builds, so a string found in it proves nothing. At a laptop's width and a wide
            // monitor's.
            for (width, height) in [(1440, 1000), (2560, 1440)] {
                let flags = [
                    "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                    "--window-size=\(width),\(height)", "--virtual-time-budget=6000",
                ]
                let dom = Self.withoutScripts(
                    try await Subprocess.run(browser, flags + ["--dump-dom", url + "/"], check: false).output)
                let at = "at \(width) px"
                #expect(!dom.contains("<script") && dom.contains("<body"), "\(at): \(dom.prefix(500))")
                // Regions: both cards, the active one marked, a component down, the leader, a trend chart each.
                #expect(dom.contains("data-region=\"us-east\"") && dom.contains("data-region=\"eu-west\""), "\(at)")
                #expect(dom.contains("card active\" data-region=\"eu-west\""), "\(at): \(dom.prefix(3000))")
                #expect(dom.contains(">down<"), "\(at)")
                #expect(dom.contains("s-eu-west"), "\(at)")
                #expect(dom.components(separatedBy: "<svg class=\"trend\"").count - 1 == 2, "\(at)")
                // The failover's timeline: one segment per step, in order; the reason escaped, not markup.
                #expect(dom.contains("data-failover=\"1\""), "\(at)")
                let steps = ["begin", "fence", "migrate", "activate", "route", "complete"]
                let positions = steps.compactMap { dom.range(of: "data-step=\"\($0)\"")?.lowerBound }
                #expect(positions.count == steps.count && positions == positions.sorted(), "\(at): \(steps)")
                #expect(dom.contains("dashboard &lt;b&gt;test&lt;/b&gt;") && !dom.contains("<b>test</b>"), "\(at)")
                // Events, the control database tile, runs in flight.
                #expect(dom.contains("data-event="), "\(at)")
                #expect(dom.contains("data-key=\"control-db\""), "\(at)")
                #expect(dom.contains("runs:"), "\(at)")
                let png = f.state.directory + "/dashboard-\(width).png"
                _ = try await Subprocess.run(browser, flags + ["--screenshot=\(png)", url + "/"], check: false)
                let bytes = try Data(contentsOf: URL(fileURLWithPath: png))
                #expect(bytes.starts(with: [0x89, 0x50, 0x4E, 0x47]), "\(at)")
                #expect(bytes.count > 20_000, "\(at)")
                // The PNG's own width (IHDR): the page was laid out at this size.
                let pngWidth = bytes.count > 24 ? bytes[16..<20].reduce(0) { $0 << 8 | Int($1) } : 0
                #expect(pngWidth == width, "\(at): a \(pngWidth) px screenshot")
            }
        }
    }
}
