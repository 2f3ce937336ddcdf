import CMalloc
import Foundation

/// `switchyard exec-guard`: the process that runs a leader-gated command (`scheduler --exec`).
///
/// It is a separate process on purpose: a SIGSTOPped or hung node cannot stop its child, but its
/// guard still runs. The node feeds the guard the end of its leadership on stdin (`lease-until NS`, an
/// instant of the host's boot clock); when that time runs out, when the node says `stop`, or when stdin reaches EOF (the node died),
/// the guard sends SIGTERM to the child's process group, then SIGKILL after the grace period —
/// all before the server can free the node's lock and let another node win. With `termMainOnly`
/// (a leader's `--exec` without a shell) SIGTERM goes to the command itself, as Kubernetes and
/// systemd's `KillMode=mixed` do: a program such as `airflow scheduler` stops its own children in
/// order (signalled too, LocalExecutor's workers died under it and it hung until SIGKILL). Whatever
/// of its group is left when it exits, or when the grace ends, gets SIGKILL. The guard ignores
/// SIGINT, SIGTERM, SIGHUP and SIGQUIT: only its node (or the node's death) stops it. The guard is its
/// command's child subreaper: a descendant that left the command's process group (Airflow's task runner
/// puts each task in a group of its own) is reparented to the guard when its parent dies, and the guard
/// kills every descendant it still has before it exits, so nothing the command started outlives it.
///
/// A worker's guard also holds a validity (`--valid-until-ns`, renewed by `valid-until NS` lines: an
/// instant of the host's boot clock, so neither the guard's start-up nor a slow read of a line extends
/// it): the worker renews it each time it confirms its region's fence. A worker that is frozen
/// (SIGSTOP, a paused VM) keeps its stdin open but renews nothing, and its guard stops the command on
/// its own when the validity runs out — the bound the failover's dispatch hold counts on. A guard that
/// was itself not scheduled for a while takes every line already written before it judges a deadline:
/// each is the end of what its node confirmed (a read of the fence, a renewal of the lease), which no
/// fence or lease end preceded, so it bounds the command however late it is read. (`--lease-ms` is the command's own
/// timeout, counted from the guard's start; no safety bound rests on it.)
public enum ExecGuard {
    /// Runs the guard until the child has exited; returns the exit code to use.
    public static func run(
        command: [String], grace: Duration, initialLease: Duration,
        validUntilBootNanoseconds: Int64? = nil, leaseUntilBootNanoseconds: Int64? = nil, termMainOnly: Bool = false
    ) -> Int32 {
        var deadline =
            leaseUntilBootNanoseconds.map(BootClock.instant(atNanoseconds:)) ?? ContinuousClock.now + initialLease
        // An instant, read before anything else: the time the guard took to start counts against it.
        var validUntil = validUntilBootNanoseconds.map(BootClock.instant(atNanoseconds:))
        func terminate(_ child: pid_t, grace: Duration, reason: String) -> Int32 {
            ExecGuard.terminate(child, grace: grace, reason: reason, termMainOnly: termMainOnly)
        }
        guard let program = command.first else { return 2 }
        // The node alone stops the command (through stdin, or by its EOF when the node dies). A
        // terminal's Ctrl-C or systemd's control-group SIGTERM reaches the guard too: had it died of it,
        // the node would see its guard gone, record the command stopped and hand off while the command
        // (in a process group of its own) still ran. The command gets default dispositions back.
        for signal in [SIGINT, SIGTERM, SIGHUP, SIGQUIT] { Foundation.signal(signal, SIG_IGN) }
        _ = sy_set_child_subreaper()
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        Subprocess.resetSignals(&attributes)
        var flags: Int16 = 0
        posix_spawnattr_getflags(&attributes, &flags)
        posix_spawnattr_setflags(&attributes, flags | Int16(POSIX_SPAWN_SETPGROUP))
        posix_spawnattr_setpgroup(&attributes, 0)
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        let argv = command.map { strdup($0) } + [nil]
        defer { for p in argv { free(p) } }
        var child: pid_t = 0
        let spawned =
            program.contains("/")
            ? posix_spawn(&child, program, &actions, &attributes, argv, environ)
            : posix_spawnp(&child, program, &actions, &attributes, argv, environ)
        guard spawned == 0 else {
            FileHandle.standardError.write(
                Data("exec-guard: cannot start \(program): \(String(cString: strerror(spawned)))\n".utf8))
            return 127
        }
        var input = [UInt8]()
        var buffer = [UInt8](repeating: 0, count: 512)
        /// Takes every line already written to stdin, without waiting; an exit code when the node said `stop`
        /// or is gone.
        func takeInput() -> Int32? {
            for _ in 0..<64 {  // a node writes a line a tick: a bound, not a limit it meets
                var descriptor = pollfd(fd: 0, events: Int16(POLLIN), revents: 0)
                guard poll(&descriptor, 1, 0) > 0 else { return nil }
                let n = read(0, &buffer, buffer.count)
                if n <= 0 { return terminate(child, grace: grace, reason: "node gone") }
                input.append(contentsOf: buffer[0..<n])
                while let newline = input.firstIndex(of: 10) {
                    let line = String(decoding: input[..<newline], as: UTF8.self)
                    input.removeSubrange(...newline)
                    if line == "stop" { return terminate(child, grace: grace, reason: "node stopped leading") }
                    if line.hasPrefix("lease-until "), let ns = Int64(line.dropFirst(12)) {
                        deadline = BootClock.instant(atNanoseconds: ns)
                    }
                    if line.hasPrefix("valid-until "), let ns = Int64(line.dropFirst(12)) {
                        validUntil = BootClock.instant(atNanoseconds: ns)
                    }
                }
            }
            return nil
        }
        while true {
            var status: Int32 = 0
            if waitpid(child, &status, WNOHANG) == child {
                kill(-child, SIGKILL)  // what it left of its group runs on no lease
                killDescendants()
                return exitCode(status)
            }
            // Every renewal already written is taken before the deadlines are judged: a guard that was not
            // scheduled for a while (a starved host) must not stop a command over a renewal that sat unread in
            // its input. A renewal is the end of what its node confirmed: read late, it still bounds the command.
            let now = ContinuousClock.now  // before the input: a pause while taking it cannot expire a renewal
            if let stopped = takeInput() { return stopped }
            if now >= deadline {
                _ = terminate(child, grace: grace, reason: "lease expired")
                return timedOutExitCode
            }
            if let validUntil, now >= validUntil {
                _ = terminate(child, grace: grace, reason: "its worker stopped confirming the region's fence")
                return unconfirmedExitCode
            }
            let wait = min(deadline - now, validUntil.map { $0 - now } ?? .milliseconds(50), .milliseconds(50))
            var descriptor = pollfd(fd: 0, events: Int16(POLLIN), revents: 0)
            _ = poll(&descriptor, 1, Int32(wait.wholeMilliseconds) + 1)  // input is taken at the top
        }
    }

