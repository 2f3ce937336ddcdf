import Foundation
import Postgres
import SwitchyardCore
import SwitchyardRuntime

/// Patroni from pip (`scripts/install-patroni.sh`) and etcd from Debian (`etcd-server`), for a control database
/// that fails over the way production's does (`switchyard dev up --control-patroni`).
public enum PatroniInstall {
    /// The Patroni version the lab runs.
    public static let version = "4.1.5"

    /// The virtualenv, as the script chooses it: `$SWITCHYARD_PATRONI_VENV`; as root
    /// `/var/cache/switchyard/patroni-VERSION` (the postgres user runs it); else under the user's cache.
    public static var venv: String {
        let env = ProcessInfo.processInfo.environment
        if let venv = env["SWITCHYARD_PATRONI_VENV"], !venv.isEmpty { return venv }
        if Subprocess.isRoot { return "/var/cache/switchyard/patroni-\(version)" }
        let cache =
            env["SWITCHYARD_CACHE"] ?? ((env["XDG_CACHE_HOME"] ?? (NSHomeDirectory() + "/.cache")) + "/switchyard")
        return cache + "/patroni-\(version)"
    }

    /// The `patroni` program.
    public static var patroni: String { venv + "/bin/patroni" }

    /// Debian's etcd.
    public static let etcd = "/usr/bin/etcd"

    /// True once the install finished and etcd is there.
    public static var available: Bool {
        FileManager.default.fileExists(atPath: venv + "/.switchyard-installed")
            && FileManager.default.isExecutableFile(atPath: patroni)
            && FileManager.default.isExecutableFile(atPath: etcd)
    }

    /// Why the Patroni drills are skipped.
    public static var skipReason: String {
        if let failed = try? String(contentsOfFile: venv + ".failed", encoding: .utf8) {
            return "Patroni could not be installed: \(failed.trimmingCharacters(in: .whitespacesAndNewlines))"
        }
        if !FileManager.default.isExecutableFile(atPath: etcd) {
            return "etcd is not installed (apt-get install etcd-server; make test does as root)"
        }
        return "Patroni is not installed in \(venv): run scripts/install-patroni.sh (make test does)"
    }
}

/// One etcd member on loopback: Patroni's distributed configuration store in the lab.
public struct LocalEtcd: Sendable, Codable {
    /// Its data directory and log.
    public var directory: String
    /// The client port (Patroni's).
    public var clientPort: Int
    /// The peer port (a single member: unused but bound).
    public var peerPort: Int
    /// The process, once started.
    public var pid: Int32?

    var running: Bool { pid.map(Processes.isAlive) ?? false }

    mutating func start() throws {
        let client = "http://127.0.0.1:\(clientPort)", peer = "http://127.0.0.1:\(peerPort)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        pid = try Daemon.spawn(
            PatroniInstall.etcd,
            [
                "--name", "lab", "--data-dir", directory + "/data", "--listen-client-urls", client,
                "--advertise-client-urls", client, "--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
                "--initial-cluster", "lab=\(peer)", "--initial-cluster-state", "new", "--log-level", "warn",
            ], log: directory + "/etcd.log", detach: true)
    }
}

/// One Patroni member: a Patroni process (run as the postgres user) managing one PostgreSQL server.
public struct PatroniMember: Sendable, Codable {
    /// The member's name in the Patroni cluster.
    public var name: String
    /// Its PostgreSQL server (data, socket and log where `LocalPostgres` expects them).
    public var postgres: LocalPostgres
    /// Patroni's REST API port.
    public var restPort: Int
    /// The Patroni process, once started.
    public var pid: Int32?

    /// Patroni's configuration file.
    public var configFile: String { postgres.directory + "/patroni.yml" }
    /// Patroni's log.
    public var logFile: String { postgres.directory + "/patroni.log" }
    var running: Bool { pid.map(Processes.isAlive) ?? false }
}

/// The control database as a three-member Patroni cluster over one etcd (`dev up --control-patroni`), with
/// `synchronous_mode` on: a commit is acknowledged once a standby has it, so a promotion loses none.
public struct DevPatroni: Sendable, Codable {
    /// The cluster's name (Patroni's scope).
    public static let scope = "switchyard-control"
    /// Lab timings: the leader key lives `ttl` seconds (Patroni's minimum), refreshed every `loop_wait`.
    public static let ttl = 20
    /// Seconds between Patroni's loops (its leader refreshes the key each loop).
    public static let loopWait = 2
    /// Seconds Patroni retries etcd and PostgreSQL before it demotes (`loop_wait + 2 × retry_timeout ≤ ttl`).
    public static let retryTimeout = 5

