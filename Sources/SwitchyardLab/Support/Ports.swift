import Foundation
import SwitchyardCore
import SwitchyardRuntime
import Synchronization

/// Loopback port helpers.
public enum Ports {
    /// A TCP port on 127.0.0.1 that is free now, for a server started a moment later.
    ///
    /// Ports come from below the kernel's ephemeral range (32768–60999 by default): a port from
    /// `bind(0)` is ephemeral, and any outgoing connection made before the server starts may take it.
    /// Ports handed out by this process are never handed out again.
    public static func freeLoopbackPort() throws -> Int {
        // Each process starts from its own slice of the range, so processes choosing at the same time
        // (a test run and the binaries it starts) rarely pick the same port.
        let slice = Int(getpid()) % 12
        for attempt in 0..<500 {
            let candidate =
                attempt < 200 ? 20_000 + slice * 1_000 + Int.random(in: 0..<1_000) : Int.random(in: 20_000...32_000)
            guard handedOut.withLock({ $0.insert(candidate).inserted }) else { continue }
            if canBind(candidate) { return candidate }
        }
        throw POSIXError(.EADDRINUSE)
    }

    private static let handedOut = Mutex<Set<Int>>([])

    static func canBind(_ port: Int) -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { Glibc.close(fd) }
        var address = loopback(port: port)
        return withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        } == 0
    }

    /// True when something accepts TCP connections on 127.0.0.1:`port`.
    public static func isListening(_ port: Int) -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { Glibc.close(fd) }
        var address = loopback(port: port)
        return withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0
            }
        }
    }

    /// True when a socket listens on TCP `port` in the network namespace of process `pid` (read from
    /// `/proc/PID/net/tcp`, so it works for a process in a namespace the caller is not in).
    public static func isListening(_ port: Int, inNamespaceOf pid: Int32) -> Bool {
        let hex = String(format: "%04X", port)
        for file in ["/proc/\(pid)/net/tcp", "/proc/\(pid)/net/tcp6"] {
            guard let text = try? String(contentsOfFile: file, encoding: .utf8) else { continue }
            for line in text.split(separator: "\n").dropFirst() {
                let fields = line.split(separator: " ", omittingEmptySubsequences: true)
                guard fields.count > 3, fields[1].hasSuffix(":" + hex), fields[3] == "0A" else { continue }
                return true
            }
        }
        return false
    }

    static func loopback(port: Int) -> sockaddr_in {
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = UInt16(port).bigEndian
        address.sin_addr.s_addr = UInt32(0x7F00_0001).bigEndian
        return address
    }
}

/// Process helpers.
public enum Processes {
    /// True when a process with this PID exists (and is not a zombie we could reap).
    public static func isAlive(_ pid: Int32) -> Bool {
        guard pid > 0 else { return false }
        if kill(pid, 0) != 0 { return errno == EPERM }
        // A zombie still answers kill(0); read its state.
        if let stat = readProcFile("/proc/\(pid)/stat"), let close = stat.lastIndex(of: ")") {
            let state = stat[stat.index(close, offsetBy: 2)]
            return state != "Z"
        }
        return true
    }

    /// The PIDs whose parent is `pid` (a postmaster's backends, say).
    public static func children(of pid: Int32) -> [Int32] {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        return entries.compactMap(Int32.init).filter { child in
            guard let stat = readProcFile("/proc/\(child)/stat"), let close = stat.lastIndex(of: ")") else {
                return false
            }
            let fields = stat[stat.index(after: close)...].split(separator: " ")
            return fields.count > 2 && Int32(fields[1]) == pid
        }
    }

    /// Every live descendant of `pid` (children, their children, …), from /proc.
    public static func descendants(of pid: Int32) -> [Int32] {
        var found: [Int32] = []
        var frontier = [pid]
        while let next = frontier.popLast(), found.count < 10_000 {
            let children = Self.children(of: next)
            found += children
            frontier += children
        }
        return found
    }

    /// Reads a /proc file with read(2): they report size 0, which file-size-based readers trust.
    public static func readProcFile(_ path: String) -> String? {
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { return nil }
        defer { Glibc.close(fd) }
        var bytes = [UInt8]()
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = read(fd, &buffer, buffer.count)
            if n <= 0 { break }
            bytes.append(contentsOf: buffer[0..<n])
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Stops `pid` and every process it started: a master's workers can outlive it when only it is killed
    /// (nginx's did, after every `bench status`). The parent is frozen first, so it starts no more; its
    /// descendants are then read, frozen (a frozen process cannot exit and free its PID for another) and
    /// killed; then the parent gets `signal` and `timeout`, SIGKILL after.
    public static func terminateFamily(_ pid: Int32, signal: Int32 = SIGTERM, timeout: Duration = .seconds(10)) async {
        guard isAlive(pid) else { return }
        kill(pid, SIGSTOP)
        let family = descendants(of: pid)
        for member in family { kill(member, SIGSTOP) }
        for member in family { kill(member, SIGKILL) }
        kill(pid, SIGCONT)
        await terminate(pid, signal: signal, timeout: timeout)
        let deadline = ContinuousClock.now + timeout
        while family.contains(where: isAlive), ContinuousClock.now < deadline {
            try? await Task.sleep(for: .milliseconds(20))
        }
    }

    /// Sends `signal` to `pid` and waits up to `timeout` for it to exit; SIGKILL after that.
    public static func terminate(_ pid: Int32, signal: Int32 = SIGTERM, timeout: Duration = .seconds(10)) async {
        guard isAlive(pid) else { return }
        kill(pid, signal)
        let deadline = ContinuousClock.now + timeout
        while isAlive(pid), ContinuousClock.now < deadline { try? await Task.sleep(for: .milliseconds(20)) }
        if isAlive(pid) {
            kill(pid, SIGKILL)
            // Bounded: a process of another user answers kill(0) with EPERM and would look alive forever.
            let killed = ContinuousClock.now + .seconds(30)
            while isAlive(pid), ContinuousClock.now < killed { try? await Task.sleep(for: .milliseconds(20)) }
        }
    }
}
