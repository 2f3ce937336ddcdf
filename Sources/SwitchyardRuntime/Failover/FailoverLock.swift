import Postgres

/// The control database's failover lock: whoever holds it (the failover leader among the agents,
/// or an operator command when no agent leads) is the only one running failovers.
public enum FailoverLock {
    static let key = "__failover__"

    /// Tries to take the lock on `control` for up to `wait`; true when held.
    public static func acquire(_ control: PostgresConnection, wait: Duration) async throws -> Bool {
        let deadline = ContinuousClock.now + wait
        repeat {
            let held =
                try await control.query(
                    "SELECT pg_try_advisory_lock($1, hashtext($2)) AS ok", [.int(LockSession.lockClass), .text(key)]
                ).first?["ok"].require(Bool.self) ?? false
            if held { return true }
            try await Task.sleep(for: .milliseconds(100))
        } while ContinuousClock.now < deadline
        return false
    }

    /// Releases the lock.
    public static func release(_ control: PostgresConnection) async throws {
        try await control.query(
            "SELECT pg_advisory_unlock($1, hashtext($2))", [.int(LockSession.lockClass), .text(key)])
    }
}
