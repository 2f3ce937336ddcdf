import Foundation
import HTTP
import Postgres
import SwitchyardCore
import SwitchyardRuntime

/// `switchyard bench status`: load `/status` of an agent probing the local regions plus simulated
/// unreachable ones with wrk, compare with nginx serving the same bytes as a static file, measure
/// kill-to-down detection, and the CPU and RSS of an agent probing 200 regions.
public enum StatusBench {
    /// The figures; keys as in the interface contract, more beside them.
    public struct Report: Codable, Sendable {
        /// Requests per second `/status` served.
        public var rps: Double
        /// 99th percentile latency, milliseconds.
        public var p99Ms: Double
        /// The same figure for nginx serving the same bytes.
        public var referenceRps: Double
        /// nginx's 99th percentile latency, milliseconds.
        public var referenceP99Ms: Double
        /// Our requests per second over nginx's.
        public var ratio: Double
        /// Concurrent connections of the load generator.
        public var connections: Int
        /// How long the load ran, seconds.
        public var durationS: Int
        /// Size of the `/status` body.
        public var statusBytes: Int
        /// Regions the agent probed.
        public var regions: Int
        /// From a killed database to `/status` showing it down, milliseconds.
        public var killToDownMs: Double
        /// The bound the probe settings promise for it.
        public var killToDownBoundMs: Double
        /// An agent probing 200 regions: CPU, percent of one core.
        public var agent200RegionsCpuPercent: Double
        /// An agent probing 200 regions: resident memory, MB.
        public var agent200RegionsRssMb: Double

        // The wire keys keep the digits apart ("agent_200_regions_…"), which the snake_case key
        // strategy alone would write as "agent200_regions_…".
        enum CodingKeys: String, CodingKey {
            case rps, p99Ms, referenceRps, referenceP99Ms, ratio, connections, durationS, statusBytes, regions
            case killToDownMs, killToDownBoundMs
            case agent200RegionsCpuPercent = "agent_200_regions_cpu_percent"
            case agent200RegionsRssMb = "agent_200_regions_rss_mb"
        }
    }

    /// Runs everything against a fresh local deployment in `directory`, removed afterwards even on failure.
    public static func run(
        binary: String, directory: String, extraRegions: Int, connections: Int, seconds: Int,
        progress: @Sendable (String) -> Void
    ) async throws -> Report {
        let pids = SharedPIDs()
        let outcome: Result<Report, any Error>
        do {
            outcome = .success(
                try await measure(
                    binary: binary, directory: directory, pids: pids, extraRegions: extraRegions,
                    connections: connections, seconds: seconds, progress: progress))
        } catch {
            outcome = .failure(error)
        }
        await pids.cleanUp(directory: directory)
        return try outcome.get()
    }

