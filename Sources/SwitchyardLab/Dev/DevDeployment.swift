import Crypto
import Foundation
import Postgres
import Redis
import SwitchyardCore
import SwitchyardRuntime

/// `switchyard dev up | down | status`: a real multi-region deployment on loopback.
///
/// One Postgres cluster per region plus one for control, one Redis per region, on free ports of
/// 127.0.0.1; the generated configuration goes to `<dir>/regions/`. Every process is recorded by
/// PID in `<dir>/deployment.json`, so `down` stops exactly what `up` started.
public enum DevDeployment {
    /// Region names in priority order, as many as `up --regions N` asks for.
    public static let regionNames = [
        "us-east", "eu-west", "ap-south", "us-west", "eu-north", "ap-east", "sa-east", "af-south", "me-central",
    ]

    /// Brings the deployment up (or back up): idempotent, a second call restarts only what is down.
    @discardableResult
    /// With `netns`, every region runs in a network namespace of its own (see `DevNetwork`), so a
    /// drill can partition one region from the others.
    /// With `airflow`, every region runs Apache Airflow 3 (`scripts/install-airflow.sh`) over its database
    /// instead of Switchyard's own runs and workers: one execution API per region, and either the LocalExecutor
    /// (no Redis) or, with `celery`, the CeleryExecutor on the region's Redis, its Celery workers gated by the
    /// region's fence (`switchyard worker --exec`).
    public static func up(
        directory rawDirectory: String, regions count: Int, netns: Bool = false, controlReplica: Bool = false,
        controlPatroni: Bool = false, airflow: Bool = false, celery: Bool = false, settings: DevSettings? = nil,
        log: @Sendable (String) -> Void
    ) async throws -> DevState {
        if netns && controlReplica { throw DevError("--control-replica is not available with --netns") }
        if controlPatroni && (netns || controlReplica) {
            throw DevError("--control-patroni is not available with --netns or --control-replica")
        }
        if netns && airflow { throw DevError("--airflow is not available with --netns") }
        if celery && !airflow { throw DevError("--executor celery needs --airflow") }
        if airflow && !AirflowInstall.available { throw DevError(AirflowInstall.skipReason) }
        if celery && !AirflowInstall.celeryAvailable { throw DevError(AirflowInstall.celerySkipReason) }
        guard (1...regionNames.count).contains(count) else {
            throw DevError("--regions must be between 1 and \(regionNames.count)")
        }
        let directory = absolute(rawDirectory)
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        if var state = try DevState.load(directory: directory) {
            if state.regions.count != count {
                log("a \(state.regions.count)-region deployment already exists in \(directory); keeping it")
            }
            if netns && state.network == nil {
                throw DevError(
                    "\(directory) holds a loopback deployment; start the partitionable one (--netns) in another --dir")
            }
            try await state.network?.create()  // after a reboot the namespaces are gone
            if airflow && state.airflow == nil {
                log(
                    "the deployment in \(directory) does not run Airflow; keeping it as it is (start a new one with --airflow in another --dir)"
                )
            }
            if controlPatroni && state.controlPatroni == nil {
                log(
                    "the deployment in \(directory) runs no Patroni cluster; keeping it as it is (start a new one with --control-patroni)"
                )
            }
            if controlReplica && state.controlReplica == nil {
                log(
                    "the deployment in \(directory) has no control replica; keeping it as it is (start a new one with --control-replica)"
                )
            }
            try await restartStopped(&state, log: log)
            return state
        }
        let names = Array(regionNames.prefix(count))
        let network = netns ? DevNetwork.layout(directory: directory, regions: names) : nil
        if let network {
            log(
                "creating network namespaces \(network.hub) (control, router) and \(names.compactMap { network.namespaces[$0] }.joined(separator: ", "))"
            )
            do {
                try await network.create()
            } catch {
                await network.destroy()
                throw error
            }
        }
        let clusterRoot = try await postgresRoot(for: directory)
        var usedPorts = Set<Int>()
        func port() throws -> Int {
            while true {
                let p = try Ports.freeLoopbackPort()
                if usedPorts.insert(p).inserted { return p }
            }
        }
        var postgres: [String: LocalPostgres] = [:]
        var redis: [String: LocalRedis] = [:]
        let control = LocalPostgres(
            directory: clusterRoot + "/control", port: try port(),
            namespace: network?.hub, address: network?.address(of: "control"))
        for name in names {
            postgres[name] = LocalPostgres(
                directory: clusterRoot + "/" + name, port: try port(),
                namespace: network?.namespace(of: name), address: network?.address(of: name))
            if airflow && !celery { continue }  // LocalExecutor: nothing goes through Redis
            redis[name] = LocalRedis(
                directory: directory + "/redis/" + name, port: try port(),
                namespace: network?.namespace(of: name), address: network?.address(of: name))
        }
        var state = DevState(
            directory: directory, regions: names, control: control, postgres: postgres, redis: redis,
            createdAt: Date())
        state.network = network
        state.settings = settings
        try state.save()
        let password = randomPassword()
        try "\(network == nil ? "127.0.0.1" : "*"):*:*:\(LocalPostgres.user):\(password)\n".write(
            toFile: state.passfile, atomically: true, encoding: .utf8)
        chmod(state.passfile, 0o600)

        log("creating \(names.count + 1) Postgres clusters and \(redis.count) Redis servers in \(directory)")
        let clusters =
            (controlPatroni ? [] : [("control", control)]) + names.compactMap { n in postgres[n].map { (n, $0) } }
        let started = try await withThrowingTaskGroup(of: (String, LocalPostgres?, LocalRedis?).self) { group in
            for (name, cluster) in clusters {
                group.addTask {
                    try await cluster.create(extraListen: cluster.address.map { [$0] } ?? [])
                    let running = try await cluster.startMovingPortIfTaken()
                    try await running.prepare(password: password)
                    return (name, running, nil)
                }
            }
            for name in names {
                guard let server = redis[name] else { continue }
                group.addTask { (name, nil, try await server.startMovingPortIfTaken()) }
            }
            var results: [(String, LocalPostgres?, LocalRedis?)] = []
            for try await result in group { results.append(result) }
            return results
        }
        for (name, cluster, server) in started {
            if let cluster { if name == "control" { state.control = cluster } else { state.postgres[name] = cluster } }
            if let server { state.redis[name] = server }
        }
        if controlPatroni {
            let patroni = try await DevPatroni.create(
                root: clusterRoot, directory: directory, password: password, port: port, log: log)
            state.controlPatroni = patroni
            state.control = patroni.members[0].postgres
        }
        if controlReplica {
            var replica = LocalPostgres(directory: clusterRoot + "/control-replica", port: try port())
            log("creating a streaming replica of the control database (pg_basebackup)")
            try await replica.createReplica(of: state.control)
            replica = try await replica.startMovingPortIfTaken()
            state.controlReplica = replica
        }
        try state.save()
        if airflow { try await setUpAirflow(&state, celery: celery, log: log) }
        try DevConfigWriter.write(state: state)
        state.daemons = []
        try state.save()
        log("generated configuration in \(state.configDirectory)")
        return state
    }

