import Foundation

/// A child process whose stdin is a pipe we keep open (closing it, or dying, tells an exec-guard to
/// stop its command), sharing our stdout and stderr (the daemon's log).
public final class ChildProcess: @unchecked Sendable {
    // Invariant: `pid` and `stdin` are only touched by the owner of the ChildProcess.
    /// The process id.
    public let pid: pid_t
    private var stdin: Int32
    private var exitStatus: Int32?

    private init(pid: pid_t, stdin: Int32) {
        self.pid = pid
        self.stdin = stdin
    }

    deinit { if stdin >= 0 { close(stdin) } }

    /// Spawns `executable arguments…` with a clean signal mask.
    public static func spawn(_ executable: String, _ arguments: [String], environment: [String: String]) throws
        -> ChildProcess
    {
        var fds: [Int32] = [0, 0]
        guard pipe(&fds) == 0 else { throw POSIXError(.EMFILE) }
        _ = fcntl(fds[1], F_SETFD, FD_CLOEXEC)
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        Subprocess.resetSignals(&attributes)
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, fds[0], 0)
        posix_spawn_file_actions_addclose(&actions, fds[0])
        let argv = ([executable] + arguments).map { strdup($0) } + [nil]
        defer { for p in argv { free(p) } }
        let env = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer { for p in env { free(p) } }
        var pid: pid_t = 0
        let result = posix_spawn(&pid, executable, &actions, &attributes, argv, env)
        close(fds[0])
        guard result == 0 else {
            close(fds[1])
            throw POSIXError(POSIXErrorCode(rawValue: result) ?? .ENOENT)
        }
        return ChildProcess(pid: pid, stdin: fds[1])
    }

    /// The exit code once the child has exited (128 + signal when killed), else nil.
    public func poll() -> Int32? {
        if let exitStatus { return exitStatus }
        var status: Int32 = 0
        guard waitpid(pid, &status, WNOHANG) == pid else { return nil }
        exitStatus = (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
        return exitStatus
    }

    /// Writes a line to the child's stdin.
    public func send(_ line: String) {
        guard stdin >= 0 else { return }
        _ = (line + "\n").withCString { write(stdin, $0, strlen($0)) }
    }

    /// Closes the child's stdin.
    public func closeInput() {
        if stdin >= 0 { close(stdin) }
        stdin = -1
    }
}
