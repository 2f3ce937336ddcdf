import Foundation
import Postgres
import SwitchyardCore
import SwitchyardRuntime

/// `switchyard bench failover`: on a local three-region deployment with schedulers, workers and an
/// agent per region, kill the active region's Postgres (immediate shutdown) and measure, from the kill,
/// detection (the failover begins), each step, and the total to the routing hook's acknowledgement;
/// count runs lost and run twice. Each trial fails over from the region the previous one activated.
public enum FailoverBench {
    /// `{p50, max}` in milliseconds.
    public struct Figure: Codable, Sendable {
        /// The median.
        public var p50: Double
        /// The worst.
        public var max: Double
        /// The median and worst of `samples` (0 when there are none).
        public init(_ samples: [Double]) {
            let sorted = samples.sorted()
            p50 = sorted.isEmpty ? 0 : (sorted[(sorted.count - 1) / 2] * 10).rounded() / 10
            self.max = ((sorted.last ?? 0) * 10).rounded() / 10
        }
    }

    /// The figures; keys as in the interface contract.
    public struct Report: Codable, Sendable {
        /// Failovers measured.
        public var trials: Int
        /// Crash to the failover beginning.
        public var detectMs: Figure
        /// The fence step.
        public var fenceMs: Figure
        /// The migrate step.
        public var migrateMs: Figure
        /// The activate step.
        public var activateMs: Figure
        /// The route step.
        public var routeMs: Figure
        /// Crash to the routing hook acknowledged.
        public var totalMs: Figure
        /// Runs in flight at the crashes, all trials.
        public var runsInFlight: Int
        /// Of those, runs that never finished.
        public var runsLost: Int
        /// Of those, runs executed more than once.
        public var runsTwice: Int
    }

    /// Runs `trials` failovers against a fresh deployment in `directory`, removed afterwards.
    public static func run(binary: String, directory: String, trials: Int, progress: @Sendable (String) -> Void)
        async throws -> Report
    {
        let pids = SharedPIDs()
        let receiver = HookArrivals()
        let outcome: Result<Report, any Error>
        do {
            outcome = .success(
                try await measure(
                    binary: binary, directory: directory, trials: trials, pids: pids, receiver: receiver,
                    progress: progress))
        } catch {
            outcome = .failure(error)
        }
        receiver.stop()
        await pids.cleanUp(directory: directory)
        return try outcome.get()
    }

