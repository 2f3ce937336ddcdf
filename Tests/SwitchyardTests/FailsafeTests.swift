import Foundation
import Postgres
import SwitchyardCore
import SwitchyardRuntime
import TestSupport
import Testing

/// The control plane's own outage never stops the active region (issue 11): the active region's leader
/// acts on a failsafe lease a majority of region databases confirm, and a failover revokes it first.
@Suite("Failsafe lease with real processes", .serialized)
struct FailsafeTests {
    let dags = """
        dags:
          - id: ticking
            schedule: "@every 1s"
            command: "true"
            max_active_runs: 2
          - id: long
            command: "sleep 9.75"
            timeout: 1m

        """

    func count(_ c: PostgresConnection, _ sql: String) async throws -> Int {
        try await c.query(sql).first?["n"].require(Int.self) ?? -1
    }

    @Test func aStoppedControlDatabaseStopsNoCommandAndSchedulingGoesOn() async throws {
        try await DevFixture.with(regions: 3, dags: dags) { f in
            try f.start("a", ["scheduler", "--region", "us-east", "--node-id", "a"])
            try f.start("w", ["worker", "--region", "us-east", "--worker-id", "w"])
            let api = try await f.startAgent("eu-west")
            let db = try await f.connect("us-east")
            try #require(
                await f.waitUntil(timeout: .seconds(20)) { f.log("a").contains("scheduling: region is active") } != nil)
            let before = try await f.leadership(db)
            #expect(try await SwitchyardBinary.run(["trigger", "long", "--config", f.config]).status == 0)
            try #require(
                await f.waitUntil(timeout: .seconds(15)) {
                    try await count(
                        db,
                        "SELECT count(*) AS n FROM switchyard.executions WHERE dag_id = 'long' AND finished_at IS NULL")
                        == 1
                } != nil)

