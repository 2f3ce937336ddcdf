import Foundation
import SwitchyardCore
import SwitchyardRuntime
import Synchronization

/// A real Apache Airflow, installed by `scripts/install-airflow.sh` (which `make test` runs) into a
/// cached virtualenv outside the clone; the Airflow tests and `dev up --airflow` use it.
public enum AirflowInstall {
    /// The Airflow version the tests run against.
    public static let version = "3.3.2"

    /// The virtualenv: `$SWITCHYARD_AIRFLOW_VENV`, else `~/.cache/switchyard/airflow-3.3.2` (as the script).
    public static var venv: String {
        let env = ProcessInfo.processInfo.environment
        if let venv = env["SWITCHYARD_AIRFLOW_VENV"], !venv.isEmpty { return venv }
        let cache =
            env["SWITCHYARD_CACHE"] ?? ((env["XDG_CACHE_HOME"] ?? (NSHomeDirectory() + "/.cache")) + "/switchyard")
        return cache + "/airflow-\(version)"
    }

    /// The `airflow` program.
    public static var airflow: String { venv + "/bin/airflow" }

    /// True once the install finished (the script's marker) and the program is there.
    public static var available: Bool {
        FileManager.default.fileExists(atPath: venv + "/.switchyard-installed")
            && FileManager.default.isExecutableFile(atPath: airflow)
    }

    /// True when the install has the Celery provider (`celery`), which `--executor celery` needs.
    public static var celeryAvailable: Bool {
        available && FileManager.default.isExecutableFile(atPath: venv + "/bin/celery")
    }

    /// Why the Celery tests are skipped.
    public static var celerySkipReason: String {
        if !available { return skipReason }
        if let failed = try? String(contentsOfFile: venv + ".celery-failed", encoding: .utf8) {
            return
                "Airflow's Celery provider could not be installed: \(failed.trimmingCharacters(in: .whitespacesAndNewlines))"
        }
        return "Airflow's Celery provider is not installed in \(venv): run scripts/install-airflow.sh (make test does)"
    }

    /// Why the Airflow tests are skipped: the install's own failure, or that it never ran.
    public static var skipReason: String {
        if let failed = try? String(contentsOfFile: venv + ".failed", encoding: .utf8) {
            return
                "Apache Airflow \(version) could not be installed: \(failed.trimmingCharacters(in: .whitespacesAndNewlines))"
        }
        return "Apache Airflow \(version) is not installed in \(venv): run scripts/install-airflow.sh (make test does)"
    }
}

/// One Airflow install over one metadata database: an `AIRFLOW_HOME` with its `airflow.cfg`, a DAGs
/// folder and logs, and the Airflow processes started from it. Every process is started through
/// `/usr/bin/env -C <home> AIRFLOW_HOME=… airflow …` (no shell), so each one, and every child it forks,
/// runs in the home: `stopAll` finds and stops them all by it, and so do the exit handler and
/// `scripts/cleanup-test-servers.sh`.
public final class AirflowHome: @unchecked Sendable {
    /// The `AIRFLOW_HOME` directory.
    public let directory: String
    /// The port of this install's execution API (`airflow api-server --apps execution`), which LocalExecutor's tasks call.
    public let apiPort: Int
    /// The password file Airflow's libpq reads (`PGPASSFILE`): no password in a URL or a log.
    public let passfile: String
    /// Processes this home started itself (it reaps them once stopped).
    private let started = Mutex<[pid_t]>([])

    /// Writes `airflow.cfg` and the DAG files (`name.py` → source) for a database on `127.0.0.1:port`; with
    /// `brokerURL`, the CeleryExecutor on that Redis (its results in the same database), else the LocalExecutor.
    public init(
        directory: String, port: Int, database: String, user: String, passfile: String, dags: [String: String],
        brokerURL: String? = nil
    ) throws {
        self.directory = directory
        self.passfile = passfile
        apiPort = try Ports.freeLoopbackPort()
        try writeConfiguration(port: port, database: database, user: user, dags: dags, brokerURL: brokerURL)
    }

