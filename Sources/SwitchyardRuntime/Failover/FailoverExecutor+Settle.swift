import Foundation
import Postgres
import SwitchyardCore

/// Airflow's task instances after a failover that copied them while the old region's scheduler could
/// still run: its executor may have finished a task after the copy (Airflow's LocalExecutor lets the
/// running ones finish when its scheduler is told to stop). The target holds its scheduler until the old
/// one cannot run any more (`dispatchHold`), lengthened by `settleBudget`; once the hold's own bound has
/// passed, `settle` copies what finished there since onto the target's reset task instances, then ends
/// the hold. Had the settle not happened in time, the hold ends by itself and those tasks run again:
/// at least once, never at the same time.
extension FailoverExecutor {
    /// What the settle may take beyond the hold: it runs in `complete`, after the routing hooks, and needs a
    /// connect to each database and a few round trips. Generous: only a failover leader that dies before
    /// settling makes the target wait it out (the settle ends the hold as soon as it is done).
    var settleBudget: Duration { configuration.controlPlane.failover.fenceTimeout * 3 + .seconds(30) }

    /// True when the target runs Airflow, the migrate step copied from the old region's database, and the
    /// target holds (the old scheduler could still be running when the copy was taken).
    func settlesTasks(_ context: Context, control: PostgresConnection, hold: Duration?) async throws -> Bool {
        guard hold != nil, context.from != nil, configuration.region(named: context.to)?.runs.preset == .airflow
        else { return false }
        guard
            case .migrate(.migrated(let report))? = try await ControlStore.stepResult(
                control, failover: context.id, step: .migrate)
        else { return false }
        return report.source == "table"
    }

    /// Waits for the end of the hold's own bound (the target's `hold_until` less `settleBudget`), then, in
    /// one transaction of the target holding its fence row, copies onto the task instances of the target's
    /// queued and running runs what the old region finished since, and ends the hold. Never throws: what
    /// went wrong is the result's `error` (the hold then ends by itself).
    func settle(_ context: Context, control: PostgresConnection) async -> SettleResult {
        var result = SettleResult(taskInstancesFinished: 0, taskInstancesAdded: 0, xcomsCopied: 0, waitedMs: 0)
        guard let from = context.from, let source = configuration.region(named: from),
            let target = configuration.region(named: context.to)
        else { return result }
        let budget = configuration.controlPlane.failover.fenceTimeout
        let clock = ContinuousClock()
        let started = clock.now
        do {
            let left = try await withWarm(context.to, budget: budget) { db in
                try await db.query(
                    """
                    SELECT extract(epoch FROM hold_until - now())::float8 * 1000 AS left_ms
                    FROM switchyard.fence WHERE id = 1 AND cluster_epoch = $1
                    """, [.int(context.epoch)]
                ).first?["left_ms"].optional(Double.self)
            }
            guard let left, left > 0 else {
                result.error = "the target's hold had already ended"
                return result
            }
            let wait = Duration.milliseconds(Int64(left)) - settleBudget
            if wait > .zero { try await Task.sleep(for: wait) }
            result.waitedMs = (clock.now - started).wholeMilliseconds
            // The target's runs still waiting (every one the copy made), and the old region's word on them.
            let (keys, rows) = try await withWarm(context.to, budget: budget) { db in
                let keys = try await db.query(
                    "SELECT dag_id, run_id FROM \(target.runs.table) WHERE state IN ('queued', 'running')"
                ).rows.map {
                    AirflowTaskCopy.RunKey(dagId: try $0["dag_id"].require(), runId: try $0["run_id"].require())
                }
                guard !keys.isEmpty else { return (keys, [AirflowTaskCopy.Rows]()) }
                let rows = try await withWarm(from, budget: budget) { old in
                    try await old.transaction("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY") { c in
                        try await AirflowTaskCopy.read(source: c, target: db, runTable: source.runs.table, runs: keys)
                    }
                }
                return (keys, rows)
            }
            guard !keys.isEmpty else { return try await endHold(context, budget: budget, result) }
            let table = target.runs.table
            let epoch = context.epoch
            let outcome: AirflowTaskCopy.Outcome?
            do {
                outcome = try await withWarm(context.to, budget: budget) { db in
                    try await db.transaction { t in
                        _ = try await t.pipeline([
                            .init("CREATE TEMP TABLE sy_migrate_new (dag_id text, run_id text) ON COMMIT DROP"),
                            .init(
                                "INSERT INTO sy_migrate_new SELECT * FROM unnest($1::text[], $2::text[])",
                                [.array(keys.map { .text($0.dagId) }), .array(keys.map { .text($0.runId) })]),
                        ])
                        let outcome = try await AirflowTaskCopy.write(rows, on: t, runTable: table, settle: true)
                        // Last, and briefly: the fence row locked (the target's leader cannot start its command
                        // until this commits) and the hold checked against the clock now, not the transaction's
                        // start. A hold that ended already leaves the task instances to the target: roll back.
                        let holding =
                            try await t.query(
                                """
                                UPDATE switchyard.fence SET hold_until = now()
                                WHERE id = 1 AND cluster_epoch = $1 AND hold_until > clock_timestamp()
                                RETURNING 1 AS held
                                """, [.int(epoch)]
                            ).first != nil
                        guard holding else { throw HoldEnded() }
                        return Optional(outcome)
                    }
                }
            } catch is HoldEnded {
                outcome = nil
            }
            guard let outcome else {
                result.error = "the target's hold ended before the settle (its budget ran out)"
                await settleMissed(context, result, control: control)
                return result
            }
            result.taskInstancesFinished = outcome.settled
            result.taskInstancesAdded = outcome.taskInstances
            result.xcomsCopied = outcome.xcoms
            logger.notice(
                "settled the migrated task instances from the old region",
                metadata: [
                    "finished_since_copy": "\(outcome.settled)", "added": "\(outcome.taskInstances)",
                    "waited_ms": "\(result.waitedMs)",
                ])
            return result
        } catch {
            result.waitedMs = (clock.now - started).wholeMilliseconds
            // The server's detail may carry row data (task arguments, hosts): only its code goes on record.
            result.error =
                (error as? PostgresError).map { "database error \($0.sqlState ?? "(no SQLSTATE)") in \($0.operation)" }
                ?? "\(type(of: error))"
            logger.warning(
                "could not settle the migrated task instances; the hold ends by itself and they may run again",
                metadata: ["error": "\(result.error ?? "")"])
            await settleMissed(context, result, control: control)
            return result
        }
    }

    /// Thrown to roll a settle back when the hold had ended before it could commit.
    struct HoldEnded: Error {}

    /// A warning event: the settle did not happen, so tasks that finished in the old region may run again.
    func settleMissed(_ context: Context, _ result: SettleResult, control: PostgresConnection) async {
        _ = try? await control.pipeline([
            ControlStore.eventStatement(
                kind: "warning", region: context.to,
                message:
                    "failover \(context.id): the task instances copied from \(context.from ?? "?") were not settled "
                    + "(\(result.error ?? "unknown")): tasks that finished there after the copy may run again in \(context.to)"
            )
        ])
    }

    /// Ends the target's hold (nothing to settle).
    private func endHold(_ context: Context, budget: Duration, _ result: SettleResult) async throws -> SettleResult {
        try await withWarm(context.to, budget: budget) { db in
            try await db.query(
                "UPDATE switchyard.fence SET hold_until = now() WHERE id = 1 AND cluster_epoch = $1 AND hold_until > now()",
                [.int(context.epoch)])
        }
        return result
    }
}
