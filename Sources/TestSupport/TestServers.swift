import Foundation
import Postgres
import Redis
import SwitchyardLab
import SwitchyardRuntime

/// Real Postgres and Redis servers on loopback for tests: one shared pair per test process for tests
/// that only read and write, and private servers for tests that stop, kill or freeze them.
///
/// Everything lives under `/tmp/switchyard-test-<pid>/` and is stopped when the process exits.
public actor TestServers {
    /// The per-process instance.
    public static let shared = TestServers()

    /// The password of every test cluster's superuser (tests check it never leaks).
    public static let password = "s3cret-test-pw-\(getpid())"

    private let root = "/tmp/switchyard-test-\(getpid())"
    private var sharedPostgres: Task<TestPostgres, Error>?
    private var sharedRedis: Task<LocalRedis, Error>?
    private var counter = 0

    private init() {
        atexit { TestServers.stopAllSynchronously() }
        // A run interrupted by a signal never reaches atexit: stop everything, then die of the signal.
        for signal in [SIGINT, SIGTERM, SIGHUP] {
            Foundation.signal(signal, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: signal, queue: .global())
            source.setEventHandler {
                TestServers.stopAllSynchronously()
                Foundation.signal(signal, SIG_DFL)
                kill(getpid(), signal)
            }
            source.resume()
            Self.signalSources.append(source)
        }
    }

    nonisolated(unsafe) private static var signalSources: [any DispatchSourceSignal] = []

    /// The shared Postgres cluster (started on first use).
    public func postgres() async throws -> TestPostgres {
        // Cache the task, not the result: concurrent first callers must share one start.
        if let sharedPostgres { return try await sharedPostgres.value }
        let start = Task { try await self.newPostgres() }
        sharedPostgres = start
        return try await start.value
    }

    /// The shared Redis server (started on first use).
    public func redis() async throws -> LocalRedis {
        if let sharedRedis { return try await sharedRedis.value }
        let start = Task { try await self.newRedis() }
        sharedRedis = start
        return try await start.value
    }

    /// A private Postgres cluster the caller may stop, kill or freeze.
    public func newPostgres() async throws -> TestPostgres {
        counter += 1
        let cluster = LocalPostgres(directory: "\(root)/pg\(counter)", port: try Ports.freeLoopbackPort())
        Self.register(pidFile: cluster.dataDirectory + "/postmaster.pid", signal: SIGINT)
        try await cluster.create()
        let running = try await cluster.startMovingPortIfTaken()
        try await running.prepare(password: Self.password)
        return TestPostgres(cluster: running)
    }

    /// A private Redis server, optionally with a password.
    public func newRedis(password: String? = nil, extraArguments: [String] = []) async throws -> LocalRedis {
        counter += 1
        let server = LocalRedis(
            directory: "\(root)/redis\(counter)", port: try Ports.freeLoopbackPort(), password: password)
        Self.register(pidFile: server.directory + "/redis.pid", signal: SIGTERM)
        return try await server.startMovingPortIfTaken(extraArguments: extraArguments)
    }

    /// A fresh directory under the test root.
    public func scratchDirectory(_ name: String) throws -> String {
        counter += 1
        let path = "\(root)/\(name)-\(counter)"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    nonisolated(unsafe) private static var pidFiles: [(String, Int32)] = []
    nonisolated(unsafe) private static var daemonPIDs: [Int32] = []
    nonisolated(unsafe) private static var namespaces: [String] = []
    nonisolated(unsafe) private static var airflowHomes: [String] = []

    /// Deletes this network namespace when the test process exits.
    public static func registerNamespace(_ name: String) {
        lock.lock()
        namespaces.append(name)
        lock.unlock()
    }

    /// Kills this daemon (SIGKILL) when the test process exits, if it is still running.
    public static func registerDaemon(_ pid: Int32) {
        lock.lock()
        daemonPIDs.append(pid)
        lock.unlock()
    }

    /// Kills every process running from this Airflow home when the test process exits.
    public static func registerAirflowHome(_ directory: String) {
        lock.lock()
        airflowHomes.append(directory)
        lock.unlock()
    }

    /// Stops a cluster when the test process exits.
    public static func registerPostgres(_ cluster: LocalPostgres) {
        register(pidFile: cluster.dataDirectory + "/postmaster.pid", signal: SIGINT)
    }

    /// Stops a dev deployment's servers when the test process exits.
    public static func registerDeployment(_ state: DevState) {
        if state.controlPatroni == nil {  // Patroni's members are registered below, each after its Patroni
            register(pidFile: state.control.dataDirectory + "/postmaster.pid", signal: SIGINT)
        }
        if let replica = state.controlReplica {
            register(pidFile: replica.dataDirectory + "/postmaster.pid", signal: SIGINT)
        }
        for member in state.controlPatroni?.members ?? [] {
            // Patroni first (SIGKILL: it must not restart its server), then the server it ran.
            register(pidFile: (state.controlPatroni?.pidDirectory ?? "") + "/\(member.name).pid", signal: SIGKILL)
            register(pidFile: member.postgres.dataDirectory + "/postmaster.pid", signal: SIGINT)
        }
        if let patroni = state.controlPatroni { register(pidFile: patroni.pidDirectory + "/etcd.pid", signal: SIGTERM) }
        for pg in state.postgres.values { register(pidFile: pg.dataDirectory + "/postmaster.pid", signal: SIGINT) }
        for r in state.redis.values { register(pidFile: r.directory + "/redis.pid", signal: SIGTERM) }
    }
    private static let lock = NSLock()

    private static func register(pidFile: String, signal: Int32) {
        lock.lock()
        pidFiles.append((pidFile, signal))
        lock.unlock()
    }

    /// Stops every server started by this process; runs at exit, so it cannot await.
    static func stopAllSynchronously() {
        lock.lock()
        let files = pidFiles
        let daemons = daemonPIDs
        lock.unlock()
        for pid in daemons where Processes.isAlive(pid) {
            kill(pid, SIGCONT)
            kill(pid, SIGKILL)
        }
        lock.lock()
        let homes = airflowHomes
        lock.unlock()
        for home in homes { AirflowHome.killAllSynchronously(home: home) }
        var pids: [Int32] = []
        for (file, signal) in files {
            guard let text = try? String(contentsOfFile: file, encoding: .utf8),
                let first = text.split(separator: "\n").first,
                let pid = Int32(first.trimmingCharacters(in: .whitespaces))
            else { continue }
            kill(pid, SIGCONT)  // a test may have left it frozen
            kill(pid, signal)
            pids.append(pid)
        }
        lock.lock()
        let spaces = namespaces
        lock.unlock()
        for name in spaces {
            _ = try? Subprocess.spawnAndWait("/usr/sbin/ip", ["netns", "del", name], environment: nil)
        }
        let deadline = Date().addingTimeInterval(10)
        while Date() < deadline, pids.contains(where: { Processes.isAlive($0) }) { usleep(20_000) }
        for pid in pids where Processes.isAlive(pid) { kill(pid, SIGKILL) }
    }
}

/// A test Postgres cluster and the ways to reach it.
public struct TestPostgres: Sendable {
    /// The cluster.
    public let cluster: LocalPostgres

    /// Conninfo with the password inline (so tests can check it never leaks).
    public func dsn(database: String = LocalPostgres.database, extra: String = "") -> String {
        "host=127.0.0.1 port=\(cluster.port) dbname=\(database) user=\(LocalPostgres.user) password=\(TestServers.password) connect_timeout=3 \(extra)"
    }

    /// A new connection to the cluster's Switchyard database.
    public func connect(timeout: Duration = .seconds(5), extra: String = "") async throws -> PostgresConnection {
        try await PostgresConnection.connect(dsn(extra: extra), timeout: timeout)
    }

    /// The postmaster's PID.
    public var pid: Int32? { cluster.pid }
}