    /// An existing home (`dev up --airflow` made it; `airflow.cfg` names `apiPort`).
    public init(existing directory: String, apiPort: Int, passfile: String) {
        self.directory = directory
        self.apiPort = apiPort
        self.passfile = passfile
    }

    private func writeConfiguration(
        port: Int, database: String, user: String, dags: [String: String], brokerURL: String?
    ) throws {
        let fm = FileManager.default
        try fm.createDirectory(atPath: directory + "/dags", withIntermediateDirectories: true)
        try fm.createDirectory(atPath: directory + "/logs", withIntermediateDirectories: true)
        let secret = (0..<4).map { _ in String(UInt64.random(in: 0...UInt64.max), radix: 16) }.joined()
        // The CeleryExecutor: the region's Redis is the broker, task results go to the region's own database
        // (SQLAlchemy through libpq, which reads PGPASSFILE: no password in the file). Tasks are acknowledged
        // late (Airflow's default), so a worker killed mid-task leaves its message to be delivered again.
        let celery =
            brokerURL.map {
                """

                [celery]
                broker_url = \($0)
                result_backend = db+postgresql://\(user)@127.0.0.1:\(port)/\(database)
                worker_concurrency = 4
                worker_prefetch_multiplier = 1
                # Airflow gives a publish to the broker 1 s, three times, then fails the task it never ran: on
                # a starved test host (load 20 on 2 cores) a scheduler's publish can take longer than that.
                operation_timeout = 10

                """
            } ?? ""
        try """
        [core]
        dags_folder = \(directory)/dags
        executor = \(brokerURL == nil ? "LocalExecutor" : "CeleryExecutor")
        load_examples = False
        dags_are_paused_at_creation = False
        parallelism = 8
        execution_api_server_url = http://127.0.0.1:\(apiPort)/execution/

        [database]
        sql_alchemy_conn = postgresql+psycopg2://\(user)@127.0.0.1:\(port)/\(database)

        [logging]
        base_log_folder = \(directory)/logs

        [api]
        host = 127.0.0.1
        port = \(apiPort)

        [api_auth]
        jwt_secret = \(secret)

        [workers]
        # A task's supervisor calls the execution API (the api-server) with a 5 s read timeout by default,
        # five tries, then fails the task before it ran: on a starved test host (load 20 on 2 cores, one
        # api-server worker) that failed 4 of 6 drill runs in a fresh-clone run ("ReadTimeout('timed out')").
        execution_api_timeout = 30

        [scheduler]
        enable_health_check = False
        \(celery)
        """.write(toFile: directory + "/airflow.cfg", atomically: true, encoding: .utf8)
        for (name, source) in dags {
            try source.write(toFile: directory + "/dags/\(name).py", atomically: true, encoding: .utf8)
        }
    }

    /// A DAG of one Python task that sleeps `seconds`, triggered by hand (no schedule).
    public static func sleepingDAG(id: String, seconds: Int) -> String {
        """
        from datetime import datetime
        from airflow.sdk import dag, task

        @dag(dag_id="\(id)", schedule=None, start_date=datetime(2024, 1, 1), catchup=False, max_active_runs=64)
        def \(id)():
            @task
            def work():
                import time
                time.sleep(\(seconds))
                return "done"
            work()

        \(id)()

        """
    }

