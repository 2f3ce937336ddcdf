import Foundation
import Postgres
import SwitchyardCore
import TestSupport
import Testing

@testable import SwitchyardRuntime

@Suite("Active-run migration between region databases", .serialized)
struct MigrationTests {
    struct Report: Decodable {
        var found: Int
        var copied: Int
        var alreadyPresent: Int
        var orphaned: [String]
        var dryRun: Bool
        var pausedInTarget: [String]
        var unpaused: [String]
    }

    @Test func builtinRunsMoveOnceAsQueuedWithOrphansReported() async throws {
        try await DevFixture.with(regions: 2, dags: fastDAGs) { f in
            let east = try await f.connect("us-east")
            let west = try await f.connect("eu-west")
            for (run, state) in [("r1", "queued"), ("r2", "running"), ("r3", "success"), ("r4", "failed")] {
                try await east.query(
                    "INSERT INTO switchyard.dag_run (dag_id, run_id, state, conf, worker, dispatch_id) VALUES ('slow', $1, $2, '{\"k\": 1}', 'w', 'd')",
                    [.text(run), .text(state)])
            }
            try await east.query(
                "INSERT INTO switchyard.dag_run (dag_id, run_id, state) VALUES ('gone_dag', 'r5', 'queued')")

            let dry = try await SwitchyardBinary.run([
                "migrate-runs", "--config", f.config, "--from", "us-east", "--to", "eu-west", "--dry-run", "--json",
            ])
            #expect(dry.status == 0, "\(dry.errors)")
            let dryReport = try WireJSON.decoder().decode(Report.self, from: Data(dry.output.utf8))
            #expect(dryReport.found == 3 && dryReport.copied == 3 && dryReport.dryRun)
            #expect(
                try await west.query("SELECT count(*) AS n FROM switchyard.dag_run").first?["n"].require(Int.self) == 0)

            // The target has the DAG paused (Airflow pauses new DAGs by default): its runs would wait silently.
            try await west.query("UPDATE switchyard.dags SET is_paused = true WHERE dag_id = 'slow'")
            let run = try await SwitchyardBinary.run([
                "migrate-runs", "--config", f.config, "--from", "us-east", "--to", "eu-west", "--json",
            ])
            let report = try WireJSON.decoder().decode(Report.self, from: Data(run.output.utf8))
            #expect(report.copied == 3)
            #expect(report.orphaned == ["gone_dag/r5"])
            #expect(report.pausedInTarget == ["slow"] && report.unpaused.isEmpty)
            let rows = try await west.query(
                "SELECT run_id, state, worker, dispatch_id, conf::text AS conf, migrated_from FROM switchyard.dag_run ORDER BY run_id"
            ).rows
            #expect(try rows.map { try $0["run_id"].require(String.self) } == ["r1", "r2", "r5"])
            for row in rows {
                #expect(row["state"].string == "queued")
                #expect(row["worker"].isNull && row["dispatch_id"].isNull)
                #expect(row["migrated_from"].string == "us-east")
            }
            #expect(rows.first?["conf"].string == "{\"k\": 1}")

            let again = try await SwitchyardBinary.run([
                "migrate-runs", "--config", f.config, "--from", "us-east", "--to", "eu-west", "--json", "--unpause",
            ])
            let second = try WireJSON.decoder().decode(Report.self, from: Data(again.output.utf8))
            #expect(second.copied == 0 && second.alreadyPresent == 3)
            #expect(second.unpaused == ["slow"])
            #expect(
                try await west.query("SELECT is_paused FROM switchyard.dags WHERE dag_id = 'slow'").first?["is_paused"]
                    .bool == false)
            #expect(
                try await west.query("SELECT count(*) AS n FROM switchyard.dag_run").first?["n"].require(Int.self) == 3)
        }
    }

    /// A failover from the shadow takes only the copies of the source's current active period: an older
    /// copy (the source failed over and back since, and no copy has landed yet) holds runs that moved on
    /// then and may have finished. The current period is the epoch of the failover that last activated it.
    @Test func shadowCopiesOfAnEarlierActivePeriodAreLeftOut() async throws {
        try await DevFixture.with(regions: 2, dags: fastDAGs) { f in
            let west = try await f.connect("eu-west")
            for (run, epoch) in [("moved-long-ago", 1), ("current", 3)] {
                try await west.query(
                    "INSERT INTO switchyard.shadow_dag_run (source_region, source_epoch, dag_id, run_id, run_type, state, run_after) VALUES ('us-east', $1, 'slow', $2, 'manual', 'running', now())",
                    [.int(epoch), .text(run)])
            }
            try await west.query(
                "INSERT INTO switchyard.shadow_sync (source_region, source_epoch, rows, synced_at) VALUES ('us-east', 3, 1, now() - interval '2 seconds')"
            )
            // us-east was activated at epoch 3 by failover 2 (failover 1 moved it away at epoch 2; failover 3,
            // which never activated it, does not count).
            let control = try await f.connectControl()
            for (id, to, epoch, activated) in [
                (1, "eu-west", 2, true), (2, "us-east", 3, true), (3, "us-east", 4, false),
            ] {
                try await control.query(
                    "INSERT INTO switchyard.failovers (id, kind, to_region, reason, state, epoch) VALUES ($1, 'failover', $2, 'test', 'completed', $3)",
                    [.int(id), .text(to), .int(epoch)])
                if activated {
                    try await control.query(
                        "INSERT INTO switchyard.failover_steps (failover_id, step, finished_at) VALUES ($1, 'activate', now())",
                        [.int(id)])
                }
            }
            #expect(try await ControlStore.activationEpoch(control, region: "us-east", before: 4) == 3)
            #expect(try await ControlStore.activationEpoch(control, region: "us-east", before: 2) == 1)
            #expect(try await ControlStore.activationEpoch(control, region: "eu-west", before: 4) == 2)

            let report = try await RunMigrator.migrate(
                from: "us-east", to: "eu-west", source: .shadow(region: "us-east", epoch: 3), target: west,
                targetTable: "switchyard.dag_run", preset: .builtin, dryRun: false)
            #expect(report.found == 1 && report.copied == 1 && report.shadowStale == 1)
            #expect(report.shadowAgeMs.map { $0 >= 2000 } == true, "\(String(describing: report.shadowAgeMs))")
            #expect(
                try await west.query("SELECT run_id FROM switchyard.dag_run").rows.map { $0["run_id"].string }
                    == ["current"])
            // A period no copy reached: nothing to take, and no age to report.
            let none = try await RunMigrator.migrate(
                from: "us-east", to: "eu-west", source: .shadow(region: "us-east", epoch: 5), target: west,
                targetTable: "switchyard.dag_run", preset: .builtin, dryRun: true)
            #expect(none.found == 0 && none.shadowAgeMs == nil && none.shadowStale == 2)
        }
    }

    @Test func airflowPresetRemapsDagVersionsAndClearsBackfills() async throws {
        let server = try await TestServers.shared.postgres()
        let admin = try await server.connect()
        let suffix = UInt32.random(in: 0...UInt32.max)
        for db in ["af_src_\(suffix)", "af_dst_\(suffix)"] { try await admin.query("CREATE DATABASE \(db)") }
        func connect(_ db: String) async throws -> PostgresConnection {
            try await PostgresConnection.connect(server.dsn(database: db))
        }
        let src = try await connect("af_src_\(suffix)")
        let dst = try await connect("af_dst_\(suffix)")
        // The parts of Apache Airflow 3's schema that matter here.
        let schema = """
            CREATE TABLE dag (dag_id varchar(250) PRIMARY KEY);
            CREATE TABLE dag_version (id uuid PRIMARY KEY, dag_id varchar(250) NOT NULL REFERENCES dag, version_number int NOT NULL);
            CREATE TABLE backfill (id serial PRIMARY KEY);
            CREATE TABLE dag_run (
                id serial PRIMARY KEY, dag_id varchar(250) NOT NULL, queued_at timestamptz, logical_date timestamptz,
                start_date timestamptz, end_date timestamptz, state varchar(50), run_id varchar(250) NOT NULL,
                creating_job_id int, run_type varchar(50) NOT NULL, triggered_by varchar(50), conf jsonb,
                data_interval_start timestamptz, data_interval_end timestamptz, run_after timestamptz NOT NULL,
                last_scheduling_decision timestamptz, updated_at timestamptz, clear_number int NOT NULL DEFAULT 0,
                backfill_id int REFERENCES backfill, created_dag_version_id uuid REFERENCES dag_version,
                UNIQUE (dag_id, run_id), UNIQUE (dag_id, logical_date));
            """
        try await src.simpleQuery(schema)
        try await dst.simpleQuery(schema)
        try await src.simpleQuery(
            """
            INSERT INTO dag VALUES ('etl'), ('report');
            INSERT INTO dag_version VALUES ('00000000-0000-0000-0000-000000000001', 'etl', 1);
            INSERT INTO backfill DEFAULT VALUES;
            INSERT INTO dag_run (dag_id, run_id, run_type, run_after, logical_date, state, backfill_id, created_dag_version_id, clear_number)
            VALUES ('etl', 'scheduled__1', 'scheduled', now(), now() - interval '1 hour', 'running', 1, '00000000-0000-0000-0000-000000000001', 2),
                   ('etl', 'scheduled__2', 'scheduled', now(), now(), 'queued', NULL, '00000000-0000-0000-0000-000000000001', 0),
                   ('report', 'manual__1', 'manual', now(), NULL, 'queued', NULL, NULL, 0),
                   ('etl', 'scheduled__0', 'scheduled', now(), now() - interval '2 hours', 'success', NULL, NULL, 0);
            """)
        try await dst.simpleQuery(
            """
            INSERT INTO dag VALUES ('etl');
            INSERT INTO dag_version VALUES ('00000000-0000-0000-0000-00000000000a', 'etl', 1), ('00000000-0000-0000-0000-00000000000b', 'etl', 2);
            INSERT INTO dag_run (dag_id, run_id, run_type, run_after, state) VALUES ('etl', 'target_only', 'manual', now(), 'success');
            """)
        let report = try await RunMigrator.migrate(
            from: "a", to: "b", source: .table(src, table: "public.dag_run"), target: dst,
            targetTable: "public.dag_run",
            preset: .airflow, dryRun: false)
        #expect(report.found == 3 && report.copied == 3)
        #expect(report.orphaned == ["report/manual__1"])
        #expect(!report.columns.contains("id"))
        let rows = try await dst.query(
            "SELECT run_id, state, backfill_id, created_dag_version_id::text AS v, clear_number, id FROM dag_run WHERE run_id <> 'target_only' ORDER BY run_id"
        ).rows
        #expect(
            try rows.map { try $0["run_id"].require(String.self) } == ["manual__1", "scheduled__1", "scheduled__2"])
        for row in rows {
            #expect(row["state"].string == "queued")
            #expect(row["backfill_id"].isNull)
        }
        #expect(rows[1]["v"].string == "00000000-0000-0000-0000-00000000000b")  // the target's latest version of etl
        #expect(rows[0]["v"].isNull)  // the target has no version of report
        #expect(rows[1]["clear_number"].int == 2)
        #expect(Set(try rows.map { try $0["id"].require(Int.self) }).count == 3)
        let again = try await RunMigrator.migrate(
            from: "a", to: "b", source: .table(src, table: "public.dag_run"), target: dst,
            targetTable: "public.dag_run",
            preset: .airflow, dryRun: false)
        #expect(again.copied == 0)
    }

    /// An Airflow region's shadow (its old database dead): what the last copy read of the runs in flight moves
    /// with their task instances, as from the database itself. A finished task stays finished and is not
    /// run again; a running one is reset to run as its next try; a copy of an earlier active period is left
    /// out; the DAG's next-run fields come with it.
    @Test func anAirflowShadowCarriesTaskInstancesAndTheSchedule() async throws {
        let server = try await TestServers.shared.postgres()
        let admin = try await server.connect()
        let suffix = UInt32.random(in: 0...UInt32.max)
        for db in ["afs_src_\(suffix)", "afs_dst_\(suffix)"] { try await admin.query("CREATE DATABASE \(db)") }
        await admin.close()
        let src = try await PostgresConnection.connect(server.dsn(database: "afs_src_\(suffix)"))
        let dst = try await PostgresConnection.connect(server.dsn(database: "afs_dst_\(suffix)"))
        // The parts of Apache Airflow 3's schema that matter here.
        let schema = """
            CREATE TABLE dag (dag_id varchar(250) PRIMARY KEY, is_paused boolean, next_dagrun timestamptz);
            CREATE TABLE dag_version (id uuid PRIMARY KEY, dag_id varchar(250) NOT NULL REFERENCES dag, version_number int NOT NULL);
            CREATE TABLE dag_run (
                id serial PRIMARY KEY, dag_id varchar(250) NOT NULL, logical_date timestamptz, end_date timestamptz,
                state varchar(50), run_id varchar(250) NOT NULL, run_type varchar(50) NOT NULL, run_after timestamptz NOT NULL,
                created_dag_version_id uuid REFERENCES dag_version, UNIQUE (dag_id, run_id), UNIQUE (dag_id, logical_date));
            CREATE TABLE task_instance (
                id uuid PRIMARY KEY, task_id varchar(250) NOT NULL, dag_id varchar(250) NOT NULL, run_id varchar(250) NOT NULL,
                map_index int NOT NULL DEFAULT -1, try_number int, state varchar(20), start_date timestamptz, end_date timestamptz,
                hostname varchar(1000), dag_version_id uuid NOT NULL REFERENCES dag_version, updated_at timestamptz,
                UNIQUE (dag_id, task_id, run_id, map_index));
            """
        try await src.simpleQuery(schema)
        try await dst.simpleQuery(schema)
        _ = try await Migrator.migrate(dst, kind: .region)
        try await src.simpleQuery(
            """
            INSERT INTO dag VALUES ('etl', false, '2026-12-07 04:00+00');
            INSERT INTO dag_version VALUES ('00000000-0000-0000-0000-000000000001', 'etl', 1);
            INSERT INTO dag_run (dag_id, run_id, run_type, run_after, logical_date, state, end_date) VALUES
                ('etl', 'scheduled__1', 'scheduled', now(), '2026-12-07 01:00+00', 'success', now()),
                ('etl', 'scheduled__2', 'scheduled', now(), '2026-12-07 02:00+00', 'running', NULL),
                ('etl', 'scheduled__3', 'scheduled', now(), '2026-12-07 03:00+00', 'success', now());
            INSERT INTO task_instance (id, task_id, dag_id, run_id, try_number, state, start_date, end_date, hostname, dag_version_id) VALUES
                (gen_random_uuid(), 'extract', 'etl', 'scheduled__2', 1, 'success', now() - interval '9 seconds', now() - interval '8 seconds', 'a1', '00000000-0000-0000-0000-000000000001'),
                (gen_random_uuid(), 'transform', 'etl', 'scheduled__2', 2, 'running', now() - interval '3 seconds', NULL, 'a1', '00000000-0000-0000-0000-000000000001');
            """)
        try await dst.simpleQuery(
            """
            INSERT INTO dag VALUES ('etl', true, '2026-12-07 00:00+00');
            INSERT INTO dag_version VALUES ('00000000-0000-0000-0000-00000000000b', 'etl', 1);
            """)
        // The failover leader's shadow sync, while `a` is active at epoch 3: a copy into the standby `b`.
        func region(_ name: String, _ database: String) -> RegionConfig {
            RegionConfig(
                name: name, priority: 1, databaseDSN: server.dsn(database: database), redis: nil,
                schedulers: .init(), runs: RunsConfig(preset: .airflow))
        }
        let warm = WarmConnections()
        let rows = try await ShadowSync.sync(
            active: region("a", "afs_src_\(suffix)"), epoch: 3, standbys: [region("b", "afs_dst_\(suffix)")],
            warm: warm)
        await warm.closeAll()
        #expect(rows == 1)
        let parts = try await dst.query(
            "SELECT part FROM switchyard.shadow_airflow WHERE source_region = 'a' AND source_epoch = 3 ORDER BY part"
        ).rows.compactMap { $0["part"].string }
        #expect(parts == ["dag", "dag_run", "schedule_run", "task_instance"], "\(parts)")
        // The source is gone: only the shadow is read. A failover that wants another period finds nothing.
        await src.close()
        let other = try await RunMigrator.migrate(
            from: "a", to: "b", source: .shadow(region: "a", epoch: 5), target: dst, targetTable: "public.dag_run",
            preset: .airflow, dryRun: true)
        #expect(other.found == 0 && other.shadowStale == 1)
        let report = try await RunMigrator.migrate(
            from: "a", to: "b", source: .shadow(region: "a", epoch: 3), target: dst, targetTable: "public.dag_run",
            preset: .airflow, dryRun: false)
        #expect(report.source == "shadow" && report.found == 1 && report.copied == 1)
        #expect(report.taskInstancesCopied == 2 && report.taskInstancesReset == 1)
        #expect(report.scheduleRunsCopied == 1 && report.scheduleDags == 1)
        let tasks = try await dst.query(
            "SELECT task_id, state, try_number, hostname, dag_version_id::text AS v FROM public.task_instance ORDER BY task_id"
        ).rows
        #expect(tasks.map { $0["task_id"].string } == ["extract", "transform"])
        #expect(tasks[0]["state"].string == "success" && tasks[0]["hostname"].string == "a1")
        #expect(tasks[1]["state"].isNull && tasks[1]["try_number"].int == 2 && tasks[1]["hostname"].isNull)
        #expect(tasks.allSatisfy { $0["v"].string == "00000000-0000-0000-0000-00000000000b" })
        // The schedule's tail from the oldest unfinished run on (the one after it, finished), not the one before.
        let runs = try await dst.query("SELECT run_id, state FROM public.dag_run ORDER BY run_id").rows
        #expect(
            runs.map { "\($0["run_id"].string ?? "") \($0["state"].string ?? "")" } == [
                "scheduled__2 queued", "scheduled__3 success",
            ])
        let dag = try await dst.query("SELECT is_paused, next_dagrun AT TIME ZONE 'UTC' AS n FROM public.dag").first
        #expect(dag?["is_paused"].bool == false && dag?["n"].string?.hasPrefix("2026-12-07 04:00:00") == true)
        await dst.close()
    }
}
