import Foundation
import Logging

/// Starts the leader-gated command (through `switchyard exec-guard`) while this node leads the
/// active region, feeds the guard the remaining leadership time, and stops it when leadership ends.
actor ExecSupervisor {
    let command: [String]
    let grace: Duration
    let logger: Logger
    private var guardProcess: ChildProcess?
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
        if let guardProcess {
            guardProcess.send("lease \(leaseRemaining.wholeMilliseconds)")
        } else {
            if let lastExit, ContinuousClock.now - lastExit < .seconds(1) { return }  // crash-loop backoff
            start(lease: leaseRemaining)
        }
    }

    /// Stops the command and waits for the guard to finish.
    func stop(reason: String) async {
        stopNow(reason: reason)
    }

    private func stopNow(reason: String) {
        guard let process = guardProcess else { return }
        process.send("stop")
        var status: Int32 = 0
        waitpid(process.pid, &status, 0)  // bounded: the guard kills its child within the grace period
        logger.notice("exec command stopped", metadata: ["reason": "\(reason)"])
        guardProcess = nil
    }

    private func reapIfExited() {
        guard let process = guardProcess, let status = process.poll() else { return }
        logger.warning("exec command exited on its own; restarting while leading", metadata: ["status": "\(status)"])
        guardProcess = nil
        lastExit = .now
    }

    private func start(lease: Duration) {
        let executable = SelfExecutable.path
        do {
            let process = try ChildProcess.spawn(
                executable, ["exec-guard", "--grace-ms", String(grace.wholeMilliseconds), "--lease-ms", String(lease.wholeMilliseconds), "--"]
                    + command, environment: ProcessInfo.processInfo.environment)
            guardProcess = process
            logger.notice("exec command started", metadata: ["command": "\(command.joined(separator: " "))", "guard": "\(process.pid)"])
        } catch {
            logger.error("cannot start exec-guard", metadata: ["error": "\(error)"])
            lastExit = .now
        }
    }
}
