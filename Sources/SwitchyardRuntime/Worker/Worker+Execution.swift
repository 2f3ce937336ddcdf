import Foundation
import Postgres
import Redis
import SwitchyardCore
import Synchronization

extension Worker {
    /// Handles one stream entry: validate, check the fence, claim, run, record, acknowledge.
    func handle(_ entry: Entry, redis: RedisConnection, db: PostgresConnection, node: NodeSession) async throws {
        guard let message = DispatchMessage(fields: entry.fields), message.region == region.name else {
            logger.warning(
                "dropping a stream entry that is not a dispatch of this region", metadata: ["id": "\(entry.id)"])
            try await ack(redis, entry.id)
            return
        }
        let fence = try await dispatcher.fence(redis)
        if message.epoch < fence {
            logger.info(
                "dropping a dispatch from a stale epoch",
                metadata: [
                    "run": "\(message.dagId)/\(message.runId)", "epoch": "\(message.epoch)", "fence": "\(fence)",
                ])
            try await ack(redis, entry.id)
            return
        }
        let claimSent = ContinuousClock.now
        let claim = try await db.query(
            """
            UPDATE switchyard.dag_run SET worker = $4, attempt = attempt + 1, updated_at = now()
            WHERE dag_id = $1 AND run_id = $2 AND dispatch_id = $3 AND state = 'running'
              AND (SELECT open AND coalesce(open_until > now(), true) AND coalesce(hold_until <= now(), true)
                   FROM switchyard.fence WHERE id = 1)
              AND (worker IS NULL OR worker = $4 OR worker IN (
                  SELECT node_id FROM switchyard.nodes
                  WHERE kind = 'worker' AND (role = 'stopped' OR last_heartbeat < now() - make_interval(secs => $5))))
            RETURNING attempt, conf::text AS conf,
                (SELECT extract(epoch FROM open_until - now())::float8 * 1000 FROM switchyard.fence WHERE id = 1) AS valid_ms
            """,
            [
                .text(message.dagId), .text(message.runId), .text(message.dispatchId), .text(workerId),
                .double(staleAfter.secondsDouble),
            ])
        guard let claimed = claim.first else {
            // Not claimable: finished, dispatched again, or held by a live worker (then leave the entry
            // pending so it can be reclaimed if that worker dies).
            let holder = try await db.query(
                "SELECT worker FROM switchyard.dag_run WHERE dag_id = $1 AND run_id = $2 AND dispatch_id = $3 AND state = 'running'",
                [.text(message.dagId), .text(message.runId), .text(message.dispatchId)]
            ).first
            if try holder?["worker"].optional(String.self) == nil { try await ack(redis, entry.id) }
            return
        }
        let attempt = try claimed["attempt"].require(Int.self)
        let dag = try await db.query(
            "SELECT command, timeout_seconds FROM switchyard.dags WHERE dag_id = $1", [.text(message.dagId)]
        ).first
        // The claim read the fence's validity: the command may run until it ends, then as long as later reads
        // extend it. By now that read is two statements old (on a loaded host, most of a second): read the fence
        // again just before the start, so the guard, which counts from the same instant, starts on a fresh
        // trust. A fence closed or lapsed meanwhile starts nothing (and records no execution).
        var trusted =
            claimSent
            + timing.workerTrust(
                validityLeft: try claimed["valid_ms"].optional(Double.self).map { .milliseconds(Int64($0)) })
        var notStarted: (state: String, note: String, endedBy: ContinuousClock.Instant?)?
        switch await readFence(db) {
        case .fenced: notStarted = ("fenced", "not started: the region was fenced by a failover", nil)
        case .lapsed(let why): notStarted = ("unconfirmed", "not started: " + why, nil)
        case .trusted(let until, _, _, _): trusted = until
        case .unanswered: break  // the claim's read still holds until it ends
        }
        if notStarted == nil, trusted <= .now {
            notStarted = (
                "unconfirmed", "not started: the region's fence validity ran out before the command could start", nil
            )
        }
        let execution =
            notStarted != nil
            ? nil
            : try await db.query(
                """
                INSERT INTO switchyard.executions (dag_id, run_id, attempt, epoch, worker) VALUES ($1, $2, $3, $4, $5) RETURNING id
                """, [.text(message.dagId), .text(message.runId), .int(attempt), .int(message.epoch), .text(workerId)]
            ).first?["id"].require(Int.self)
        let outcome: (state: String, note: String, endedBy: ContinuousClock.Instant?)
        if let notStarted {
            outcome = notStarted
        } else if let dag, let command = try dag["command"].optional(String.self) {
            let timeout = try dag["timeout_seconds"].optional(Double.self).map {
                Duration.milliseconds(Int64($0 * 1000))
            }
            logger.info("running", metadata: ["run": "\(message.dagId)/\(message.runId)", "attempt": "\(attempt)"])
            outcome = await execute(
                command, message: message, attempt: attempt, conf: try claimed["conf"].optional(String.self),
                timeout: timeout, trustedUntil: trusted, node: node, db: db)
        } else {
            outcome = ("failed", "DAG \(message.dagId) is not defined in region \(region.name)", nil)
        }
        if outcome.state == "fenced" || outcome.state == "unconfirmed" {
            // The region was failed over: the run continues in the new active region; record nothing here.
            logger.notice(
                "stopped a run", metadata: ["run": "\(message.dagId)/\(message.runId)", "why": "\(outcome.note)"])
            // Stopped for an unconfirmed fence, no failover may follow (a frozen leader whose successor was
            // late): give the claim back, in the same statement, so the region's next leader dispatches the
            // run again. If the database does not answer, the worker does both when it reconnects.
            if let execution {
                try await db.query(
                    """
                    WITH released AS (
                        UPDATE switchyard.dag_run SET worker = NULL, updated_at = now()
                        WHERE $6 AND dag_id = $1 AND run_id = $2 AND dispatch_id = $3 AND worker = $4 AND state = 'running'
                    )
                    UPDATE switchyard.executions SET finished_at = now() - make_interval(secs => $7), outcome = 'fenced'
                    WHERE id = $5
                    """,
                    [
                        .text(message.dagId), .text(message.runId), .text(message.dispatchId), .text(workerId),
                        .int(execution),
                        .bool(outcome.state == "unconfirmed"),
                        .double(outcome.endedBy.map { max(.zero, ContinuousClock.now - $0).secondsDouble } ?? 0),
                    ])
            }
            try await ack(redis, entry.id)
            return
        }
        let recorded = try await db.query(
            """
            UPDATE switchyard.dag_run SET state = $5, end_date = now(), note = $6, updated_at = now()
            WHERE dag_id = $1 AND run_id = $2 AND dispatch_id = $3 AND worker = $4 AND state = 'running'
            """,
            [
                .text(message.dagId), .text(message.runId), .text(message.dispatchId), .text(workerId),
                .text(outcome.state), .text(outcome.note),
            ])
        if let execution {
            try await db.query(
                "UPDATE switchyard.executions SET finished_at = now() - make_interval(secs => $3), outcome = $2 WHERE id = $1",
                [
                    .int(execution), .text(outcome.state),
                    .double(outcome.endedBy.map { max(.zero, ContinuousClock.now - $0).secondsDouble } ?? 0),
                ])
        }
        logger.info(
            recorded.affectedRows == 1 ? "recorded" : "outcome not recorded: the run was taken over or moved",
            metadata: [
                "run": "\(message.dagId)/\(message.runId)", "state": "\(outcome.state)", "note": "\(outcome.note)",
            ])
        try await ack(redis, entry.id)
    }

