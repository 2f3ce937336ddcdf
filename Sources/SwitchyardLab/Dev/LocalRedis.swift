import Foundation
import Redis
import SwitchyardCore
import SwitchyardRuntime

/// A throwaway Redis server on loopback, for the dev deployment and for tests.
public struct LocalRedis: Sendable, Codable {
    /// The server's directory: pid file, log.
    public var directory: String
    /// TCP port on 127.0.0.1.
    public var port: Int
    /// Password required by the server, if any (tests of AUTH).
    public var password: String?
    /// The network namespace it runs in (a partitionable deployment), or nil for the host's.
    public var namespace: String?
    /// The address clients use inside that network, or nil for 127.0.0.1.
    public var address: String?

    /// Describes a server; nothing happens until `start()`.
    public init(directory: String, port: Int, password: String? = nil, namespace: String? = nil, address: String? = nil)
    {
        self.directory = directory
        self.port = port
        self.password = password
        self.namespace = namespace
        self.address = address
    }

    /// `redis://ADDRESS:PORT/0` (127.0.0.1 unless it runs in a namespace), without the password.
    public var url: String { "redis://\(address ?? "127.0.0.1"):\(port)/0" }

    /// The server's unix socket (a tool on the host reaches a namespaced server through it).
    public var socketPath: String { directory + "/redis.sock" }

    /// The URL a tool on the host uses: `url`, or the unix socket when the server runs in a namespace.
    public var hostURL: String { namespace == nil ? url : "unix://" + socketPath }

    var pidFile: String { directory + "/redis.pid" }

    /// The server's PID from its pid file, or nil when not running.
    public var pid: Int32? {
        guard let text = try? String(contentsOfFile: pidFile, encoding: .utf8),
            let pid = Int32(text.trimmingCharacters(in: .whitespacesAndNewlines)), Processes.isAlive(pid)
        else { return nil }
        return pid
    }

    /// Starts the server daemonized and waits until it answers PING.
    public func start(extraArguments: [String] = []) async throws {
        guard let server = Subprocess.which("redis-server", extraDirectories: ["/usr/bin", "/usr/sbin"]) else {
            throw DevError("redis-server not found: install redis-server (apt-get install redis-server)")
        }
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        try? FileManager.default.removeItem(atPath: pidFile)
        var arguments = [
            "--port", String(port), "--bind", ([address, "127.0.0.1"].compactMap { $0 }).joined(separator: " "),
            "--daemonize", "yes", "--pidfile", pidFile,
            "--dir", directory, "--logfile", directory + "/redis.log", "--save", "", "--appendonly", "no",
            "--protected-mode", "no",
        ]
        if let password { arguments += ["--requirepass", password] }
        if namespace != nil {
            try? FileManager.default.removeItem(atPath: socketPath)
            arguments += ["--unixsocket", socketPath, "--unixsocketperm", "700"]
        }
        let logFile = directory + "/redis.log"
        let logBefore = ((try? FileManager.default.attributesOfItem(atPath: logFile))?[.size] as? Int) ?? 0
        try await Subprocess.run(server, arguments + extraArguments, namespace: namespace)
        let deadline = ContinuousClock.now + .seconds(10)
        while ContinuousClock.now < deadline {
            // Port 0: unix socket only; in a namespace the host sees only the socket.
            if pid != nil,
                port == 0
                    || (namespace != nil ? FileManager.default.fileExists(atPath: socketPath) : Ports.isListening(port))
            {
                return
            }
            // Another process took the port between choosing and starting: the server has exited; say so now.
            if pid == nil, let log = try? Data(contentsOf: URL(fileURLWithPath: logFile)), log.count > logBefore,
                String(decoding: log.dropFirst(logBefore), as: UTF8.self).contains("Address already in use")
            {
                break
            }
            try await Task.sleep(for: .milliseconds(10))
        }
        throw DevError("redis-server on port \(port) did not start; see \(directory)/redis.log")
    }

    /// Starts on a loopback port, moving to a fresh one when another process took it meanwhile.
    public func startMovingPortIfTaken(attempts: Int = 4, extraArguments: [String] = []) async throws -> LocalRedis {
        var server = self
        for attempt in 1...attempts {
            do {
                try await server.start(extraArguments: extraArguments)
                return server
            } catch {
                let log = (try? String(contentsOfFile: server.directory + "/redis.log", encoding: .utf8)) ?? ""
                guard attempt < attempts, log.contains("Address already in use") || log.contains("bind") else {
                    throw error
                }
                server.port = try Ports.freeLoopbackPort()
            }
        }
        return server
    }

    /// Stops the server (SIGTERM, SIGKILL after a timeout).
    public func stop() async {
        guard let pid else { return }
        await Processes.terminate(pid, timeout: .seconds(5))
    }
}