    /// etcd.
    public var etcd: LocalEtcd
    /// The members, in the order they were created (the first bootstraps the cluster).
    public var members: [PatroniMember]
    /// Where the pid files a crashed test's cleanup finds live (under the deployment directory).
    public var pidDirectory: String

    /// Every member's host and port with `target_session_attrs=read-write`: libpq finds the primary by itself.
    public func conninfo(passfile: String) -> String {
        "host=\(members.map { _ in "127.0.0.1" }.joined(separator: ",")) "
            + "port=\(members.map { String($0.postgres.port) }.joined(separator: ",")) dbname=\(LocalPostgres.database) "
            + "user=\(LocalPostgres.user) passfile=\(passfile) connect_timeout=2 target_session_attrs=read-write"
    }

    /// Creates and starts the cluster: etcd, then the first member (it bootstraps with initdb), then the two
    /// others (base backups of it); returns once a primary answers with a synchronous standby streaming.
    public static func create(
        root: String, directory: String, password: String, port: () throws -> Int, log: @Sendable (String) -> Void
    ) async throws -> DevPatroni {
        guard PatroniInstall.available else { throw DevError(PatroniInstall.skipReason) }
        var cluster = DevPatroni(
            etcd: LocalEtcd(directory: directory + "/etcd", clientPort: try port(), peerPort: try port()),
            members: try (1...3).map { index in
                PatroniMember(
                    name: "control-\(index)",
                    postgres: LocalPostgres(directory: root + "/control-\(index)", port: try port()),
                    restPort: try port())
            }, pidDirectory: directory + "/patroni")
        try FileManager.default.createDirectory(atPath: cluster.pidDirectory, withIntermediateDirectories: true)
        log(
            "starting etcd on port \(cluster.etcd.clientPort) and a three-member Patroni cluster for the control database"
        )
        do {
            try cluster.etcd.start()
            try cluster.savePids()
            let replication = DevDeployment.randomPassword()
            for index in cluster.members.indices {
                try await cluster.members[index].writeConfiguration(
                    etcdPort: cluster.etcd.clientPort, password: password, replicationPassword: replication)
            }
            try cluster.start(0)
            let first = cluster.members[0]
            guard try await cluster.waitForPrimary(timeout: .seconds(120)) == first.name else {
                throw DevError("Patroni's first member never became the primary: \(first.logTail)")
            }
            try await cluster.createDatabase(on: first)
            try cluster.start(1)
            try cluster.start(2)
            try await cluster.waitForSynchronousStandby(timeout: .seconds(120))
        } catch {
            await cluster.stop()
            throw error
        }
        log(
            "Patroni cluster \(scope): primary \(cluster.members[0].name), synchronous standby streaming (ttl \(ttl) s, loop_wait \(loopWait) s)"
        )
        return cluster
    }

    /// Starts member `index`'s Patroni (as the postgres user when root).
    mutating func start(_ index: Int) throws {
        let member = members[index]
        // In the member's own directory: Patroni starts PostgreSQL through a spawned Python process that changes
        // to its parent's working directory, which the postgres user may not enter (a checkout under /root).
        let patroni = [
            "/usr/bin/env", "--chdir=\(member.postgres.directory)", PatroniInstall.patroni, member.configFile,
        ]
        let (program, arguments) =
            Subprocess.isRoot
            ? ("/usr/bin/setpriv", ["--reuid=postgres", "--regid=postgres", "--init-groups", "--"] + patroni)
            : (patroni[0], Array(patroni.dropFirst()))
        members[index].pid = try Daemon.spawn(program, arguments, log: member.logFile, detach: true)
        try savePids()
    }

    /// One pid file per process, for the cleanup of a test run that died before its exit handler.
    func savePids() throws {
        if let pid = etcd.pid {
            try "\(pid)\n".write(toFile: pidDirectory + "/etcd.pid", atomically: true, encoding: .utf8)
        }
        for member in members {
            guard let pid = member.pid else { continue }
            try "\(pid)\n".write(toFile: pidDirectory + "/\(member.name).pid", atomically: true, encoding: .utf8)
        }
    }