    /// The measurements; daemons it starts are recorded in `pids`.
    static func measure(
        binary: String, directory: String, pids: SharedPIDs, extraRegions: Int, connections: Int, seconds: Int,
        progress: @Sendable (String) -> Void
    ) async throws -> Report {
        guard let wrk = Subprocess.which("wrk"), let nginx = Subprocess.which("nginx", extraDirectories: ["/usr/sbin"])
        else {
            throw DevError("bench status needs wrk and nginx (apt-get install wrk nginx-light)")
        }
        let state = try await DevDeployment.up(directory: directory, regions: 3) { _ in }
        let configuration = try ConfigLoader.load(directory: state.configDirectory)
        _ = try await Initializer.run(
            controlDSN: configuration.controlPlane.control.dsn,
            regions: configuration.regions.map { .init(name: $0.name, priority: $0.priority, dsn: $0.databaseDSN) },
            dags: [], active: state.regions[0])
        let logs = directory + "/logs"
        try FileManager.default.createDirectory(atPath: logs, withIntermediateDirectories: true)
        for region in state.regions {
            pids.add(
                try Daemon.spawn(
                    binary, ["scheduler", "--config", state.configDirectory, "--region", region],
                    log: logs + "/s-\(region).log"))
        }
        let silent = try SilentPort()
        defer { silent.close() }
        let loaded = try simulatedConfig(
            state.configDirectory, into: directory + "/bench-regions", extra: extraRegions, silentPort: silent.port)
        let (agent, url) = try await startAgent(binary, config: loaded, log: logs + "/agent.log")
        pids.add(agent)
        progress("agent probing \(3 + extraRegions) regions at \(url)")
        try await waitHealthy(url, regions: state.regions)
        let body = try await HTTPClient().send(HTTPRequest(url: url + "/status")).body

        // Reference: nginx serving the same bytes as a static file.
        let root = directory + "/static"
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        try Data(body).write(to: URL(fileURLWithPath: root + "/status"))
        chmod(directory, 0o755)
        let nginxPort = try Ports.freeLoopbackPort()
        let conf = """
            worker_processes auto; daemon off; pid \(directory)/nginx.pid; error_log \(directory)/nginx-error.log;
            events { worker_connections 1024; }
            http { access_log off; client_body_temp_path \(directory)/nginx-tmp; proxy_temp_path \(directory)/nginx-tmp;
              server { listen 127.0.0.1:\(nginxPort); location / { root \(root); default_type application/json; } } }
            """
        try conf.write(toFile: directory + "/nginx.conf", atomically: true, encoding: .utf8)
        let nginxPID = try Daemon.spawn(nginx, ["-c", directory + "/nginx.conf"], log: logs + "/nginx.log")
        pids.add(nginxPID)
        while !Ports.isListening(nginxPort) { try await Task.sleep(for: .milliseconds(20)) }

        progress("wrk against /status (\(connections) connections, \(seconds) s)")
        let ours = try await load(wrk, url + "/status", connections: connections, seconds: seconds)
        progress("wrk against nginx (same bytes)")
        let reference = try await load(
            wrk, "http://127.0.0.1:\(nginxPort)/status", connections: connections, seconds: seconds)

        // Detection: SIGKILL a standby's postmaster, poll /status until its database is down.
        let probes = configuration.controlPlane.probes
        let victim = state.postgres[state.regions[1]]!
        let postmaster = victim.pid ?? 0
        let clock = ContinuousClock()
        let killed = clock.now
        kill(postmaster, SIGKILL)
        var detect: Duration = .zero
        while clock.now - killed < .seconds(20) {
            let s = try await HTTPClient().send(HTTPRequest(url: url + "/status"))
            let document = try StatusDocument.decoder().decode(StatusDocument.self, from: Data(s.body))
            if document.regions.first(where: { $0.name == state.regions[1] })?.components["database"]?.state == .down {
                detect = clock.now - killed
                break
            }
            try await Task.sleep(for: .milliseconds(5))
        }
        // The orphaned backends of a SIGKILLed postmaster exit on their own, later on a loaded machine
        // (Postgres refuses to start while they hold its shared memory): retry, bounded.
        var restarted = false
        for attempt in 1...20 where !restarted {
            try await Task.sleep(for: .milliseconds(500))
            do {
                try await victim.start()
                restarted = true
            } catch  where attempt < 20 {
                let log = (try? String(contentsOfFile: victim.logFile, encoding: .utf8)) ?? ""
                progress(
                    "restart of the killed postmaster refused (attempt \(attempt)): "
                        + "\(log.split(separator: "\n").suffix(2).joined(separator: " | ")); retrying")
            }
        }
        kill(agent, SIGTERM)

        // 200 regions: CPU and RSS of one agent probing every second.
        let big = try simulatedConfig(
            state.configDirectory, into: directory + "/regions-200", extra: 197, silentPort: silent.port,
            interval: "1s", timeout: "800ms")
        let (bigAgent, bigURL) = try await startAgent(binary, config: big, log: logs + "/agent-200.log")
        pids.add(bigAgent)
        try await waitHealthy(bigURL, regions: state.regions)
        try await Task.sleep(for: .seconds(5))
        let cpuStart = cpuSeconds(bigAgent)
        let wallStart = clock.now
        try await Task.sleep(for: .seconds(10))
        let cpu = (cpuSeconds(bigAgent) - cpuStart) / (clock.now - wallStart).secondsDouble * 100
        let rss = TakeoverBench.rss(bigAgent)
        kill(bigAgent, SIGTERM)

        return Report(
            rps: ours.rps, p99Ms: ours.p99, referenceRps: reference.rps, referenceP99Ms: reference.p99,
            ratio: (ours.rps / max(reference.rps, 1) * 1000).rounded() / 1000, connections: connections,
            durationS: seconds,
            statusBytes: body.count, regions: 3 + extraRegions,
            killToDownMs: (detect.secondsDouble * 10000).rounded() / 10,
            killToDownBoundMs: (Double(probes.failuresToDown) * probes.interval.secondsDouble * 1000 + 200)
                .rounded(),
            agent200RegionsCpuPercent: (cpu * 10).rounded() / 10, agent200RegionsRssMb: rss)
    }

