import Foundation
import SwitchyardCore
import Threading

/// Runs a helper program (initdb, pg_ctl, redis-server) to completion and captures its output.
public enum Subprocess {
    /// The outcome of a finished program.
    public struct Outcome: Sendable {
        /// Exit status (or 128 + signal).
        public var status: Int32
        /// Standard output and standard error, interleaved.
        public var output: String
    }

    /// A program that exited non-zero.
    public struct Failure: Error, CustomStringConvertible {
        /// The command line, for the message.
        public var command: String
        /// The outcome.
        public var outcome: Outcome
        /// `command exited with N: last lines of output`.
        public var description: String {
            let tail = outcome.output.split(separator: "\n").suffix(8).joined(separator: "\n")
            return "\(command) exited with \(outcome.status): \(tail)"
        }
    }

    /// True when this process runs as root (Postgres then runs as the `postgres` user).
    public static var isRoot: Bool { geteuid() == 0 }

    /// Runs `executable arguments…`, as `user` through runuser when given and we are root.
    @discardableResult
    public static func run(
        _ executable: String, _ arguments: [String], asUser user: String? = nil, environment: [String: String]? = nil,
        check: Bool = true, standardErrorPath: String? = nil, namespace: String? = nil
    ) async throws -> Outcome {
        var launch = executable
        var argv = arguments
        if let user, isRoot {
            launch = "/usr/sbin/runuser"
            argv = ["-u", user, "--", executable] + arguments
        }
        if let namespace {
            argv = ["netns", "exec", namespace, launch] + argv
            launch = "/usr/sbin/ip"
        }
        let command = ([launch] + argv).joined(separator: " ")
        let (program, programArguments) = (launch, argv)
        let outcome = try await runOnDedicatedThread(name: "subprocess") { () throws -> Outcome in
            try spawnAndWait(program, programArguments, environment: environment, standardErrorPath: standardErrorPath)
        }
        if check && outcome.status != 0 { throw Failure(command: command, outcome: outcome) }
        return outcome
    }

    /// Serializes pipe creation and spawn, so no child inherits another spawn's pipe before it is close-on-exec.
    private static let spawnLock = NSLock()

    /// posix_spawn + waitpid, reading the merged output until EOF. Foundation's Process is not used: its
    /// SIGCHLD handling left children unreaped inside the test runner.
    public static func spawnAndWait(
        _ program: String, _ arguments: [String], environment: [String: String]?, standardErrorPath: String? = nil
    ) throws -> Outcome {
        var fds: [Int32] = [0, 0]
        // Close-on-exec: a pipe leaked into a concurrently spawned daemon (a postmaster) would never reach EOF.
        spawnLock.lock()
        guard pipe(&fds) == 0 else {
            spawnLock.unlock()
            throw POSIXError(.EMFILE)
        }
        _ = fcntl(fds[0], F_SETFD, FD_CLOEXEC)
        _ = fcntl(fds[1], F_SETFD, FD_CLOEXEC)
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_adddup2(&actions, fds[1], 1)
        if let standardErrorPath {
            posix_spawn_file_actions_addopen(&actions, 2, standardErrorPath, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        } else {
            posix_spawn_file_actions_adddup2(&actions, fds[1], 2)
        }
        posix_spawn_file_actions_addclose(&actions, fds[0])
        posix_spawn_file_actions_addclose(&actions, fds[1])
        let argv = ([program] + arguments).map { strdup($0) } + [nil]
        defer { for p in argv { free(p) } }
        let env = environment.map { $0.map { strdup("\($0.key)=\($0.value)") } + [nil] }
        defer { env?.forEach { free($0) } }
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        resetSignals(&attributes)
        var pid: pid_t = 0
        let spawned: Int32 =
            if let env {
                posix_spawn(&pid, program, &actions, &attributes, argv, env)
            } else {
                posix_spawn(&pid, program, &actions, &attributes, argv, environ)
            }
        Glibc.close(fds[1])
        spawnLock.unlock()
        guard spawned == 0 else {
            Glibc.close(fds[0])
            throw Failure(command: program, outcome: Outcome(status: 127, output: String(cString: strerror(spawned))))
        }
        var output = [UInt8]()
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = read(fds[0], &buffer, buffer.count)
            if n > 0 { output.append(contentsOf: buffer[0..<n]) } else if n == 0 || errno != EINTR { break }
        }
        Glibc.close(fds[0])
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        let exit: Int32 = (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
        return Outcome(status: exit, output: String(decoding: output, as: UTF8.self))
    }

    /// Gives the child an empty signal mask and default handlers. Threads of this process (dispatch,
    /// the test runner) block signals, and a child inherits the mask: a Redis started from such a
    /// thread would never see SIGTERM.
    public static func resetSignals(_ attributes: inout posix_spawnattr_t) {
        var empty = sigset_t()
        sigemptyset(&empty)
        posix_spawnattr_setsigmask(&attributes, &empty)
        var all = sigset_t()
        sigfillset(&all)
        sigdelset(&all, SIGKILL)
        sigdelset(&all, SIGSTOP)
        posix_spawnattr_setsigdefault(&attributes, &all)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
    }

    /// Finds an executable by name on PATH or in the given extra directories.
    public static func which(_ name: String, extraDirectories: [String] = []) -> String? {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin"
        for dir in extraDirectories + path.split(separator: ":").map(String.init) {
            let candidate = dir + "/" + name
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        return nil
    }
}
