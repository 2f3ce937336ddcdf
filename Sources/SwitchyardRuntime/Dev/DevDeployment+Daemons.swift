import Foundation

extension DevDeployment {
    /// Starts (or restarts, when dead) the deployment's daemons: `schedulers` scheduler nodes, a worker
    /// and an agent per region, each recorded by PID (and agents by port) in `deployment.json`.
    @discardableResult
    public static func startDaemons(directory rawDirectory: String, binary: String, schedulers: Int = 2,
                                    log: @Sendable (String) -> Void) throws -> DevState {
        let directory = absolute(rawDirectory)
        guard var state = try DevState.load(directory: directory) else { throw DevError("no deployment in \(directory)") }
        let logs = directory + "/logs"
        try FileManager.default.createDirectory(atPath: logs, withIntermediateDirectories: true)
        var wanted: [(kind: String, region: String, name: String, arguments: [String], port: Int?)] = []
        for region in state.regions {
            for i in 1...max(1, schedulers) {
                let name = "\(region)-scheduler-\(i)"
                wanted.append(("scheduler", region, name, ["scheduler", "--region", region, "--node-id", name], nil))
            }
            let worker = "\(region)-worker-1"
            wanted.append(("worker", region, worker, ["worker", "--region", region, "--worker-id", worker], nil))
            let existingPort = state.daemons.first { $0.kind == "agent" && $0.region == region }?.port
            let port = try existingPort ?? Ports.freeLoopbackPort()
            wanted.append(("agent", region, region, ["agent", "--observer", region, "--listen", "127.0.0.1:\(port)"], port))
        }
        var records: [DaemonRecord] = []
        for daemon in wanted {
            if let running = state.daemons.first(where: { $0.kind == daemon.kind && $0.name == daemon.name }), Processes.isAlive(running.pid) {
                records.append(running)
                continue
            }
            let logFile = logs + "/\(daemon.kind)-\(daemon.name).log"
            let pid = try Daemon.spawn(binary, daemon.arguments + ["--config", state.configDirectory], log: logFile, detach: true)
            log("started \(daemon.kind) \(daemon.name) (pid \(pid))")
            records.append(DaemonRecord(kind: daemon.kind, region: daemon.region, name: daemon.name, pid: pid, port: daemon.port, logFile: logFile))
        }
        state.daemons = records
        try state.save()
        return state
    }
}
