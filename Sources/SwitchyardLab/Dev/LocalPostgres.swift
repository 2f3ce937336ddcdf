import Foundation
import Postgres
import SwitchyardCore
import SwitchyardRuntime

/// A throwaway Postgres cluster on loopback, for the dev deployment and for tests.
///
/// Clusters are copied from a template made once with initdb (initdb costs seconds, a copy
/// milliseconds). Postgres refuses to run as root, so as root every server program runs as the
/// `postgres` user through runuser, in directories that user owns.
public struct LocalPostgres: Sendable, Codable {
    /// The cluster's directory: `data/`, `socket/`, `server.log`.
    public var directory: String
    /// TCP port on 127.0.0.1.
    public var port: Int
    /// The network namespace it runs in (a partitionable deployment), or nil for the host's.
    public var namespace: String?
    /// The address clients use inside that network, or nil for 127.0.0.1.
    public var address: String?
    /// The superuser name clients log in as.
    public static let user = "switchyard"
    /// The database Switchyard uses in every cluster.
    public static let database = "switchyard"

    /// The data directory.
    public var dataDirectory: String { directory + "/data" }
    /// The unix socket directory (trusted local access for setup only).
    public var socketDirectory: String { directory + "/socket" }
    /// The server log.
    public var logFile: String { directory + "/server.log" }

    /// Creates the description of a cluster; nothing happens on disk until `create()`.
    public init(directory: String, port: Int, namespace: String? = nil, address: String? = nil) {
        self.directory = directory
        self.port = port
        self.namespace = namespace
        self.address = address
    }

    /// The libpq conninfo to reach this cluster over TCP with a password file (from inside its network).
    public func conninfo(passfile: String, database: String = LocalPostgres.database) -> String {
        "host=\(address ?? "127.0.0.1") port=\(port) dbname=\(database) user=\(Self.user) passfile=\(passfile) connect_timeout=2"
    }

    /// The conninfo a tool on the host uses: TCP on loopback, or the cluster's unix socket when the
    /// cluster runs in a namespace of its own (trusted, like setup).
    public func hostConninfo(passfile: String, database: String = LocalPostgres.database) -> String {
        guard namespace != nil else { return conninfo(passfile: passfile, database: database) }
        return "host=\(socketDirectory) port=\(port) dbname=\(database) user=\(Self.user) connect_timeout=2"
    }

    /// Conninfo through the cluster's private unix socket, trusted, for setup.
    public var setupConninfo: String {
        "host=\(socketDirectory) port=\(port) dbname=postgres user=\(Self.user) connect_timeout=5"
    }

    /// The postmaster's PID, from `postmaster.pid`, or nil when not running.
    public var pid: Int32? {
        guard let text = try? String(contentsOfFile: dataDirectory + "/postmaster.pid", encoding: .utf8),
            let first = text.split(separator: "\n").first, let pid = Int32(first), Processes.isAlive(pid)
        else { return nil }
        return pid
    }

