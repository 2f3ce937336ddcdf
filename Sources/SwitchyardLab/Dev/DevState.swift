import Foundation
import SwitchyardCore
import SwitchyardRuntime

/// What `switchyard dev up` started, persisted in `<dir>/deployment.json` so that later commands
/// (status, down, drills) find every process by PID.
public struct DevState: Codable, Sendable {
    /// Format version of this file.
    public var version = 1
    /// Absolute deployment directory.
    public var directory: String
    /// Region names, highest priority first.
    public var regions: [String]
    /// The control database cluster (the primary, when it has a replica).
    public var control: LocalPostgres
    /// Its streaming replica (`dev up --control-replica`), promoted by the control-database-failover drill.
    public var controlReplica: LocalPostgres?
    /// The control database as a Patroni cluster (`dev up --control-patroni`); `control` is then its first
    /// member, which may no longer be the primary.
    public var controlPatroni: DevPatroni?
    /// One cluster per region.
    public var postgres: [String: LocalPostgres]
    /// One Redis per region.
    public var redis: [String: LocalRedis]
    /// Daemons (schedulers, workers, agents) started for the deployment.
    public var daemons: [DaemonRecord] = []
    /// When the deployment was created.
    public var createdAt: Date
    /// `dev up --airflow`: each region's Airflow install (its metadata tables in the region database).
    public var airflow: [String: DevAirflow]?
    /// The drill DAG's ledger (`AirflowHome.drillDAG`): one file outside every region's Airflow home.
    public var airflowLedger: String { directory + "/airflow/ledger.jsonl" }
    /// The routing stand-in's port, once `dev up --daemons` enabled it (see `DevRouter`).
    public var routerPort: Int?
    /// The namespaces of a partitionable deployment (`dev up --netns`); nil when every process
    /// shares the host's loopback.
    public var network: DevNetwork?
    /// Control-plane settings other than the defaults (tests' timings), kept across rewrites of the configuration.
    public var settings: DevSettings?
    /// The WAN profile its regions are linked by (`dev up --wan`; nil: loopback, no relays).
    public var wan: String?
    /// Each region's wall clock (`dev up --clock-skew`, or the WAN profile's); nil or absent: the host's.
    public var clocks: [String: ClockSkew]?
    /// The observer name of a witness agent (`dev up --witness`: an agent in no region's site, run with
    /// `agent --witness`); nil: none.
    public var witness: String?

    /// The control database's conninfo: with a replica, both hosts and `target_session_attrs=read-write`,
    /// so every client follows whichever of them is the primary.
    public var controlConninfo: String {
        if let controlPatroni { return controlPatroni.conninfo(passfile: passfile) }
        guard let replica = controlReplica else { return control.conninfo(passfile: passfile) }
        return
            "host=127.0.0.1,127.0.0.1 port=\(control.port),\(replica.port) dbname=\(LocalPostgres.database) user=\(LocalPostgres.user) "
            + "passfile=\(passfile) connect_timeout=2 target_session_attrs=read-write"
    }

    /// The state file's path in a deployment directory.
    public static func path(in directory: String) -> String { directory + "/deployment.json" }

    /// Reads the state of a deployment, or nil when there is none.
    public static func load(directory: String) throws -> DevState? {
        let path = path(in: directory)
        guard FileManager.default.fileExists(atPath: path) else { return nil }
        let data = try Data(contentsOf: URL(fileURLWithPath: path))
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        return try decoder.decode(DevState.self, from: data)
    }

    /// Writes the state atomically.
    public func save() throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        encoder.dateEncodingStrategy = .iso8601
        try encoder.encode(self).write(to: URL(fileURLWithPath: Self.path(in: directory)), options: .atomic)
    }

    /// The configuration as a tool on the host reaches it: a partitionable deployment's databases
    /// through their unix sockets (their TCP addresses exist only inside the namespaces).
    public func hostConfiguration(_ configuration: Configuration) -> Configuration {
        guard network != nil else { return configuration }
        var view = configuration
        view.controlPlane.control.dsn = control.hostConninfo(passfile: passfile)
        for index in view.regions.indices {
            if let cluster = postgres[view.regions[index].name] {
                view.regions[index].databaseDSN = cluster.hostConninfo(passfile: passfile)
            }
        }
        return view
    }

    /// The program and arguments that run a `switchyard` command against this deployment's
    /// configuration: as is, or inside the hub namespace of a partitionable deployment.
    public func command(_ binary: String, _ arguments: [String]) -> (String, [String]) {
        network?.command(in: nil, binary, arguments) ?? (binary, arguments)
    }

    /// The password file every generated DSN names.
    public var passfile: String { directory + "/pgpass" }
    /// The generated configuration directory.
    public var configDirectory: String { directory + "/regions" }
}

/// One region's Airflow install in a `dev up --airflow` deployment.
public struct DevAirflow: Codable, Sendable, Equatable {
    /// Its `AIRFLOW_HOME`.
    public var home: String
    /// Its execution API's port (`airflow api-server --apps execution`).
    public var apiPort: Int
    /// `celery` when the region runs the CeleryExecutor on its Redis (its Celery workers under
    /// `switchyard worker --exec`); nil or absent: the LocalExecutor.
    public var executor: String?

    /// True with the CeleryExecutor.
    public var celery: Bool { executor == "celery" }

    /// The install, to run `airflow` commands from.
    public func home(passfile: String) -> AirflowHome {
        AirflowHome(existing: home, apiPort: apiPort, passfile: passfile)
    }
}

/// A daemon process of the deployment.
public struct DaemonRecord: Codable, Sendable, Equatable {
    /// `scheduler`, `worker` or `agent`.
    public var kind: String
    /// The region it serves.
    public var region: String
    /// Its identity within the region (node id, observer name).
    public var name: String
    /// Its PID.
    public var pid: Int32
    /// The port it listens on (agents), if any.
    public var port: Int?
    /// Its log file.
    public var logFile: String
}

/// One server or daemon as `dev status` reports it.
public struct ServerStatus: Codable, Sendable {
    /// `postgres`, `redis`, `scheduler`, `worker`, `agent`.
    public var kind: String
    /// The region, or `control` for the control database.
    public var region: String
    /// The listening port, if it has one.
    public var port: Int?
    /// The PID, nil when not running.
    public var pid: Int32?
    /// True when it answered a real request (a query, PING, or is alive for daemons without a port).
    public var answering: Bool
}
