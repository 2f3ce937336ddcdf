import Foundation
import Postgres
import SwitchyardCore

/// Copies the active runs (`queued`, `running`) of one region's run table into another's, as
/// `queued`. Columns are matched by name from `information_schema`, so the same code moves our
/// `switchyard.dag_run` and Apache Airflow 3's `dag_run`. Rows travel by COPY into a staging table
/// and one `INSERT … SELECT … ON CONFLICT DO NOTHING` per batch (bare: Airflow's `dag_run` has two
/// unique keys), never row by row; a second run copies nothing.
public enum RunMigrator {
    /// Where the rows come from.
    public enum Source: Sendable {
        /// The old region's run table.
        case table(PostgresConnection, table: String)
        /// The target's shadow copy of the old region's active runs (when its database is dead): only the
        /// copies made while `region` was active at `epoch` (nil: the latest copy the target holds).
        case shadow(region: String, epoch: Int?)
    }

    /// What a migration did (or, with `dryRun`, would do).
    public struct Report: Codable, Sendable {
        /// The source region.
        public var from: String
        /// The target region.
        public var to: String
        /// `table` or `shadow`.
        public var source: String
        /// Nothing was written.
        public var dryRun: Bool
        /// Active runs found at the source.
        public var found: Int
        /// Runs inserted into the target (0 on a second run).
        public var copied: Int
        /// Runs the target already had.
        public var alreadyPresent: Int
        /// Copied runs whose DAG the target does not define (`dag_id/run_id`).
        public var orphaned: [String]
        /// The columns copied.
        public var columns: [String]
        /// Target runs of an earlier active period marked failed (`supersede`, failovers only).
        public var superseded: Int = 0
        /// DAGs of the copied runs that are paused in the target: their runs wait there until unpaused
        /// (Airflow pauses new DAGs by default).
        public var pausedInTarget: [String] = []
        /// Those DAGs unpaused by the migration (`--unpause`).
        public var unpaused: [String] = []
        /// How long it took.
        public var durationMs: Double
        /// From the shadow: how old its copy was (milliseconds, on the target's clock); nil when no copy
        /// of the source's current active period had reached the target.
        public var shadowAgeMs: Double? = nil
        /// From the shadow: rows copied in an earlier active period of the source, left out (their runs
        /// moved on at the failover that ended that period).
        public var shadowStale: Int? = nil
        /// Airflow: task instances copied with the inserted runs (`AirflowTaskCopy`), from the old database
        /// or the target's shadow of it; nil for another preset.
        public var taskInstancesCopied: Int? = nil
        /// Of them, unfinished ones reset to run again in the target as their next try.
        public var taskInstancesReset: Int? = nil
        /// XComs of the copied finished task instances.
        public var xcomsCopied: Int? = nil
        /// Airflow: runs the target already held as queued or running (an earlier active period) whose task
        /// instances were replaced by the source's.
        public var runsRefreshed: Int? = nil
        /// Airflow: finished automated runs of the schedule's tail copied with their state (`AirflowSchedule`),
        /// so the target's next runs follow on from the old region's.
        public var scheduleRunsCopied: Int? = nil
        /// Airflow: DAGs whose next-run fields and pause state were taken from the old region.
        public var scheduleDags: Int? = nil
    }

    /// Columns never copied: the target assigns its own ids; run state is reset to queued.
    static let neverCopied: Set<String> = [
        "id", "state", "end_date", "worker", "dispatch_id", "dispatch_epoch", "attempt", "note", "migrated_from",
        "created_epoch", "last_scheduling_decision", "backfill_id", "created_dag_version_id", "updated_at",
    ]