    /// The local deployment's DAG for drills, `switchyard_drill`: three tasks in a chain (`extract` 2 s,
    /// `transform` 8 s, `load` 2 s), each handing its result to the next through an XCom (`load` fails
    /// when `transform`'s is missing or wrong: a migration that loses a finished task's XCom shows). Every
    /// task attempt writes to `ledger`, a file outside both regions: a `start` line, a `beat` line every
    /// 250 ms while it works and an `end` line when its work is done, each with the run, task, try, region
    /// (`SWITCHYARD_REGION`, else the Airflow home's name), the wall time and the host's boot clock in
    /// nanoseconds (`CLOCK_BOOTTIME`, which a region's faked clock leaves alone) for `AirflowLedger`.
    public static func drillDAG(ledger: String) -> String {
        """
        import json, os, time
        from datetime import datetime
        from airflow.sdk import dag, task, get_current_context

        LEDGER = \(pythonString(ledger))

        def _ledger(event):
            ti = get_current_context()["ti"]
            region = os.environ.get("SWITCHYARD_REGION") or os.path.basename(os.environ.get("AIRFLOW_HOME", ""))
            line = json.dumps({"event": event, "dag": ti.dag_id, "run": ti.run_id, "task": ti.task_id,
                               "try": ti.try_number, "region": region, "at": time.time(),
                               "boot_ns": time.clock_gettime_ns(time.CLOCK_BOOTTIME)}) + "\\n"
            fd = os.open(LEDGER, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            try:
                os.write(fd, line.encode())
            finally:
                os.close(fd)

        def _work(seconds, value):
            _ledger("start")
            until = time.monotonic() + seconds
            while time.monotonic() < until:
                time.sleep(min(0.25, max(0.0, until - time.monotonic())))
                _ledger("beat")
            _ledger("end")
            return value

        @dag(dag_id="switchyard_drill", schedule=None, start_date=datetime(2024, 1, 1), catchup=False, max_active_runs=64)
        def switchyard_drill():
            @task
            def extract():
                return _work(2, 1)

            @task
            def transform(n):
                return _work(8, n + 1)

            @task
            def load(n):
                if n != 2:
                    raise ValueError(f"transform's XCom is missing or wrong: {n!r}")
                return _work(2, n)

            load(transform(extract()))

        switchyard_drill()

        """
    }

    /// The drill DAG's tasks, in order.
    public static let drillTasks = ["extract", "transform", "load"]

