import Postgres
import SwitchyardCore

/// Probes a region's Postgres: connect (reusing the connection) and one query, within the deadline.
actor PostgresProbe {
    let connection: PostgresConnection

    init(dsn: String, region: String) {
        connection = .unconnected(
            ConnInfo.appending(dsn, [("application_name", "switchyard-probe")]), name: "probe-pg-\(region)")
    }

    func probe(timeout: Duration) async -> ProbeResult {
        let clock = ContinuousClock()
        let start = clock.now
        do {
            switch await connection.ping(timeout: timeout) {
            case .accepting: break
            case .noResponse:
                await connection.close()
                return .failed("server does not answer new connections within \(timeout)")
            case .unreachable(let why):
                await connection.close()
                return .failed(why)
            }
            if await !connection.isOpen { try await connection.reconnect(timeout: max(.milliseconds(1), timeout - (clock.now - start))) }
            let row = try await connection.query(
                """
                SELECT pg_is_in_recovery() AS r,
                       CASE WHEN pg_is_in_recovery()
                            THEN coalesce(extract(epoch FROM now() - pg_last_xact_replay_timestamp())::float8, 0) END AS lag
                """, timeout: max(.milliseconds(1), timeout - (clock.now - start))
            ).first
            var detail = ComponentDetail()
            detail.in_recovery = try row?["r"].require(Bool.self)
            detail.replication_lag_seconds = try row?["lag"].optional(Double.self)
            return .ok(clock.now - start, detail)
        } catch {
            await connection.close()
            return .failed("\(error)")
        }
    }
}