    /// Copies the template into `directory` and writes this cluster's settings. `extraListen` adds
    /// addresses (inside a test's own network namespace) to listen on and accept password logins from.
    public func create(extraListen: [String] = []) async throws {
        let template = try await PostgresTemplate.ensure()
        let fm = FileManager.default
        try fm.createDirectory(atPath: directory, withIntermediateDirectories: true)
        try await Subprocess.run("/bin/cp", ["-a", template, dataDirectory])
        try fm.createDirectory(atPath: socketDirectory, withIntermediateDirectories: true)
        let settings = """

            # Switchyard local cluster
            listen_addresses = '\((["127.0.0.1"] + extraListen).joined(separator: ","))'
            port = \(port)
            unix_socket_directories = '\(socketDirectory)'
            max_connections = 300
            shared_buffers = 16MB
            fsync = off
            synchronous_commit = off
            full_page_writes = off
            log_min_messages = warning
            log_connections = off

            """
        let conf = dataDirectory + "/postgresql.conf"
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: conf))
        try handle.seekToEnd()
        try handle.write(contentsOf: Data(settings.utf8))
        try handle.close()
        let hba = """
            # Setup over the private socket is trusted (a replica's base backup too); TCP clients need the password.
            local all all trust
            local replication all trust
            host all all 127.0.0.1/32 scram-sha-256
            \(extraListen.map { "host all all \($0)/24 scram-sha-256" }.joined(separator: "\n"))

            """
        try hba.write(toFile: dataDirectory + "/pg_hba.conf", atomically: true, encoding: .utf8)
        if Subprocess.isRoot { try await Subprocess.run("/bin/chown", ["-R", "postgres:postgres", directory]) }
        chmod(dataDirectory, 0o700)
        chmod(socketDirectory, 0o700)
    }

    /// Starts the server on a loopback port; when another process took the port between choosing and
    /// starting (ports are chosen by several processes at once in tests), moves to a fresh port and tries
    /// again. Returns the cluster as started (its port may have changed).
    public func startMovingPortIfTaken(attempts: Int = 4) async throws -> LocalPostgres {
        var cluster = self
        for attempt in 1...attempts {
            do {
                try await cluster.start()
                return cluster
            } catch {
                let log = (try? String(contentsOfFile: cluster.logFile, encoding: .utf8)) ?? ""
                guard attempt < attempts, log.contains("Address already in use") || log.contains("could not bind")
                else { throw error }
                cluster.port = try Ports.freeLoopbackPort()
                let handle = try FileHandle(
                    forWritingTo: URL(fileURLWithPath: cluster.dataDirectory + "/postgresql.conf"))
                try handle.seekToEnd()
                try handle.write(contentsOf: Data("\nport = \(cluster.port)\n".utf8))
                try handle.close()
            }
        }
        return cluster
    }

    /// Starts the server (inside network namespace `namespace` when given, else its own) and waits until it accepts connections.
    public func start(namespace: String? = nil) async throws {
        let bin = try PostgresTemplate.binaries()
        try await Subprocess.run(
            bin + "/pg_ctl", ["-D", dataDirectory, "-l", logFile, "-w", "-t", "60", "-s", "start"],
            asUser: Subprocess.isRoot ? "postgres" : nil, namespace: namespace ?? self.namespace)
    }

    /// Stops the server: fast shutdown through pg_ctl, SIGKILL if that does not finish in time.
    public func stop() async {
        guard let pid else { return }
        await Processes.terminate(pid, signal: SIGINT, timeout: .seconds(15))
    }

    /// True when the cluster is a standby (it has not been promoted).
    public var isStandby: Bool { FileManager.default.fileExists(atPath: dataDirectory + "/standby.signal") }

    /// Makes this cluster a streaming replica of `primary` (which must be running): a base backup over
    /// the primary's private socket with `-R` (standby.signal and primary_conninfo), then this
    /// cluster's own port and socket. Start it with `start()`.
    public func createReplica(of primary: LocalPostgres) async throws {
        let bin = try PostgresTemplate.binaries()
        let fm = FileManager.default
        try? fm.removeItem(atPath: dataDirectory)
        try fm.createDirectory(atPath: socketDirectory, withIntermediateDirectories: true)
        if Subprocess.isRoot { try await Subprocess.run("/bin/chown", ["-R", "postgres:postgres", directory]) }
        try await Subprocess.run(
            bin + "/pg_basebackup",
            [
                "-h", primary.socketDirectory, "-p", String(primary.port), "-U", Self.user, "-D", dataDirectory, "-X",
                "stream", "-R", "-c", "fast",
            ],
            asUser: Subprocess.isRoot ? "postgres" : nil)
        let settings = "\n# Switchyard local replica\nport = \(port)\nunix_socket_directories = '\(socketDirectory)'\n"
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: dataDirectory + "/postgresql.conf"))
        try handle.seekToEnd()
        try handle.write(contentsOf: Data(settings.utf8))
        try handle.close()
        if Subprocess.isRoot { try await Subprocess.run("/bin/chown", ["-R", "postgres:postgres", directory]) }
        chmod(dataDirectory, 0o700)
        chmod(socketDirectory, 0o700)
    }

    /// Promotes a standby to primary and waits until it accepts writes.
    public func promote() async throws {
        let bin = try PostgresTemplate.binaries()
        try await Subprocess.run(
            bin + "/pg_ctl", ["-D", dataDirectory, "-w", "-t", "60", "-s", "promote"],
            asUser: Subprocess.isRoot ? "postgres" : nil)
    }

    /// Sets the password of the superuser and creates the Switchyard database if missing.
    public func prepare(password: String) async throws {
        let setup = try await PostgresConnection.connect(setupConninfo, timeout: .seconds(10))
        return try await setup.closeAfter {
            try await setup.query("ALTER ROLE \(Self.user) PASSWORD \(PostgresConnection.quoteLiteral(password))")
            let exists = try await setup.query("SELECT 1 FROM pg_database WHERE datname = $1", [.text(Self.database)])
            if exists.rows.isEmpty { try await setup.query("CREATE DATABASE \(Self.database)") }
        }
    }
}
