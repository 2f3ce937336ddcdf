import Foundation
import Postgres

/// Airflow's schedule state, carried with a migration so the target goes on where the old region left
/// off. Airflow computes each DAG's next run from its latest automated run (`scheduled` or `backfill`,
/// in any state) in its own `dag_run` table, on every parse and whenever the scheduler creates or
/// finishes a run; `dag.next_dagrun*` is only a cache of it. So the target gets:
/// - the tail of the old region's automated runs, finished ones included, from each DAG's oldest
///   unfinished automated run (or its latest, when none is unfinished) on: its own recomputation then
///   lands where the old region's would, with catchup on or off, and an older copied run that finishes
///   there (Airflow then steps `next_dagrun` back to the interval after it) finds every later interval
///   present, so none is created twice;
/// - each DAG's `next_dagrun*` fields and `is_paused`, for the DAGs both regions define: the window
///   before the target next parses its DAG files, and pause state that is the operator's decision.
///
/// The unfinished runs themselves travel through `RunMigrator` (as queued, with their task instances):
/// this copies only the finished ones, keeping their state.
enum AirflowSchedule {
    /// Automated run types: those Airflow's next-run computation reads.
    static let automated = "('scheduled', 'backfill')"

    /// `dag` columns carried, when both regions have them.
    static let dagColumns = [
        "is_paused", "next_dagrun", "next_dagrun_data_interval_start", "next_dagrun_data_interval_end",
        "next_dagrun_create_after", "next_dagrun_partition_key", "next_dagrun_partition_date",
    ]

    /// What was read at the source.
    struct Read: Sendable {
        /// The finished tail runs: COPY text of `runColumns` plus `state` and `end_date`.
        var runs: [UInt8]
        /// The run columns (without `state` and `end_date`).
        var runColumns: [String]
        /// `dag_id` and the carried `dag` columns: COPY text.
        var dags: [UInt8]
        /// The carried `dag` columns.
        var dagColumns: [String]
    }

    /// What was written.
    struct Outcome: Sendable {
        /// Finished automated runs inserted.
        var runs = 0
        /// DAGs whose next-run fields and pause state were set.
        var dags = 0
    }

    /// Reads, inside the caller's snapshot of `source`, the finished tail of its automated runs (`columns`
    /// of them: what `RunMigrator` copies) and its DAGs' carried fields that the target also has.
    static func read(
        source: PostgresConnection, target: PostgresConnection, runTable: String, columns: [String]
    ) async throws -> Read {
        let schema = AirflowTaskCopy.schemaPrefix(of: runTable)
        let (sourceDag, targetDag) = (
            try await RunMigrator.columns(source, table: schema + "dag"),
            try await RunMigrator.columns(target, table: schema + "dag")
        )
        let have = Set(sourceDag.map(\.name))
        let carried = targetDag.map(\.name).filter { have.contains($0) && Self.dagColumns.contains($0) }
        let list = columns.map { "t." + PostgresConnection.quoteIdentifier($0) }.joined(separator: ", ")
        // A run table without Airflow's run types and logical dates has no schedule to carry.
        let runTableColumns = Set(try await RunMigrator.columns(source, table: runTable).map(\.name))
        guard ["run_type", "logical_date", "state", "end_date"].allSatisfy(runTableColumns.contains) else {
            return Read(runs: [], runColumns: columns, dags: [], dagColumns: [])
        }
        let runs = try await source.copyOut(
            """
            COPY (WITH since AS (
                      SELECT h.dag_id,
                             least(min(h.logical_date) FILTER (WHERE h.state IN ('queued', 'running')), max(h.logical_date)) AS at
                      FROM \(runTable) h WHERE h.run_type IN \(automated) GROUP BY h.dag_id)
                  SELECT \(list), t.state, t.end_date FROM \(runTable) t JOIN since ON since.dag_id = t.dag_id
                  WHERE t.run_type IN \(automated) AND t.state NOT IN ('queued', 'running') AND t.logical_date >= since.at
                  ORDER BY t.dag_id, t.logical_date) TO STDOUT
            """)
        var dags: [UInt8] = []
        if !carried.isEmpty {
            let names = (["dag_id"] + carried).map(PostgresConnection.quoteIdentifier).joined(separator: ", ")
            dags = try await source.copyOut("COPY (SELECT \(names) FROM \(schema)dag) TO STDOUT")
        }
        return Read(runs: runs, runColumns: columns, dags: dags, dagColumns: carried)
    }

    /// Writes what `read` found into the target, inside the migration's transaction: the tail runs with
    /// their state (`values` are `RunMigrator`'s expressions for `runColumns`, over staging alias `s`, with
    /// the remapped foreign keys), then the DAGs' fields.
    static func write(
        _ read: Read, on t: PostgresConnection, runTable: String, names: [String], values: [String]
    ) async throws -> Outcome {
        let schema = AirflowTaskCopy.schemaPrefix(of: runTable)
        var outcome = Outcome()
        if !read.runs.isEmpty {
            let list = (read.runColumns + ["state", "end_date"]).map(PostgresConnection.quoteIdentifier)
                .joined(separator: ", ")
            _ = try await t.pipeline([
                .init(
                    "CREATE TEMP TABLE sy_schedule_runs ON COMMIT DROP AS SELECT \(list) FROM \(runTable) WHERE false"
                )
            ])
            try await t.copyIn("COPY sy_schedule_runs (\(list)) FROM STDIN", data: read.runs)
            let inserted = try await t.query(
                """
                INSERT INTO \(runTable) (\(names.joined(separator: ", ")), state, end_date)
                SELECT \(values.joined(separator: ", ")), s.state, s.end_date FROM sy_schedule_runs s
                ON CONFLICT DO NOTHING
                """)
            outcome.runs = inserted.affectedRows
        }
        if !read.dags.isEmpty {
            let list = (["dag_id"] + read.dagColumns).map(PostgresConnection.quoteIdentifier).joined(separator: ", ")
            _ = try await t.pipeline([
                .init(
                    "CREATE TEMP TABLE sy_schedule_dags ON COMMIT DROP AS SELECT \(list) FROM \(schema)dag WHERE false")
            ])
            try await t.copyIn("COPY sy_schedule_dags (\(list)) FROM STDIN", data: read.dags)
            let sets = read.dagColumns.map {
                "\(PostgresConnection.quoteIdentifier($0)) = s.\(PostgresConnection.quoteIdentifier($0))"
            }
            let updated = try await t.query(
                "UPDATE \(schema)dag d SET \(sets.joined(separator: ", ")) FROM sy_schedule_dags s WHERE d.dag_id = s.dag_id"
            )
            outcome.dags = updated.affectedRows
        }
        return outcome
    }
}