    /// Exit code when the lease ran out (as timeout(1) does).
    public static let timedOutExitCode: Int32 = 124
    /// Exit code when the validity its worker renews ran out.
    public static let unconfirmedExitCode: Int32 = 125

    static func terminate(_ child: pid_t, grace: Duration, reason: String, termMainOnly: Bool) -> Int32 {
        FileHandle.standardError.write(Data("exec-guard: stopping the command (\(reason))\n".utf8))
        kill(termMainOnly ? child : -child, SIGTERM)
        let deadline = ContinuousClock.now + grace
        var status: Int32 = 0
        while ContinuousClock.now < deadline {
            if waitpid(child, &status, WNOHANG) == child {
                kill(-child, SIGKILL)  // stragglers of the group
                killDescendants()
                return exitCode(status)
            }
            usleep(10_000)
        }
        kill(-child, SIGKILL)
        waitpid(child, &status, 0)
        killDescendants()
        return exitCode(status)
    }

    /// SIGKILLs every process still descended from the guard (its command exited or was killed), whatever
    /// group or session it moved to, and reaps them: a child's own children are reparented to the guard
    /// (its subreaper) when the child dies, and are found on the next pass. Bounded (5 s).
    static func killDescendants() {
        let me = getpid()
        let deadline = ContinuousClock.now + .seconds(5)
        while ContinuousClock.now < deadline {
            var status: Int32 = 0
            while waitpid(-1, &status, WNOHANG) > 0 {}
            let children = childProcesses(of: me)
            if children.isEmpty { return }
            for pid in children {
                kill(-pid, SIGKILL)  // the group it leads, if any
                kill(pid, SIGKILL)
            }
            usleep(5_000)
        }
    }

    /// The processes whose parent is `parent` (from /proc: the field after the command name, which may
    /// hold spaces and parentheses, so read after its last `)`).
    static func childProcesses(of parent: pid_t) -> [pid_t] {
        guard let entries = try? FileManager.default.contentsOfDirectory(atPath: "/proc") else { return [] }
        return entries.compactMap { name -> pid_t? in
            guard let pid = pid_t(name), let data = FileManager.default.contents(atPath: "/proc/\(name)/stat"),
                let stat = String(data: data, encoding: .utf8), let close = stat.lastIndex(of: ")")
            else { return nil }
            let fields = stat[stat.index(after: close)...].split(separator: " ")
            // fields[0] is the state, fields[1] the parent; a zombie is reaped above, not killed.
            guard fields.count > 1, fields[0] != "Z", pid_t(fields[1]) == parent else { return nil }
            return pid
        }
    }

    static func exitCode(_ status: Int32) -> Int32 {
        (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
    }
}
