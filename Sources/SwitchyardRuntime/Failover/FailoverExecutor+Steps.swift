import Foundation
import Postgres
import SwitchyardCore

extension FailoverExecutor {
    /// Performs one step; returns its journal result. Every step is safe to run twice.
    func perform(_ step: FailoverStep, _ context: inout Context, control: PostgresConnection) async throws -> StepResult
    {
        switch step {
        case .begin: return .begin(.init(epoch: context.epoch, from: context.from, to: context.to))
        case .fence: return .fence(try await fence(context, control: control))
        case .migrate: return .migrate(try await migrate(context, control: control))
        case .activate: return .activate(try await activate(context, control: control))
        case .route: return .route(await route(context))
        case .complete: return .complete(try await complete(context, control: control))
        }
    }

    /// A new connection to `region`'s database, waited for up to `timeout`. The failover leader's connects go
    /// through its pool's connector: one that outlasts the wait (a far database, a loaded host) goes on, and the
    /// step's next try takes it up instead of starting again from TCP.
    func connect(_ region: String, timeout: Duration) async throws -> PostgresConnection {
        guard let config = configuration.region(named: region) else {
            throw Refusal(description: "no region named \(region)")
        }
        guard let warm else {
            return try await PostgresConnection.connect(
                config.databaseDSN, timeout: timeout, defaultTimeout: timeout + .seconds(5))
        }
        let c = try await warm.connector(region, dsn: config.databaseDSN, defaultTimeout: timeout + .seconds(5))
            .connect(waiting: timeout)
        await c.setDefaultTimeout(timeout + .seconds(5))
        return c
    }

    /// Closes the old region's fence with the new epoch in its own database (its leader stops scheduling
    /// and its workers stop claiming and kill what they run), and waits, bounded, for its executions to
    /// stop. Meanwhile revokes failsafe leases in enough region databases that no region can act on one
    /// from now on. When the old database cannot be reached, waits until both its active-region lease and
    /// any failsafe lease it still held have ended.
    func fence(_ context: Context, control: PostgresConnection) async throws -> FenceResult {
        let timing = SafetyTiming(configuration.controlPlane)
        let clock = ContinuousClock()
        let started = clock.now
        let limit = started + timing.leaseWaitLimit
        let revoking = Task { try await revokeFailsafeLeases(context, limit: limit) }
        defer { revoking.cancel() }
        var result = FenceResult()
        var fencedRegion: String?
        if let from = context.from {
            do {
                let census = try await fenceInOwnDatabase(context, from: from)
                result.fenced = census.fenced
                result.executionsStillRunning = census.running
                result.leaderCommandStopped = census.commandStopped
                result.gatedCommandsStillRunning = census.gated
                fencedRegion = from
            } catch let refusal as Refusal {
                throw refusal
            } catch {
                logger.warning("old region unreachable; waiting out its leases", metadata: ["error": "\(error)"])
                result.fenced = false
                result.reason = "\(error)"
            }
        } else {
            result.skipped = "no previous active region"
        }
        var revocation = try await revoking.value
        let failsafeEnds = revocation.waitUntil(ignoring: fencedRegion)
        result.failsafe = revocation
        if let from = context.from, fencedRegion == nil {
            // The old region's active-region lease in the control database.
            while true {
                if try await ControlStore.activeLeaseEnded(control, region: from) { break }
                if clock.now >= limit {
                    throw Refusal(
                        description: "\(from)'s active-region lease did not expire; not activating \(context.to)")
                }
                try await Task.sleep(for: .milliseconds(50))
            }
        }
        if let failsafeEnds, failsafeEnds > clock.now {
            if failsafeEnds > limit {
                throw Refusal(
                    description:
                        "\(revocation.heldBy ?? "a region")'s failsafe lease outlasts the wait limit; not activating \(context.to)"
                )
            }
            logger.notice(
                "waiting out a failsafe lease",
                metadata: ["holder": "\(revocation.heldBy ?? "?")", "left_ms": "\(revocation.leftMs ?? 0)"])
            try await Task.sleep(until: failsafeEnds, clock: .continuous)
        }
        if (fencedRegion == nil && context.from != nil) || failsafeEnds != nil {
            result.leaseWaitedMs = Int((clock.now - started).wholeMilliseconds)
        }
        return result
    }

