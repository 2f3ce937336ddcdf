import Foundation
import Logging

/// Starts the leader-gated command (through `switchyard exec-guard`) while this node leads the
/// active region, feeds the guard the remaining leadership time, and stops it when leadership ends.
actor ExecSupervisor {
    let command: [String]
    let grace: Duration
    let logger: Logger
    private var guardPID: pid_t?
    private var feed: Int32 = -1
    private var lastExit: ContinuousClock.Instant?

    init(command: [String], grace: Duration, logger: Logger) {
        self.command = command
        self.grace = grace
        self.logger = logger
    }

    /// Called every leader tick.
    func update(shouldRun: Bool, leaseRemaining: Duration) {
        reapIfExited()
        if !shouldRun {
            stopNow(reason: "not leading the active region")
            return
        }
        if guardPID == nil {
            if let lastExit, ContinuousClock.now - lastExit < .seconds(1) { return }  // crash-loop backoff
            start(lease: leaseRemaining)
        } else {
            send("lease \(leaseRemaining.wholeMilliseconds)\n")
        }
    }

    /// Stops the command and waits for the guard to finish.
    func stop(reason: String) async {
        stopNow(reason: reason)
    }

    private func stopNow(reason: String) {
        guard let pid = guardPID else { return }
        send("stop\n")
        var status: Int32 = 0
        waitpid(pid, &status, 0)  // bounded: the guard kills its child within the grace period
        logger.notice("exec command stopped", metadata: ["reason": "\(reason)"])
        close(feed)
        feed = -1
        guardPID = nil
    }

    private func reapIfExited() {
        guard let pid = guardPID else { return }
        var status: Int32 = 0
        if waitpid(pid, &status, WNOHANG) == pid {
            logger.warning("exec command exited on its own; restarting while leading", metadata: ["status": "\(status)"])
            close(feed)
            feed = -1
            guardPID = nil
            lastExit = .now
        }
    }

    private func start(lease: Duration) {
        var fds: [Int32] = [0, 0]
        guard pipe(&fds) == 0 else { return }
        _ = fcntl(fds[1], F_SETFD, FD_CLOEXEC)
        let executable = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        let arguments = [executable, "exec-guard", "--grace-ms", String(grace.wholeMilliseconds),
                         "--lease-ms", String(lease.wholeMilliseconds), "--"] + command
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        Subprocess.resetSignals(&attributes)
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, fds[0], 0)
        posix_spawn_file_actions_addclose(&actions, fds[0])
        let argv = arguments.map { strdup($0) } + [nil]
        defer { for p in argv { free(p) } }
        var pid: pid_t = 0
        let result = posix_spawn(&pid, executable, &actions, &attributes, argv, environ)
        close(fds[0])
        guard result == 0 else {
            close(fds[1])
            logger.error("cannot start exec-guard", metadata: ["error": "\(String(cString: strerror(result)))"])
            lastExit = .now
            return
        }
        guardPID = pid
        feed = fds[1]
        logger.notice("exec command started", metadata: ["command": "\(command.joined(separator: " "))", "guard": "\(pid)"])
    }

    private func send(_ text: String) {
        guard feed >= 0 else { return }
        _ = text.withCString { write(feed, $0, strlen($0)) }
    }
}
