import CLibPQ

extension PostgresConnection {
    /// Subscribes this connection to a channel (`LISTEN`).
    public func listen(_ channel: String) async throws(PostgresError) {
        try await query("LISTEN \(Self.quoteIdentifier(channel))")
    }

    /// Unsubscribes from a channel (`UNLISTEN`).
    public func unlisten(_ channel: String) async throws(PostgresError) {
        try await query("UNLISTEN \(Self.quoteIdentifier(channel))")
    }

    /// Sends a notification (`pg_notify`), delivered when the current transaction commits.
    public func notify(_ channel: String, payload: String = "") async throws(PostgresError) {
        try await query("SELECT pg_notify($1, $2)", [.text(channel), .text(payload)])
    }

    /// Returns the next notification, waiting up to `timeout`; nil when none arrived in time.
    ///
    /// Waiting for a notification is not a failed exchange, so the connection stays open.
    public func nextNotification(timeout: Duration) async throws(PostgresError) -> PostgresNotification? {
        let deadline = ContinuousClock.now + timeout
        while true {
            if !pendingNotifications.isEmpty { return pendingNotifications.removeFirst() }
            let conn = try requireConnection("wait for notification")
            guard waitSocket(read: true, write: false, deadline: deadline) else { return nil }
            if PQconsumeInput(conn) == 0 { throw failure("wait for notification") }
            collectNotifications()
            try checkAlive("wait for notification", after: nil)
        }
    }

    /// Moves every notification libpq has parsed into the pending queue.
    func collectNotifications() {
        guard let connection else { return }
        while let notify = PQnotifies(connection) {
            let n = notify.pointee
            pendingNotifications.append(
                PostgresNotification(
                    channel: String(cString: n.relname), payload: n.extra.map { String(cString: $0) } ?? "",
                    backendPID: n.be_pid))
            PQfreemem(notify)
        }
    }

    /// Double-quotes an identifier for SQL.
    public static func quoteIdentifier(_ name: String) -> String {
        "\"" + name.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }

    /// Single-quotes a literal for SQL (for the rare statements that take no parameters, like SET).
    public static func quoteLiteral(_ text: String) -> String {
        "'" + text.replacingOccurrences(of: "'", with: "''") + "'"
    }
}
