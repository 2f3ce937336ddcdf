import Foundation
import Postgres
import SwitchyardCore

/// Every statement on the control database (`RegionStore`'s counterpart): cluster state, the active-region
/// lease, observers, the failover journal, operators' requests and events. The CLI, the API, the agent,
/// the failover executor, drills and benchmarks call it and get typed records back. Functions that must
/// run together take the connection a caller's `transaction` gives them.
public enum ControlStore {
    // MARK: Cluster state

    /// The cluster row.
    public static func cluster(_ c: PostgresConnection) async throws -> ClusterState {
        try cluster(from: try await c.query(clusterSQL))
    }

    static let clusterSQL =
        "SELECT active_region, epoch, paused, now() AS now FROM switchyard.cluster_state WHERE id = 1"

    static func cluster(from result: PostgresResult) throws -> ClusterState {
        guard let row = result.first else { throw missing("cluster_state") }
        return try ClusterState(row)
    }

    /// The cluster row, locked until the transaction `c` is in ends.
    static func lockCluster(_ c: PostgresConnection) async throws -> ClusterState {
        guard
            let row = try await c.query(
                "SELECT active_region, epoch, paused, now() AS now FROM switchyard.cluster_state WHERE id = 1 FOR UPDATE"
            ).first
        else { throw missing("cluster_state") }
        return try ClusterState(row)
    }

    /// The active region, nil between a failover's begin and activate steps.
    public static func activeRegion(_ c: PostgresConnection) async throws -> String? {
        try await cluster(c).activeRegion
    }

    /// Pauses (or resumes) automatic failover; records an event only when it changed. Returns whether it did.
    public static func setPaused(_ c: PostgresConnection, _ paused: Bool, reason: String) async throws -> Bool {
        try await c.transaction { c in
            let changed = try await c.query(
                "UPDATE switchyard.cluster_state SET paused = $1, updated_at = now() WHERE id = 1 AND paused <> $1",
                [.bool(paused)]
            ).affectedRows
            if changed > 0 {
                try await ControlStore.recordEvent(
                    c, kind: paused ? "paused" : "resumed",
                    message: "automatic failover \(paused ? "paused" : "resumed"): \(reason)")
            }
            return changed > 0
        }
    }

    /// Makes `region` active at epoch 1 (`init`, inside its transaction after `lockCluster` found none active).
    static func setInitialActive(_ c: PostgresConnection, _ region: String) async throws {
        try await c.query(
            "UPDATE switchyard.cluster_state SET active_region = $1, epoch = 1, updated_at = now() WHERE id = 1",
            [.text(region)])
        try await recordEvent(c, kind: "activated", region: region, message: "init set \(region) active at epoch 1")
    }

    /// Registers the configured regions and their priorities.
    static func registerRegions(_ c: PostgresConnection, _ regions: [Initializer.Region]) async throws {
        for region in regions {
            try await c.query(
                """
                INSERT INTO switchyard.regions (name, priority) VALUES ($1, $2)
                ON CONFLICT (name) DO UPDATE SET priority = excluded.priority
                WHERE switchyard.regions.priority IS DISTINCT FROM excluded.priority
                """, [.text(region.name), .int(region.priority)])
        }
    }

    // MARK: The active-region lease

    /// Renews the active-region lease for `region` when it is the active region; returns the cluster
    /// epoch it holds it at, nil when the region is not active.
    static func renewActiveLease(_ c: PostgresConnection, region: String, holder: String, ttl: Duration) async throws
        -> Int?
    {
        try await c.query(
            """
            UPDATE switchyard.active_lease l
            SET region = $1, epoch = cs.epoch, holder = $2, renewed_at = now(),
                expires_at = now() + make_interval(secs => $3)
            FROM switchyard.cluster_state cs
            WHERE l.id = 1 AND cs.id = 1 AND cs.active_region = $1
            RETURNING cs.epoch
            """, [.text(region), .text(holder), .double(ttl.secondsDouble)]
        ).first?["epoch"].optional(Int.self)
    }

    /// The lease row.
    static let activeLeaseSQL =
        "SELECT region, holder, epoch, expires_at, coalesce(expires_at > now(), false) AS fresh FROM switchyard.active_lease WHERE id = 1"

    static func activeLease(from result: PostgresResult) throws -> LeaseRecord? {
        guard let row = result.first else { return nil }
        return LeaseRecord(
            region: try row["region"].optional(), holder: try row["holder"].optional(),
            epoch: try row["epoch"].require(),
            expiresAt: try row["expires_at"].optional(), fresh: try row["fresh"].require())
    }

    /// True unless `region` holds an unexpired active-region lease.
    static func activeLeaseEnded(_ c: PostgresConnection, region: String) async throws -> Bool {
        try await c.query(
            """
            SELECT coalesce(region IS DISTINCT FROM $1 OR expires_at IS NULL OR expires_at < now(), true) AS expired
            FROM switchyard.active_lease WHERE id = 1
            """, [.text(region)]
        ).first?["expired"].require(Bool.self) ?? true
    }

    // MARK: Events

    /// Appends an event; `detail` is stored as JSON.
    static func recordEvent(
        _ c: PostgresConnection, kind: String, region: String? = nil, message: String,
        detail: (any Encodable & Sendable)? = nil
    ) async throws {
        let json = try detail.map { String(decoding: try WireJSON.encoder().encode($0), as: UTF8.self) }
        try await c.query(
            "INSERT INTO switchyard.events (kind, region, message, detail) VALUES ($1, $2, $3, $4::jsonb)",
            [.text(kind), .optional(region), .text(message), json.map(PostgresValue.json) ?? .null])
    }

    /// An event without detail, as a statement to send with others.
    static func eventStatement(kind: String, region: String?, message: String) -> PostgresConnection.Statement {
        .init(
            "INSERT INTO switchyard.events (kind, region, message) VALUES ($1, $2, $3)",
            [.text(kind), .optional(region), .text(message)])
    }

    /// The newest event's id (0 when there is none).
    static func latestEventId(_ c: PostgresConnection) async throws -> Int {
        try await c.query("SELECT coalesce(max(id), 0) AS id FROM switchyard.events").first?["id"].require(Int.self)
            ?? 0
    }

    /// Events after `id`, oldest first.
    static func events(_ c: PostgresConnection, after id: Int, limit: Int = 500) async throws -> [SnapshotStore.Event] {
        let statement = eventsStatement(after: id, limit: limit)
        return try events(from: try await c.query(statement.sql, statement.parameters))
    }

    static func eventsStatement(after id: Int, limit: Int = 500) -> PostgresConnection.Statement {
        .init(
            "SELECT id, at, kind, region, message FROM switchyard.events WHERE id > $1 ORDER BY id LIMIT $2",
            [.int(id), .int(limit)])
    }

    static func events(from result: PostgresResult) throws -> [SnapshotStore.Event] {
        try result.rows.map { row in
            SnapshotStore.Event(
                id: try row["id"].require(), at: try row["at"].require(), kind: try row["kind"].require(),
                region: try row["region"].optional(), message: try row["message"].require())
        }
    }

    static func missing(_ table: String) -> PostgresError {
        PostgresError(
            code: .other, operation: "read \(table)", message: "switchyard.\(table) has no row: run switchyard init")
    }
}
