import Foundation
import SwitchyardCore
import TestSupport
import Testing

@Suite("Short commands exit cleanly, back to back", .serialized)
struct ShortCommandExitTests {
    /// Each short command many times in a row, on a machine the rest of the suite keeps busy: no run
    /// may die of a signal (abort 134, segfault 139) or cut its JSON short. `switchyard bench exits`
    /// does the same hundreds of times, idle and under a storm; its figures are in BENCHMARKS.md.
    @Test func everyShortCommandExitsWithItsCodeAndWholeOutput() async throws {
        try await DevFixture.with(regions: 2, dags: fastDAGs) { f in
            try f.start("s-us-east", ["scheduler", "--region", "us-east", "--node-id", "s-us-east"])
            let url = try await f.startAgent("us-east")
            let commands: [(String, [String], Bool)] = [
                (
                    "migrate-runs", ["migrate-runs", "--from", "us-east", "--to", "eu-west", "--dry-run", "--json"],
                    true
                ),
                ("status", ["status", "--json", "--agent", url], true),
                ("history", ["history", "--json"], true),
                ("config show", ["config", "show"], false),
                ("nodes", ["nodes", "--region", "us-east", "--json"], true),
                ("trigger", ["trigger", "orphan_check", "--json"], true),
            ]
            for (name, arguments, json) in commands {
                var abnormal: [String] = [], truncated = 0
                for _ in 0..<20 {
                    let run = try await SwitchyardBinary.run(arguments + ["--config", f.config])
                    if run.status != 0 { abnormal.append("exit \(run.status): \(run.errors.suffix(300))") }
                    if json, run.status == 0,
                        (try? JSONSerialization.jsonObject(with: Data(run.output.utf8), options: [.fragmentsAllowed]))
                            == nil
                    {
                        truncated += 1
                    }
                }
                #expect(abnormal.isEmpty, "\(name): \(abnormal.prefix(3))")
                #expect(truncated == 0, "\(name): \(truncated) of 20 JSON outputs did not parse")
            }
        }
    }
}