    /// Migrates; `batchSize` rows per COPY + INSERT. With `dagFields` false (a reconciliation), Airflow's
    /// DAGs keep the target's next-run fields and pause state.
    public static func migrate(
        from: String, to: String, source: Source, target: PostgresConnection, targetTable: String,
        preset: RunsConfig.Preset,
        dryRun: Bool, batchSize: Int = 50_000, supersede: String? = nil, unpause: Bool = false,
        dagFields: Bool = true
    ) async throws -> Report {
        let clock = ContinuousClock()
        let started = clock.now
        let dagTable = preset == .airflow ? "dag" : "switchyard.dags"
        // Everything read of the target before the copy, in one round trip: its run table's, shadow's and
        // DAG table's columns, and what its shadow holds of the source region.
        let shadowRegion: String?, wantedEpoch: Int?
        if case .shadow(let region, let wanted) = source {
            (shadowRegion, wantedEpoch) = (region, wanted)
        } else {
            (shadowRegion, wantedEpoch) = (nil, nil)
        }
        let metadata = try await target.pipeline(
            [
                columnsStatement(targetTable), columnsStatement("switchyard.shadow_dag_run"),
                columnsStatement(dagTable), .init("SELECT to_regclass($1) IS NOT NULL AS e", [.text(dagTable)]),
            ] + (shadowRegion.map { shadowCopyStatements(region: $0, epoch: wantedEpoch) } ?? [])
                + (shadowRegion.map {
                    preset == .airflow ? [AirflowSnapshot.loadStatement(region: $0, epoch: wantedEpoch)] : []
                }
                    ?? []))
        let targetColumns = try columns(from: metadata[0])
        guard !targetColumns.isEmpty else { throw MigrationError("\(to): no table \(targetTable)") }
        let sourceColumns: [String]
        let sourceConnection: PostgresConnection
        var sourceRunTable: String? = nil
        let selectFrom: String
        var shadow = ShadowCopy(epoch: nil, ageMs: nil, stale: nil)
        // Airflow's shadow: the snapshot a migration from its database would have read, as of the last copy.
        var shadowSnapshot: AirflowSnapshot? = nil
        switch source {
        case .table(let connection, let table):
            sourceConnection = connection
            sourceColumns = try await columns(connection, table: table).map(\.name)
            guard !sourceColumns.isEmpty else { throw MigrationError("\(from): no table \(table)") }
            selectFrom = "\(table) WHERE state IN ('queued', 'running')"
            sourceRunTable = table
        case .shadow(let region, let wanted):
            sourceConnection = target
            sourceColumns = try columns(from: metadata[1]).map(\.name)
            shadow = try shadowCopy(from: Array(metadata[4...5]), epoch: wanted)
            if preset == .airflow {
                let snapshot =
                    try AirflowSnapshot.load(from: metadata[6])
                    ?? AirflowSnapshot(
                        runColumns: [], runs: [], tasks: [],
                        schedule: .init(runs: [], runColumns: [], dags: [], dagColumns: []))
                let missing = snapshot.runColumns.filter { name in !targetColumns.contains { $0.name == name } }
                guard missing.isEmpty else {
                    throw MigrationError(
                        "\(to)'s shadow of \(from) carries run columns \(to)'s \(targetTable) lacks: \(missing.joined(separator: ", "))"
                    )
                }
                shadowSnapshot = snapshot
            }
            // Rows written before shadows carried epochs count as the current copy.
            selectFrom =
                "switchyard.shadow_dag_run WHERE source_region = \(PostgresConnection.quoteLiteral(region))"
                + (shadow.epoch.map { " AND coalesce(source_epoch, \($0)) = \($0)" } ?? "")
        }
        let copied =
            shadowSnapshot.map { $0.runColumns.isEmpty ? ["dag_id", "run_id"] : $0.runColumns }
            ?? copiedColumns(target: targetColumns.map(\.name), source: sourceColumns)
        guard copied.contains("dag_id"), copied.contains("run_id") else {
            throw MigrationError("run tables must both have dag_id and run_id")
        }
        let columnList = copied.map(PostgresConnection.quoteIdentifier).joined(separator: ", ")
        let runsCopy = "COPY (SELECT \(columnList) FROM \(selectFrom) ORDER BY dag_id, run_id) TO STDOUT"
        let data: [UInt8]
        var taskRows: [AirflowTaskCopy.Rows]? = nil
        var schedule: AirflowSchedule.Read? = nil
        if let shadowSnapshot {
            (data, taskRows, schedule) = (shadowSnapshot.runs, shadowSnapshot.tasks, shadowSnapshot.schedule)
        } else if preset == .airflow, let sourceRunTable {
            // Airflow's runs, their task instances and the schedule from one snapshot: a task that finishes
            // between two reads must not be copied as unfinished under a run copied before it.
            let snapshot = try await sourceConnection.transaction("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY") {
                c in
                try await AirflowSnapshot.read(source: c, target: target, runTable: sourceRunTable, columns: copied)
            }
            (data, taskRows, schedule) = (snapshot.runs, snapshot.tasks, snapshot.schedule)
        } else {
            data = try await sourceConnection.copyOut(runsCopy)
        }
        let lines = data.split(separator: 10, omittingEmptySubsequences: true)
        var report = Report(
            from: from, to: to, source: source.kind, dryRun: dryRun, found: lines.count, copied: 0,
            alreadyPresent: 0, orphaned: [], columns: copied, durationMs: 0, shadowAgeMs: shadow.ageMs,
            shadowStale: shadow.stale)
        let hasDagTable = try metadata[3].first?["e"].require(Bool.self) ?? false
        let dagColumns = try columns(from: metadata[2])
        let hasPaused = dagColumns.contains { $0.name == "is_paused" }
        let setState = targetColumns.contains { $0.name == "state" }
        let hasNote = targetColumns.contains { $0.name == "note" } && targetColumns.contains { $0.name == "updated_at" }
        let extra = extraColumns(targetColumns.map(\.name), preset: preset, from: from)
        let batches = stride(from: 0, to: lines.count, by: batchSize).map { offset -> [UInt8] in
            var bytes = [UInt8]()
            for line in lines[offset..<min(offset + batchSize, lines.count)] {
                bytes.append(contentsOf: line)
                bytes.append(10)
            }
            return bytes
        }
        let names =
            copied.map(PostgresConnection.quoteIdentifier) + extra.map { PostgresConnection.quoteIdentifier($0.column) }
        let values = copied.map { "s." + PostgresConnection.quoteIdentifier($0) } + extra.map(\.expression)
        // The runs inserted (not those the target already had) are noted: their task instances follow.
        let insert = """
            WITH ins AS (
                INSERT INTO \(targetTable) (\(names.joined(separator: ", "))\(setState ? ", state" : ""))
                SELECT \(values.joined(separator: ", "))\(setState ? ", 'queued'" : "") FROM sy_migrate_staging s
                ON CONFLICT DO NOTHING RETURNING dag_id, run_id)
            INSERT INTO sy_migrate_new SELECT dag_id, run_id FROM ins
            """
        let countNew = """
            SELECT count(*) AS n FROM sy_migrate_staging s
            WHERE NOT EXISTS (SELECT 1 FROM \(targetTable) r WHERE r.dag_id = s.dag_id AND r.run_id = s.run_id)
            """
        let orphans = """
            SELECT s.dag_id, s.run_id FROM sy_migrate_staging s
            WHERE NOT EXISTS (SELECT 1 FROM \(dagTable) d WHERE d.dag_id = s.dag_id)
              AND NOT EXISTS (SELECT 1 FROM \(targetTable) r WHERE r.dag_id = s.dag_id AND r.run_id = s.run_id)
            ORDER BY 1, 2
            """
        let readTasks = taskRows
        // A reconciliation long after the failover keeps the target's own next-run fields and pause state: the
        // target has scheduled since, and the old region's are from before.
        let readSchedule = schedule.map {
            dagFields ? $0 : AirflowSchedule.Read(runs: $0.runs, runColumns: $0.runColumns, dags: [], dagColumns: [])
        }
        let work: @Sendable (isolated PostgresConnection) async throws -> Outcome = { t in
            var outcome = Outcome()
            // Statements run as pipelines inside the transaction (each a round trip, not one per statement);
            // only the COPY goes alone.
            _ = try await t.pipeline([
                .init(
                    "CREATE TEMP TABLE sy_migrate_staging ON COMMIT DROP AS SELECT \(columnList) FROM \(targetTable) WHERE false"
                ),
                .init("CREATE TEMP TABLE sy_migrate_keys (dag_id text, run_id text) ON COMMIT DROP"),
                .init("CREATE TEMP TABLE sy_migrate_new (dag_id text, run_id text) ON COMMIT DROP"),
            ])
            for bytes in batches {
                try await t.copyIn("COPY sy_migrate_staging (\(columnList)) FROM STDIN", data: bytes)
                let batch = try await t.pipeline(
                    [.init("INSERT INTO sy_migrate_keys SELECT dag_id, run_id FROM sy_migrate_staging")]
                        + (hasDagTable ? [.init(orphans)] : []) + [.init(dryRun ? countNew : insert)]
                        + [.init("TRUNCATE sy_migrate_staging")])
                if hasDagTable {
                    outcome.orphaned += try batch[1].rows.map {
                        "\(try $0["dag_id"].require(String.self))/\(try $0["run_id"].require(String.self))"
                    }
                }
                let counted = batch[hasDagTable ? 2 : 1]
                outcome.copied += dryRun ? try counted.first?["n"].require(Int.self) ?? 0 : counted.affectedRows
            }
            if let taskRows = readTasks, !dryRun {
                // A run active at the source that the target still holds as queued or running (from an earlier
                // active period: a failback while it runs) is the source's now: its task instances there
                // replace the target's stale ones (their XComs and task maps go with them).
                let schema = AirflowTaskCopy.schemaPrefix(of: targetTable)
                let hasTasks = taskRows.contains { $0.table == "task_instance" }
                outcome.refreshed =
                    !hasTasks
                    ? 0
                    : try await t.query(
                        """
                        WITH refresh AS (
                            SELECT k.dag_id, k.run_id FROM sy_migrate_keys k
                            JOIN \(targetTable) r ON r.dag_id = k.dag_id AND r.run_id = k.run_id
                            WHERE r.state IN ('queued', 'running')
                              AND NOT EXISTS (SELECT 1 FROM sy_migrate_new n WHERE n.dag_id = k.dag_id AND n.run_id = k.run_id)),
                        gone AS (
                            DELETE FROM \(schema)task_instance ti USING refresh f
                            WHERE ti.dag_id = f.dag_id AND ti.run_id = f.run_id RETURNING 1),
                        requeued AS (
                            UPDATE \(targetTable) r SET state = 'queued', end_date = NULL
                            FROM refresh f WHERE r.dag_id = f.dag_id AND r.run_id = f.run_id
                            RETURNING r.dag_id, r.run_id)
                        INSERT INTO sy_migrate_new SELECT dag_id, run_id FROM requeued
                        """
                    ).affectedRows
                outcome.tasks = try await AirflowTaskCopy.write(taskRows, on: t, runTable: targetTable)
            }
            if let readSchedule, !dryRun {
                outcome.schedule = try await AirflowSchedule.write(
                    readSchedule, on: t, runTable: targetTable, names: names, values: values)
            }
            // In a failover the source's active runs are the whole truth: the target's own active runs that
            // are not among them date from an earlier active period of the target and were moved away
            // then (finished elsewhere since, or still active at the source and refreshed by the copy).
            // Runs of a paused DAG wait in the target: say so (and unpause them when asked, below).
            let supersedes = supersede != nil && !dryRun
            let closing = try await t.pipeline(
                (supersedes
                    ? [
                        .init(
                            """
                            UPDATE \(targetTable) r SET state = 'failed', end_date = now(), \(hasNote ? "note = $1, " : "")updated_at = now()
                            WHERE r.state IN ('queued', 'running')
                              AND NOT EXISTS (SELECT 1 FROM sy_migrate_keys k WHERE k.dag_id = r.dag_id AND k.run_id = r.run_id)
                            """, hasNote ? [.text(supersede ?? "")] : [])
                    ] : [])
                    + (hasPaused
                        ? [
                            .init(
                                "SELECT DISTINCT d.dag_id FROM \(dagTable) d JOIN sy_migrate_keys k ON k.dag_id = d.dag_id WHERE d.is_paused ORDER BY 1"
                            )
                        ] : []))
            if supersedes { outcome.superseded = closing[0].affectedRows }
            if hasPaused {
                outcome.paused = try closing[supersedes ? 1 : 0].rows.map { try $0["dag_id"].require(String.self) }
                if unpause, !dryRun, !outcome.paused.isEmpty {
                    try await t.query(
                        "UPDATE \(dagTable) SET is_paused = false WHERE dag_id = ANY($1::text[])",
                        [.array(outcome.paused.map { .text($0) })])
                    outcome.unpaused = outcome.paused
                }
            }
            // A dry run leaves nothing behind: its transaction rolls back.
            if dryRun { throw DryRun(outcome: outcome) }
            return outcome
        }
        let outcome: Outcome
        do {
            outcome = try await target.transaction("BEGIN", work)
        } catch let dry as DryRun {
            outcome = dry.outcome
        }
        report.copied = outcome.copied
        report.orphaned = outcome.orphaned
        report.superseded = outcome.superseded
        report.pausedInTarget = outcome.paused
        report.unpaused = outcome.unpaused
        report.taskInstancesCopied = outcome.tasks?.taskInstances
        report.taskInstancesReset = outcome.tasks?.reset
        report.xcomsCopied = outcome.tasks?.xcoms
        report.runsRefreshed = outcome.tasks == nil ? nil : outcome.refreshed
        report.scheduleRunsCopied = outcome.schedule?.runs
        report.scheduleDags = outcome.schedule?.dags
        report.alreadyPresent = report.found - report.copied
        report.durationMs = ((clock.now - started).secondsDouble * 100_000).rounded() / 100
        return report
    }

