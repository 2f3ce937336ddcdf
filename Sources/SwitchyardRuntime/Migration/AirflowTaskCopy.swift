import Foundation
import Postgres

/// Airflow's task instances of the runs a migration moves, with what their finished tasks left for the
/// ones downstream (XComs, the lengths of mapped outputs): copied with the runs, so the target's
/// scheduler carries each run on from where the old region left it. A task instance that finished
/// keeps its state and never runs again; one that was scheduled, queued or running (an attempt the
/// failover cut off, or one not started) is reset to no state and keeps its try number, so the target
/// runs it as the next try, as Airflow's own retries would.
///
/// Only runs the migration inserted get task instances (and those the target still held as active from an
/// earlier period, whose stale task instances `RunMigrator` drops first), and
/// only those of DAGs the target has a serialized version of (`task_instance.dag_version_id` is NOT
/// NULL): a run of a DAG the target has not parsed starts over there, as the migrator's `orphaned` says.
/// Read from the old region's database, or from a standby's shadow of it (`AirflowSnapshot`, as of the
/// last copy: a task that finished after it runs again in the target, at least once).
enum AirflowTaskCopy {
    /// States in which a task instance is done: copied as they are.
    static let finishedStates = ["success", "skipped", "failed", "upstream_failed", "removed"]

    /// Columns of an unfinished task instance that describe the cut-off attempt: cleared on copy.
    static let attemptColumns: Set<String> = [
        "start_date", "end_date", "duration", "hostname", "unixname", "queued_dttm", "scheduled_dttm",
        "last_heartbeat_at", "pid", "external_executor_id", "trigger_timeout", "next_method", "next_kwargs",
    ]

    /// One table's rows read at the source.
    struct Rows: Sendable {
        /// `task_instance`, `xcom` or `task_map`.
        var table: String
        /// The columns read, in order (those both regions have).
        var columns: [String]
        /// COPY text.
        var data: [UInt8]
    }

    /// What the copy wrote.
    struct Outcome: Sendable {
        /// Task instances inserted.
        var taskInstances = 0
        /// Of them, unfinished ones reset to run again in the target.
        var reset = 0
        /// XComs inserted.
        var xcoms = 0
        /// Settling: reset task instances that had finished at the source since, now finished here too.
        var settled = 0
    }

    /// `schema.` of the run table (`public.` for `public.dag_run`), empty when unqualified.
    static func schemaPrefix(of runTable: String) -> String {
        let parts = runTable.split(separator: ".", maxSplits: 1)
        return parts.count == 2 ? parts[0] + "." : ""
    }

    /// A run: `(dag_id, run_id)`.
    struct RunKey: Sendable, Hashable {
        var dagId: String
        var runId: String
    }

    /// Reads, inside the caller's snapshot of `source`, the task instances of its queued and running runs
    /// (or of `runs`, whatever their state there now) and, of those finished, their XComs and task maps:
    /// the columns the target also has.
    static func read(source: PostgresConnection, target: PostgresConnection, runTable: String, runs: [RunKey]? = nil)
        async throws -> [Rows]
    {
        let schema = schemaPrefix(of: runTable)
        let tables = ["task_instance", "xcom", "task_map"]
        let sourceColumns = try await source.pipeline(tables.map { RunMigrator.columnsStatement(schema + $0) })
        let targetColumns = try await target.pipeline(tables.map { RunMigrator.columnsStatement(schema + $0) })
        let active: String
        if let runs {
            guard !runs.isEmpty else { return [] }
            let dags = runs.map { PostgresConnection.quoteLiteral($0.dagId) }.joined(separator: ", ")
            let ids = runs.map { PostgresConnection.quoteLiteral($0.runId) }.joined(separator: ", ")
            active = "(t.dag_id, t.run_id) IN (SELECT * FROM unnest(ARRAY[\(dags)]::text[], ARRAY[\(ids)]::text[]))"
        } else {
            active = """
                EXISTS (SELECT 1 FROM \(runTable) r WHERE r.dag_id = t.dag_id AND r.run_id = t.run_id
                        AND r.state IN ('queued', 'running'))
                """
        }
        let finishedTask = """
            EXISTS (SELECT 1 FROM \(schema)task_instance ti
                    WHERE ti.dag_id = t.dag_id AND ti.task_id = t.task_id AND ti.run_id = t.run_id
                      AND ti.map_index = t.map_index AND ti.state IN (\(finishedList)))
            """
        var rows: [Rows] = []
        for (index, table) in tables.enumerated() {
            let have = Set(try RunMigrator.columns(from: sourceColumns[index]).map(\.name))
            // xcom's dag_run_id is the run's id in its own database: the target's is joined in on write.
            let columns = try RunMigrator.columns(from: targetColumns[index]).map(\.name).filter {
                have.contains($0) && $0 != "dag_run_id"
            }
            guard !columns.isEmpty else { continue }  // an Airflow without the table
            let filter = table == "task_instance" ? active : "\(active) AND \(finishedTask)"
            let list = columns.map(PostgresConnection.quoteIdentifier).joined(separator: ", ")
            let data = try await source.copyOut(
                "COPY (SELECT \(list) FROM \(schema)\(table) t WHERE \(filter)) TO STDOUT")
            rows.append(Rows(table: table, columns: columns, data: data))
        }
        return rows
    }

