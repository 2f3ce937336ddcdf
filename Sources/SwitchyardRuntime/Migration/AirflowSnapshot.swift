import Foundation
import Postgres

/// What a migration reads of an Airflow region, in one snapshot of its database: the active runs
/// (`runColumns` of them, COPY text), their task instances with the finished ones' XComs and task maps
/// (`AirflowTaskCopy`), and the schedule's tail with each DAG's next-run fields (`AirflowSchedule`).
/// `RunMigrator` writes it into the target; `ShadowSync` keeps it, part by part, in every standby's
/// `switchyard.shadow_airflow`, so a failover whose old database is dead writes the same thing from
/// there: finished tasks stay finished, cut-off ones run as their next try, the schedule goes on.
struct AirflowSnapshot: Sendable {
    /// The run columns copied (those both regions have, less what the migration sets itself), in order.
    var runColumns: [String]
    /// The queued and running runs: COPY text of `runColumns`.
    var runs: [UInt8]
    /// Their task instances, XComs and task maps.
    var tasks: [AirflowTaskCopy.Rows]
    /// The schedule's tail and the DAGs' carried fields.
    var schedule: AirflowSchedule.Read

    /// Reads, inside the caller's REPEATABLE READ transaction on `source` (a task that finishes between two
    /// reads must not be copied as unfinished under a run copied before it), the columns `target` also has.
    static func read(source: PostgresConnection, target: PostgresConnection, runTable: String, columns: [String])
        async throws -> AirflowSnapshot
    {
        let list = columns.map(PostgresConnection.quoteIdentifier).joined(separator: ", ")
        let runs = try await source.copyOut(
            "COPY (SELECT \(list) FROM \(runTable) WHERE state IN ('queued', 'running') ORDER BY dag_id, run_id) TO STDOUT"
        )
        let tasks = try await AirflowTaskCopy.read(source: source, target: target, runTable: runTable)
        let schedule = try await AirflowSchedule.read(
            source: source, target: target, runTable: runTable, columns: columns)
        return AirflowSnapshot(runColumns: columns, runs: runs, tasks: tasks, schedule: schedule)
    }

    /// Active runs in the snapshot.
    var runCount: Int { runs.reduce(0) { $0 + ($1 == 10 ? 1 : 0) } }

    /// One stored part: a table's rows (or the DAGs' fields) with the columns they carry.
    struct Part: Sendable, Equatable {
        var name: String
        var columns: [String]
        var data: [UInt8]
    }

    /// The parts a shadow stores: `dag_run` (the active runs), `task_instance`, `xcom`, `task_map`,
    /// `schedule_run` (the tail's finished runs) and `dag`.
    var parts: [Part] {
        [Part(name: "dag_run", columns: runColumns, data: runs)]
            + tasks.map { Part(name: $0.table, columns: $0.columns, data: $0.data) }
            + [
                Part(name: "schedule_run", columns: schedule.runColumns, data: schedule.runs),
                Part(name: "dag", columns: schedule.dagColumns, data: schedule.dags),
            ]
    }

    /// The snapshot stored as `parts`; nil without its runs.
    init?(parts: [Part]) {
        guard let runs = parts.first(where: { $0.name == "dag_run" }) else { return nil }
        let tables = ["task_instance", "xcom", "task_map"]
        let schedule = parts.first { $0.name == "schedule_run" }
        let dags = parts.first { $0.name == "dag" }
        self.init(
            runColumns: runs.columns, runs: runs.data,
            tasks: tables.compactMap { table in
                parts.first { $0.name == table }.map {
                    AirflowTaskCopy.Rows(table: table, columns: $0.columns, data: $0.data)
                }
            },
            schedule: AirflowSchedule.Read(
                runs: schedule?.data ?? [], runColumns: schedule?.columns ?? runs.columns, dags: dags?.data ?? [],
                dagColumns: dags?.columns ?? []))
    }

    init(runColumns: [String], runs: [UInt8], tasks: [AirflowTaskCopy.Rows], schedule: AirflowSchedule.Read) {
        self.runColumns = runColumns
        self.runs = runs
        self.tasks = tasks
        self.schedule = schedule
    }

    // MARK: In a standby's shadow

    /// Replaces what a standby's shadow holds with this snapshot of `region` at `epoch` (inside the
    /// caller's transaction, with the `shadow_sync` marker).
    func storeStatements(region: String, epoch: Int) -> [PostgresConnection.Statement] {
        [.init("DELETE FROM switchyard.shadow_airflow")]
            + parts.map { part in
                .init(
                    "INSERT INTO switchyard.shadow_airflow (source_region, source_epoch, part, columns, data) VALUES ($1, $2, $3, $4::text[], $5)",
                    [
                        .text(region), .int(epoch), .text(part.name), .array(part.columns.map { .text($0) }),
                        .bytes(part.data),
                    ])
            }
    }

    /// The read of what a standby's shadow holds of `region` at `epoch` (nil: the latest copy's).
    static func loadStatement(region: String, epoch wanted: Int?) -> PostgresConnection.Statement {
        .init(
            """
            SELECT part, array_to_json(columns)::text AS columns, data FROM switchyard.shadow_airflow
            WHERE source_region = $1
              AND source_epoch = coalesce($2::bigint, (SELECT source_epoch FROM switchyard.shadow_sync WHERE source_region = $1))
            """, [.text(region), wanted.map { .int($0) } ?? .null])
    }

    /// The snapshot `loadStatement` read; nil when the shadow holds none of that period.
    static func load(from result: PostgresResult) throws -> AirflowSnapshot? {
        let parts = try result.rows.map { row in
            Part(
                name: try row["part"].require(String.self),
                columns: try JSONDecoder().decode(
                    [String].self, from: Data(try row["columns"].require(String.self).utf8)),
                data: row["data"].bytes ?? [])
        }
        return AirflowSnapshot(parts: parts)
    }
}
