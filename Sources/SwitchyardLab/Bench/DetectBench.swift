import Foundation
import Postgres
import SwitchyardCore
import SwitchyardRuntime

/// `switchyard bench detect`: how fast detection is on evidence and on silence, and that brown-outs
/// that harm no region never fail one over. On a fresh local three-region deployment (a scheduler
/// and an agent per region): crash trials (SIGQUIT the active postmaster: positive evidence) and
/// hang trials (SIGSTOP it: silence), each timed from the fault to the failover's `begin`; then
/// brown-out episodes (two of three agents frozen, a connection and fork storm against every region
/// database and Redis, CPU hogs, and all at once), counting every failover that begins during an
/// episode or in the settle time after it.
public enum DetectBench {
    /// The figures.
    public struct Report: Codable, Sendable {
        /// Database crashes measured.
        public var crashTrials: Int
        /// Crash to the failover beginning.
        public var crashDetectMs: FailoverBench.Figure
        /// Database hangs (SIGSTOP) measured.
        public var hangTrials: Int
        /// Hang to the failover beginning.
        public var hangDetectMs: FailoverBench.Figure
        /// Brown-out episodes run (no region harmed).
        public var brownoutEpisodes: Int
        /// Episodes per brown-out kind.
        public var episodesByKind: [String: Int]
        /// Failovers the brown-outs caused (0 is the bar).
        public var falseFailovers: Int
        /// The reasons of the false failovers, if any.
        public var falseFailoverReasons: [String]
        /// Probes the agents did not count during the episodes because they overlapped the agent's own lag.
        public var inconclusiveProbes: Int
        /// The random seed that ordered the episodes.
        public var seed: UInt64
    }

    /// Runs against a fresh deployment in `directory`, removed afterwards.
    ///
    /// - Parameter daemonBinary: another build to run the schedulers and agents with (to compare an
    ///   older detector on the same episodes); the configuration is written for this build, so keys
    ///   the other does not know are left out.
    public static func run(
        binary: String, daemonBinary: String? = nil, directory: String, trials: Int, hangTrials: Int, episodes: Int,
        seed: UInt64, progress: @Sendable (String) -> Void
    ) async throws -> Report {
        let pids = SharedPIDs()
        let outcome: Result<Report, any Error>
        do {
            outcome = .success(
                try await measure(
                    binary: daemonBinary ?? binary, foreign: daemonBinary != nil, directory: directory,
                    trials: trials, hangTrials: hangTrials,
                    episodes: episodes, seed: seed, pids: pids, progress: progress))
        } catch {
            outcome = .failure(error)
        }
        await pids.cleanUp(directory: directory)
        return try outcome.get()
    }

    static func measure(
        binary: String, foreign: Bool, directory: String, trials: Int, hangTrials: Int, episodes: Int, seed: UInt64,
        pids: SharedPIDs, progress: @Sendable (String) -> Void
    ) async throws -> Report {
        let state = try await DevDeployment.up(directory: directory, regions: 3) { _ in }
        let config = state.configDirectory
        try "dags: []\n".write(toFile: config + "/dags.yaml", atomically: true, encoding: .utf8)
        var plane = try String(contentsOfFile: config + "/controlplane.yaml", encoding: .utf8)
        plane = plane.replacingOccurrences(of: "  cooldown: 5s", with: "  cooldown: 0s")
            .replacingOccurrences(of: "  max_failovers_per_hour: 120", with: "  max_failovers_per_hour: 1000")
        if foreign { plane = plane.replacingOccurrences(of: "  evidence_grace: 250ms\n", with: "") }
        try plane.write(toFile: config + "/controlplane.yaml", atomically: true, encoding: .utf8)
        let configuration = try ConfigLoader.load(directory: config)
        _ = try await Initializer.run(
            controlDSN: configuration.controlPlane.control.dsn,
            regions: configuration.regions.map { .init(name: $0.name, priority: $0.priority, dsn: $0.databaseDSN) },
            dags: [],
            active: state.regions[0])
        let logs = directory + "/logs"
        try FileManager.default.createDirectory(atPath: logs, withIntermediateDirectories: true)
        var agents: [pid_t] = []
        for region in state.regions {
            pids.add(
                try Daemon.spawn(
                    binary, ["scheduler", "--config", config, "--region", region, "--node-id", "s-\(region)"],
                    log: logs + "/s-\(region).log"))
            let agent = try Daemon.spawn(
                binary, ["agent", "--config", config, "--observer", region, "--listen", "127.0.0.1:0"],
                log: logs + "/a-\(region).log")
            pids.add(agent)
            agents.append(agent)
        }
        let control = try await PostgresConnection.connect(
            state.control.conninfo(passfile: state.passfile), timeout: .seconds(5))
        do {
            let report = try await trialsAndEpisodes(
                control, state: state, configuration: configuration, agents: agents, trials: trials,
                hangTrials: hangTrials, episodes: episodes, seed: seed, progress: progress)
            await control.close()
            return report
        } catch {
            await control.close()
            throw error
        }
    }