    /// Writes the fence into the old region's database and waits, bounded, for its executions to stop:
    /// on a failover their workers kill them on seeing the fence; on a switchover they finish (no run
    /// re-executed), bounded by the quiesce timeout. One a worker abandoned (it lost track of it in a
    /// crash) has an outcome but no end: not running. Returns whether it fenced, what may still run, and
    /// whether the old leader recorded that no leader-gated command of its runs (or was silent too long to run
    /// one), and how many gated commands (`worker --exec`: Celery workers) may still run; a switchover also
    /// waits, bounded, for those commands to stop, and a failover for the gated ones up to its fence
    /// timeout (they stop gracefully: a Celery worker lets its running tasks finish). Whatever may still run
    /// there is covered by the target's hold (`dispatchHold`), not by waiting here: the wait only lets live
    /// workers confirm. A switchover whose quiesce runs out closes the drain, so those commands stop too.
    func fenceInOwnDatabase(_ context: Context, from: String) async throws -> (
        fenced: Bool, running: Int, commandStopped: Bool, gated: Int
    ) {
        let failover = configuration.controlPlane.failover
        let clock = ContinuousClock()
        let started = clock.now
        let drain = context.kind == .switchover
        let reason = "\(context.kind) \(context.id) to \(context.to)"
        let old = try await borrowOrConnect(from, budget: failover.fenceTimeout) { c, timeout in
            // Durable whatever the server-wide synchronous_commit says: a fence lost in a crash would reopen the
            // region. One round trip: across a WAN each statement of a transaction is one.
            _ = try await c.pipeline(
                [
                    .init("BEGIN"), .init("SET LOCAL synchronous_commit = on"),
                    .init(
                        """
                        UPDATE switchyard.fence SET cluster_epoch = $1, open = false, drain = $3, reason = $2, updated_at = now()
                        WHERE id = 1 AND cluster_epoch <= $1
                        """, [.int(context.epoch), .text(reason), .bool(drain)]),
                    .init("COMMIT"),
                ], timeout: timeout)
        }
        var healthy = false
        defer { giveBack(from, old, healthy: healthy) }
        var running = 0
        var commandStopped = false
        var gated = 0
        let wait = drain ? failover.switchoverQuiesceTimeout : failover.fenceTimeout
        // A leader silent for longer than this cannot run its command any more (its guard stopped it).
        let commandBound = SafetyTiming(configuration.controlPlane).execStopBound
        // What may still run there: every unfinished execution (whatever its worker's heartbeat says: the
        // heartbeat travels apart from the fence reads that keep a command going), and every claim whose
        // execution row is not written yet (a claim made just before the fence). A live worker that sees the
        // fence records its end; what remains is covered by the target's hold (`dispatchHold`).
        let census = """
            SELECT (SELECT count(*) FROM switchyard.executions e WHERE e.finished_at IS NULL AND e.outcome IS NULL)
                 + (SELECT count(*) FROM switchyard.dag_run r
                    WHERE r.state = 'running' AND r.worker IS NOT NULL
                      AND NOT EXISTS (SELECT 1 FROM switchyard.executions e
                                      WHERE e.dag_id = r.dag_id AND e.run_id = r.run_id AND e.worker = r.worker
                                        AND e.attempt = r.attempt)) AS n,
                   (SELECT coalesce(exec_stopped_epoch = epoch, false)
                           OR coalesce(heartbeat_at < now() - make_interval(secs => $1), true)
                    FROM switchyard.leadership WHERE id = 1) AS stopped,
                   (SELECT count(*) FROM switchyard.nodes WHERE command_running) AS gated
            """
        do {
            while true {
                let row = try await old.query(
                    census, [.double(commandBound.secondsDouble)], timeout: failover.fenceTimeout
                )
                .first
                running = try row?["n"].require(Int.self) ?? 0
                commandStopped = try row?["stopped"].optional(Bool.self) ?? false
                gated = try row?["gated"].require(Int.self) ?? 0
                // A switchover also waits for the old leader's command to have stopped: Airflow's scheduler
                // (LocalExecutor) finishes its running tasks when told to stop, and the copy that follows must
                // see them finished. A failover takes what has stopped so far; the hold covers the rest.
                // Gated commands (Celery workers) stop gracefully on seeing the fence: waited for the same way.
                let settled = running == 0 && gated == 0 && (!drain || commandStopped)
                if settled || clock.now - started >= wait { break }
                try await Task.sleep(for: .milliseconds(50))
            }
            if drain && running > 0 {
                // The quiesce ran out with work still running: stop it like a failover would (a draining fence
                // lets commands finish, however long), and the target holds for it.
                try await old.query(
                    "UPDATE switchyard.fence SET drain = false, updated_at = now() WHERE id = 1 AND cluster_epoch = $1",
                    [.int(context.epoch)], timeout: failover.fenceTimeout)
            }
        } catch {
            // The fence is written; what runs there is unknown now: hold for everything.
            logger.warning(
                "fenced, but the old region stopped answering; the target holds for what may still run there",
                metadata: ["error": "\(error)"])
            return (true, max(running, 1), false, max(gated, 1))
        }
        healthy = true
        return (true, running, commandStopped, gated)
    }