    static var finishedList: String { finishedStates.map(PostgresConnection.quoteLiteral).joined(separator: ", ") }

    /// Writes what `read` found into the target, inside the caller's transaction, for the runs in
    /// `sy_migrate_new` (those the migration inserted): task instances first (XComs and task maps refer to
    /// them). With `settle`, a task instance the target holds reset (no state) that has finished at the
    /// source since takes the source's finished state and times (`FailoverExecutor.settle`).
    static func write(_ rows: [Rows], on t: PostgresConnection, runTable: String, settle: Bool = false) async throws
        -> Outcome
    {
        let schema = schemaPrefix(of: runTable)
        var outcome = Outcome()
        for table in rows where !table.data.isEmpty {
            let staging = "sy_migrate_\(table.table)"
            let list = table.columns.map(PostgresConnection.quoteIdentifier).joined(separator: ", ")
            _ = try await t.pipeline([
                .init(
                    "CREATE TEMP TABLE \(staging) ON COMMIT DROP AS SELECT \(list) FROM \(schema)\(table.table) WHERE false"
                )
            ])
            try await t.copyIn("COPY \(staging) (\(list)) FROM STDIN", data: table.data)
            let newRun = "JOIN sy_migrate_new n ON n.dag_id = s.dag_id AND n.run_id = s.run_id"
            switch table.table {
            case "task_instance":
                let values = table.columns.map { taskInstanceValue($0, schema: schema) }
                let row = try await t.query(
                    """
                    WITH ins AS (
                        INSERT INTO \(schema)task_instance (\(list))
                        SELECT \(values.joined(separator: ", ")) FROM \(staging) s \(newRun)
                        WHERE EXISTS (SELECT 1 FROM \(schema)dag_version dv WHERE dv.dag_id = s.dag_id)
                        ON CONFLICT DO NOTHING RETURNING state)
                    SELECT count(*) AS n, count(*) FILTER (WHERE state IS NULL) AS reset FROM ins
                    """
                ).first
                outcome.taskInstances = try row?["n"].require(Int.self) ?? 0
                outcome.reset = try row?["reset"].require(Int.self) ?? 0
                if settle {
                    let kept = [
                        "id", "dag_id", "task_id", "run_id", "map_index", "dag_version_id", "trigger_id",
                        "queued_by_job_id",
                    ]
                    let sets = table.columns.filter { !kept.contains($0) }.map { column in
                        let name = PostgresConnection.quoteIdentifier(column)
                        return "\(name) = " + (column == "updated_at" ? "now()" : "s.\(name)")
                    }
                    let result = try await t.query(
                        """
                        UPDATE \(schema)task_instance t SET \(sets.joined(separator: ", "))
                        FROM \(staging) s \(newRun)
                        WHERE t.dag_id = s.dag_id AND t.task_id = s.task_id AND t.run_id = s.run_id
                          AND t.map_index = s.map_index AND t.state IS NULL AND s.state IN (\(finishedList))
                        """)
                    outcome.settled = result.affectedRows
                }
            case "xcom":
                let result = try await t.query(
                    """
                    INSERT INTO \(schema)xcom (dag_run_id, \(list))
                    SELECT r.id, \(table.columns.map { "s." + PostgresConnection.quoteIdentifier($0) }.joined(separator: ", "))
                    FROM \(staging) s \(newRun)
                    JOIN \(runTable) r ON r.dag_id = s.dag_id AND r.run_id = s.run_id
                    ON CONFLICT DO NOTHING
                    """)
                outcome.xcoms = result.affectedRows
            default:
                try await t.query(
                    """
                    INSERT INTO \(schema)\(table.table) (\(list))
                    SELECT \(table.columns.map { "s." + PostgresConnection.quoteIdentifier($0) }.joined(separator: ", "))
                    FROM \(staging) s \(newRun)
                    ON CONFLICT DO NOTHING
                    """)
            }
        }
        return outcome
    }

    /// What one task-instance column becomes in the target.
    static func taskInstanceValue(_ column: String, schema: String) -> String {
        let source = "s." + PostgresConnection.quoteIdentifier(column)
        let finished = "s.state IN (\(finishedList))"
        switch column {
        case "state": return "CASE WHEN \(finished) THEN s.state END"
        // Ids of the old region's jobs and triggers mean nothing here (the trigger is a foreign key).
        case "queued_by_job_id", "trigger_id": return "NULL"
        // The target's own serialized version of the DAG (a foreign key).
        case "dag_version_id":
            return
                "(SELECT dv.id FROM \(schema)dag_version dv WHERE dv.dag_id = s.dag_id ORDER BY dv.version_number DESC LIMIT 1)"
        case "updated_at": return "now()"
        case _ where attemptColumns.contains(column): return "CASE WHEN \(finished) THEN \(source) END"
        default: return source
        }
    }
}
