import Foundation
import Postgres
import SwitchyardCore

/// A region's incident as the journal keeps it.
public struct IncidentRecord: Codable, Sendable, Equatable {
    /// Journal id.
    public var id: Int
    /// The failing region.
    public var region: String
    /// The key a receiver deduplicates on (`Incidents.key`).
    public var key: String
    /// Why it opened: the observers that voted the region down.
    public var reason: String
    /// First down.
    public var openedAt: Date
    /// Resolved (nil while open).
    public var resolvedAt: Date?
    /// Downs again before it resolved: counted, not notified.
    public var flaps: Int

    /// What a notification of it says, for a person.
    public func summary(action: String) -> String {
        guard action == "resolve" else { return "Switchyard: \(reason)" }
        let lasted = Int((resolvedAt ?? openedAt).timeIntervalSince(openedAt).rounded())
        let flapped = flaps == 0 ? "" : "; \(flaps) repeated downs not notified"
        return "Switchyard: \(region) recovered after \(lasted) s\(flapped)"
    }

    static let columns = "id, region, reason, opened_at, resolved_at, flaps"

    init(_ row: PostgresRow) throws {
        id = try row["id"].require()
        region = try row["region"].require()
        key = Incidents.key(region: region, id: id)
        reason = try row["reason"].require()
        openedAt = try row["opened_at"].require()
        resolvedAt = try row["resolved_at"].optional()
        flaps = try row["flaps"].require()
    }
}

extension ControlStore {
    /// The open incidents, at most one per region.
    static func openIncidents(_ c: PostgresConnection) async throws -> [Incidents.Open] {
        try await c.query(
            "SELECT id, region, healthy_since, recovered FROM switchyard.incidents WHERE resolved_at IS NULL"
        ).rows.map { row in
            Incidents.Open(
                id: try row["id"].require(), region: try row["region"].require(),
                healthySince: try row["healthy_since"].optional(), recovered: try row["recovered"].require())
        }
    }

    /// Notifications not sent yet: the trigger of an open incident, the resolve of a resolved one whose
    /// trigger was sent (a resolved incident never triggered needs neither).
    static func pendingNotifications(_ c: PostgresConnection) async throws -> [(IncidentRecord, action: String)] {
        try await c.query(
            """
            SELECT \(IncidentRecord.columns), CASE WHEN resolved_at IS NULL THEN 'trigger' ELSE 'resolve' END AS action
            FROM switchyard.incidents
            WHERE (resolved_at IS NULL AND trigger_notified_at IS NULL)
               OR (resolved_at IS NOT NULL AND trigger_notified_at IS NOT NULL AND resolve_notified_at IS NULL)
            ORDER BY id
            """
        ).rows.map { (try IncidentRecord($0), try $0["action"].require(String.self)) }
    }

    /// Marks a notification sent (its hooks answered or exhausted their retries), and counts it.
    static func markNotified(_ c: PostgresConnection, incident id: Int, action: String, failed: Bool) async throws {
        let column = action == "resolve" ? "resolve_notified_at" : "trigger_notified_at"
        try await c.query(
            """
            UPDATE switchyard.incidents SET \(column) = coalesce(\(column), now()), notifications = notifications + 1,
                notify_failures = notify_failures + CASE WHEN $2 THEN 1 ELSE 0 END WHERE id = $1
            """, [.int(id), .bool(failed)])
    }

    /// Opens an incident for `region`; nil when one is open already.
    static func openIncident(_ c: PostgresConnection, region: String, reason: String) async throws -> IncidentRecord? {
        try await c.query(
            """
            INSERT INTO switchyard.incidents (region, reason) VALUES ($1, $2)
            ON CONFLICT (region) WHERE resolved_at IS NULL DO NOTHING RETURNING \(IncidentRecord.columns)
            """, [.text(region), .text(reason)]
        ).rows.map(IncidentRecord.init).first
    }

    /// The region failed again after it recovered, before its incident resolved: one more flap, and
    /// the resolve clock stops.
    static func countFlap(_ c: PostgresConnection, incident id: Int) async throws {
        try await c.query(
            "UPDATE switchyard.incidents SET flaps = flaps + 1, healthy_since = NULL, recovered = false WHERE id = $1",
            [.int(id)])
    }

    /// Starts (a date: it recovered) or stops (nil) an open incident's resolve clock.
    static func setHealthySince(_ c: PostgresConnection, incident id: Int, _ since: Date?) async throws {
        try await c.query(
            """
            UPDATE switchyard.incidents SET healthy_since = $2::timestamptz,
                recovered = recovered OR $2::timestamptz IS NOT NULL
            WHERE id = $1 AND resolved_at IS NULL
            """, [.int(id), since.map(PostgresValue.date) ?? .null])
    }

    /// Resolves an open incident; nil when it was not open.
    static func resolveIncident(_ c: PostgresConnection, incident id: Int) async throws -> IncidentRecord? {
        try await c.query(
            """
            UPDATE switchyard.incidents SET resolved_at = now() WHERE id = $1 AND resolved_at IS NULL
            RETURNING \(IncidentRecord.columns)
            """, [.int(id)]
        ).rows.map(IncidentRecord.init).first
    }

    /// The open incident of `region`, if any.
    public static func openIncident(_ c: PostgresConnection, region: String) async throws -> IncidentRecord? {
        try await c.query(
            "SELECT \(IncidentRecord.columns) FROM switchyard.incidents WHERE region = $1 AND resolved_at IS NULL",
            [.text(region)]
        ).rows.map(IncidentRecord.init).first
    }

    /// The newest incidents, newest first.
    public static func recentIncidents(_ c: PostgresConnection, limit: Int) async throws -> [IncidentRecord] {
        try await c.query(
            "SELECT \(IncidentRecord.columns) FROM switchyard.incidents ORDER BY id DESC LIMIT $1", [.int(limit)]
        ).rows.map(IncidentRecord.init)
    }
}
