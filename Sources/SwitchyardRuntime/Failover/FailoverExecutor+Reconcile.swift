import Foundation
import Postgres
import SwitchyardCore

extension FailoverExecutor {
    /// What `reconcile` did about one failover.
    public struct Reconciliation: Codable, Sendable, Equatable {
        /// The failover whose old database answered again.
        public var failover: Int
        /// Its old region (the copy's source).
        public var from: String
        /// Its target.
        public var to: String
        /// Runs copied to the target (queued in the old region after the shadow's last copy).
        public var copied: Int
        /// Active runs the old database held.
        public var found: Int
        /// Why nothing was copied (the target is no longer the active region at that failover's epoch).
        public var skipped: String?
    }

    /// Runs queued in the old region after the last shadow copy stay in its database when a failover
    /// cannot reach it. When that database answers again (a majority of live observers see it healthy),
    /// copies its active runs that the target still lacks into the target, as queued, and records it on
    /// the failover (`reconciled_at`) with an event: the run comes home at least once, as the migrate
    /// step would have moved it. Only while the target is still active at that failover's epoch: after
    /// another failover, "the target lacks it" no longer means "it never moved" (it may have finished in
    /// a third region), so it records the reconciliation as skipped and raises a warning that names the
    /// manual command. Called by the failover leader between decisions, never during a failover.
    public func reconcile(_ control: PostgresConnection) async throws -> [Reconciliation] {
        let pending = try await control.query(
            """
            SELECT f.id, f.from_region, f.to_region, (c.active_region = f.to_region AND c.epoch = f.epoch) AS current
            FROM switchyard.failovers f, switchyard.cluster_state c
            WHERE c.id = 1 AND f.runs_source = 'shadow' AND f.reconciled_at IS NULL AND f.from_region IS NOT NULL
              AND f.state <> 'running'
            ORDER BY f.id
            """
        ).rows
        var done: [Reconciliation] = []
        for row in pending {
            let id = try row["id"].require(Int.self)
            let from = try row["from_region"].require(String.self)
            let to = try row["to_region"].require(String.self)
            guard try row["current"].optional(Bool.self) == true else {
                let why = "\(to) is no longer the active region of failover \(id)"
                let result = Reconciliation(failover: id, from: from, to: to, copied: 0, found: 0, skipped: why)
                guard try await record(control, result) else { continue }
                try await ControlStore.recordEvent(
                    control, kind: "warning", region: from,
                    message: "failover \(id): \(from)'s runs queued after the shadow's last copy were not reconciled "
                        + "(\(why)); check them with `switchyard migrate-runs --from \(from) --to <active> --dry-run`")
                done.append(result)
                continue
            }
            // Only a database a majority of live observers see healthy (its region may still be down
            // otherwise): a dark one would cost a connect timeout per try.
            let seen = try await control.pipeline([
                ControlStore.databaseSeenStatement(
                    region: from, liveWithin: configuration.controlPlane.probes.liveWithin)
            ])
            guard try ControlStore.databaseSeenHealthy(from: seen[0]) else { continue }
            guard let source = configuration.region(named: from), let target = configuration.region(named: to) else {
                continue
            }
            let timeout = configuration.controlPlane.failover.fenceTimeout
            guard let sourceDB = try? await connect(from, timeout: timeout) else { continue }
            let report = try await sourceDB.closeAfter {
                let targetDB = try await connect(to, timeout: timeout)
                return try await targetDB.closeAfter {
                    try await RunMigrator.migrate(
                        from: from, to: to, source: .table(sourceDB, table: source.runs.table), target: targetDB,
                        targetTable: target.runs.table, preset: target.runs.preset, dryRun: false, dagFields: false)
                }
            }
            let result = Reconciliation(
                failover: id, from: from, to: to, copied: report.copied, found: report.found, skipped: nil)
            guard try await record(control, result) else { continue }
            try await ControlStore.recordEvent(
                control, kind: report.copied > 0 ? "warning" : "failover", region: to,
                message: "failover \(id): \(from)'s database answers again; copied \(report.copied) of its "
                    + "\(report.found) active runs to \(to) (queued there after the shadow's last copy)")
            logger.notice(
                "reconciled a failover that migrated from the shadow",
                metadata: ["failover": "\(id)", "copied": "\(report.copied)", "found": "\(report.found)"])
            done.append(result)
        }
        return done
    }

    /// Records a reconciliation once; false when another leader already did.
    private func record(_ control: PostgresConnection, _ result: Reconciliation) async throws -> Bool {
        let json = String(decoding: try WireJSON.encoder().encode(result), as: UTF8.self)
        return try await control.query(
            """
            UPDATE switchyard.failovers SET reconciled_at = now(), reconciliation = $2::jsonb,
                runs_moved = coalesce(runs_moved, 0) + $3
            WHERE id = $1 AND reconciled_at IS NULL
            """, [.int(result.failover), .json(json), .int(result.copied)]
        ).affectedRows == 1
    }
}