    /// The run columns a migration copies: those both tables have, in the target's order, less those the
    /// target sets itself and the shadow's own bookkeeping.
    static func copiedColumns(target: [String], source: [String]) -> [String] {
        target.filter { name in
            source.contains(name) && !neverCopied.contains(name) && name != "source_region"
                && name != "synced_at" && name != "source_epoch"
        }
    }

    /// Target columns set by the migration itself: the Airflow preset remaps the DAG version to the
    /// target's latest and clears the backfill; ours records where the run came from.
    static func extraColumns(_ target: [String], preset: RunsConfig.Preset, from: String) -> [(
        column: String, expression: String
    )] {
        var extra: [(String, String)] = []
        if target.contains("migrated_from") { extra.append(("migrated_from", PostgresConnection.quoteLiteral(from))) }
        if preset == .airflow, target.contains("created_dag_version_id") {
            extra.append(
                (
                    "created_dag_version_id",
                    "(SELECT dv.id FROM dag_version dv WHERE dv.dag_id = s.dag_id ORDER BY dv.version_number DESC LIMIT 1)"
                ))
        }
        if preset == .airflow, target.contains("backfill_id") { extra.append(("backfill_id", "NULL")) }
        return extra
    }

    /// What the target's shadow holds of `region`: the epoch to take (`wanted`, else the latest copy's),
    /// how old that copy is, and how many rows are from another period.
    struct ShadowCopy: Sendable {
        var epoch: Int?
        var ageMs: Double?
        var stale: Int?
    }

