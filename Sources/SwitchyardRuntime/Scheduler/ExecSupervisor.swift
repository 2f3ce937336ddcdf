import Foundation
import Logging

/// Starts the leader-gated command (through `switchyard exec-guard`) while this node leads the
/// active region, feeds the guard the end of its leadership (an instant of the host's boot clock), and
/// stops it when leadership ends.
actor ExecSupervisor {
    let command: [String]
    let grace: Duration
    let logger: Logger
    private var guardProcess: ChildProcess?
    private var lastExit: ContinuousClock.Instant?
    /// The command may not start before this: the previous leader's command could still be running.
    private var notBefore: ContinuousClock.Instant?
    private var announcedWait = false
    /// A command told to stop that has not exited yet: the guard, why, and when it must have exited.
    private var stopping: Stopping?

    struct Stopping {
        let process: ChildProcess
        let reason: String
        let bound: ContinuousClock.Instant
    }

    /// SIGTERM to the command itself rather than its process group (see `ExecGuard`).
    let termMainOnly: Bool

    /// The environment the guard and its command get (`CommandEnvironment`: never the node's secrets).
    let environment: [String: String]

    init(command: [String], grace: Duration, termMainOnly: Bool = true, environment: [String: String], logger: Logger) {
        self.command = command
        self.environment = environment
        self.grace = grace
        self.termMainOnly = termMainOnly
        self.logger = logger
    }

    /// A new leadership: the command starts no earlier than `instant` (nil: at once).
    func lead(notBefore instant: ContinuousClock.Instant?) {
        notBefore = instant
        announcedWait = false
    }

    /// Called every leader tick, with the end of this node's leadership and lease (an instant, read on the
    /// tick: the hop onto this actor must not extend it). A command that should not run is told to stop
    /// and left to stop (it may take its whole grace: Airflow's LocalExecutor lets its running tasks
    /// finish): the leader keeps ticking meanwhile, and `idle` says when it has exited.
    func update(shouldRun: Bool, leaseUntil: ContinuousClock.Instant) async {
        reapIfExited()
        if let stopping {
            guard finishedStopping(stopping) else { return }  // never a second command beside a stopping one
        }
        if !shouldRun {
            beginStop(reason: "not leading the active region")
            return
        }
        if let guardProcess {
            guardProcess.send("lease-until \(BootClock.nanoseconds(at: leaseUntil))")
        } else {
            if let lastExit, ContinuousClock.now - lastExit < .seconds(1) { return }  // crash-loop backoff
            if let notBefore, ContinuousClock.now < notBefore {
                if !announcedWait {
                    logger.notice(
                        "exec command waits until the previous leader's command can no longer be running",
                        metadata: [
                            "wait_ms": "\((notBefore - .now).wholeMilliseconds)"
                        ])
                    announcedWait = true
                }
                return
            }
            start(leaseUntil: leaseUntil)
        }
    }

    /// Tells the running command to stop (its guard: SIGTERM, then SIGKILL after the grace), without waiting.
    private func beginStop(reason: String) {
        guard let process = guardProcess else { return }
        process.send("stop")
        stopping = Stopping(process: process, reason: reason, bound: .now + grace + .seconds(5))
        guardProcess = nil
    }

    /// True once a stopping command's guard has exited (reaped), or is past its own SIGKILL and reaped now.
    private func finishedStopping(_ s: Stopping) -> Bool {
        if s.process.poll() == nil {
            guard ContinuousClock.now > s.bound else { return false }
            var status: Int32 = 0
            waitpid(s.process.pid, &status, 0)  // the guard is past its own SIGKILL: it exits at once
        }
        logger.notice("exec command stopped", metadata: ["reason": "\(s.reason)"])
        stopping = nil
        return true
    }

    /// Stops the command and waits for the guard to finish, without holding a thread meanwhile (the guard
    /// stops its command within the grace: SIGTERM, then SIGKILL).
    func stop(reason: String) async {
        beginStop(reason: reason)
        while let stopping, !finishedStopping(stopping) {
            try? await Task.sleep(for: .milliseconds(20))
        }
    }

    /// True while no command of this node runs (nothing started, or it was stopped and reaped).
    var idle: Bool { guardProcess == nil && stopping == nil }

    private func reapIfExited() {
        guard let process = guardProcess, let status = process.poll() else { return }
        logger.warning("exec command exited on its own; restarting while leading", metadata: ["status": "\(status)"])
        guardProcess = nil
        lastExit = .now
    }

    private func start(leaseUntil: ContinuousClock.Instant) {
        let executable = SelfExecutable.path
        do {
            let process = try ChildProcess.spawn(
                executable,
                [
                    "exec-guard", "--grace-ms", String(grace.wholeMilliseconds), "--lease-until-ns",
                    String(BootClock.nanoseconds(at: leaseUntil)),
                ]
                    + (termMainOnly ? ["--term-main"] : []) + ["--"] + command,
                environment: environment)
            guardProcess = process
            logger.notice(
                "exec command started",
                metadata: ["command": "\(command.joined(separator: " "))", "guard": "\(process.pid)"])
        } catch {
            logger.error("cannot start exec-guard", metadata: ["error": "\(error)"])
            lastExit = .now
        }
    }
}
