import Foundation
import Postgres

/// `switchyard init`: create or upgrade every schema, register regions and DAGs, and on first
/// init set the active region. Running it twice changes nothing.
public enum Initializer {
    /// A region as `init` needs it.
    public struct Region: Sendable {
        /// Name.
        public var name: String
        /// Failover priority.
        public var priority: Int
        /// Region database conninfo.
        public var dsn: String
        /// Creates a region description.
        public init(name: String, priority: Int, dsn: String) {
            self.name = name
            self.priority = priority
            self.dsn = dsn
        }
    }

    /// A DAG row as stored in each region database.
    public struct DAG: Sendable {
        /// DAG id.
        public var id: String
        /// Schedule expression as written, nil for manual.
        public var schedule: String?
        /// Command.
        public var command: String
        /// Concurrency limit.
        public var maxActiveRuns: Int
        /// Run timeout.
        public var timeout: Duration?
        /// Paused DAGs get no scheduled runs.
        public var paused: Bool
        /// Creates a DAG row.
        public init(
            id: String, schedule: String?, command: String, maxActiveRuns: Int, timeout: Duration?, paused: Bool
        ) {
            self.id = id
            self.schedule = schedule
            self.command = command
            self.maxActiveRuns = maxActiveRuns
            self.timeout = timeout
            self.paused = paused
        }
    }

    /// What `init` did, for the operator.
    public struct Report: Sendable, Codable {
        /// Migrations applied per database (`control`, region names); empty lists mean up to date.
        public var applied: [String: [Int]]
        /// The active region after init, if any.
        public var activeRegion: String?
        /// The cluster epoch after init.
        public var epoch: Int
        /// DAGs written to each region.
        public var dags: Int
    }

    /// An init that cannot proceed (for example `--active` naming a region other than the active one).
    public struct Refusal: Error, CustomStringConvertible {
        /// Why.
        public var description: String
    }

    /// Runs init against the control database and every region database.
    public static func run(controlDSN: String, regions: [Region], dags: [DAG], active: String?) async throws -> Report {
        if let active, !regions.contains(where: { $0.name == active }) {
            throw Refusal(
                description: "--active \(active): no such region (have \(regions.map(\.name).joined(separator: ", ")))")
        }
        var applied: [String: [Int]] = [:]
        let control = try await PostgresConnection.connect(
            controlDSN, defaultTimeout: .seconds(30), name: "init-control")
        return try await control.closeAfter {
            applied["control"] = try await Migrator.migrate(control, kind: .control)
            try await ControlStore.registerRegions(control, regions)
            var connections: [String: PostgresConnection] = [:]
            // Closed before returning, never in tasks left running: `init` is a one-shot command, and a close
            // still under way while the process exits races libcrypto's exit-time cleanup (a fresh-clone run saw
            // `switchyard init` die of SIGSEGV inside libcrypto on two threads at once).
            do {
                let report = try await initializeRegions(
                    control, regions: regions, dags: dags, active: active, applied: &applied, connections: &connections)
                for c in connections.values { await c.close() }
                return report
            } catch {
                for c in connections.values { await c.close() }
                throw error
            }
        }
    }

    /// The regions' schemas, DAGs and fences, on connections it opens into `connections` (the caller closes them).
    static func initializeRegions(
        _ control: PostgresConnection, regions: [Region], dags: [DAG], active: String?, applied: inout [String: [Int]],
        connections: inout [String: PostgresConnection]
    ) async throws -> Report {
        do {
            for region in regions {
                let c = try await PostgresConnection.connect(
                    region.dsn, defaultTimeout: .seconds(30), name: "init-\(region.name)")
                connections[region.name] = c
                applied[region.name] = try await Migrator.migrate(c, kind: .region)
                try await syncDAGs(c, dags)
            }
            let (activeRegion, epoch) = try await setActive(control, active: active)
            // Fences follow the control database: each region's fence carries the cluster epoch it was last
            // opened or closed with, and only the active region's is open. Idempotent, so an init interrupted
            // between the two writes is finished by the next one.
            if epoch > 0 {
                for region in regions {
                    try await connections[region.name]?.query(
                        """
                        UPDATE switchyard.fence SET cluster_epoch = $1, open = $2, reason = 'init', updated_at = now()
                        WHERE cluster_epoch < $1
                        """, [.int(epoch), .bool(region.name == activeRegion)])
                }
            }
            return Report(applied: applied, activeRegion: activeRegion, epoch: epoch, dags: dags.count)
        }
    }

    static func syncDAGs(_ c: PostgresConnection, _ dags: [DAG]) async throws {
        try await c.transaction { c in
            for dag in dags {
                try await c.query(
                    """
                    INSERT INTO switchyard.dags (dag_id, schedule, command, max_active_runs, timeout_seconds, is_paused)
                    VALUES ($1, $2, $3, $4, $5, $6)
                    ON CONFLICT (dag_id) DO UPDATE SET schedule = excluded.schedule, command = excluded.command,
                        max_active_runs = excluded.max_active_runs, timeout_seconds = excluded.timeout_seconds,
                        is_paused = excluded.is_paused, updated_at = now()
                    WHERE (switchyard.dags.schedule, switchyard.dags.command, switchyard.dags.max_active_runs,
                           switchyard.dags.timeout_seconds, switchyard.dags.is_paused)
                      IS DISTINCT FROM (excluded.schedule, excluded.command, excluded.max_active_runs,
                           excluded.timeout_seconds, excluded.is_paused)
                    """,
                    [
                        .text(dag.id), .optional(dag.schedule), .text(dag.command), .int(dag.maxActiveRuns),
                        dag.timeout.map {
                            .double(Double($0.components.seconds) + Double($0.components.attoseconds) / 1e18)
                        } ?? .null,
                        .bool(dag.paused),
                    ])
            }
            // DAGs removed from the file are removed from the region; their runs stay.
            try await c.query(
                "DELETE FROM switchyard.dags WHERE NOT (dag_id = ANY($1::text[]))",
                [.text("{" + dags.map { "\"\($0.id)\"" }.joined(separator: ",") + "}")])
        }
    }

    static func setActive(_ control: PostgresConnection, active: String?) async throws -> (String?, Int) {
        try await control.transaction { c in
            let cluster = try await ControlStore.lockCluster(c)
            let current = cluster.activeRegion
            let epoch = cluster.epoch
            guard let active else { return (current, epoch) }
            if current == active { return (current, epoch) }
            if let current {
                throw Refusal(
                    description:
                        "region \(current) is already active (epoch \(epoch)); use `switchyard switchover --to \(active)`"
                )
            }
            if epoch > 0 {
                throw Refusal(
                    description:
                        "no region is active (epoch \(epoch), a failover may be in progress); use `switchyard failover --to \(active) --force`"
                )
            }
            try await ControlStore.setInitialActive(c, active)
            return (active, 1)
        }
    }
}