    /// The two reads `shadowCopy(from:epoch:)` takes: the latest copy's marker, and the rows of `region`
    /// from another period than `wanted` (else the latest copy's).
    static func shadowCopyStatements(region: String, epoch wanted: Int?) -> [PostgresConnection.Statement] {
        [
            .init(
                """
                SELECT source_epoch, extract(epoch FROM now() - synced_at)::float8 * 1000 AS age_ms
                FROM switchyard.shadow_sync WHERE source_region = $1
                """, [.text(region)]),
            .init(
                """
                WITH wanted AS (
                    SELECT coalesce($2::bigint, (SELECT source_epoch FROM switchyard.shadow_sync WHERE source_region = $1)) AS e)
                SELECT (SELECT count(*) FROM switchyard.shadow_dag_run, wanted WHERE source_region = $1 AND source_epoch <> wanted.e)
                     + (SELECT coalesce(sum(length(t) - length(replace(t, E'\\n', ''))), 0)
                        FROM (SELECT encode(data, 'escape') AS t FROM switchyard.shadow_airflow, wanted
                              WHERE source_region = $1 AND part = 'dag_run' AND source_epoch <> wanted.e) a) AS n
                """, [.text(region), wanted.map { .int($0) } ?? .null]),
        ]
    }

    static func shadowCopy(from results: [PostgresResult], epoch wanted: Int?) throws -> ShadowCopy {
        let marker = results[0].first
        let copiedAt: Int? = try marker?["source_epoch"].optional()
        guard let epoch = wanted ?? copiedAt else { return ShadowCopy(epoch: nil, ageMs: nil, stale: nil) }
        let stale = try results[1].first?["n"].require(Int.self) ?? 0
        let age: Double? = copiedAt == epoch ? try marker?["age_ms"].optional() : nil
        return ShadowCopy(epoch: epoch, ageMs: age.map { ($0 * 100).rounded() / 100 }, stale: stale)
    }