    static func load(_ wrk: String, _ url: String, connections: Int, seconds: Int) async throws -> (
        rps: Double, p99: Double
    ) {
        let out = try await Subprocess.run(wrk, ["-t2", "-c\(connections)", "-d\(seconds)s", "--latency", url]).output
        var rps = 0.0, p99 = 0.0
        for line in out.split(separator: "\n") {
            let parts = line.split(separator: " ", omittingEmptySubsequences: true)
            if line.hasPrefix("Requests/sec:"), parts.count >= 2 { rps = Double(parts[1]) ?? 0 }
            if parts.first == "99%", parts.count >= 2 { p99 = milliseconds(String(parts[1])) }
        }
        if out.contains("Non-2xx") { throw DevError("wrk saw non-2xx answers from \(url):\n\(out)") }
        return (rps.rounded(), p99)
    }

    static func milliseconds(_ text: String) -> Double {
        for (unit, factor) in [("us", 0.001), ("ms", 1.0), ("s", 1000.0)] where text.hasSuffix(unit) {
            return ((Double(text.dropLast(unit.count)) ?? 0) * factor * 1000).rounded() / 1000
        }
        return 0
    }

    static func cpuSeconds(_ pid: pid_t) -> Double {
        guard let stat = Processes.readProcFile("/proc/\(pid)/stat"), let close = stat.lastIndex(of: ")") else {
            return 0
        }
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        guard fields.count > 13, let user = Double(fields[11]), let system = Double(fields[12]) else { return 0 }
        return (user + system) / Double(sysconf(Int32(_SC_CLK_TCK)))
    }

    static func startAgent(_ binary: String, config: String, log: String) async throws -> (pid_t, String) {
        let pid = try Daemon.spawn(
            binary, ["agent", "--config", config, "--observer", "bench", "--listen", "127.0.0.1:0"], log: log)
        let deadline = ContinuousClock.now + .seconds(30)
        while ContinuousClock.now < deadline {
            let text = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
            if let range = text.range(of: "url=http://") {
                return (
                    pid, "http://" + text[range.upperBound...].split(whereSeparator: { $0 == " " || $0 == "\n" })[0]
                )
            }
            try await Task.sleep(for: .milliseconds(50))
        }
        throw DevError("agent did not start; see \(log)")
    }

    static func waitHealthy(_ url: String, regions: [String]) async throws {
        let deadline = ContinuousClock.now + .seconds(30)
        while ContinuousClock.now < deadline {
            if let s = try? await HTTPClient().send(HTTPRequest(url: url + "/status")),
                let d = try? StatusDocument.decoder().decode(StatusDocument.self, from: Data(s.body)),
                regions.allSatisfy({ name in d.regions.first { $0.name == name }?.health == .healthy })
            {
                return
            }
            try await Task.sleep(for: .milliseconds(100))
        }
        throw DevError("the local regions never became healthy in the agent's view")
    }

    /// Copies a configuration and adds `extra` regions on loopback ports where nothing useful answers:
    /// half refuse connections, half accept and never answer.
    static func simulatedConfig(
        _ source: String, into target: String, extra: Int, silentPort: Int,
        interval: String? = nil, timeout: String? = nil
    ) throws -> String {
        try? FileManager.default.removeItem(atPath: target)
        try FileManager.default.copyItem(atPath: source, toPath: target)
        if let interval, let timeout {
            let path = target + "/controlplane.yaml"
            var text = try String(contentsOfFile: path, encoding: .utf8)
            text = text.replacingOccurrences(of: "  interval: 500ms", with: "  interval: \(interval)")
                .replacingOccurrences(of: "  timeout: 400ms", with: "  timeout: \(timeout)")
            try text.write(toFile: path, atomically: true, encoding: .utf8)
        }
        let refused = try Ports.freeLoopbackPort()
        for i in 0..<extra {
            let port = i % 2 == 0 ? refused : silentPort
            let text = """
                name: sim-\(String(format: "%03d", i))
                priority: \(10 - i % 10)
                database:
                  dsn: "host=127.0.0.1 port=\(port) dbname=switchyard user=switchyard password=unused connect_timeout=2"
                redis:
                  url: "redis://127.0.0.1:\(port)/0"

                """
            try text.write(toFile: target + "/sim-\(String(format: "%03d", i)).yaml", atomically: true, encoding: .utf8)
        }
        return target
    }
}
