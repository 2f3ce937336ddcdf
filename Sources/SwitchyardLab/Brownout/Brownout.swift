import Foundation
import SwitchyardCore
import SwitchyardRuntime

/// Faults that harm no region but starve the observers, the kind a detector must ride out without
/// a failover: agents frozen (SIGSTOP) two of three at a time, a connection and fork storm against
/// every region's Postgres (`pgbench -C`, a backend forked per transaction) and Redis
/// (`redis-benchmark -k 0`, a connection per request), CPU hogs on every core, or all at once.
/// Everything an episode starts is stopped, and everything it froze resumed, before it returns,
/// also when it is cancelled.
public enum Brownout {
    /// What one episode does.
    public typealias Kind = BrownoutKind

    /// The deployment an episode acts on: its agents' PIDs and its servers.
    public struct Target: Sendable {
        /// The agents to freeze, two of three at a time.
        public var agents: [pid_t]
        /// The region databases to storm.
        public var postgres: [LocalPostgres]
        /// The Redis servers to storm.
        public var redis: [LocalRedis]
        /// The password file the storm connects with.
        public var passfile: String
        /// Creates a target.
        public init(agents: [pid_t], postgres: [LocalPostgres], redis: [LocalRedis], passfile: String) {
            self.agents = agents
            self.postgres = postgres
            self.redis = redis
            self.passfile = passfile
        }

        /// The target of a dev deployment: its agents, region databases and Redis servers.
        public init(state: DevState, agents: [pid_t]? = nil) {
            self.init(
                agents: agents ?? state.daemons.filter { $0.kind == "agent" }.map(\.pid),
                postgres: state.regions.compactMap { state.postgres[$0] },
                redis: state.regions.compactMap { state.redis[$0] },
                passfile: state.passfile)
        }
    }

    /// What an episode did, for a report.
    public struct Episode: Sendable, Codable {
        /// What the episode did.
        public var kind: Kind
        /// How long it lasted.
        public var durationMs: Double
        /// The agents frozen, by PID.
        public var frozen: [Int32]
        /// Load processes started (pgbench, redis-benchmark, CPU hogs).
        public var loadProcesses: Int
    }

    /// What a started episode holds: the agents it froze and the load processes it started.
    public struct Running: Sendable {
        /// What the episode did.
        public var kind: Kind
        /// Processes it froze (resumed when it stops).
        public var frozen: [pid_t]
        /// Load processes it started (stopped when it stops).
        public var load: [pid_t]
        var scratch: String
    }

    /// Starts an episode of `kind` meant to last `duration` (the storm's own tools stop by then too).
    public static func start(_ kind: Kind, duration: Duration, target: Target, seed: inout SplitMix64) throws -> Running
    {
        let scratch = NSTemporaryDirectory() + "switchyard-brownout-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: scratch, withIntermediateDirectories: true)
        var running = Running(kind: kind, frozen: [], load: [], scratch: scratch)
        do {
            if kind == .storm || kind == .combined {
                running.load += try startStorm(target: target, duration: duration, scratch: scratch)
            }
            if kind == .cpu || kind == .combined {
                running.load += try startHogs(count: max(2, ProcessInfo.processInfo.activeProcessorCount + 1))
            }
        } catch {
            stop(running)
            throw error
        }
        if kind == .freezeAgents || kind == .combined {
            // Every agent but one: two of three.
            running.frozen = Array(target.agents.shuffled(using: &seed).prefix(max(1, target.agents.count - 1)))
            for pid in running.frozen { kill(pid, SIGSTOP) }
        }
        return running
    }

    /// Ends an episode: resumes what it froze, kills and reaps what it started.
    public static func stop(_ running: Running) {
        for pid in running.frozen { kill(pid, SIGCONT) }
        for pid in running.load {
            kill(pid, SIGKILL)
            var status: Int32 = 0
            _ = waitpid(pid, &status, 0)
        }
        try? FileManager.default.removeItem(atPath: running.scratch)
    }

    /// Runs one episode of `kind` for `duration`: starts it, sleeps, stops it (also when cancelled).
    public static func run(_ kind: Kind, duration: Duration, target: Target, seed: inout SplitMix64) async throws
        -> Episode
    {
        let running = try start(kind, duration: duration, target: target, seed: &seed)
        let started = ContinuousClock.now
        try? await Task.sleep(for: duration)
        stop(running)
        return Episode(
            kind: kind, durationMs: ((ContinuousClock.now - started).secondsDouble * 1000).rounded(),
            frozen: running.frozen, loadProcesses: running.load.count)
    }

    /// pgbench with a new connection per transaction against every region database, and
    /// redis-benchmark with a new connection per request against every Redis.
    static func startStorm(target: Target, duration: Duration, scratch: String) throws -> [pid_t] {
        var pids: [pid_t] = []
        let script = scratch + "/select.sql"
        try "SELECT 1;\n".write(toFile: script, atomically: true, encoding: .utf8)
        let seconds = String(max(1, duration.wholeSecondsRoundedUp()))
        if let pgbench = Subprocess.which("pgbench", extraDirectories: ["/usr/lib/postgresql/15/bin"]) {
            for pg in target.postgres {
                let host = pg.address ?? "127.0.0.1"
                pids.append(
                    try spawnQuiet(
                        pgbench,
                        [
                            "-n", "-C", "-c", "12", "-j", "2", "-T", seconds, "-f", script,
                            "-h", host, "-p", String(pg.port), "-U", LocalPostgres.user, LocalPostgres.database,
                        ],
                        environment: ["PGPASSFILE": target.passfile]))
            }
        }
        if let benchmark = Subprocess.which("redis-benchmark") {
            for redis in target.redis {
                let arguments = [
                    "-h", redis.address ?? "127.0.0.1", "-p", String(redis.port), "-c", "40", "-k", "0", "-n",
                    "100000000",
                    "-t", "ping", "-q",
                ]
                // The password (if any) through the environment, never on a command line others can read.
                pids.append(
                    try spawnQuiet(
                        benchmark, arguments, environment: redis.password.map { ["REDISCLI_AUTH": $0] } ?? [:]))
            }
        }
        return pids
    }

    /// Busy loops, one more than the cores.
    static func startHogs(count: Int) throws -> [pid_t] {
        try (0..<count).map { _ in try spawnQuiet("/bin/sh", ["-c", "while :; do :; done"], environment: [:]) }
    }

    static func spawnQuiet(_ executable: String, _ arguments: [String], environment: [String: String]) throws -> pid_t {
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        Subprocess.resetSignals(&attributes)
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0)
        let argv = ([executable] + arguments).map { strdup($0) } + [nil]
        defer { for p in argv { free(p) } }
        var merged = ProcessInfo.processInfo.environment
        for (key, value) in environment { merged[key] = value }
        let env = merged.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer { for p in env { free(p) } }
        var pid: pid_t = 0
        let result = posix_spawn(&pid, executable, &actions, &attributes, argv, env)
        guard result == 0 else { throw POSIXError(POSIXErrorCode(rawValue: result) ?? .ENOENT) }
        return pid
    }
}
