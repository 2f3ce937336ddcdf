import Postgres

/// The observers' combined view from the control database: how many agents are live, and every
/// component a live agent does not see healthy. Drills and the failover benchmark wait on it.
public enum DeploymentHealth {
    /// Live observers (seen within `liveWithin` seconds) and, one line each, what they see unhealthy.
    public static func read(_ control: PostgresConnection, liveWithin: Double) async throws -> (observers: Int, unhealthy: [String]) {
        let observers = try await control.query(
            "SELECT count(*) AS n FROM switchyard.agents WHERE last_seen > now() - make_interval(secs => $1)", [.double(liveWithin)]
        ).first?["n"].require(Int.self) ?? 0
        let unhealthy = try await control.query(
            """
            SELECT o.observer, o.region, o.component, o.state FROM switchyard.observations o JOIN switchyard.agents a USING (observer)
            WHERE a.last_seen > now() - make_interval(secs => $1) AND o.state <> 'healthy' ORDER BY 1, 2, 3
            """, [.double(liveWithin)]
        ).rows.map { "\($0["observer"].string ?? "?") sees \($0["region"].string ?? "?") \($0["component"].string ?? "?") \($0["state"].string ?? "?")" }
        return (observers, unhealthy)
    }
}