    /// Runs the command under an exec-guard (its own process group, killed at the timeout, and at once
    /// if this worker dies), heartbeating while it runs.
    func execute(
        _ command: String, message: DispatchMessage, attempt: Int, conf: String?, timeout: Duration?,
        trustedUntil initialTrust: ContinuousClock.Instant, node: NodeSession, db: PostgresConnection
    ) async -> (state: String, note: String, endedBy: ContinuousClock.Instant?) {
        let executable = SelfExecutable.path
        let lease = timeout ?? .seconds(10 * 365 * 86_400)
        let timing = self.timing
        var trustedUntil = initialTrust
        var environment = commandEnvironment
        environment["SWITCHYARD_DAG_ID"] = message.dagId
        environment["SWITCHYARD_RUN_ID"] = message.runId
        environment["SWITCHYARD_ATTEMPT"] = String(attempt)
        environment["SWITCHYARD_CONF"] = conf ?? "{}"
        let child: ChildProcess
        logger.debug(
            "starting the command", metadata: ["trust_left_ms": "\((trustedUntil - .now).wholeMilliseconds)"])
        do {
            child = try ChildProcess.spawn(
                executable,
                [
                    "exec-guard", "--grace-ms", String(timing.killGrace.wholeMilliseconds), "--lease-ms",
                    String(lease.wholeMilliseconds),
                    "--valid-until-ns", String(BootClock.nanoseconds(at: trustedUntil)), "--", "/bin/sh", "-c",
                    command,
                ],
                environment: environment)
        } catch {
            return ("failed", "cannot start the command: \(error)", nil)
        }
        var lastBeat = ContinuousClock.now
        // A worker runs its command only while the fence validity it last read holds, measured from when it
        // sent that read: the acting leader pushes it from the lease it holds (the active-region lease, or the
        // failsafe lease while the control database is unreachable), so the command stops no later than the
        // region's lease ends, whether the database stops answering (dead, hung, cut off) or the leader stops
        // pushing (no lease, nothing leads). A fence without a validity (just activated, or a draining
        // switchover) is trusted for half the lease TTL after each read. A failover that could not fence this
        // region waits its leases out, then holds the new region's dispatches for `SafetyTiming.stopBound`.
        // The guard holds the same bound by itself (`valid-until`, an instant), renewed with every read, so a
        // frozen worker's command stops too.
        var unconfirmed = "the region's database stopped confirming its fence"
        // The node heartbeat runs beside the checks (one at a time), so a slow one never delays them.
        let beating = InFlight()
        while true {
            if let status = child.poll() {
                // The guard ends the command by the trust deadline whatever this worker does: a worker that
                // was frozen sees an exit only now, but the command had ended by then at the latest, so the
                // record says so (never later than it can have run, never earlier than it may have).
                let endedBy = min(ContinuousClock.now, trustedUntil + timing.killGrace + timing.guardSlack)
                if status == 0 { return ("success", "exit 0", endedBy) }
                if status == ExecGuard.timedOutExitCode, timeout != nil {
                    return ("failed", "timed out after \(lease)", endedBy)
                }
                if status == ExecGuard.unconfirmedExitCode {
                    // The guard stopped it at the trust deadline by itself (SIGTERM, SIGKILL a kill grace later);
                    // this worker may only now see it (it was frozen): the record says when it had to end.
                    return (
                        "unconfirmed",
                        "stopped by its guard: the region's fence validity ran out before this worker confirmed it again",
                        trustedUntil + timing.killGrace + timing.guardSlack
                    )
                }
                if status == 127 { return ("failed", "command not found (exit 127)", endedBy) }
                return ("failed", "exit \(status)", endedBy)
            }
            if ContinuousClock.now - lastBeat >= timing.fenceCheckInterval {
                lastBeat = .now
                if beating.begin() {
                    Task {
                        await node.beat(role: "worker", epoch: nil, kind: "worker")
                        beating.end()
                    }
                }
                // A failover (not a draining switchover) fenced this region: stop the command now, so the
                // run never executes in two regions at once. Closing the guard's input kills its group.
                switch await readFence(db) {
                case .fenced:
                    child.closeInput()
                    while child.poll() == nil { try? await Task.sleep(for: .milliseconds(10)) }
                    return ("fenced", "stopped: the region was fenced by a failover", nil)
                case .trusted(let until, let sent, _, _):
                    // A read answered (or even sent) after the trust ran out still bounds the command by what it
                    // confirmed: the fence was open and valid when the database ran it, so neither a failover's
                    // fence nor the end of the region's lease came before, and every bound the failover waits
                    // out counts from one of those. The guard, which holds the same deadline, may have stopped
                    // the command at that instant meanwhile.
                    let late = ContinuousClock.now - trustedUntil
                    if late > .zero {
                        logger.warning(
                            "a fence confirmation came after the command's trust had run out",
                            metadata: [
                                "run": "\(message.dagId)/\(message.runId)", "late_ms": "\(late.wholeMilliseconds)",
                                "read_ms": "\((ContinuousClock.now - sent).wholeMilliseconds)",
                            ])
                    }
                    trustedUntil = until
                    if trustedUntil > .now { child.send("valid-until \(BootClock.nanoseconds(at: trustedUntil))") }
                case .lapsed(let why), .unanswered(let why):
                    unconfirmed = why
                }
            }
            // Checked on every pass, not only after a fence query.
            if ContinuousClock.now >= trustedUntil {
                child.closeInput()
                while child.poll() == nil { try? await Task.sleep(for: .milliseconds(10)) }
                return ("unconfirmed", "stopped: " + unconfirmed, nil)
            }
            try? await Task.sleep(for: .milliseconds(20))
        }
    }

    /// Reads the region's fence once (`FenceReading.read`).
    func readFence(_ db: PostgresConnection) async -> FenceReading { await FenceReading.read(db, timing: timing) }
}

/// Whether a background job (a worker's node heartbeat) is running, so only one runs at a time.
final class InFlight: Sendable {
    private let running = Mutex(false)

    /// Marks the job started; false when one is already running.
    func begin() -> Bool {
        running.withLock { running in
            if running { return false }
            running = true
            return true
        }
    }

    /// Marks the job finished.
    func end() { running.withLock { $0 = false } }
}
