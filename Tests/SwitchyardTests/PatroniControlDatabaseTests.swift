import Foundation
import Postgres
import SwitchyardCore
import SwitchyardLab
import SwitchyardRuntime
import TestSupport
import Testing

/// The control database as production runs it: a three-member Patroni cluster over etcd, `synchronous_mode` on
/// (`dev up --control-patroni`; Patroni from `scripts/install-patroni.sh`, etcd from Debian's `etcd-server`,
/// both installed by `make test`, skipped with the reason where they could not be).
@Suite(
    "The control database on Patroni",
    .enabled(if: PatroniInstall.available, Comment(rawValue: PatroniInstall.skipReason)))
struct PatroniControlDatabaseTests {
    /// Two drills on one deployment: `control-database-patroni.yaml` (the primary's host dies: SIGKILL of its
    /// Patroni, postmaster and backends), then `hang-control-database-patroni.yaml` (the new primary's Postgres
    /// hangs, its Patroni left running). Each time Patroni promotes another member, every Switchyard client follows
    /// it through the multi-host connection string (sessions on the hung primary give up at their own deadlines),
    /// no command stops, nothing fails over, the write committed just before the fault is on the new primary, and
    /// the active region's epoch never goes back. The second round strikes the member the first promoted, so the
    /// first one's dead member must have rejoined as a replica; at the end the hung one has rejoined too.
    @Test func aCrashedPrimaryIsReplacedByPatroniAndSwitchyardRunsOnThroughIt() async throws {
        try await DeploymentSlots.shared.withSlot {
            let dir = try await TestServers.shared.scratchDirectory("patroni")
            func register() {
                guard let state = try? DevState.load(directory: dir) else { return }
                TestServers.registerDeployment(state)
                for daemon in state.daemons { TestServers.registerDaemon(daemon.pid) }
            }
            var ports: [Int] = []
            do {
                let up = try await SwitchyardBinary.run([
                    "dev", "up", "--regions", "2", "--daemons", "--control-patroni", "--dir", dir,
                ])
                register()
                try #require(up.status == 0, "\(up.output)\(up.errors)")
                let state = try #require(try DevState.load(directory: dir))
                let patroni = try #require(state.controlPatroni)
                #expect(patroni.members.count == 3)
                ports = patroni.ports
                // Every daemon reaches the control database through every member, read-write only.
                let plane = try String(contentsOfFile: state.configDirectory + "/controlplane.yaml", encoding: .utf8)
                #expect(plane.contains("target_session_attrs=read-write"))
                for member in patroni.members { #expect(plane.contains(String(member.postgres.port))) }
                let epochBefore = try await activeEpoch(state)

                var crashed: [String] = []
                for (round, drill) in ["control-database-patroni.yaml", "hang-control-database-patroni.yaml"]
                    .enumerated().map({ ($0 + 1, $1) })
                {
                    // Every member streams before each fault: in round 2, the member round 1 killed has rejoined.
                    let streaming = await streamingReplicas(patroni, expecting: 2)
                    #expect(streaming == 2, "round \(round): \(streaming) replicas streaming before the crash")
                    let primary = try #require(await patroni.primary(), "round \(round): no primary")
                    let run = try await SwitchyardBinary.run([
                        "drill", drillsDirectory + "/" + drill, "--dir", dir, "--json",
                    ])
                    register()
                    let report = try WireJSON.decoder().decode(DrillReport.self, from: Data(run.output.utf8))
                    print(
                        "patroni round \(round) (\(drill)): \(primary.name) lost, \(report.controlPromoted ?? "none") promoted after "
                            + "\(report.controlPromotedMs ?? -1) ms; runs started meanwhile \(report.runsStartedDuringFault ?? -1), "
                            + "commands stopped \(report.commandsStopped), failovers \(report.failovers)")
                    #expect(
                        run.status == 0 && report.passed,
                        "round \(round): \(report.expectations.filter { !$0.held }) \(run.errors.suffix(4000))")
                    #expect(report.failovers == 0 && report.commandsStopped == 0 && report.controlWritesLost == 0)
                    #expect(report.controlPromoted != nil && report.controlPromoted != primary.name)
                    crashed.append(primary.name)
                }
                // The second fault struck the member the first promoted: the first's dead member had rejoined.
                #expect(crashed.count == 2 && crashed[0] != crashed[1], "\(crashed)")
                #expect(try await activeEpoch(state) >= epochBefore)
                // Restored: one primary, both others streaming from it again (the hung one, demoted, rejoins too).
                let replicas = await streamingReplicas(patroni, expecting: 2)
                #expect(replicas == 2, "\(replicas) replicas streaming")
            } catch {
                _ = try? await SwitchyardBinary.run(["dev", "down", "--dir", dir, "--purge"])
                throw error
            }
            let down = try await SwitchyardBinary.run(["dev", "down", "--dir", dir, "--purge"])
            #expect(down.status == 0, "\(down.errors)")
            // Nothing of the cluster is left running: etcd, Patroni's REST APIs and the servers.
            #expect(ports.filter(Ports.isListening).isEmpty, "\(ports.filter(Ports.isListening))")
        }
    }

    /// The active region's epoch in the control database.
    func activeEpoch(_ state: DevState) async throws -> Int {
        let c = try await PostgresConnection.connect(state.controlConninfo, timeout: .seconds(10))
        return try await c.closeAfter {
            try await c.query("SELECT epoch FROM switchyard.cluster_state").first?["epoch"].require(Int.self) ?? 0
        }
    }

    /// The replicas streaming from the primary, waited for (90 s) until there are `expecting`.
    func streamingReplicas(_ patroni: DevPatroni, expecting: Int) async -> Int {
        var replicas = 0
        _ = await waitFor(seconds: 90) {
            guard let primary = await patroni.primary(),
                let c = try? await PostgresConnection.connect(primary.postgres.setupConninfo, timeout: .seconds(2))
            else { return false }
            replicas =
                (try? await c.query(
                    "SELECT count(*) AS n FROM pg_stat_replication WHERE state = 'streaming'"
                ).first?["n"].require(Int.self)) ?? 0
            await c.close()
            return replicas == expecting
        }
        return replicas
    }

    func waitFor(seconds: Int, _ check: () async -> Bool) async -> Bool {
        let deadline = ContinuousClock.now + .seconds(seconds)
        while ContinuousClock.now < deadline {
            if await check() { return true }
            try? await Task.sleep(for: .milliseconds(500))
        }
        return false
    }
}
