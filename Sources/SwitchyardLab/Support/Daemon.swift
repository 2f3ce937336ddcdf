import Foundation
import SwitchyardCore
import SwitchyardRuntime

/// Spawning daemons with their output in a log file.
public enum Daemon {
    /// Spawns `executable arguments…` with stdout/stderr appended to `log` and a clean signal mask.
    /// With `detach`, the daemon gets a session of its own, so a Ctrl-C in the terminal that started it
    /// (or the end of that terminal) does not reach it; `dev down` stops it by PID.
    public static func spawn(_ executable: String, _ arguments: [String], log: String, detach: Bool = false) throws
        -> pid_t
    {
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        Subprocess.resetSignals(&attributes)
        if detach {
            var flags: Int16 = 0
            posix_spawnattr_getflags(&attributes, &flags)
            posix_spawnattr_setflags(&attributes, flags | 0x80)  // POSIX_SPAWN_SETSID
        }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, log, O_WRONLY | O_CREAT | O_APPEND, 0o644)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        let argv = ([executable] + arguments).map { strdup($0) } + [nil]
        defer { for p in argv { free(p) } }
        var pid: pid_t = 0
        let result = posix_spawn(&pid, executable, &actions, &attributes, argv, environ)
        guard result == 0 else { throw POSIXError(POSIXErrorCode(rawValue: result) ?? .ENOENT) }
        return pid
    }
}
