import Foundation
import Postgres
import SwitchyardCore

/// Keeps each standby's shadow in step with the active region's active runs, so a failover whose
/// source database is dead loses at most one `shadow_interval` of run state: `shadow_dag_run` for our
/// runs, `shadow_airflow` for an Airflow region (its runs with their task instances and its schedule,
/// as a migration from its database would read them: `AirflowSnapshot`).
enum ShadowSync {
    static let columns =
        "dag_id, run_id, run_type, state, logical_date, run_after, data_interval_start, data_interval_end, queued_at, start_date, conf, triggered_by"

    /// The active region's database could not be read: nothing was copied, the standbys' connections are kept.
    struct SourceFailed: Error, CustomStringConvertible {
        var region: String
        var reason: String
        var description: String { "reading \(region)'s active runs failed: \(reason)" }
    }

    /// Copies `active`'s active runs into every standby's shadow table (replacing the previous copy),
    /// each row marked with `epoch`, the cluster epoch `active` is active at, and the copy's time recorded
    /// in `shadow_sync`: a failover migrating from the shadow takes only this active period's copies.
    /// Each region's connection comes from `warm` and goes back to it as soon as its part is done, so a
    /// failover that begins while the copy waits on a silent active region still finds the standbys'
    /// connections warm; a connection that failed is closed, the others are kept.
    static func sync(active: RegionConfig, epoch: Int, standbys: [RegionConfig], warm: WarmConnections)
        async throws -> Int
    {
        func connection(_ region: RegionConfig) async throws -> PostgresConnection {
            if let c = warm.take(region.name) {
                if await c.isOpen {
                    await c.setDefaultTimeout(.seconds(5))  // a failover may have lent it a longer one
                    return c
                }
                await c.close()
            }
            let fresh = try await warm.connector(region.name, dsn: region.databaseDSN, defaultTimeout: .seconds(5))
                .connect(waiting: .seconds(2))
            await fresh.setDefaultTimeout(.seconds(5))
            return fresh
        }
        let source: PostgresConnection
        do {
            source = try await connection(active)
        } catch {
            throw SourceFailed(region: active.name, reason: "\(error)")
        }
        if active.runs.preset == .airflow {
            return try await syncAirflow(
                active: active, epoch: epoch, standbys: standbys, warm: warm, source: source, connection: connection)
        }
        let data: [UInt8]
        do {
            data = try await source.copyOut(
                "COPY (SELECT \(PostgresConnection.quoteLiteral(active.name)), \(epoch), \(columns) FROM \(active.runs.table) WHERE state IN ('queued', 'running')) TO STDOUT"
            )
        } catch {
            await source.close()
            throw SourceFailed(region: active.name, reason: "\(error)")
        }
        warm.put(active.name, source)
        let rows = data.reduce(0) { $0 + ($1 == 10 ? 1 : 0) }
        for standby in standbys {
            guard let target = try? await connection(standby) else { continue }
            do {
                let name = active.name
                try await target.transaction { c in
                    // A fresh copy of the current active region only
                    try await c.query("DELETE FROM switchyard.shadow_dag_run")
                    if !data.isEmpty {
                        try await c.copyIn(
                            "COPY switchyard.shadow_dag_run (source_region, source_epoch, \(columns)) FROM STDIN",
                            data: data)
                    }
                    try await c.query("DELETE FROM switchyard.shadow_sync")
                    try await c.query(
                        "INSERT INTO switchyard.shadow_sync (source_region, source_epoch, rows) VALUES ($1, $2, $3)",
                        [.text(name), .int(epoch), .int(rows)])
                }
                warm.put(standby.name, target)
            } catch {
                await target.close()
            }
        }
        return rows
    }

    /// An Airflow region's shadow: for each standby, what a migration into it would read of `active`'s
    /// database (its own columns decide which), in one REPEATABLE READ snapshot, stored part by part in
    /// its `shadow_airflow` with the `shadow_sync` marker, replacing the previous copy.
    static func syncAirflow(
        active: RegionConfig, epoch: Int, standbys: [RegionConfig], warm: WarmConnections, source: PostgresConnection,
        connection: (RegionConfig) async throws -> PostgresConnection
    ) async throws -> Int {
        var rows = 0
        var sourceColumns: [String]? = nil
        for standby in standbys {
            guard let target = try? await connection(standby) else { continue }
            // The standby's columns first: one that fails here is skipped, the others still get their copy.
            let targetColumns: [String]
            do {
                targetColumns = try await RunMigrator.columns(target, table: standby.runs.table).map(\.name)
            } catch {
                await target.close()
                continue
            }
            let table = active.runs.table
            let snapshot: AirflowSnapshot
            do {
                let have: [String]
                if let sourceColumns {
                    have = sourceColumns
                } else {
                    have = try await RunMigrator.columns(source, table: table).map(\.name)
                    sourceColumns = have
                }
                let columns = RunMigrator.copiedColumns(target: targetColumns, source: have)
                guard columns.contains("dag_id"), columns.contains("run_id") else {
                    warm.put(standby.name, target)
                    continue
                }
                snapshot = try await source.transaction("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY") { c in
                    try await AirflowSnapshot.read(source: c, target: target, runTable: table, columns: columns)
                }
            } catch {
                // The reads also ask the standby which task-instance columns it has; it answered just above,
                // so a failure here is the active region's, and ends the sync as for our own runs.
                await source.close()
                warm.put(standby.name, target)
                throw SourceFailed(region: active.name, reason: "\(error)")
            }
            rows = snapshot.runCount
            do {
                let (name, count) = (active.name, rows)
                try await target.transaction { c in
                    _ = try await c.pipeline(
                        [.init("DELETE FROM switchyard.shadow_dag_run")]
                            + snapshot.storeStatements(region: name, epoch: epoch)
                            + [
                                .init("DELETE FROM switchyard.shadow_sync"),
                                .init(
                                    "INSERT INTO switchyard.shadow_sync (source_region, source_epoch, rows) VALUES ($1, $2, $3)",
                                    [.text(name), .int(epoch), .int(count)]),
                            ])
                }
                warm.put(standby.name, target)
            } catch {
                await target.close()
            }
        }
        warm.put(active.name, source)
        return rows
    }
}