    /// The member whose server accepts writes now, asked over each running member's private socket.
    public func primary() async -> PatroniMember? {
        for member in members where member.postgres.pid != nil {
            guard
                let c = try? await PostgresConnection.connect(
                    member.postgres.setupConninfo, timeout: .seconds(2), defaultTimeout: .seconds(2))
            else { continue }
            let recovery = try? await c.query("SELECT pg_is_in_recovery() AS r").first?["r"].require(Bool.self)
            await c.close()
            if recovery == false { return member }
        }
        return nil
    }

    /// Waits until some member is the primary; returns its name.
    func waitForPrimary(timeout: Duration) async throws -> String {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if let primary = await primary() { return primary.name }
            try await Task.sleep(for: .milliseconds(250))
        }
        throw DevError("no Patroni member became the primary within \(timeout): \(members[0].logTail)")
    }

    /// Creates Switchyard's database on the primary (Patroni set the superuser's password itself). Retried while
    /// Patroni finishes its bootstrap on the same server (its own role updates race a second session's).
    func createDatabase(on member: PatroniMember) async throws {
        let deadline = ContinuousClock.now + .seconds(60)
        while true {
            do {
                let c = try await PostgresConnection.connect(member.postgres.setupConninfo, timeout: .seconds(5))
                try await c.closeAfter {
                    let exists = try await c.query(
                        "SELECT 1 FROM pg_database WHERE datname = $1", [.text(LocalPostgres.database)])
                    if exists.rows.isEmpty { try await c.query("CREATE DATABASE \(LocalPostgres.database)") }
                }
                return
            } catch {
                guard ContinuousClock.now < deadline else { throw error }
                try await Task.sleep(for: .milliseconds(500))
            }
        }
    }

    /// Waits until the primary reports a synchronous standby streaming.
    func waitForSynchronousStandby(timeout: Duration) async throws {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if let primary = await primary(),
                let c = try? await PostgresConnection.connect(primary.postgres.setupConninfo, timeout: .seconds(2))
            {
                let sync = try? await c.query(
                    "SELECT count(*) AS n FROM pg_stat_replication WHERE state = 'streaming' AND sync_state IN ('sync', 'quorum')"
                ).first?["n"].require(Int.self)
                await c.close()
                if (sync ?? 0) > 0 { return }
            }
            try await Task.sleep(for: .milliseconds(250))
        }
        throw DevError(
            "the Patroni cluster has no synchronous standby after \(timeout): \(members.map(\.logTail).joined(separator: "\n"))"
        )
    }

    /// Starts etcd and every member whose Patroni is not running (after a drill killed one, or a reboot).
    public mutating func restartStopped(log: @Sendable (String) -> Void) async throws {
        if !etcd.running {
            log("starting etcd on port \(etcd.clientPort)")
            try etcd.start()
            try savePids()
        }
        for index in members.indices where !members[index].running {
            // A server its Patroni left behind (SIGKILLed host) must not run unmanaged.
            await members[index].postgres.stop()
            log(
                "starting Patroni member \(members[index].name) (port \(members[index].postgres.port)); it rejoins as a replica"
            )
            try start(index)
        }
    }

    /// The host of `member` dies: SIGKILL its Patroni, its postmaster and every backend (no shutdown, no
    /// leader key released: the others wait out its `ttl`).
    public func kill(_ member: PatroniMember) {
        if let pid = member.pid, Processes.isAlive(pid) { Foundation.kill(pid, SIGKILL) }
        if let postmaster = member.postgres.pid {
            let backends = Processes.children(of: postmaster)
            Foundation.kill(postmaster, SIGKILL)
            for pid in backends { Foundation.kill(pid, SIGKILL) }
        }
    }

    /// Stops every member (Patroni stops its server) and etcd.
    public func stop() async {
        await withTaskGroup(of: Void.self) { group in
            for member in members {
                group.addTask {
                    if let pid = member.pid, Processes.isAlive(pid) {
                        await Processes.terminate(pid, timeout: .seconds(30))
                    }
                    await member.postgres.stop()
                }
            }
        }
        if let pid = etcd.pid, Processes.isAlive(pid) { await Processes.terminate(pid, timeout: .seconds(10)) }
    }

    /// Stops what the pid files under `directory/patroni` name that is still a Patroni or etcd of that deployment
    /// (its command line names the deployment's files): what a `dev up` interrupted before it saved the cluster
    /// in the state left running.
    public static func stopLeftovers(directory: String, root: String?) async {
        let pidDirectory = directory + "/patroni"
        let files = (try? FileManager.default.contentsOfDirectory(atPath: pidDirectory)) ?? []
        for file in files where file.hasSuffix(".pid") {
            guard let text = try? String(contentsOfFile: pidDirectory + "/" + file, encoding: .utf8),
                let pid = Int32(text.trimmingCharacters(in: .whitespacesAndNewlines)), Processes.isAlive(pid)
            else { continue }
            let cmdline = (Processes.readProcFile("/proc/\(pid)/cmdline") ?? "").replacingOccurrences(
                of: "\0", with: " ")
            let ours = cmdline.contains(directory + "/") || root.map { cmdline.contains($0 + "/") } == true
            guard ours, cmdline.contains("patroni") || cmdline.contains("etcd") else { continue }
            await Processes.terminate(pid, timeout: .seconds(30))
        }
    }

    /// Every port the cluster listens on.
    public var ports: [Int] { [etcd.clientPort, etcd.peerPort] + members.flatMap { [$0.postgres.port, $0.restPort] } }
}

