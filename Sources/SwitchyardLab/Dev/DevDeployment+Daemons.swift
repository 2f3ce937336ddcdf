import Foundation
import SwitchyardCore
import SwitchyardRuntime

extension DevDeployment {
    /// Starts (or restarts, when dead) the deployment's daemons: `schedulers` scheduler nodes, `workers`
    /// workers (each runs one command at a time) and an agent per region, the routing stand-in when enabled, each recorded by PID (and agents by port) in `deployment.json`.
    @discardableResult
    public static func startDaemons(
        directory rawDirectory: String, binary: String, schedulers: Int = 2, workers: Int = 2,
        log: @Sendable (String) -> Void
    ) throws -> DevState {
        let directory = absolute(rawDirectory)
        guard var state = try DevState.load(directory: directory) else {
            throw DevError("no deployment in \(directory)")
        }
        let logs = directory + "/logs"
        try FileManager.default.createDirectory(atPath: logs, withIntermediateDirectories: true)
        var wanted: [(kind: String, region: String, name: String, arguments: [String], port: Int?)] = []
        var programs: [String: [String]] = [:]  // daemons that are not `switchyard` (Airflow's): name → command line
        // A WAN deployment: the relay first, and each region's daemons reach other sites through their links.
        var configFor: (String) -> String = { _ in state.configDirectory }
        if let profileName = state.wan, let profile = WANProfile.named(profileName) {
            let table = try setUpWAN(&state, profile: profile)
            try writeWANConfigs(state, table)
            let current = state
            configFor = { wanConfigDirectory(current, region: $0) }
            wanted.append(("relay", "wan", "relay", ["dev", "relay", "--dir", directory], nil))
        }
        for region in state.regions {
            let config = configFor(region)
            // An Airflow region: its scheduler nodes run `airflow scheduler` while they lead the active region,
            // LocalExecutor runs the tasks (no Switchyard workers), or with the CeleryExecutor `workers / 2` Celery
            // workers gated by the region's fence (`switchyard worker --exec`), and its execution API serves them.
            var record = state.airflow?[region]
            // Its execution API's port, taken by another process while the API server was not running (another
            // deployment's on a busy test machine): the region moves to a free one, or its tasks would report
            // to a stranger and never start.
            if var moved = record,
                !state.daemons.contains(where: {
                    $0.kind == "airflow-api" && $0.region == region && Processes.isAlive($0.pid)
                }),
                Ports.isListening(moved.apiPort)
            {
                let port = try Ports.freeLoopbackPort()
                try AirflowHome.moveAPIPort(home: moved.home, from: moved.apiPort, to: port)
                log("\(region)'s Airflow execution API port \(moved.apiPort) is taken; moved to \(port)")
                moved.apiPort = port
                state.airflow?[region] = moved
                record = moved
            }
            let airflow = record?.home(passfile: state.passfile)
            let exec = airflow.map { ["--exec", $0.exec(["scheduler", "--skip-serve-logs"])] } ?? []
            for i in 1...max(1, schedulers) {
                let name = "\(region)-scheduler-\(i)"
                wanted.append(
                    (
                        "scheduler", region, name,
                        ["scheduler", "--region", region, "--node-id", name, "--config", config] + exec,
                        nil
                    ))
            }
            if let airflow {
                let name = "\(region)-airflow-api"
                wanted.append(("airflow-api", region, name, [], airflow.apiPort))
                programs[name] = airflow.command(
                    [
                        "api-server", "--apps", "execution", "--host", "127.0.0.1", "--port", String(airflow.apiPort),
                        "--workers", "1",
                    ])
                if record?.celery == true {
                    for i in 1...max(1, workers / 2) {
                        let worker = "\(region)-celery-\(i)"
                        wanted.append(
                            (
                                "worker", region, worker,
                                [
                                    "worker", "--region", region, "--worker-id", worker, "--config", config, "--exec",
                                    airflow.exec(airflow.celeryWorker(name: worker)),
                                ],
                                nil
                            ))
                    }
                }
            } else {
                for i in 1...max(1, workers) {
                    let worker = "\(region)-worker-\(i)"
                    wanted.append(
                        (
                            "worker", region, worker,
                            ["worker", "--region", region, "--worker-id", worker, "--config", config],
                            nil
                        ))
                }
            }
            // A running agent keeps its port; one that died (perhaps because another process took its port
            // before it could listen) is restarted on a fresh one.
            let existingPort = state.daemons.first {
                $0.kind == "agent" && $0.region == region && Processes.isAlive($0.pid)
            }?.port
            let port = try existingPort ?? Ports.freeLoopbackPort()
            let host = state.network?.address(of: region) ?? "127.0.0.1"
            wanted.append(
                (
                    "agent", region, region,
                    ["agent", "--observer", region, "--listen", "\(host):\(port)", "--config", config],
                    port
                ))
        }
        // A witness: an agent in a site of its own, voting on every region and belonging to none. On loopback it
        // reaches everything directly; across a WAN profile through its site's links (`WANProfile.witness`).
        if let witness = state.witness {
            let existingPort = state.daemons.first {
                $0.kind == "agent" && $0.name == witness && Processes.isAlive($0.pid)
            }?.port
            let port = try existingPort ?? Ports.freeLoopbackPort()
            wanted.append(
                (
                    "agent", witness, witness,
                    [
                        "agent", "--witness", "--observer", witness, "--listen", "127.0.0.1:\(port)", "--config",
                        configFor(witness),
                    ],
                    port
                ))
        }
        if let port = state.routerPort {
            let host = state.network?.address(of: "control") ?? "127.0.0.1"
            wanted.append(
                (
                    "router", "routing", "router",
                    ["dev", "router", "--dir", directory, "--listen", "\(host):\(port)"], port
                ))
        }
        var records: [DaemonRecord] = []
        for daemon in wanted {
            if let running = state.daemons.first(where: { $0.kind == daemon.kind && $0.name == daemon.name }),
                Processes.isAlive(running.pid)
            {
                records.append(running)
                continue
            }
            let logFile = logs + "/\(daemon.kind)-\(daemon.name).log"
            // A region with a clock of its own: its daemons (and what they start) read it through libfaketime.
            let clockFile =
                ["scheduler", "worker", "agent"].contains(daemon.kind) && state.clocks != nil
                ? LabClocks.file(directory: directory, region: daemon.region) : nil
            // The commands a scheduler or worker starts get a clean environment: they keep the region's clock
            // only when told to pass libfaketime's variables on.
            var daemonArguments = daemon.arguments
            if clockFile != nil, let option = ["scheduler": "--exec-env", "worker": "--command-env"][daemon.kind] {
                daemonArguments += LabClocks.variables.flatMap { [option, $0] }
            }
            // In a partitionable deployment each daemon runs in its region's namespace (the router in the hub's).
            var (program, arguments) =
                state.network?.command(in: daemon.kind == "router" ? nil : daemon.region, binary, daemonArguments)
                ?? (binary, daemonArguments)
            if let line = programs[daemon.name], let first = line.first {
                (program, arguments) = (first, Array(line.dropFirst()))
            }
            if let clockFile {
                if !FileManager.default.fileExists(atPath: clockFile) {
                    try LabClocks.write(
                        state.clocks?[daemon.region] ?? ClockSkew(offsetMs: 0), directory: directory,
                        region: daemon.region)
                }
                (program, arguments) = LabClocks.command(program, arguments, clockFile: clockFile)
            }
            var pid = try Daemon.spawn(program, arguments, log: logFile, detach: true)
            if clockFile != nil, let daemonPID = LabClocks.daemon(ofWrapper: pid) { pid = daemonPID }
            log("started \(daemon.kind) \(daemon.name) (pid \(pid))")
            records.append(
                DaemonRecord(
                    kind: daemon.kind, region: daemon.region, name: daemon.name, pid: pid, port: daemon.port,
                    logFile: logFile))
        }
        state.daemons = records
        try state.save()
        return state
    }

