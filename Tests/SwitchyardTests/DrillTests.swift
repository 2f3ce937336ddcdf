import Foundation
import Postgres
import SwitchyardCore
import SwitchyardLab
import SwitchyardRuntime
import TestSupport
import Testing

/// One local deployment with every daemon (`dev up --daemons`), shared by the drill tests, which run
/// one after another: each drill restores the deployment for the next. It holds one of the test
/// process's deployment slots while it is up, and is taken down after the suite's last test.
actor DrillDeployment {
    static let shared = DrillDeployment()
    /// The suite's tests: every shipped local scenario, and the four error-path tests.
    static let users = shippedLocalScenarios.count + 4
    private var directory: String?
    private var finished = 0
    private var holdsSlot = false

    /// Runs `body` with the deployment's directory; after the suite's last user, takes it down.
    nonisolated func use<T>(_ body: (String) async throws -> T) async throws -> T {
        do {
            let result = try await body(try await dir())
            await done()
            return result
        } catch {
            await done()
            throw error
        }
    }

    private func done() async {
        finished += 1
        guard finished >= Self.users else { return }
        if let directory { _ = try? await SwitchyardBinary.run(["dev", "down", "--dir", directory, "--purge"]) }
        directory = nil
        if holdsSlot {
            holdsSlot = false
            await DeploymentSlots.shared.release()
        }
    }

    func dir() async throws -> String {
        if let directory { return directory }
        if !holdsSlot {
            await DeploymentSlots.shared.acquire()
            holdsSlot = true
        }
        let dir = try await TestServers.shared.scratchDirectory("drills")
        var up = try await SwitchyardBinary.run([
            "dev", "up", "--regions", "3", "--daemons", "--control-replica", "--dir", dir,
        ])
        if up.status != 0 {
            // Once more on the same directory (it restarts only what is down) before giving up.
            up = try await SwitchyardBinary.run(["dev", "up", "--regions", "3", "--daemons", "--dir", dir])
        }
        // Whatever started is stopped when the test process exits, even when `up` failed.
        if let state = try DevState.load(directory: dir) {
            TestServers.registerDeployment(state)
            for daemon in state.daemons { TestServers.registerDaemon(daemon.pid) }
        }
        guard up.status == 0 else { throw DevError("dev up failed: \(up.errors)") }
        directory = dir
        return dir
    }

    /// Registers daemons a drill restarted, so the test process's exit stops them too.
    func registerDaemons() throws {
        guard let directory, let state = try DevState.load(directory: directory) else { return }
        for daemon in state.daemons { TestServers.registerDaemon(daemon.pid) }
    }
}

/// The repository's `runbooks/drills/` directory.
let drillsDirectory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent().appendingPathComponent("runbooks/drills").path

/// Scenarios for the local deployment (configured-deployment ones and the campaign are exercised elsewhere;
/// the Airflow ones, `airflow-*.yaml`, need `dev up --airflow` and run in `AirflowTests`; `clock-step.yaml`
/// needs skewed clocks and runs in `WANTests`, on the `global` profile's; `far-control-database.yaml` is
/// `kill-active-database.yaml` on the `far-control` profile, measured in BENCHMARKS.md;
/// `cut-off-failover-leader.yaml` cuts WAN links and runs in `WANTests`; `witness-*.yaml` need two regions and a
/// witness and run in `WitnessTests`; `*-patroni.yaml` need a Patroni control database and run in
/// `PatroniControlDatabaseTests`).
let shippedLocalScenarios: [String] = {
    let names = (try? FileManager.default.contentsOfDirectory(atPath: drillsDirectory)) ?? []
    return names.filter {
        $0.hasSuffix(".yaml") && !$0.hasPrefix("campaign") && !$0.hasPrefix("airflow-") && !$0.hasPrefix("witness-")
            && $0 != "clock-step.yaml"
            && $0 != "far-control-database.yaml" && $0 != "cut-off-failover-leader.yaml"
            && !$0.hasSuffix("-patroni.yaml")
    }.sorted()
        .filter { name in
            (try? DrillScenarioLoader.load(path: drillsDirectory + "/" + name))?.deployment.isLocal ?? true
        }
}()

