import Foundation
import Postgres
import SwitchyardCore
import SwitchyardRuntime

/// `switchyard bench takeover`: SIGKILL (and SIGSTOP) the leader of a real local region, N times,
/// and measure until the new leader's first fenced write (its first tick) commits.
public enum TakeoverBench {
    /// The figures; keys as in the interface contract.
    public struct Report: Codable, Sendable {
        /// Leader killed (SIGKILL) to the new leader acting.
        public var kill: LatencySummary
        /// Leader frozen (SIGSTOP) to the new leader acting.
        public var freeze: LatencySummary
        /// Trials with two leaders acting at once (0 is the bar).
        public var violations: Int
        /// The server's idle session timeout that bounds a frozen leader.
        public var idleSessionTimeoutMs: Int64
        /// Resident memory of a following node, MB.
        public var followerRssMb: Double
        /// Resident memory of the leading node, MB.
        public var leaderRssMb: Double
    }

    /// Runs the benchmark against a fresh one-region deployment in `directory`, removed afterwards even on failure.
    public static func run(
        binary: String, directory: String, killTrials: Int, freezeTrials: Int,
        progress: @Sendable (String) -> Void
    ) async throws -> Report {
        let pids = SharedPIDs()
        let outcome: Result<Report, any Error>
        do {
            outcome = .success(
                try await measure(
                    binary: binary, directory: directory, pids: pids, killTrials: killTrials,
                    freezeTrials: freezeTrials, progress: progress))
        } catch {
            outcome = .failure(error)
        }
        await pids.cleanUp(directory: directory)
        return try outcome.get()
    }

    /// The measurements; daemons it starts are recorded in `pids`.
    static func measure(
        binary: String, directory: String, pids: SharedPIDs, killTrials: Int, freezeTrials: Int,
        progress: @Sendable (String) -> Void
    ) async throws -> Report {
        let state = try await DevDeployment.up(directory: directory, regions: 1) { _ in }
        let dags = """
            dags:
              - id: tick
                schedule: "@every 1s"
                command: "true"

            """
        try dags.write(toFile: state.configDirectory + "/dags.yaml", atomically: true, encoding: .utf8)
        let configuration = try ConfigLoader.load(directory: state.configDirectory)
        _ = try await Initializer.run(
            controlDSN: configuration.controlPlane.control.dsn,
            regions: configuration.regions.map { .init(name: $0.name, priority: $0.priority, dsn: $0.databaseDSN) },
            dags: [
                .init(id: "tick", schedule: "@every 1s", command: "true", maxActiveRuns: 1, timeout: nil, paused: false)
            ],
            active: state.regions[0])
        let region = state.regions[0]
        let db = try await PostgresConnection.connect(state.postgres[region]!.conninfo(passfile: state.passfile))
        let logs = directory + "/logs"
        try FileManager.default.createDirectory(atPath: logs, withIntermediateDirectories: true)
        var nodes: [String: pid_t] = [:]
        var generation = 0
        func start(_ name: String) throws {
            generation += 1
            let pid = try Daemon.spawn(
                binary, ["scheduler", "--config", state.configDirectory, "--region", region, "--node-id", name],
                log: logs + "/\(name)-\(generation).log")
            nodes[name] = pid
            pids.add(pid)
        }
        defer { for pid in nodes.values { kill(pid, SIGCONT); kill(pid, SIGKILL) } }
        try start("a")
        try start("b")

        var killSamples: [Duration] = []
        var freezeSamples: [Duration] = []
        var violations = 0
        var followerRSS = 0.0
        var leaderRSS = 0.0
        for trial in 0..<(killTrials + freezeTrials) {
            let freeze = trial >= killTrials
            let (epoch, leader) = try await readyLeader(db)
            if trial == 0 {
                try await Task.sleep(for: .seconds(2))
                leaderRSS = rss(nodes[leader] ?? 0)
                followerRSS = rss(nodes.first { $0.key != leader }?.value ?? 0)
            }
            guard let pid = nodes[leader] else { throw DevError("leader \(leader) is not one of ours") }
            let clock = ContinuousClock()
            let t0 = clock.now
            kill(pid, freeze ? SIGSTOP : SIGKILL)
            var elapsed: Duration?
            while clock.now - t0 < .seconds(30) {
                let row = try await db.query(
                    "SELECT epoch, heartbeat_at > since AS ticked, since FROM switchyard.leadership WHERE id = 1"
                ).first
                if try row?["epoch"].require(Int.self) ?? 0 > epoch, try row?["ticked"].require(Bool.self) == true {
                    elapsed = clock.now - t0
                    break
                }
                try await Task.sleep(for: .microseconds(200))
            }
            guard let elapsed else { throw DevError("no takeover within 30 s in trial \(trial + 1)") }
            let since = try await db.query("SELECT since FROM switchyard.leadership WHERE id = 1").first?["since"]
                .require(Date.self)
            if freeze {
                freezeSamples.append(elapsed)
                kill(pid, SIGCONT)
                try await Task.sleep(for: .seconds(1))  // the resumed node steps down and waits again
            } else {
                killSamples.append(elapsed)
                try start(leader)
            }
            // Any write under the old epoch after the new leader took over is a dual-leadership violation.
            let late =
                try await db.query(
                    """
                    SELECT count(*) AS n FROM switchyard.dag_run
                    WHERE (created_epoch = $1 AND queued_at > $2) OR (dispatch_epoch = $1 AND updated_at > $2)
                    """, [.int(epoch), .optional(since)]
                ).first?["n"].require(Int.self) ?? 0
            violations += late
            if (trial + 1) % 10 == 0 || freeze {
                progress("trial \(trial + 1): \(freeze ? "freeze" : "kill") takeover \(elapsed)")
            }
        }
        await db.close()
        return Report(
            kill: LatencySummary(killSamples), freeze: LatencySummary(freezeSamples), violations: violations,
            idleSessionTimeoutMs: configuration.controlPlane.election.idleSessionTimeout.wholeMilliseconds,
            followerRssMb: followerRSS, leaderRssMb: leaderRSS)
    }

    /// Waits until the region has a leader that has ticked and a follower blocked on the lock.
    static func readyLeader(_ db: PostgresConnection) async throws -> (Int, String) {
        let deadline = ContinuousClock.now + .seconds(30)
        while ContinuousClock.now < deadline {
            let row = try await db.query(
                """
                SELECT l.epoch, l.leader_node, l.heartbeat_at > l.since AS ticked,
                       (SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted) AS waiting
                FROM switchyard.leadership l WHERE l.id = 1
                """
            ).first
            if let row, try row["ticked"].optional(Bool.self) == true, try row["waiting"].require(Int.self) >= 1,
                let leader = try row["leader_node"].optional(String.self)
            {
                return (try row["epoch"].require(Int.self), leader)
            }
            try await Task.sleep(for: .milliseconds(20))
        }
        throw DevError("no leader with a waiting follower within 30 s")
    }

    /// Resident set size of a process in MiB, from /proc.
    public static func rss(_ pid: pid_t) -> Double {
        guard let status = Processes.readProcFile("/proc/\(pid)/status"),
            let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") }),
            let kb = Double(line.split(separator: " ").dropFirst().first ?? "")
        else { return 0 }
        return (kb / 1024 * 10).rounded() / 10
    }
}