            // Only the control database stops (fast shutdown); every region keeps running.
            await f.state.control.stop()
            let onFailsafe = await f.waitUntil(timeout: .seconds(15)) {
                f.log("a").contains("acting on the failsafe lease")
            }
            #expect(onFailsafe != nil, "\(f.log("a").suffix(3000))")
            // The fence says where its validity comes from, since when, and which regions confirm it (status reads it).
            let shown = await f.waitUntil(timeout: .seconds(5)) {
                let fence = try? await db.query(
                    "SELECT validity_source, failsafe_since IS NOT NULL AS since, cardinality(failsafe_regions) AS n FROM switchyard.fence"
                ).first
                return fence?["validity_source"].string == "failsafe" && fence?["since"].bool == true
                    && (fence?["n"].int ?? 0) >= 2
            }
            #expect(shown != nil)
            // The agent survives it, keeps its view of which region is active, and says the region acts on its
            // failsafe lease, confirmed by which regions; /metrics says so too.
            let said = await f.waitUntil(timeout: .seconds(10)) {
                guard let status = try? await f.status(api) else { return false }
                return !status.controlDbReachable && status.controlDbUnreachableSince != nil
                    && status.activeRegion == "us-east"
                    && status.failsafe?.region == "us-east" && (status.failsafe?.confirmedBy.count ?? 0) >= 2
            }
            let body =
                (try? await f.get(api, "/status")).map { String(decoding: $0.body, as: UTF8.self) } ?? "no status"
            #expect(said != nil, "\(body)")
            let metrics = String(decoding: try await f.get(api, "/metrics").body, as: UTF8.self)
            #expect(metrics.contains("switchyard_failsafe_active{region=\"us-east\"} 1"), "\(metrics.prefix(3000))")
            #expect(metrics.contains("switchyard_control_db_reachable{observer=\"eu-west\"} 0"))
            // Scheduling goes on: runs of the every-second DAG keep being created and executed to success.
            let succeeded = try await count(
                db, "SELECT count(*) AS n FROM switchyard.dag_run WHERE dag_id = 'ticking' AND state = 'success'")
            let more = await f.waitUntil(timeout: .seconds(20)) {
                (try? await count(
                    db, "SELECT count(*) AS n FROM switchyard.dag_run WHERE dag_id = 'ticking' AND state = 'success'"))
                    ?? 0 >= succeeded + 4
            }
            #expect(more != nil, "no run succeeded while the control database was down\n\(f.log("a").suffix(2000))")
            // The command in flight finishes: no execution is stopped by the control plane's outage.
            let finished = await f.waitUntil(timeout: .seconds(30)) {
                (try? await count(
                    db, "SELECT count(*) AS n FROM switchyard.dag_run WHERE dag_id = 'long' AND state = 'success'"))
                    == 1
            }
            #expect(finished != nil, "\(f.log("w").suffix(2000))")
            let stopped = try await db.query(
                "SELECT dag_id, run_id, outcome, started_at::text AS s, finished_at::text AS e FROM switchyard.executions WHERE outcome IN ('fenced', 'unconfirmed', 'abandoned')"
            ).rows.map {
                "\($0["dag_id"].string ?? "") \($0["run_id"].string ?? "") \($0["outcome"].string ?? "") \($0["s"].string ?? "")..\($0["e"].string ?? "")"
            }
            #expect(
                stopped.isEmpty,
                "\(stopped)\n\(f.log("w").components(separatedBy: "\n").filter { $0.contains("stop") || $0.contains("warning") }.joined(separator: "\n"))\n\(f.log("a").suffix(3000))"
            )

            // The control database returns: the ordinary lease resumes, same leader, same epoch, no failover.
            try await f.state.control.start()
            let resumed = await f.waitUntil(timeout: .seconds(20)) { f.log("a").contains("failsafe over") }
            #expect(resumed != nil, "\(f.log("a").suffix(2000))")
            let source = await f.waitUntil(timeout: .seconds(10)) {
                (try? await db.query("SELECT validity_source FROM switchyard.fence").first?["validity_source"].string)
                    == "control"
            }
            #expect(source != nil)
            let cleared = await f.waitUntil(timeout: .seconds(10)) {
                guard let status = try? await f.status(api) else { return false }
                return status.controlDbReachable && status.failsafe == nil
            }
            #expect(cleared != nil)
            let after = try await f.leadership(db)
            #expect(after.epoch == before.epoch && after.leader == "a", "\(before) -> \(after)")
            let control = try await f.connectControl()
            #expect(try await count(control, "SELECT count(*) AS n FROM switchyard.failovers") == 0)
            #expect(
                try await count(
                    db,
                    "SELECT count(*) AS n FROM switchyard.executions WHERE outcome IN ('fenced', 'unconfirmed', 'abandoned')"
                ) == 0)
        }
    }

    @Test func aFailoverRevokesFailsafeLeasesAndWaitsOutTheOneTheOldRegionHolds() async throws {
        try await DevFixture.with(regions: 3, dags: dags) { f in
            let control = try await f.connectControl()
            let epoch = try #require(
                try await control.query("SELECT epoch FROM switchyard.cluster_state").first?["epoch"].int)
            // us-east, cut off from the control database but not from the other regions, holds a failsafe
            // lease for 6 s in their databases; its own database is gone, so no failover can fence it there.
            for region in ["eu-west", "ap-south"] {
                let c = try await f.connect(region)
                #expect(
                    try await RegionStore.renewFailsafeLease(
                        c, region: "us-east", clusterEpoch: epoch, holder: "a", ttl: .seconds(6)))
                // Another region cannot take it over while it holds, at the same epoch.
                #expect(
                    try await !RegionStore.renewFailsafeLease(
                        c, region: "ap-south", clusterEpoch: epoch, holder: "x", ttl: .seconds(6)))
            }
            let written = ContinuousClock.now
            await f.state.postgres["us-east"]?.stop()
            let run = try await SwitchyardBinary.run([
                "failover", "--to", "eu-west", "--force", "--reason", "test", "--json", "--config", f.config,
            ])
            let took = ContinuousClock.now - written
            #expect(run.status == 0, "\(run.output)\n\(run.errors)")
            let report = try WireJSON.decoder().decode(FailoverExecutor.Report.self, from: Data(run.output.utf8))
            // The activation came after the lease ended.
            #expect(took >= .seconds(6), "activated \(took) after the lease was written")
            let result = try #require(
                try await control.query(
                    "SELECT result::text AS r FROM switchyard.failover_steps WHERE failover_id = $1 AND step = 'fence'",
                    [.int(report.id)]
                ).first?["r"].string)
            let fence = try #require(try JSONSerialization.jsonObject(with: Data(result.utf8)) as? [String: Any])
            let failsafe = fence["failsafe"] as? [String: Any]
            #expect(fence["fenced"] as? Bool == false && failsafe?["held_by"] as? String == "us-east", "\(result)")
            #expect((failsafe?["revoked_in"] as? [String])?.sorted() == ["ap-south", "eu-west"], "\(result)")
            // Revoked: us-east can no longer renew it with its old epoch anywhere the failover reached.
            for region in ["eu-west", "ap-south"] {
                let c = try await f.connect(region)
                #expect(
                    try await !RegionStore.renewFailsafeLease(
                        c, region: "us-east", clusterEpoch: epoch, holder: "a", ttl: .seconds(6)))
                #expect(
                    try await c.query("SELECT revoked_below FROM switchyard.failsafe_lease").first?["revoked_below"].int
                        == report.epoch)
            }
        }
    }
}