    /// An Airflow install per region over the region's database: `airflow.cfg`, the drill DAG, Airflow's
    /// tables (`airflow db migrate`) and the serialized DAG, the regions in parallel.
    static func setUpAirflow(_ state: inout DevState, celery: Bool, log: @Sendable (String) -> Void) async throws {
        log(
            "installing Airflow \(AirflowInstall.version)'s tables in every region database (airflow db migrate) and serializing the drill DAG"
        )
        var homes: [AirflowHome] = []
        var records: [String: DevAirflow] = [:]
        for name in state.regions {
            guard let pg = state.postgres[name] else { continue }
            let home = try AirflowHome(
                directory: state.directory + "/airflow/" + name, port: pg.port, database: LocalPostgres.database,
                user: LocalPostgres.user,
                passfile: state.passfile, dags: ["switchyard_drill": AirflowHome.drillDAG(ledger: state.airflowLedger)],
                brokerURL: celery ? state.redis[name]?.url : nil)
            homes.append(home)
            records[name] = DevAirflow(home: home.directory, apiPort: home.apiPort, executor: celery ? "celery" : nil)
        }
        try await withThrowingTaskGroup(of: Void.self) { group in
            for home in homes {
                group.addTask {
                    try await home.migrateDatabase()
                    try await home.reserializeDAGs()
                }
            }
            try await group.waitForAll()
        }
        state.airflow = records
    }

    /// Restarts every server of an existing deployment that is not answering.
    static func restartStopped(_ state: inout DevState, log: @Sendable (String) -> Void) async throws {
        try await reconcileControlPair(&state, log: log)
        if var patroni = state.controlPatroni {
            try await patroni.restartStopped(log: log)
            state.controlPatroni = patroni
            try state.save()
        }
        let replica = state.controlReplica.map { [("control replica", $0)] } ?? []
        let control = state.controlPatroni == nil ? [("control", state.control)] : []
        let clusters = control + replica + state.regions.compactMap { n in state.postgres[n].map { (n, $0) } }
        for (name, cluster) in clusters where cluster.pid == nil {
            log("starting Postgres for \(name) on port \(cluster.port)")
            try await cluster.start()
        }
        for name in state.regions {
            guard let server = state.redis[name], server.pid == nil else { continue }
            log("starting Redis for \(name) on port \(server.port)")
            try await server.start()
        }
        if !FileManager.default.fileExists(atPath: state.configDirectory + "/controlplane.yaml") {
            try DevConfigWriter.write(state: state)
        }
    }