    /// Points every region's routing hook at the deployment's `DevRouter` (allocating its port once),
    /// so failovers of the local deployment re-point "traffic" the way a DNS or load-balancer hook
    /// would, and drills can make that endpoint fail or hang. Idempotent.
    @discardableResult
    public static func enableRouter(directory rawDirectory: String) throws -> DevState {
        let directory = absolute(rawDirectory)
        guard var state = try DevState.load(directory: directory) else {
            throw DevError("no deployment in \(directory)")
        }
        let port = try state.routerPort ?? Ports.freeLoopbackPort()
        state.routerPort = port
        try state.save()
        for region in state.regions {
            let path = state.configDirectory + "/\(region).yaml"
            let text = try String(contentsOfFile: path, encoding: .utf8)
            if text.contains("\nrouting:") { continue }
            // On loopback the dev timings; across a WAN profile the shipped defaults (2 s, a 1 s connect, three
            // retries): 1 s over a 200 ms round trip leaves a loaded host no room (a WAN run's router hook failed).
            let timing =
                state.network == nil
                ? """
                      timeout: 1s
                      retries: 2
                      backoff: 100ms

                """ : ""
            let hook = """
                routing:
                  hooks:
                    - name: router
                      url: "http://\(state.network?.address(of: "control") ?? "127.0.0.1"):\(port)/route"
                      body: '{"region": "{{region}}", "previous_region": "{{previous_region}}", "epoch": "{{epoch}}", "failover_id": "{{failover_id}}"}'

                """ + timing
            try (text + hook).write(toFile: path, atomically: true, encoding: .utf8)
        }
        return state
    }
}