    /// A Python string literal of `text` (JSON's escaping, without escaped slashes, is Python's).
    static func pythonString(_ text: String) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .withoutEscapingSlashes
        let data = (try? encoder.encode(text)) ?? Data("\"\"".utf8)
        return String(decoding: data, as: UTF8.self)
    }

    /// The command line that runs `airflow ARGS…` from this home, without a shell.
    public func command(_ arguments: [String]) -> [String] {
        // Airflow's tables live in `public`: a role named like Switchyard's schema would otherwise resolve
        // `"$user"` to the `switchyard` schema first (its own `dag_run` included).
        [
            "/usr/bin/env", "-C", directory, "AIRFLOW_HOME=\(directory)", "PGPASSFILE=\(passfile)",
            "PGOPTIONS=-csearch_path=public", AirflowInstall.airflow,
        ]
            + arguments
    }

    /// The same as one `--exec` string (no path here contains a space).
    public func exec(_ arguments: [String]) -> String { command(arguments).joined(separator: " ") }

    /// Runs `airflow ARGS…` to completion, killed after `timeout`.
    @discardableResult
    public func run(_ arguments: [String], timeout: Int = 180) async throws -> Subprocess.Outcome {
        let line = command(arguments)
        return try await Subprocess.run("/usr/bin/timeout", ["-k", "5", String(timeout)] + line, check: false)
    }

    /// Starts `airflow ARGS…` in the background with its output in `<home>/NAME.log`; its own session,
    /// so a Ctrl-C of the test run reaches it only through the exit handler.
    @discardableResult
    public func start(_ name: String, _ arguments: [String]) throws -> pid_t {
        let line = command(arguments)
        let pid = try Daemon.spawn(line[0], Array(line.dropFirst()), log: directory + "/\(name).log", detach: true)
        started.withLock { $0.append(pid) }
        return pid
    }

    /// The output of a process started with `start`.
    public func log(_ name: String) -> String {
        (try? String(contentsOfFile: directory + "/\(name).log", encoding: .utf8)) ?? ""
    }

    /// Rewrites `airflow.cfg` of `home` for an execution API on `new` instead of `old` (its `[api] port` and
    /// `execution_api_server_url`).
    public static func moveAPIPort(home: String, from old: Int, to new: Int) throws {
        let path = home + "/airflow.cfg"
        let text = try String(contentsOfFile: path, encoding: .utf8)
        try text.replacingOccurrences(
            of: "http://127.0.0.1:\(old)/execution/", with: "http://127.0.0.1:\(new)/execution/"
        )
        .replacingOccurrences(of: "\nport = \(old)\n", with: "\nport = \(new)\n")
        .write(toFile: path, atomically: true, encoding: .utf8)
    }

    /// `airflow celery worker` for this home, named `name` (its own pid file, no log server).
    public func celeryWorker(name: String) -> [String] {
        [
            "celery", "worker", "--celery-hostname", "\(name)@%h", "--pid", directory + "/\(name).pid",
            "--skip-serve-logs", "--without-gossip", "--without-mingle",
        ]
    }

    /// Starts the execution API that the executor's task processes report to, and waits until it answers.
    public func startExecutionAPI() async throws {
        try start(
            "api-server",
            ["api-server", "--apps", "execution", "--host", "127.0.0.1", "--port", String(apiPort), "--workers", "1"])
        let deadline = ContinuousClock.now + .seconds(120)
        while ContinuousClock.now < deadline {
            if Ports.isListening(apiPort) { return }
            try await Task.sleep(for: .milliseconds(200))
        }
        throw DevError(
            "airflow api-server did not listen on 127.0.0.1:\(apiPort) within 120 s: \(log("api-server").suffix(1500))")
    }

    /// Every live process that runs from this home (the Airflow processes and their children).
    public var processes: [pid_t] { AirflowHome.processes(home: directory) }

    /// PIDs that run from `home`: their working directory is in it (every process is started there and
    /// its children inherit it), or their environment names it (`setproctitle`, which Airflow's servers
    /// call, overwrites the environment as /proc shows it, never the working directory).
    public static func processes(home: String) -> [pid_t] {
        let entry = Array("AIRFLOW_HOME=\(home)".utf8)
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        return entries.compactMap { name -> pid_t? in
            guard let pid = pid_t(name), pid != getpid() else { return nil }
            if let cwd = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(name)/cwd"),
                cwd == home || cwd.hasPrefix(home + "/")
            {
                return pid
            }
            // read(2), not a size-trusting reader: /proc files report size 0.
            guard let text = Processes.readProcFile("/proc/\(name)/environ") else { return nil }
            // NUL-separated entries: match a whole `AIRFLOW_HOME=<home>` entry.
            return Array(text.utf8).split(separator: 0).contains { Array($0) == entry } ? pid : nil
        }
    }

    /// Stops every process of this home: SIGTERM (Airflow's graceful stop), then SIGKILL after `grace`.
    /// Awaited: returns once none is left.
    public func stopAll(grace: Duration = .seconds(20)) async {
        for pid in processes { kill(pid, SIGCONT); kill(pid, SIGTERM) }
        let deadline = ContinuousClock.now + grace
        while ContinuousClock.now < deadline, !processes.isEmpty { try? await Task.sleep(for: .milliseconds(100)) }
        while case let left = processes, !left.isEmpty {
            for pid in left { kill(pid, SIGKILL) }
            try? await Task.sleep(for: .milliseconds(100))
            if ContinuousClock.now > deadline + .seconds(10) { break }
        }
        for pid in started.withLock({ $0 }) { var status: Int32 = 0; _ = waitpid(pid, &status, WNOHANG) }
    }

    /// Stops them synchronously (the exit handler's way).
    public static func killAllSynchronously(home: String) {
        for pid in processes(home: home) { kill(pid, SIGCONT); kill(pid, SIGKILL) }
    }
}

extension AirflowHome {
    /// `airflow db migrate`: Airflow's tables in the metadata database (beside the `switchyard` schema).
    public func migrateDatabase() async throws {
        let outcome = try await run(["db", "migrate"], timeout: 300)
        guard outcome.status == 0 else {
            throw DevError("airflow db migrate failed (\(outcome.status)): \(outcome.output.suffix(1500))")
        }
    }

    /// `airflow dags reserialize`: the DAG files' serialized versions in the database, without a dag-processor.
    public func reserializeDAGs() async throws {
        let outcome = try await run(["dags", "reserialize"], timeout: 300)
        guard outcome.status == 0 else {
            throw DevError("airflow dags reserialize failed (\(outcome.status)): \(outcome.output.suffix(1500))")
        }
    }
}