    /// A connection to a region's database on which `first` succeeded: the failover leader's warm one
    /// when it has one (a hung postmaster still serves it), else a fresh one, all within `budget`.
    /// - Parameter fresh: false to try only the warm connection, never a new one.
    func borrowOrConnect(
        _ region: String, budget: Duration, fresh: Bool = true,
        first: (PostgresConnection, Duration) async throws -> Void
    ) async throws -> PostgresConnection {
        let clock = ContinuousClock()
        let started = clock.now
        var failure: Error?
        if let c = warm?.take(region) {
            do {
                // Half the budget at most: a connection whose peer vanished silently must leave time for a fresh one.
                try await first(c, budget / 2)
                return c
            } catch {
                failure = error
                await c.close()
            }
        }
        let left = budget - (clock.now - started)
        guard fresh, left >= .milliseconds(100) else {
            throw failure ?? Refusal(description: "\(region)'s database did not answer")
        }
        let c = try await connect(region, timeout: left)
        do {
            try await first(c, left)
            return c
        } catch {
            await c.close()
            throw error
        }
    }

    /// Runs `body` on a connection to `region`'s database: the warm one when it answers (a connect costs
    /// three or four round trips across a WAN, the check one), else a fresh one within `budget`; given back
    /// to the pool when `body` succeeded, closed when it threw.
    func withWarm<T>(_ region: String, budget: Duration, _ body: (PostgresConnection) async throws -> T)
        async throws -> T
    {
        let c = try await borrowOrConnect(region, budget: budget) { c, timeout in
            _ = try await c.query("SELECT 1", timeout: timeout)
        }
        // Statements that give no deadline (the migration's COPY and batches) get the one a fresh connect
        // here would have had, whoever opened the pooled connection (the shadow sync's allows 5 s).
        await c.setDefaultTimeout(budget + .seconds(5))
        do {
            let result = try await body(c)
            giveBack(region, c, healthy: true)
            return result
        } catch {
            giveBack(region, c, healthy: false)
            throw error
        }
    }

    /// Returns a connection to the warm pool when it still works, else closes it.
    func giveBack(_ region: String, _ connection: PostgresConnection, healthy: Bool) {
        if healthy, let warm {
            warm.put(region, connection)
        } else {
            Task { await connection.close() }
        }
    }

    /// How long the target holds its dispatches and its leader-gated `--exec` command. When the fence step
    /// waited out the old region's leases, its commands stop at the fence validity, which ends with those
    /// leases: the hold is `SafetyTiming.stopBound` counted from the end of that wait. When it fenced the
    /// old region in its own database, executions there that had not stopped stop within
    /// `workerStopBound` of the fence (their workers may not see it), and its leader's command within
    /// `execStopBound` unless the leader recorded that none runs (`SafetyTiming.fencedHold`); a switchover
    /// holds the same (its executions drained, or were stopped when the quiesce ran out).
    func dispatchHold(_ context: Context, control: PostgresConnection) async throws -> Duration? {
        let (journaled, since) = try await ControlStore.fenceResult(control, failover: context.id)
        let timing = SafetyTiming(configuration.controlPlane)
        // No readable fence result: hold as long as anything could need (fail closed).
        guard let fence = journaled else {
            return max(
                timing.stopBound + timing.leaseTTL, timing.workerStopBound, timing.execStopBound, timing.gatedStopBound)
        }
        var hold: Duration? = nil
        if fence.fenced == false || fence.leaseWaitedMs != nil { hold = timing.dispatchHold(sinceLeasesEnded: since) }
        if fence.fenced == true {
            let fenced = timing.fencedHold(
                executionsRunning: (fence.executionsStillRunning ?? 0) > 0,
                leaderCommandStopped: fence.leaderCommandStopped ?? false,
                gatedCommandsRunning: (fence.gatedCommandsStillRunning ?? 0) > 0, sinceFenced: since)
            if let fenced { hold = max(hold ?? .zero, fenced) }
        }
        return hold.flatMap { $0 > .zero ? $0 : nil }
    }