    /// After the control replica was promoted (the control-database-failover drill), the old primary
    /// must never start again as a primary: it is rebuilt as a replica of the new one from a fresh base
    /// backup, and the two swap roles in the state. The connection string lists both either way.
    static func reconcileControlPair(_ state: inout DevState, log: @Sendable (String) -> Void) async throws {
        guard let replica = state.controlReplica, !replica.isStandby else { return }
        var old = state.control
        if old.pid != nil { await old.stop() }
        if replica.pid == nil { try await replica.start() }
        log(
            "the control replica on port \(replica.port) is the primary now; rebuilding the old primary (port \(old.port)) as its replica"
        )
        try await old.createReplica(of: replica)
        old = try await old.startMovingPortIfTaken()
        state.control = replica
        state.controlReplica = old
        try state.save()
        try DevConfigWriter.write(state: state)
    }

    /// Stops every process the deployment started, by PID, and checks that nothing listens any more.
    /// Returns what was stopped. The data stays unless `purge` is set.
    @discardableResult
    public static func down(directory rawDirectory: String, purge: Bool = false, log: @Sendable (String) -> Void)
        async throws -> [String]
    {
        let directory = absolute(rawDirectory)
        guard var state = try DevState.load(directory: directory) else {
            log("no deployment in \(directory)")
            return []
        }
        var stopped: [String] = []
        for daemon in state.daemons where Processes.isAlive(daemon.pid) {
            await Processes.terminate(daemon.pid, timeout: .seconds(10))
            stopped.append("\(daemon.kind) \(daemon.name) (pid \(daemon.pid))")
        }
        state.daemons = []
        try state.save()
        // What the daemons' guards and Airflow left (LocalExecutor's task processes, say): SIGTERM, then SIGKILL.
        for (region, airflow) in (state.airflow ?? [:]).sorted(by: { $0.key < $1.key }) {
            let home = airflow.home(passfile: state.passfile)
            let left = home.processes
            guard !left.isEmpty else { continue }
            await home.stopAll(grace: .seconds(10))
            stopped.append("\(left.count) Airflow process(es) of \(region)")
        }
        if let patroni = state.controlPatroni {
            await patroni.stop()
            stopped.append("the Patroni cluster (\(patroni.members.count) members) and etcd")
        }
        await DevPatroni.stopLeftovers(
            directory: directory, root: URL(fileURLWithPath: state.control.directory).deletingLastPathComponent().path)
        await withTaskGroup(of: String?.self) { group in
            for (name, cluster) in (state.controlPatroni == nil ? [("control", state.control)] : [])
                + (state.controlReplica.map { [("control replica", $0)] } ?? [])
                + state.regions.compactMap({ n in state.postgres[n].map { (n, $0) } })
            {
                group.addTask {
                    guard let pid = cluster.pid else { return nil }
                    await cluster.stop()
                    return "postgres \(name) (pid \(pid), port \(cluster.port))"
                }
            }
            for name in state.regions {
                guard let server = state.redis[name] else { continue }
                group.addTask {
                    guard let pid = server.pid else { return nil }
                    await server.stop()
                    return "redis \(name) (pid \(pid), port \(server.port))"
                }
            }
            for await item in group { if let item { stopped.append(item) } }
        }
        if let network = state.network { await network.destroy() }
        let ports =
            state.network != nil
            ? []
            : [state.control.port] + (state.controlReplica.map { [$0.port] } ?? []) + state.postgres.values.map(\.port)
                + state.redis.values.map(\.port) + (state.controlPatroni?.ports ?? [])
        let stillListening = ports.filter(Ports.isListening)
        if !stillListening.isEmpty {
            throw DevError(
                "ports still listening after down: \(stillListening.map(String.init).joined(separator: ", "))")
        }
        if purge {
            try? FileManager.default.removeItem(atPath: state.control.directory)
            if let replica = state.controlReplica { try? FileManager.default.removeItem(atPath: replica.directory) }
            for member in state.controlPatroni?.members ?? [] {
                try? FileManager.default.removeItem(atPath: member.postgres.directory)
            }
            for cluster in state.postgres.values { try? FileManager.default.removeItem(atPath: cluster.directory) }
            try? FileManager.default.removeItem(atPath: directory)
        }
        for line in stopped { log("stopped \(line)") }
        return stopped
    }