    static func measure(
        binary: String, directory: String, trials: Int, pids: SharedPIDs, receiver: HookArrivals,
        progress: @Sendable (String) -> Void
    ) async throws -> Report {
        let state = try await DevDeployment.up(directory: directory, regions: 3) { _ in }
        let hookURL = try await receiver.start()
        let config = state.configDirectory
        try "dags:\n  - id: work\n    command: \"sleep 8\"\n    max_active_runs: 16\n    timeout: 1m\n"
            .write(toFile: config + "/dags.yaml", atomically: true, encoding: .utf8)
        var plane = try String(contentsOfFile: config + "/controlplane.yaml", encoding: .utf8)
        plane = plane.replacingOccurrences(of: "  cooldown: 5s", with: "  cooldown: 0s")
            .replacingOccurrences(of: "  max_failovers_per_hour: 120", with: "  max_failovers_per_hour: 1000")
        try plane.write(toFile: config + "/controlplane.yaml", atomically: true, encoding: .utf8)
        for region in state.regions {
            let path = config + "/\(region).yaml"
            try
                (try String(contentsOfFile: path, encoding: .utf8)
                + "routing:\n  hooks:\n    - name: dns\n      url: \"\(hookURL)\"\n")
                .write(toFile: path, atomically: true, encoding: .utf8)
        }
        let configuration = try ConfigLoader.load(directory: config)
        _ = try await Initializer.run(
            controlDSN: configuration.controlPlane.control.dsn,
            regions: configuration.regions.map { .init(name: $0.name, priority: $0.priority, dsn: $0.databaseDSN) },
            dags: configuration.dags.map {
                .init(
                    id: $0.id, schedule: nil, command: $0.command, maxActiveRuns: $0.maxActiveRuns, timeout: $0.timeout,
                    paused: false)
            },
            active: state.regions[0])
        let logs = directory + "/logs"
        try FileManager.default.createDirectory(atPath: logs, withIntermediateDirectories: true)
        for region in state.regions {
            pids.add(
                try Daemon.spawn(
                    binary, ["scheduler", "--config", config, "--region", region, "--node-id", "s-\(region)"],
                    log: logs + "/s-\(region).log"))
            pids.add(
                try Daemon.spawn(
                    binary, ["worker", "--config", config, "--region", region, "--worker-id", "w-\(region)"],
                    log: logs + "/w-\(region).log"))
            pids.add(
                try Daemon.spawn(
                    binary, ["agent", "--config", config, "--observer", region, "--listen", "127.0.0.1:0"],
                    log: logs + "/a-\(region).log"))
        }
        let control = try await PostgresConnection.connect(
            state.control.conninfo(passfile: state.passfile), timeout: .seconds(5))
        func db(_ region: String) async throws -> PostgresConnection {
            try await PostgresConnection.connect(
                state.postgres[region]!.conninfo(passfile: state.passfile), timeout: .seconds(5))
        }
        var detect: [Double] = [], fence: [Double] = [], migrate: [Double] = [], activate: [Double] = [],
            route: [Double] = [], total: [Double] = []
        var inFlight = 0, lost = 0, twice = 0
        for trial in 1...trials {
            try await waitAllHealthy(control, regions: state.regions)
            let active = try await ControlStore.activeRegion(control) ?? ""
            let source = try await db(active)
            var runIds: [String] = []
            for i in 0..<5 {
                runIds.append(
                    try await RegionStore.trigger(
                        source, dagId: "work", conf: nil, at: Date().addingTimeInterval(Double(i) / 1000)))
            }
            try await Task.sleep(for: .milliseconds(2500))  // dispatched, some executing, shadow synced
            await source.close()
            inFlight += runIds.count
            let lastId = try await ControlStore.latestFailoverId(control)
            let hooksBefore = receiver.arrivals.count
            let killed = Date()
            if let pid = state.postgres[active]!.pid { kill(pid, SIGQUIT) }  // immediate shutdown: a crash
            var failoverId: Int?
            let deadline = ContinuousClock.now + .seconds(60)
            while ContinuousClock.now < deadline {
                if let failover = try await ControlStore.failovers(control, after: lastId).first {
                    if failoverId == nil { detect.append(failover.startedAt.timeIntervalSince(killed) * 1000) }
                    failoverId = failover.id
                    if failover.state != .running { break }
                }
                try await Task.sleep(for: .milliseconds(5))
            }
            guard let id = failoverId else { throw DevError("trial \(trial): no failover within 60 s") }
            for s in try await ControlStore.steps(control, failover: id) {
                let ms = s.durationMs ?? 0
                switch s.step {
                case .fence: fence.append(ms)
                case .migrate: migrate.append(ms)
                case .activate: activate.append(ms)
                case .route: route.append(ms)
                default: break
                }
            }
            guard let acked = receiver.arrivals.dropFirst(hooksBefore).first else {
                throw DevError("trial \(trial): the hook was not called")
            }
            total.append(acked.timeIntervalSince(killed) * 1000)
            let target = try await ControlStore.failover(control, id: id)?.toRegion ?? ""
            progress("trial \(trial): \(active) -> \(target), total \(Int(total.last ?? 0)) ms")
            // Every in-flight run must finish in the target, executed there once.
            let targetDB = try await db(target)
            let finishDeadline = ContinuousClock.now + .seconds(60)
            var done = 0
            while ContinuousClock.now < finishDeadline {
                done =
                    try await targetDB.query(
                        "SELECT count(*) AS n FROM switchyard.dag_run WHERE run_id = ANY($1::text[]) AND state = 'success'",
                        [.array(runIds.map { .text($0) })]
                    ).first?["n"].require(Int.self) ?? 0
                if done == runIds.count { break }
                try await Task.sleep(for: .milliseconds(200))
            }
            lost += runIds.count - done
            if done < runIds.count {
                let states = try await targetDB.query(
                    "SELECT run_id, state, worker, note FROM switchyard.dag_run WHERE run_id = ANY($1::text[])",
                    [.array(runIds.map { .text($0) })]
                ).rows.map {
                    "\($0["run_id"].string ?? "?")=\($0["state"].string ?? "?")/\($0["worker"].string ?? "-")/\($0["note"].string ?? "")"
                }
                progress("trial \(trial): \(runIds.count - done) runs did not finish in \(target): \(states)")
            }
            twice +=
                try await targetDB.query(
                    "SELECT count(*) AS n FROM (SELECT run_id FROM switchyard.executions WHERE run_id = ANY($1::text[]) AND outcome = 'success' GROUP BY run_id HAVING count(*) > 1) x",
                    [.array(runIds.map { .text($0) })]
                ).first?["n"].require(Int.self) ?? 0
            await targetDB.close()
            // Bring the old region back as a standby and count runs that also succeeded there.
            try await state.postgres[active]!.start()
            let old = try await db(active)
            twice +=
                try await old.query(
                    "SELECT count(*) AS n FROM switchyard.executions WHERE run_id = ANY($1::text[]) AND outcome = 'success'",
                    [.array(runIds.map { .text($0) })]
                ).first?["n"].require(Int.self) ?? 0
            await old.close()
        }
        await control.close()
        return Report(
            trials: trials, detectMs: Figure(detect), fenceMs: Figure(fence), migrateMs: Figure(migrate),
            activateMs: Figure(activate), routeMs: Figure(route), totalMs: Figure(total),
            runsInFlight: inFlight, runsLost: lost, runsTwice: twice)
    }

    static func waitAllHealthy(_ control: PostgresConnection, regions: [String]) async throws {
        let deadline = ContinuousClock.now + .seconds(60)
        while ContinuousClock.now < deadline {
            let health = try await DeploymentHealth.read(control, liveWithin: 3)
            if health.unhealthy.isEmpty && health.observers == regions.count { return }
            try await Task.sleep(for: .milliseconds(200))
        }
        throw DevError("the regions did not all become healthy within 60 s")
    }
}
