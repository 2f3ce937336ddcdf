import Foundation
import Postgres
import SwitchyardCore
import SwitchyardRuntime

/// `switchyard bench migrate`: N active runs from one local region database to another.
public enum MigrateBench {
    /// The figures; keys as in the interface contract.
    public struct Report: Codable, Sendable {
        /// Active runs migrated.
        public var runs: Int
        /// How long the migration took.
        public var durationMs: Double
        /// Runs copied per second.
        public var runsPerSecond: Double
        /// Runs the target did not have and now has.
        public var copied: Int
    }

    /// Runs against a fresh two-region deployment in `directory`, removed afterwards.
    public static func run(directory: String, runs: Int) async throws -> Report {
        let pids = SharedPIDs()
        let outcome: Result<Report, any Error>
        do {
            let state = try await DevDeployment.up(directory: directory, regions: 2) { _ in }
            for (name, pg) in state.postgres {
                let c = try await PostgresConnection.connect(pg.conninfo(passfile: state.passfile))
                try await Migrator.migrate(c, kind: .region)
                if name == state.regions[0] {
                    try await c.query(
                        """
                        INSERT INTO switchyard.dag_run (dag_id, run_id, run_type, state, logical_date, run_after, queued_at, conf)
                        SELECT 'dag_' || (i % 50), 'scheduled__' || i, 'scheduled', CASE WHEN i % 3 = 0 THEN 'running' ELSE 'queued' END,
                               now() - make_interval(secs => i), now(), now(), '{"batch": true}'
                        FROM generate_series(1, $1) AS i
                        """, [.int(runs)], timeout: .seconds(120))
                }
                await c.close()
            }
            let source = try await PostgresConnection.connect(
                state.postgres[state.regions[0]]!.conninfo(passfile: state.passfile))
            let target = try await PostgresConnection.connect(
                state.postgres[state.regions[1]]!.conninfo(passfile: state.passfile))
            let report = try await RunMigrator.migrate(
                from: state.regions[0], to: state.regions[1], source: .table(source, table: "switchyard.dag_run"),
                target: target,
                targetTable: "switchyard.dag_run", preset: .builtin, dryRun: false)
            await source.close()
            await target.close()
            outcome = .success(
                Report(
                    runs: report.found, durationMs: report.durationMs,
                    runsPerSecond: (Double(report.found) / max(report.durationMs, 0.001) * 1000).rounded(),
                    copied: report.copied))
        } catch {
            outcome = .failure(error)
        }
        await pids.cleanUp(directory: directory)
        return try outcome.get()
    }
}