    /// Copies the old region's active runs to the target as queued: from its database when reachable,
    /// else from the target's shadow copy.
    func migrate(_ context: Context, control: PostgresConnection) async throws -> MigrateResult {
        guard let from = context.from, let source = configuration.region(named: from),
            let target = configuration.region(named: context.to)
        else { return .skipped("no previous active region") }
        return try await withWarm(context.to, budget: configuration.controlPlane.failover.fenceTimeout) { targetDB in
            // What the control database knows, in one round trip: whether the fence step reached the old
            // database, which of the shadow's copies to take, and whether the observers see it answer again.
            let known = try await control.pipeline([
                ControlStore.fenceResultStatement(failover: context.id),
                ControlStore.activationEpochStatement(region: from, before: context.id),
                ControlStore.databaseSeenStatement(
                    region: from, liveWithin: configuration.controlPlane.probes.liveWithin),
            ])
            let unfenced = try ControlStore.fenceResult(from: known[0]).0?.fenced == false
            // The fence step could not reach the old database: try it briefly when the observers see it answer
            // again (a healed partition gives fresher state than the shadow), else copy from the shadow at once
            // rather than wait out a second connect timeout against a database still silent.
            let fenceTimeout = configuration.controlPlane.failover.fenceTimeout
            let sourceDB: PostgresConnection?
            if unfenced, try !ControlStore.databaseSeenHealthy(from: known[2]) {
                // No fresh connect against a database still silent, but a warm session (a hung postmaster's
                // still answer; the shadow sync may have held it while the fence step looked) is worth one try.
                sourceDB = try? await borrowOrConnect(
                    from, budget: min(fenceTimeout, configuration.controlPlane.probes.timeout), fresh: false
                ) { c, timeout in
                    _ = try await c.query("SELECT 1", timeout: timeout)
                }
            } else {
                sourceDB = try? await borrowOrConnect(
                    from,
                    budget: unfenced
                        ? min(fenceTimeout, configuration.controlPlane.probes.connectTimeout) : fenceTimeout
                ) { c, timeout in
                    _ = try await c.query("SELECT 1", timeout: timeout)
                }
            }
            var migrated = false
            defer { if let sourceDB { giveBack(from, sourceDB, healthy: migrated) } }
            // From the shadow, only the copies of the old region's current active period: an older copy
            // (it was failed over and back since) holds runs that moved on, and perhaps finished, then.
            let fromEpoch = sourceDB == nil ? try ControlStore.activationEpoch(from: known[1]) : nil
            // The shadow may be older than what an interrupted attempt of this step already copied from the old
            // database: superseding what the shadow lacks would then fail those runs. A resumed migrate from the
            // shadow supersedes nothing (a stale run may run again: at-least-once, never lost) and says so.
            let supersedes = !(sourceDB == nil && context.resumedStep == .migrate)
            let report = try await RunMigrator.migrate(
                from: from, to: context.to,
                source: sourceDB.map { .table($0, table: source.runs.table) }
                    ?? .shadow(region: from, epoch: fromEpoch),
                target: targetDB, targetTable: target.runs.table, preset: target.runs.preset, dryRun: false,
                supersede: supersedes
                    ? "superseded: moved away by an earlier failover; failover \(context.id) copied \(from)'s active runs"
                    : nil
            )
            migrated = true
            // The count and any warning in one round trip.
            var writes = [
                ControlStore.addRunsMovedStatement(failover: context.id, count: report.copied, source: report.source)
            ]
            // The shadow is a copy every `shadow_interval`: runs queued in the old region since its last copy
            // stayed there, and are copied when its database answers again (`reconcile`). Say how old it was.
            let interval = configuration.controlPlane.failover.shadowInterval
            if sourceDB == nil, report.shadowAgeMs.map({ $0 > (interval * 3).secondsDouble * 1000 }) ?? true {
                let age =
                    report.shadowAgeMs.map { "was \(String(format: "%.1f", $0 / 1000)) s old" }
                    ?? "held no copy of \(from)'s current active period"
                writes.append(
                    ControlStore.eventStatement(
                        kind: "warning", region: context.to,
                        message:
                            "failover \(context.id): \(context.to)'s shadow of \(from)'s runs \(age); runs \(from) "
                            + "queued since stay in its database and are copied to \(context.to) when it answers again")
                )
            }
            if !supersedes {
                writes.append(
                    ControlStore.eventStatement(
                        kind: "warning", region: context.to,
                        message:
                            "failover \(context.id): a resumed migrate copied \(from)'s runs from \(context.to)'s shadow "
                            + "and failed none of \(context.to)'s own active runs; check them with "
                            + "`switchyard migrate-runs --from \(from) --to \(context.to) --dry-run`"))
            }
            if !report.pausedInTarget.isEmpty {
                writes.append(
                    ControlStore.eventStatement(
                        kind: "warning", region: context.to,
                        message:
                            "failover \(context.id): runs of DAGs paused in \(context.to) wait there until unpaused: "
                            + report.pausedInTarget.joined(separator: ", ")))
            }
            _ = try await control.pipeline(writes)
            return .migrated(report)
        }
    }