@Suite("switchyard drill on the local deployment", .serialized)
struct DrillTests {
    @Test(arguments: shippedLocalScenarios)
    func shippedScenarioPasses(_ name: String) async throws {
        try await DrillDeployment.shared.use { dir in
            let run = try await SwitchyardBinary.run(["drill", drillsDirectory + "/" + name, "--dir", dir, "--json"])
            try await DrillDeployment.shared.registerDaemons()
            let report = try WireJSON.decoder().decode(DrillReport.self, from: Data(run.output.utf8))
            if let skipped = report.skipped {
                // Only a partition is ever skipped, and only where namespaces and nftables cannot be had (not root).
                #expect(
                    name.hasPrefix("partition-") && DrillPartition.unavailableReason != nil,
                    "\(name) skipped: \(skipped)")
                return
            }
            if name == "hang-active-database.yaml" {
                // A hung postmaster accepts no new connection: fencing it and reading its runs (not the shadow)
                // is possible only through a session the failover leader already held.
                #expect(report.failover?.runsSource == "table", "\(String(describing: report.failover))")
            }
            if name == "partition-active-region.yaml" {
                // The drill ran on a partitionable deployment it brought up beside this one, and took it down.
                let lab = DrillPartition.labDirectory(beside: dir)
                let left = try DevState.load(directory: lab)
                if let left { _ = try? await DevDeployment.down(directory: lab, purge: true) { _ in } }
                #expect(left == nil, "the partition lab in \(lab) was left behind")
                let layout = DevNetwork.layout(directory: lab, regions: DevDeployment.regionNames)
                let namespaces = (try? FileManager.default.contentsOfDirectory(atPath: "/run/netns")) ?? []
                #expect(!namespaces.contains(layout.hub), "the partition lab's namespaces were left behind")
                #expect(run.errors.contains("partitionable"), "\(run.errors.suffix(2000))")
            }
            let broken = report.expectations.filter { !$0.held }.map {
                "\($0.name) \($0.measured.map { "\($0)" } ?? "unmeasured") \($0.bound)"
            }
            #expect(run.status == 0 && report.passed, "\(name): \(broken)\n\(run.errors.suffix(3000))")
            #expect(report.runsLost == 0 && report.dualLeaderMs == 0)
            #expect(report.activeAfter == report.activeBefore, "\(name) should leave the original region active")
            #expect(report.expectations.count >= 4)
        }
    }

    @Test func aBrokenExpectationExitsOneAndSaysWhichAndByHowMuch() async throws {
        try await DrillDeployment.shared.use { dir in
            let file = dir + "/impossible.yaml"
            try """
            scenario: impossible
            fault: kill_scheduler_leader
            restore: restart
            timeout: 30s
            expect:
              failovers: 0
              rto_ms: "<= 0.001"
            """.write(toFile: file, atomically: true, encoding: .utf8)
            let run = try await SwitchyardBinary.run(["drill", file, "--dir", dir, "--json"])
            try await DrillDeployment.shared.registerDaemons()
            #expect(run.status == 1)
            let report = try WireJSON.decoder().decode(DrillReport.self, from: Data(run.output.utf8))
            #expect(!report.passed)
            let rto = try #require(report.expectations.first { $0.name == "rto_ms" })
            let measured = try #require(rto.measured)
            #expect(!rto.held && rto.bound == "<= 0" && measured > 0)
            #expect(abs((rto.by ?? 0) - (measured - 0.001)) < 0.01)
            #expect(report.expectations.first { $0.name == "failovers" }?.held == true)
            #expect(run.errors.contains("expectation broken: rto_ms"))
        }
    }

    @Test func aMalformedScenarioIsRejectedBeforeAnyFault() async throws {
        try await DrillDeployment.shared.use { dir in
            let state = try #require(try DevState.load(directory: dir))
            let region = try await PostgresConnection.connect(
                state.postgres[state.regions[0]]!.conninfo(passfile: state.passfile))
            let epoch = try await region.query("SELECT epoch FROM switchyard.leadership").first?["epoch"].int
            let file = dir + "/malformed.yaml"
            try """
            scenario: malformed
            fault:
              kind: kill_scheduler_leader
              duration: 5s
            restore: sometimes
            """.write(toFile: file, atomically: true, encoding: .utf8)
            let run = try await SwitchyardBinary.run(["drill", file, "--dir", dir])
            #expect(run.status == 2)
            #expect(run.errors.contains("\(file):4: fault.duration: unknown key"), "\(run.errors)")
            #expect(run.errors.contains("\(file):5: restore: unknown value \"sometimes\""), "\(run.errors)")
            // Nothing was touched: the same leader, the same epoch.
            try await Task.sleep(for: .seconds(1))
            #expect(try await region.query("SELECT epoch FROM switchyard.leadership").first?["epoch"].int == epoch)
            await region.close()
        }
    }

    /// A campaign that would draw a fault the deployment cannot take (a clock step on the host's clock)
    /// is refused before its first fault, not a hundred faults in.
    @Test func aCampaignThatNeedsClocksTheDeploymentLacksIsRefusedUpFront() async throws {
        try await DrillDeployment.shared.use { dir in
            let file = dir + "/clock-campaign.yaml"
            try """
            scenario: clocks
            campaign: { count: 3, seed: 1, faults: [kill_scheduler_leader, clock_step] }
            """.write(toFile: file, atomically: true, encoding: .utf8)
            let run = try await SwitchyardBinary.run(["drill", file, "--dir", dir])
            #expect(run.status != 0)
            #expect(run.errors.contains("draws clock_step"), "\(run.errors)")
            #expect(!run.errors.contains("fault 1/3"), "a fault ran before the refusal: \(run.errors)")
        }
    }

    @Test func ctrlCRestoresTheDeployment() async throws {
        try await DrillDeployment.shared.use { dir in
            let log = dir + "/interrupted-drill.log"
            let child = try Daemon.spawn(
                SwitchyardBinary.path, ["drill", drillsDirectory + "/stop-active-database.yaml", "--dir", dir], log: log
            )
            TestServers.registerDaemon(child)
            let clock = ContinuousClock()
            let start = clock.now
            while clock.now - start < .seconds(90) {
                if let text = try? String(contentsOfFile: log, encoding: .utf8), text.contains("fault injected") {
                    break
                }
                try await Task.sleep(for: .milliseconds(50))
            }
            let state = try #require(try DevState.load(directory: dir))
            let active = state.regions[0]
            #expect(state.postgres[active]?.pid == nil, "the fault should have stopped \(active)'s Postgres")
            kill(child, SIGINT)
            var status: Int32 = 0
            var exited = false
            while clock.now - start < .seconds(150) {
                if waitpid(child, &status, WNOHANG) == child { exited = true; break }
                try await Task.sleep(for: .milliseconds(100))
            }
            try await DrillDeployment.shared.registerDaemons()
            let text = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
            #expect(exited && (status >> 8) & 0xff == 1, "\(text.suffix(2000))")
            #expect(
                text.contains("interrupted: restoring the deployment")
                    && text.contains("drill interrupted; the deployment was restored"))
            // Restored: every server answers again and the original region is active.
            let servers = try await DevDeployment.status(directory: dir)
            let silent = servers.filter { !$0.answering }.map { "\($0.kind) \($0.region)" }
            #expect(silent.isEmpty, "\(silent)")
            let control = try await PostgresConnection.connect(state.controlConninfo)
            #expect(
                try await control.query("SELECT active_region FROM switchyard.cluster_state").first?["active_region"]
                    .string == active)
            await control.close()
        }
    }
}