    static func trialsAndEpisodes(
        _ control: PostgresConnection, state: DevState, configuration: Configuration, agents: [pid_t],
        trials: Int, hangTrials: Int, episodes: Int, seed: UInt64,
        progress: @Sendable (String) -> Void
    ) async throws -> Report {
        // Steady: every region healthy for every observer for longer than failure_grace (a standby must
        // have been healthy that long to be chosen).
        let settle = configuration.controlPlane.failover.failureGrace + .milliseconds(500)
        func steady() async throws {
            try await FailoverBench.waitAllHealthy(control, regions: state.regions)
            try await Task.sleep(for: settle)
            try await FailoverBench.waitAllHealthy(control, regions: state.regions)
        }
        func lastFailoverId() async throws -> Int {
            try await ControlStore.latestFailoverId(control)
        }
        func active() async throws -> String {
            try await ControlStore.activeRegion(control) ?? ""
        }
        /// Waits for the failover after `lastId` to begin and finish; returns fault-to-begin in ms.
        func awaitFailover(after lastId: Int, faultAt: Date, trial: String) async throws -> Double {
            let deadline = ContinuousClock.now + .seconds(60)
            var began: Double?
            while ContinuousClock.now < deadline {
                if let failover = try await ControlStore.failovers(control, after: lastId).first {
                    if began == nil { began = failover.startedAt.timeIntervalSince(faultAt) * 1000 }
                    if failover.state != .running { return began ?? 0 }
                }
                try await Task.sleep(for: .milliseconds(5))
            }
            throw DevError("\(trial): no failover finished within 60 s of the fault")
        }

        var crash: [Double] = [], hang: [Double] = []
        for trial in 1...max(1, trials) where trials > 0 {
            try await steady()
            let region = try await active()
            let lastId = try await lastFailoverId()
            let faultAt = Date()
            if let pid = state.postgres[region]?.pid { kill(pid, SIGQUIT) }
            let ms = try await awaitFailover(after: lastId, faultAt: faultAt, trial: "crash trial \(trial)")
            crash.append(ms)
            progress("crash trial \(trial): \(region) begin after \(Int(ms)) ms")
            try await state.postgres[region]!.start()
        }
        for trial in 1...max(1, hangTrials) where hangTrials > 0 {
            try await steady()
            let region = try await active()
            let lastId = try await lastFailoverId()
            guard let pid = state.postgres[region]?.pid else { throw DevError("no postmaster for \(region)") }
            let faultAt = Date()
            kill(pid, SIGSTOP)
            let ms: Double
            do {
                ms = try await awaitFailover(after: lastId, faultAt: faultAt, trial: "hang trial \(trial)")
            } catch {
                kill(pid, SIGCONT)
                throw error
            }
            kill(pid, SIGCONT)
            hang.append(ms)
            progress("hang trial \(trial): \(region) begin after \(Int(ms)) ms")
        }

        // Brown-outs: nothing is wrong with any region, so any failover is a false one.
        var generator = SplitMix64(seed: seed)
        var byKind: [String: Int] = [:]
        var falseFailovers = 0
        var reasons: [String] = []
        let lagBefore = try await inconclusiveProbes(control)
        let target = Brownout.Target(state: state, agents: agents)
        for episode in 1...max(1, episodes) where episodes > 0 {
            try await steady()
            let kind = Brownout.Kind.allCases[(episode - 1) % Brownout.Kind.allCases.count]
            let duration = Duration.milliseconds(2000 + Int(generator.next() % 2001))
            let lastId = try await lastFailoverId()
            let done = try await Brownout.run(kind, duration: duration, target: target, seed: &generator)
            // A decision made on what the episode did can come after it: watch a settle time too.
            try await Task.sleep(for: settle + .seconds(1))
            let begun = try await ControlStore.failovers(control, after: lastId)
            byKind[kind.rawValue, default: 0] += 1
            if !begun.isEmpty {
                falseFailovers += begun.count
                reasons += begun.map { "episode \(episode) (\(kind.rawValue)): \($0.reason)" }
                progress(
                    "episode \(episode) \(kind.rawValue) \(Int(done.durationMs)) ms: FALSE FAILOVER \(reasons.last ?? "")"
                )
            } else {
                progress("episode \(episode) \(kind.rawValue) \(Int(done.durationMs)) ms: no failover")
            }
        }
        let lagAfter = try await inconclusiveProbes(control)
        return Report(
            crashTrials: crash.count, crashDetectMs: .init(crash), hangTrials: hang.count,
            hangDetectMs: .init(hang),
            brownoutEpisodes: byKind.values.reduce(0, +), episodesByKind: byKind, falseFailovers: falseFailovers,
            falseFailoverReasons: reasons, inconclusiveProbes: max(0, lagAfter - lagBefore), seed: seed)
    }

    /// Probes the agents did not count because they overlapped their own lag, all agents together.
    static func inconclusiveProbes(_ control: PostgresConnection) async throws -> Int {
        try await ControlStore.inconclusiveProbes(control)
    }
}