    struct Column: Sendable {
        var name: String
    }

    static func columns(_ c: PostgresConnection, table: String) async throws -> [Column] {
        try columns(from: try await c.pipeline([columnsStatement(table)])[0])
    }

    /// The read of `table`'s columns in order (none when there is no such table).
    static func columnsStatement(_ table: String) -> PostgresConnection.Statement {
        let parts = table.split(separator: ".", maxSplits: 1).map(String.init)
        let (schema, name) = parts.count == 2 ? (parts[0], parts[1]) : ("public", parts[0])
        return .init(
            "SELECT column_name FROM information_schema.columns WHERE table_schema = $1 AND table_name = $2 ORDER BY ordinal_position",
            [.text(schema), .text(name)])
    }

    static func columns(from result: PostgresResult) throws -> [Column] {
        try result.rows.map { Column(name: try $0["column_name"].require()) }
    }

    struct Outcome: Sendable {
        var copied = 0
        var orphaned: [String] = []
        var superseded = 0
        var paused: [String] = []
        var unpaused: [String] = []
        var tasks: AirflowTaskCopy.Outcome? = nil
        var refreshed = 0
        var schedule: AirflowSchedule.Outcome? = nil
    }

    /// Thrown to roll a dry run back, carrying what it counted.
    struct DryRun: Error {
        var outcome: Outcome
    }
}

extension RunMigrator.Source {
    var kind: String {
        switch self {
        case .table: "table"
        case .shadow: "shadow"
        }
    }
}

/// A migration that cannot run (the run tables do not match); nothing was copied.
public struct MigrationError: Error, CustomStringConvertible {
    /// What is wrong.
    public var description: String
    init(_ description: String) { self.description = description }
}
