import Foundation
import Postgres
import SwitchyardCore

/// The dedicated libpq session that holds a region's leadership advisory lock.
///
/// Every setting that bounds how long a dead, frozen or cut-off holder keeps the lock is set on
/// this session (safety invariant 3): libpq keepalives, `tcp_user_timeout` and `connect_timeout`
/// in the connection string; server-side `idle_session_timeout` (the only route that frees the
/// lock of a SIGSTOPped client, whose kernel keeps answering TCP), the same for a session frozen
/// inside a transaction, server-side keepalives and `tcp_user_timeout` (for a partition), and
/// `statement_timeout` / `lock_timeout`. Every leader write goes through this same session.
public struct LockSession: Sendable {
    /// The open session.
    public let connection: PostgresConnection
    /// The region whose leadership this session contends for.
    public let region: String
    let settings: ElectionConfig

    /// The advisory lock key: a fixed class id ("SWYD") and the region's name hash.
    static let lockClass = 1_398_233_412

    /// Opens the session with every timeout and keepalive applied.
    public static func open(dsn: String, region: String, node: String, settings: ElectionConfig) async throws
        -> LockSession
    {
        let connection = try await PostgresConnection.connect(
            conninfo(dsn: dsn, node: node, settings: settings), timeout: settings.connectTimeout,
            defaultTimeout: settings.statementTimeout + .milliseconds(500), name: "lock-\(region)")
        return try await configure(connection, region: region, settings: settings)
    }

    /// A connector for `open(using:)`: across a WAN, where a connect can cost about `connect_timeout`,
    /// an attempt the caller stopped waiting for goes on and the next `open` takes it up.
    public static func connector(dsn: String, region: String, node: String, settings: ElectionConfig)
        -> PostgresConnector
    {
        PostgresConnector(
            conninfo(dsn: dsn, node: node, settings: settings),
            lifetime: max(PostgresConnector.defaultLifetime, settings.connectTimeout),
            defaultTimeout: settings.statementTimeout + .milliseconds(500), name: "lock-\(region)")
    }

    /// Opens the session through `connector`, waiting `connect_timeout` for the connection.
    public static func open(using connector: PostgresConnector, region: String, settings: ElectionConfig)
        async throws -> LockSession
    {
        let connection = try await connector.connect(waiting: settings.connectTimeout)
        return try await configure(connection, region: region, settings: settings)
    }

    static func conninfo(dsn: String, node: String, settings: ElectionConfig) -> String {
        ConnInfo.appending(
            dsn,
            [
                ("keepalives", "1"),
                ("keepalives_idle", String(settings.keepalivesIdle.wholeSecondsRoundedUp())),
                ("keepalives_interval", String(settings.keepalivesInterval.wholeSecondsRoundedUp())),
                ("keepalives_count", String(settings.keepalivesCount)),
                ("tcp_user_timeout", String(settings.tcpUserTimeout.wholeMilliseconds)),
                ("connect_timeout", String(settings.connectTimeout.wholeSecondsRoundedUp(minimum: 2))),
                ("application_name", "switchyard-lock-\(node)"),
            ])
    }

    private static func configure(_ connection: PostgresConnection, region: String, settings: ElectionConfig)
        async throws -> LockSession
    {
        let idle = settings.idleSessionTimeout.wholeMilliseconds
        do {
            try await connection.simpleQuery(
                """
                    SET idle_session_timeout = \(idle);
                SET idle_in_transaction_session_timeout = \(idle);
                SET statement_timeout = \(settings.statementTimeout.wholeMilliseconds);
                SET lock_timeout = \(settings.lockWait.wholeMilliseconds);
                SET tcp_keepalives_idle = \(settings.keepalivesIdle.wholeSecondsRoundedUp());
                SET tcp_keepalives_interval = \(settings.keepalivesInterval.wholeSecondsRoundedUp());
                SET tcp_keepalives_count = \(settings.keepalivesCount);
                SET tcp_user_timeout = \(settings.tcpUserTimeout.wholeMilliseconds);
                """)
        } catch {
            await connection.close()
            throw error
        }
        return LockSession(connection: connection, region: region, settings: settings)
    }

    /// Waits for the lock up to `lock_wait`: true when this session now holds it, false when the
    /// wait timed out (SQLSTATE 55P03) and the caller should wait again. Any other error leaves the
    /// session in an unknown state: the caller closes it and reconnects (a cancelled acquire can
    /// still have been granted, so the session must not be reused).
    public func acquire() async throws -> Bool {
        do {
            try await connection.query(
                "SELECT pg_advisory_lock($1, hashtext($2))", [.int(Self.lockClass), .text(region)],
                timeout: settings.lockWait + settings.statementTimeout)
            return true
        } catch let error as PostgresError where error.sqlState == "55P03" {
            return false
        }
    }

    /// Releases the lock explicitly (voluntary hand-off) and tells listeners.
    /// With `execStoppedAt`, first records that this leader's `--exec` command has exited (its successor
    /// then starts its own without waiting out the command's grace).
    public func release(node: String, execStoppedAt epoch: Int? = nil) async throws {
        if let epoch {
            try await connection.query(
                "UPDATE switchyard.leadership SET exec_stopped_epoch = $1 WHERE id = 1 AND epoch = $1", [.int(epoch)])
        }
        try await connection.query(
            "SELECT pg_advisory_unlock($1, hashtext($2))", [.int(Self.lockClass), .text(region)])
        try await connection.query(
            "SELECT pg_notify($1, $2)", [.text(Self.channel(region)), .text("released by \(node)")])
    }

    /// The NOTIFY channel on which leadership changes of `region` are announced.
    /// Keeps the session (and so the lock) from `idle_session_timeout` while the leader hands off: it
    /// waits for its `--exec` command to stop, which may take the command's whole grace.
    public func keepAlive() async throws {
        try await connection.query("SELECT 1", timeout: .seconds(1))
    }

    /// The LISTEN/NOTIFY channel on which a region's leader announces a hand-off.
    public static func channel(_ region: String) -> String {
        "switchyard_leader_" + region.replacingOccurrences(of: "-", with: "_")
    }

    /// Closes the session; the server frees the lock at once.
    public func close() async { await connection.close() }
}
