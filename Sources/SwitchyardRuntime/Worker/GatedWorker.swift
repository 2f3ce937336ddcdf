import Foundation
import Logging
import Postgres
import SwitchyardCore

/// `switchyard worker --region R --exec CMD`: runs another executor's long-lived worker (a Celery
/// worker: `airflow celery worker`) only while its region may run work, the way a Switchyard worker runs
/// a run's command.
///
/// - It starts the command only through one statement that share-locks the region's fence row, checks
///   it (open, with a validity a leader holding a lease pushed, no dispatch hold) and marks its row in
///   `nodes` `command_running`: a failover's fence write waits for that statement to commit, so its
///   census, which runs after the fence write, either sees the mark or the start saw the fence closed.
/// - Only a fence with a validity is trusted: an open fence without one (just activated, before its
///   leader's first leased tick) starts nothing and renews nothing, so a region whose leader never holds a
///   lease cannot keep a Celery worker running on it.
/// - While the command runs it reads the fence every `fence_check_interval`, and its exec-guard holds what
///   it last confirmed (`valid-until`, an instant): a worker that is frozen or cut off has its command
///   stopped by the guard when its trust ends, within a lease TTL of any fence (`gatedStopBound`).
/// - A closed fence (a failover, or a switchover's drain) stops the command gracefully: SIGTERM to the
///   command itself, which for a Celery worker is its warm shutdown (it takes no new message and lets its
///   running tasks finish), SIGKILL `exec_grace` later. Only once it has exited is the mark cleared: a
///   switchover waits for that before it copies the region's work.
public final class GatedWorker: Sendable {
    let configuration: Configuration
    let region: RegionConfig
    /// This worker's node id.
    public let workerId: String
    let command: [String]
    let environment: [String: String]
    let termMainOnly: Bool
    let shutdown: ShutdownSignal
    let logger: Logger
    var timing: SafetyTiming { SafetyTiming(configuration.controlPlane) }
    /// What the command gets to stop: a Celery worker's warm shutdown waits for its running tasks.
    var grace: Duration { configuration.controlPlane.election.execGrace }

    /// Creates a gated worker; `run()` does the work.
    /// - Parameter throughShell: the command is a `/bin/sh -c` line: SIGTERM goes to its whole process group.
    public init(
        configuration: Configuration, region: RegionConfig, workerId: String, command: [String],
        throughShell: Bool = false, environment: CommandEnvironment = CommandEnvironment(),
        shutdown: ShutdownSignal, logger: Logger
    ) {
        self.configuration = configuration
        self.region = region
        self.workerId = workerId
        self.command = command
        self.termMainOnly = !throughShell
        self.environment = environment.build(
            from: ProcessInfo.processInfo.environment, withheld: configuration.withheldVariables,
            adding: ["SWITCHYARD_REGION": region.name, "SWITCHYARD_NODE_ID": workerId])
        self.shutdown = shutdown
        var logger = logger
        logger[metadataKey: "switchyard.region"] = .string(region.name)
        logger[metadataKey: "switchyard.worker"] = .string(workerId)
        self.logger = logger
    }

    /// The command's state between two passes of the loop.
    struct State {
        /// The running command's guard, and until when what was confirmed lets it run.
        var running: (process: ChildProcess, trustedUntil: ContinuousClock.Instant)?
        /// A command told to stop: its guard, why, and when it must have exited.
        var stopping: (process: ChildProcess, reason: String, bound: ContinuousClock.Instant)?
        /// The row's `command_running` mark must be cleared once nothing runs (and not before `clearNotBefore`).
        var markSet = true
        var clearNotBefore: ContinuousClock.Instant
        /// No new start before this (a command that exited on its own is restarted after a pause).
        var startNotBefore: ContinuousClock.Instant = .now
        var announcedWaiting = false
    }

    /// Runs until shutdown; a running command is stopped gracefully first.
    public func run() async {
        logger.info("gated worker starting", metadata: ["command": "\(command.joined(separator: " "))"])
        let node = NodeSession(dsn: region.databaseDSN, nodeId: workerId, logger: logger)
        // An earlier process of this worker may have died with its command running: its guard (which saw its
        // input close) stops it within the grace. The mark stays until then, whatever this process does.
        var state = State(clearNotBefore: .now + grace + timing.guardSlack)
        // Its row first: the start marks it (an absent row would read as "may not run").
        await node.beat(role: "worker", epoch: nil, kind: "worker")
        var db: PostgresConnection?
        var lastBeat = ContinuousClock.now
        // The node heartbeat runs beside the fence reads (one at a time), so a slow one never delays them.
        let beating = InFlight()
        while !shutdown.requested {
            if db == nil {
                db = try? await PostgresConnection.connect(
                    region.databaseDSN, timeout: timing.fenceReconnectTimeout,
                    defaultTimeout: timing.fenceQueryTimeout, name: "gated-worker-db")
            }
            if ContinuousClock.now - lastBeat >= .seconds(1), beating.begin() {
                lastBeat = .now
                Task {
                    await node.beat(role: "worker", epoch: nil, kind: "worker")
                    beating.end()
                }
            }
            if let db { await pass(&state, db: db) } else { checkStopping(&state) }
            await shutdown.sleep(state.stopping == nil ? timing.fenceCheckInterval : .milliseconds(100))
        }
        if let running = state.running {
            running.process.send("stop")
            state.stopping = (running.process, "shutdown", .now + grace + .seconds(5))
            state.running = nil
        }
        while state.stopping != nil {
            checkStopping(&state)
            if state.stopping != nil { try? await Task.sleep(for: .milliseconds(50)) }
        }
        if let db {
            if state.markSet { _ = try? await clearMark(db) }
            await db.close()
        }
        await node.beat(role: "stopped", epoch: nil, kind: "worker")
        await node.close()
        logger.info("gated worker stopped")
    }

