import Foundation
import Postgres
import SwitchyardCore
import SwitchyardRuntime
import TestSupport
import Testing

@Suite("Observer self-health with real agents", .serialized)
struct ObserverSelfHealthTests {
    @Test func aFrozenObserverDeclaresItsOwnLagAndChargesNothingToTheRegions() async throws {
        try await DevFixture.with(regions: 2, dags: fastDAGs) { f in
            for r in f.state.regions { try f.start("s-\(r)", ["scheduler", "--region", r, "--node-id", "s-\(r)"]) }
            let url = try await f.startAgent("us-east")
            try #require(
                await f.waitUntil(timeout: .seconds(20)) {
                    try await f.status(url).regions.allSatisfy { $0.health == .healthy }
                } != nil)
            let control = try await f.connectControl()
            let frozenAt = try await control.query("SELECT now() AS t").first?["t"].require(Date.self) ?? Date()
            // The agent is stopped mid-probe for 2.5 s: every deadline it had passes while it cannot run.
            let pid = try #require(f.pid("agent-us-east"))
            kill(pid, SIGSTOP)
            try await Task.sleep(for: .milliseconds(2500))
            kill(pid, SIGCONT)
            let resumedAt = try await control.query("SELECT now() AS t").first?["t"].require(Date.self) ?? Date()
            // It finds its own lag (its timer overshot) and says so in /status and /metrics.
            let declared = await f.waitUntil(timeout: .seconds(10)) {
                ((try? await f.status(url).selfHealth?.lagEvents) ?? 0) >= 1
            }
            #expect(declared != nil, "\(f.log("agent-us-east").suffix(2000))")
            let metrics = try await f.get(url, "/metrics").bodyText
            #expect(metrics.contains("switchyard_observer_lag_events{observer=\"us-east\"}"), "\(metrics.prefix(3000))")
            #expect(f.log("agent-us-east").contains("observer lagging"))
            // Two seconds of its fresh observations after the resume, then: what it missed while frozen
            // (a probe in flight is inconclusive) charged no region with a down.
            let observed = await f.waitUntil(timeout: .seconds(20)) {
                let row = try? await control.query(
                    "SELECT min(observed_at) AS t FROM switchyard.observations WHERE observer = 'us-east'"
                ).first
                guard let t = try? row?["t"].optional(Date.self) else { return false }
                return t > resumedAt.addingTimeInterval(2)
            }
            #expect(observed != nil)
            let downs = try await control.query(
                "SELECT message FROM switchyard.events WHERE kind = 'health' AND at >= $1 AND message LIKE 'us-east sees % down%'",
                [.date(frozenAt)]
            ).rows.map { $0["message"].string ?? "" }
            #expect(downs.isEmpty, "\(downs)")
            await control.close()
        }
    }
}