    /// Opens the target's fence with the new epoch, then makes it the active region. When the fence step
    /// could not fence the old region in its own database, the target holds its dispatches until the old
    /// region's commands must have stopped (`dispatchHold`).
    func activate(_ context: Context, control: PostgresConnection) async throws -> ActivateResult {
        return try await withWarm(context.to, budget: configuration.controlPlane.failover.fenceTimeout) { target in
            var hold = try await dispatchHold(context, control: control)
            // Airflow, copied from the old database while its scheduler may still have been running: lengthen the
            // hold by the settle's budget; `complete` brings the task instances up to date once the hold's bound
            // has passed and then ends the hold.
            let settle = try await settlesTasks(context, control: control, hold: hold)
            if settle, let bound = hold { hold = bound + settleBudget }
            try await target.query(
                """
                UPDATE switchyard.fence SET cluster_epoch = $1, open = true, drain = false, open_until = NULL, reason = $2, updated_at = now(),
                    hold_until = CASE WHEN $3::float8 IS NULL THEN NULL ELSE now() + make_interval(secs => $3::float8) END
                WHERE id = 1 AND cluster_epoch <= $1
                """,
                [.int(context.epoch), .text("failover \(context.id)"), hold.map { .double($0.secondsDouble) } ?? .null])
            guard
                try await ControlStore.activate(control, region: context.to, epoch: context.epoch, failover: context.id)
            else {
                throw Refusal(
                    description: "the cluster epoch moved past \(context.epoch): another failover superseded this one")
            }
            return ActivateResult(
                active: context.to, epoch: context.epoch, dispatchHoldMs: hold?.wholeMilliseconds,
                settleTasks: settle ? true : nil)
        }
    }

    /// Calls the target region's routing hooks.
    func route(_ context: Context) async -> RouteResult {
        let hooks = configuration.region(named: context.to)?.routing.hooks ?? []
        let values = HookValues(
            region: context.to, previousRegion: context.from, epoch: context.epoch, failoverId: context.id)
        var results: [HookCaller.Result] = []
        await withTaskGroup(of: HookCaller.Result.self) { group in
            for hook in hooks { group.addTask { await HookCaller.call(hook, values: values) } }
            for await result in group { results.append(result) }
        }
        results.sort { $0.name < $1.name }
        return RouteResult(hooks: results)
    }

    /// Closes the journal: `completed`, or `completed_with_errors` naming the required hooks that failed;
    /// then calls the notification hooks.
    func complete(_ context: Context, control: PostgresConnection) async throws -> CompleteResult {
        // Airflow: the task instances first, so the target's scheduler starts from the old region's last word.
        var settled: SettleResult? = nil
        if case .activate(let activated)? = try await ControlStore.stepResult(
            control, failover: context.id, step: .activate), activated.settleTasks == true
        {
            settled = await settle(context, control: control)
        }
        let hooks = try await ControlStore.routedHooks(control, failover: context.id)
        let failed = hooks.filter { $0.required && !$0.succeeded }.map(\.name)
        let state: FailoverState = failed.isEmpty ? .completed : .completedWithErrors
        let error = failed.isEmpty ? nil : "required hooks failed: \(failed.joined(separator: ", "))"
        try await ControlStore.completeFailover(
            control, id: context.id, kind: context.kind, from: context.from, to: context.to,
            state: state, error: error)
        let notify = configuration.region(named: context.to)?.routing.notify ?? []
        // A failover within an incident of the old region is part of it: the same key.
        var incidentKey: String?
        if let from = context.from { incidentKey = (try? await ControlStore.openIncident(control, region: from))??.key }
        let values = HookValues(
            region: context.to, previousRegion: context.from, epoch: context.epoch, failoverId: context.id,
            incidentKey: incidentKey,
            summary:
                "Switchyard \(context.kind.rawValue) \(context.id): \(context.from ?? "none") -> \(context.to), \(state.rawValue)"
        )
        var notified: [HookCaller.Result] = []
        for hook in notify { notified.append(await HookCaller.call(hook, values: values)) }
        return CompleteResult(state: state, notified: notified, settled: settled)
    }
}