    /// One pass: follow the running command's fence, finish a stop, clear the mark, or start the command.
    func pass(_ state: inout State, db: PostgresConnection) async {
        if let running = state.running {
            if let status = running.process.poll() {
                logger.warning("gated command exited on its own", metadata: ["status": "\(status)"])
                state.running = nil
                state.startNotBefore = .now + .seconds(1)
            } else {
                switch await FenceReading.read(db, timing: timing) {
                case .fenced:
                    beginStop(&state, reason: "the region was fenced by a failover")
                case .trusted(_, _, true, _):
                    beginStop(&state, reason: "a switchover drains the region")
                case .trusted(let until, _, false, true):
                    state.running?.trustedUntil = until
                    if until > .now { running.process.send("valid-until \(BootClock.nanoseconds(at: until))") }
                case .trusted(_, _, false, false), .lapsed, .unanswered:
                    break  // its trust holds until it ends; the guard stops the command then by itself
                }
                if let current = state.running, ContinuousClock.now >= current.trustedUntil {
                    beginStop(&state, reason: "the region's fence was not confirmed within its trust")
                }
            }
        }
        checkStopping(&state)
        if state.running == nil, state.stopping == nil, state.markSet, ContinuousClock.now >= state.clearNotBefore {
            if (try? await clearMark(db)) != nil { state.markSet = false }
        }
        if state.running == nil, state.stopping == nil, ContinuousClock.now >= state.startNotBefore {
            await start(&state, db: db)
        }
    }

    /// Tells the command to stop (its guard: SIGTERM, SIGKILL after the grace), without waiting.
    func beginStop(_ state: inout State, reason: String) {
        guard let running = state.running else { return }
        running.process.send("stop")
        logger.notice("stopping the gated command", metadata: ["reason": "\(reason)"])
        state.stopping = (running.process, reason, .now + grace + timing.guardSlack + .seconds(5))
        state.running = nil
    }

    /// Reaps a stopping command once its guard has exited (or is past its own SIGKILL).
    func checkStopping(_ state: inout State) {
        guard let stopping = state.stopping else { return }
        if stopping.process.poll() == nil {
            guard ContinuousClock.now > stopping.bound else { return }
            var status: Int32 = 0
            waitpid(stopping.process.pid, &status, 0)  // past its own SIGKILL: it exits at once
        }
        logger.notice("gated command stopped", metadata: ["reason": "\(stopping.reason)"])
        state.stopping = nil
        state.startNotBefore = max(state.startNotBefore, .now + timing.fenceCheckInterval)
    }

    /// Marks the row `command_running` in the statement that checks the fence, and starts the command when
    /// the fence lets it: open, valid and past any dispatch hold.
    func start(_ state: inout State, db: PostgresConnection) async {
        if await !db.isOpen { try? await db.reconnect(timeout: timing.fenceReconnectTimeout) }
        let sent = ContinuousClock.now
        let row: PostgresRow?
        do {
            // FOR SHARE: a failover's fence write (an UPDATE of the same row) waits for this statement to
            // commit, or this one waits for the fence and reads it closed.
            row = try await db.query(
                """
                WITH f AS (
                    SELECT open AND open_until > now() AND coalesce(hold_until <= now(), true) AS may_run,
                           extract(epoch FROM open_until - now())::float8 * 1000 AS valid_ms
                    FROM switchyard.fence WHERE id = 1 FOR SHARE
                )
                UPDATE switchyard.nodes n SET command_running = true, command_since = now(), last_heartbeat = now()
                FROM f WHERE n.node_id = $1 AND f.may_run
                RETURNING f.valid_ms
                """, [.text(workerId)], timeout: timing.fenceQueryTimeout
            ).first
        } catch {
            // It may have committed before it timed out: the mark may be set, so clear it later.
            state.markSet = true
            logger.debug("cannot check the fence before starting", metadata: ["error": "\(error)"])
            return
        }
        guard let row else {
            if !state.announcedWaiting {
                logger.info("the region may not run work (standby, fenced, held or no lease); the command waits")
                state.announcedWaiting = true
            }
            return
        }
        state.markSet = true
        state.announcedWaiting = false
        let validity = ((try? row["valid_ms"].optional(Double.self)) ?? nil).map { Duration.milliseconds(Int64($0)) }
        let trustedUntil = sent + timing.workerTrust(validityLeft: validity)
        guard trustedUntil > .now else { return }
        do {
            let process = try ChildProcess.spawn(
                SelfExecutable.path,
                [
                    "exec-guard", "--grace-ms", String(grace.wholeMilliseconds),
                    "--lease-ms", String(Duration.seconds(10 * 365 * 86_400).wholeMilliseconds),
                    "--valid-until-ns", String(BootClock.nanoseconds(at: trustedUntil)),
                ] + (termMainOnly ? ["--term-main"] : []) + ["--"] + command,
                environment: environment)
            state.running = (process, trustedUntil)
            logger.notice("gated command started", metadata: ["guard": "\(process.pid)"])
        } catch {
            logger.error("cannot start exec-guard", metadata: ["error": "\(error)"])
            state.startNotBefore = .now + .seconds(1)
        }
    }

    /// Clears the row's mark: nothing of this worker runs.
    func clearMark(_ db: PostgresConnection) async throws {
        try await db.query(
            "UPDATE switchyard.nodes SET command_running = false, command_since = NULL WHERE node_id = $1",
            [.text(workerId)], timeout: timing.fenceQueryTimeout)
    }
}
