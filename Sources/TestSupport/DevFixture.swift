import Foundation
import Postgres
import Redis
import SwitchyardCore
import SwitchyardLab
import SwitchyardRuntime

/// A real local deployment for a test, with helpers to start daemons through the binary, watch
/// leadership and clean up. Every daemon is also killed when the test process exits.
public final class DevFixture: @unchecked Sendable {
    // Invariant: `daemons` is only mutated by the test that owns the fixture.
    /// The deployment's directory and state.
    public let state: DevState
    /// The generated configuration directory.
    public var config: String { state.configDirectory }
    private var daemons: [(name: String, pid: pid_t)] = []
    /// Airflow installs over the regions' databases (`airflow(_:dags:)`), stopped at teardown.
    var airflowHomes: [AirflowHome] = []
    let lock = NSLock()

    /// Brings up `regions` regions (and runs init with the first active), optionally replacing dags.yaml
    /// and with control-plane `settings` other than the defaults.
    public static func up(regions: Int, dags: String? = nil, settings: DevSettings? = nil) async throws -> DevFixture {
        let dir = try await TestServers.shared.scratchDirectory("fixture")
        let state: DevState
        do {
            state = try await DevDeployment.up(directory: dir, regions: regions, settings: settings) { _ in }
        } catch {
            // Whatever a failed `up` started is stopped before the error goes on.
            _ = try? await DevDeployment.down(directory: dir, purge: true) { _ in }
            throw error
        }
        TestServers.registerDeployment(state)
        if let dags { try dags.write(toFile: state.configDirectory + "/dags.yaml", atomically: true, encoding: .utf8) }
        let initRun = try await SwitchyardBinary.run([
            "init", "--config", state.configDirectory, "--active", state.regions[0],
        ])
        guard initRun.status == 0 else { throw DevError("init failed: \(initRun.errors)") }
        return DevFixture(state: state)
    }

    init(state: DevState) { self.state = state }

    /// Rewrites the deployment's configuration with other control-plane and region `settings`, typed
    /// (what `dev up` would have written with them). Daemons started afterwards read it.
    public func reconfigure(_ settings: DevSettings) throws {
        var state = self.state
        state.settings = settings
        try state.save()
        try DevConfigWriter.write(state: state)
    }

    /// Brings a deployment up, runs `body` with it, and always tears it down, awaited, whether `body`
    /// returns or throws. At most `DeploymentSlots.shared.limit` deployments run at once in a test
    /// process, so the suite's parallel tests cannot starve each other into false results.
    public static func with<T>(
        regions: Int, dags: String? = nil, settings: DevSettings? = nil,
        _ body: (DevFixture) async throws -> T
    ) async throws -> T {
        try await DeploymentSlots.shared.withSlot {
            let f = try await up(regions: regions, dags: dags, settings: settings)
            do {
                let result = try await body(f)
                await f.tearDown()
                return result
            } catch {
                await f.tearDown()
                throw error
            }
        }
    }

    /// Starts `switchyard ARGS… --config <config>` in the background, logging to `<dir>/logs/<name>.log`.
    @discardableResult
    /// `environment` adds variables to the daemon's own (through `env`, which execs it: the pid is the daemon's).
    public func start(_ name: String, _ arguments: [String], config: String? = nil, environment: [String: String] = [:])
        throws -> pid_t
    {
        let logs = state.directory + "/logs"
        try FileManager.default.createDirectory(atPath: logs, withIntermediateDirectories: true)
        let line = [SwitchyardBinary.path] + arguments + ["--config", config ?? self.config]
        let pid =
            environment.isEmpty
            ? try Daemon.spawn(line[0], Array(line.dropFirst()), log: logs + "/\(name).log")
            : try Daemon.spawn(
                "/usr/bin/env", environment.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" } + line,
                log: logs + "/\(name).log")
        lock.withLock { daemons.append((name, pid)) }
        TestServers.registerDaemon(pid)
        return pid
    }

    /// The log of a daemon started with `start`.
    public func log(_ name: String) -> String {
        (try? String(contentsOfFile: state.directory + "/logs/\(name).log", encoding: .utf8)) ?? ""
    }

    /// The PID of a started daemon.
    public func pid(_ name: String) -> pid_t? { lock.withLock { daemons.last { $0.name == name }?.pid } }

    /// A connection to a region's database.
    public func connect(_ region: String) async throws -> PostgresConnection {
        guard let pg = state.postgres[region] else { throw DevError("no region \(region)") }
        return try await PostgresConnection.connect(pg.conninfo(passfile: state.passfile), timeout: .seconds(5))
    }

    /// A connection to the control database.
    public func connectControl() async throws -> PostgresConnection {
        try await PostgresConnection.connect(state.control.conninfo(passfile: state.passfile), timeout: .seconds(5))
    }

    /// A connection to a region's Redis.
    public func redis(_ region: String) async throws -> RedisConnection {
        guard let r = state.redis[region] else { throw DevError("no region \(region)") }
        return try await RedisConnection.connect(url: r.url)
    }

    /// Polls `condition` every 10 ms until it holds or `timeout` passes; returns the time it took, nil on timeout.
    @discardableResult
    public func waitUntil(timeout: Duration, _ condition: () async throws -> Bool) async rethrows -> Duration? {
        let start = ContinuousClock.now
        while ContinuousClock.now - start < timeout {
            if try await condition() { return ContinuousClock.now - start }
            try? await Task.sleep(for: .milliseconds(10))
        }
        return nil
    }

    /// Leadership of a region: (epoch, leader node).
    public func leadership(_ c: PostgresConnection) async throws -> (epoch: Int, leader: String?) {
        let row = try await c.query("SELECT epoch, leader_node FROM switchyard.leadership WHERE id = 1").first
        return (try row?["epoch"].require(Int.self) ?? 0, try row?["leader_node"].optional(String.self))
    }

    /// Kills every daemon and stops the deployment.
    public func tearDown() async {
        for (_, pid) in lock.withLock({ daemons }) {
            kill(pid, SIGCONT)
            await Processes.terminate(pid, signal: SIGKILL, timeout: .seconds(2))
        }
        for home in lock.withLock({ airflowHomes }) { await home.stopAll() }
        _ = try? await DevDeployment.down(directory: state.directory, purge: true) { _ in }
    }
}