    /// Every server and daemon with its port, PID and whether it answers a real request.
    public static func status(directory rawDirectory: String) async throws -> [ServerStatus] {
        let directory = absolute(rawDirectory)
        guard let state = try DevState.load(directory: directory) else { return [] }
        let password = readPassword(state.passfile)
        var rows: [ServerStatus] = []
        let control =
            state.controlPatroni.map { $0.members.map { ($0.name, $0.postgres) } } ?? [("control", state.control)]
        let clusters = control + state.regions.compactMap { n in state.postgres[n].map { (n, $0) } }
        await withTaskGroup(of: (Int, ServerStatus).self) { group in
            for (index, (name, cluster)) in clusters.enumerated() {
                group.addTask {
                    let pid = cluster.pid
                    var answering = false
                    if pid != nil, password != nil,
                        let c = try? await PostgresConnection.connect(
                            cluster.hostConninfo(passfile: state.passfile), timeout: .seconds(2))
                    {
                        answering = (try? await c.query("SELECT 1", timeout: .seconds(2))) != nil
                        await c.close()
                    }
                    return (
                        index,
                        ServerStatus(kind: "postgres", region: name, port: cluster.port, pid: pid, answering: answering)
                    )
                }
            }
            for (offset, name) in state.regions.enumerated() {
                guard let server = state.redis[name] else { continue }
                group.addTask {
                    let pid = server.pid
                    var answering = false
                    if pid != nil,
                        let r = try? await RedisConnection.connect(
                            url: server.hostURL, timeout: .seconds(1), commandTimeout: .seconds(1))
                    {
                        answering = (try? await r.ping()) != nil
                        await r.close()
                    }
                    return (
                        100 + offset,
                        ServerStatus(kind: "redis", region: name, port: server.port, pid: pid, answering: answering)
                    )
                }
            }
            var collected: [(Int, ServerStatus)] = []
            for await item in group { collected.append(item) }
            rows = collected.sorted { $0.0 < $1.0 }.map(\.1)
        }
        for daemon in state.daemons {
            let alive = Processes.isAlive(daemon.pid)
            let answering =
                alive
                && (daemon.port.map {
                    state.network == nil ? Ports.isListening($0) : Ports.isListening($0, inNamespaceOf: daemon.pid)
                } ?? true)
            rows.append(
                ServerStatus(
                    kind: daemon.kind, region: daemon.region, port: daemon.port, pid: alive ? daemon.pid : nil,
                    answering: answering))
        }
        return rows
    }

    /// Makes a path absolute against the current directory.
    public static func absolute(_ path: String) -> String {
        let url = URL(fileURLWithPath: path, relativeTo: URL(fileURLWithPath: FileManager.default.currentDirectoryPath))
        return url.standardizedFileURL.path
    }

    /// Where cluster directories go: inside the deployment directory when the `postgres` user can
    /// reach it, else under /var/tmp (a checkout under /root is closed to other users).
    static func postgresRoot(for directory: String) async throws -> String {
        let inside = directory + "/pg"
        guard Subprocess.isRoot else { return inside }
        try FileManager.default.createDirectory(atPath: inside, withIntermediateDirectories: true)
        let probe = try await Subprocess.run("/usr/bin/test", ["-w", inside], asUser: "postgres", check: false)
        if probe.status == 0 { return inside }
        // chown lets postgres write the folder itself; the parents must be searchable too.
        _ = try await Subprocess.run("/bin/chown", ["postgres:postgres", inside], check: false)
        let retry = try await Subprocess.run("/usr/bin/test", ["-w", inside], asUser: "postgres", check: false)
        if retry.status == 0 { return inside }
        let key = SHA1Key.of(directory)
        let outside = "/var/tmp/switchyard-dev-\(key)"
        try FileManager.default.createDirectory(atPath: outside, withIntermediateDirectories: true)
        return outside
    }

    static func randomPassword() -> String {
        let alphabet = Array("abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789")
        return String((0..<24).map { _ in alphabet.randomElement()! })
    }

    /// The password in a pgpass file written by `up`.
    static func readPassword(_ passfile: String) -> String? {
        guard let text = try? String(contentsOfFile: passfile, encoding: .utf8) else { return nil }
        return text.split(separator: "\n").first.flatMap { $0.split(separator: ":").last.map(String.init) }
    }
}

enum SHA1Key {
    static func of(_ text: String) -> String {
        String(Insecure.SHA1.hash(data: Array(text.utf8)).map { String(format: "%02x", $0) }.joined().prefix(12))
    }
}
