import Foundation
import Postgres
import SwitchyardCore

/// Keeps each standby's `shadow_dag_run` in step with the active region's active runs, so a
/// failover whose source database is dead loses at most one `shadow_interval` of run state.
enum ShadowSync {
    static let columns =
        "dag_id, run_id, run_type, state, logical_date, run_after, data_interval_start, data_interval_end, queued_at, start_date, conf, triggered_by"

    /// Copies `active`'s active runs into every standby's shadow table (replacing the previous copy),
    /// each row marked with `epoch`, the cluster epoch `active` is active at, and the copy's time recorded
    /// in `shadow_sync`: a failover migrating from the shadow takes only this active period's copies.
    static func sync(
        active: RegionConfig, epoch: Int, standbys: [RegionConfig], connections: inout [String: PostgresConnection]
    )
        async throws -> Int
    {
        guard active.runs.preset == .builtin else { return 0 }  // Airflow's own tables are shadowed by its replication
        func connection(_ region: RegionConfig) async throws -> PostgresConnection {
            if let c = connections[region.name], await c.isOpen { return c }
            let c = try await PostgresConnection.connect(
                region.databaseDSN, timeout: .seconds(2), defaultTimeout: .seconds(5), name: "shadow-\(region.name)")
            connections[region.name] = c
            return c
        }
        let source = try await connection(active)
        let data = try await source.copyOut(
            "COPY (SELECT \(PostgresConnection.quoteLiteral(active.name)), \(epoch), \(columns) FROM \(active.runs.table) WHERE state IN ('queued', 'running')) TO STDOUT"
        )
        let rows = data.reduce(0) { $0 + ($1 == 10 ? 1 : 0) }
        for standby in standbys {
            do {
                let target = try await connection(standby)
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
            } catch {
                await connections[standby.name]?.close()
                connections[standby.name] = nil
            }
        }
        return rows
    }
}