extension PatroniMember {
    /// The last lines of its Patroni log, for errors.
    var logTail: String {
        let text = (try? String(contentsOfFile: logFile, encoding: .utf8)) ?? ""
        return "\(name): " + String(text.suffix(1500))
    }

    /// Writes `patroni.yml` (readable by the postgres user only: it holds the passwords).
    func writeConfiguration(etcdPort: Int, password: String, replicationPassword: String) async throws {
        let fm = FileManager.default
        try fm.createDirectory(atPath: postgres.socketDirectory, withIntermediateDirectories: true)
        func quoted(_ s: String) -> String { "'" + s.replacingOccurrences(of: "'", with: "''") + "'" }
        let yaml = """
            scope: \(DevPatroni.scope)
            name: \(name)
            log:
              level: INFO
            restapi:
              listen: 127.0.0.1:\(restPort)
              connect_address: 127.0.0.1:\(restPort)
            etcd3:
              hosts: 127.0.0.1:\(etcdPort)
            bootstrap:
              dcs:
                ttl: \(DevPatroni.ttl)
                loop_wait: \(DevPatroni.loopWait)
                retry_timeout: \(DevPatroni.retryTimeout)
                maximum_lag_on_failover: 1048576
                synchronous_mode: true
                postgresql:
                  use_pg_rewind: true
                  parameters:
                    max_connections: 300
                    wal_log_hints: 'on'
                    max_wal_senders: 10
                    max_replication_slots: 10
              initdb:
                - encoding: UTF8
                - locale: C
            postgresql:
              listen: 127.0.0.1:\(postgres.port)
              connect_address: 127.0.0.1:\(postgres.port)
              data_dir: \(postgres.dataDirectory)
              bin_dir: \(try PostgresTemplate.binaries())
              pgpass: \(postgres.directory)/patroni.pgpass
              # A replica's base backup asks for an immediate checkpoint (a spread one takes minutes).
              basebackup:
                - checkpoint: 'fast'
              remove_data_directory_on_rewind_failure: true
              remove_data_directory_on_diverged_timelines: true
              authentication:
                superuser:
                  username: \(LocalPostgres.user)
                  password: \(quoted(password))
                replication:
                  username: replicator
                  password: \(quoted(replicationPassword))
                rewind:
                  username: \(LocalPostgres.user)
                  password: \(quoted(password))
              parameters:
                unix_socket_directories: \(quoted(postgres.socketDirectory))
                shared_buffers: 16MB
                fsync: 'off'
                full_page_writes: 'on'
                log_min_messages: warning
              pg_hba:
                - local all all trust
                - local replication all trust
                - host all all 127.0.0.1/32 scram-sha-256
                - host replication replicator 127.0.0.1/32 scram-sha-256

            """
        try yaml.write(toFile: configFile, atomically: true, encoding: .utf8)
        chmod(configFile, 0o600)
        if Subprocess.isRoot {
            try await Subprocess.run("/bin/chown", ["-R", "postgres:postgres", postgres.directory])
        }
        chmod(postgres.directory, 0o700)
        chmod(postgres.socketDirectory, 0o700)
    }
}
