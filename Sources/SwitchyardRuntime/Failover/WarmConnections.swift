import Postgres
import Synchronization

/// Connections to the region databases that the failover leader keeps open: its shadow sync uses
/// them every `shadow_interval`, and a failover borrows the old region's to fence it and read its
/// runs. A database whose postmaster hangs accepts no new connection but still serves the ones it
/// has, so a failover that can borrow one fences the region in its own database instead of waiting
/// out its lease (and copies its exact active runs instead of the shadow). A connection is used by
/// one task at a time: it is taken out of the pool and put back after.
public final class WarmConnections: Sendable {
    private let pool = Mutex<[String: PostgresConnection]>([:])
    private let connectors = Mutex<[String: PostgresConnector]>([:])
    /// Set by `closeAll` (the leadership ended): late callers get cancelled connectors and their connections closed.
    private let closed = Mutex(false)

    /// The region's connector, for the shadow sync and the failover steps: a connect to a far database that
    /// outlasts its caller's wait goes on, and the next try takes it up instead of starting again from TCP.
    /// Callers set their own statement deadline on what they get (`defaultTimeout` is the first caller's).
    func connector(_ region: String, dsn: String, defaultTimeout: Duration) -> PostgresConnector {
        if closed.withLock({ $0 }) {
            let refused = PostgresConnector(dsn, name: "warm-\(region)")
            refused.cancel()
            return refused
        }
        return connectors.withLock { connectors in
            if let existing = connectors[region], existing.conninfo == dsn { return existing }
            connectors[region]?.cancel()
            let made = PostgresConnector(dsn, defaultTimeout: defaultTimeout, name: "warm-\(region)")
            connectors[region] = made
            return made
        }
    }

    /// An empty pool.
    public init() {}

    /// Takes the region's connection out of the pool, if there is one.
    func take(_ region: String) -> PostgresConnection? {
        pool.withLock { $0.removeValue(forKey: region) }
    }

    /// Puts a connection back (closing any other that arrived meanwhile).
    func put(_ region: String, _ connection: PostgresConnection) {
        if closed.withLock({ $0 }) {
            Task { await connection.close() }
            return
        }
        let replaced = pool.withLock { pool in
            defer { pool[region] = connection }
            return pool[region]
        }
        if let replaced, replaced !== connection { Task { await replaced.close() } }
    }

    /// Takes every connection out (for a shadow sync).
    func takeAll() -> [String: PostgresConnection] {
        pool.withLock { pool in
            defer { pool = [:] }
            return pool
        }
    }

    /// Closes every connection in the pool.
    func closeAll() async {
        closed.withLock { $0 = true }
        let connectors = connectors.withLock { connectors in
            defer { connectors = [:] }
            return Array(connectors.values)
        }
        for connector in connectors { connector.cancel() }
        for connection in takeAll().values { await connection.close() }
    }
}
