import Foundation
import Postgres
import SwitchyardCore

/// The SQL a region's scheduler nodes run against their region database.
///
/// Functions that write as the leader take the lock session and run inside one transaction that
/// first checks the leadership epoch and the region fence (safety invariant 1): a backend that is
/// gone cannot write, a lock that is held means the backend is alive, and a stale epoch is refused.
public enum RegionStore {
    /// Registers or refreshes a node row (informational; not used for any safety decision).
    public static func heartbeatNode(
        _ c: PostgresConnection, node: String, kind: String = "scheduler", role: String, epoch: Int?,
        airflowFernet: String? = nil
    ) async throws {
        try await c.query(
            """
            INSERT INTO switchyard.nodes (node_id, host, pid, role, epoch, kind, last_heartbeat, airflow_fernet)
            VALUES ($1, $2, $3, $4, $5, $6, now(), $7)
            ON CONFLICT (node_id) DO UPDATE SET host = excluded.host, pid = excluded.pid, role = excluded.role,
                epoch = excluded.epoch, kind = excluded.kind, last_heartbeat = now(), airflow_fernet = excluded.airflow_fernet
            """,
            [
                .text(node), .text(ProcessInfo.processInfo.hostName), .int(Int(getpid())), .text(role),
                .optional(epoch), .text(kind), .optional(airflowFernet),
            ])
    }

    /// Increments the region's leadership epoch in the lock session: the fencing token of the new leader.
    public static func bumpEpoch(_ lock: LockSession, node: String) async throws -> Int {
        try await takeOver(lock, node: node).epoch
    }

    /// What a new leader learns about its predecessor when it bumps the epoch.
    public struct Succession: Sendable, Equatable {
        /// The new leader's epoch.
        public var epoch: Int
        /// Time from the predecessor's last heartbeat to the bump, on the database's clock (nil: none).
        public var sincePredecessorHeartbeat: Duration?
        /// True when the predecessor stopped its `--exec` command before it released the lock.
        public var predecessorStoppedExec: Bool
        /// True when the takeover itself recorded that no command of the region runs (a node without one
        /// whose predecessor's cannot be running).
        public var recordedStopped: Bool = false
    }

    /// Increments the epoch (the new leader's fencing token) and reads what the predecessor left.
    /// With `commandless`, the new leader runs no `--exec` command and records so at once
    /// (`exec_stopped_epoch` is its epoch from the start), so a failover away from the region need not wait
    /// for one to stop: but only when its predecessor's command cannot be running either (it recorded its
    /// stop, or its last heartbeat is older than `predecessorCommandBound`, `SafetyTiming.execStopBound`).
    public static func takeOver(
        _ lock: LockSession, node: String, commandless: Bool = false,
        predecessorCommandBound: Duration = .seconds(86_400)
    ) async throws -> Succession {
        let row = try await lock.connection.query(
            """
            WITH previous AS (SELECT epoch, heartbeat_at, exec_stopped_epoch FROM switchyard.leadership WHERE id = 1 FOR UPDATE)
            UPDATE switchyard.leadership l SET epoch = l.epoch + 1, leader_node = $1, since = now(), heartbeat_at = now(),
                exec_stopped_epoch = CASE WHEN $2 AND (previous.exec_stopped_epoch = previous.epoch
                                                       OR previous.heartbeat_at IS NULL
                                                       OR previous.heartbeat_at < now() - make_interval(secs => $3))
                                          THEN l.epoch + 1 ELSE l.exec_stopped_epoch END
            FROM previous WHERE l.id = 1
            RETURNING l.epoch, extract(epoch FROM now() - previous.heartbeat_at)::float8 AS since_heartbeat,
                coalesce(previous.exec_stopped_epoch = previous.epoch, false) AS stopped,
                coalesce(l.exec_stopped_epoch = l.epoch, false) AS recorded
            """, [.text(node), .bool(commandless), .double(predecessorCommandBound.secondsDouble)]
        ).first
        guard let epoch = try row?["epoch"].require(Int.self) else {
            throw PostgresError(
                code: .other, operation: "bump epoch", message: "leadership row missing: run switchyard init")
        }
        let since = try row?["since_heartbeat"].optional(Double.self).map {
            Duration.milliseconds(Int64(max(0, $0) * 1000))
        }
        return Succession(
            epoch: epoch, sincePredecessorHeartbeat: since,
            predecessorStoppedExec: try row?["stopped"].require(Bool.self) ?? false,
            recordedStopped: try row?["recorded"].require(Bool.self) ?? false)
    }

    /// Records that no leader-gated command of this leader runs now (it stopped it on a closed fence, or
    /// never started one), so a failover's fence step may count the command as stopped and hold nothing
    /// for it. Only while `epoch` leads.
    public static func recordCommandStopped(_ lock: LockSession, epoch: Int) async throws {
        try await lock.connection.query(
            "UPDATE switchyard.leadership SET exec_stopped_epoch = $1 WHERE id = 1 AND epoch = $1", [.int(epoch)])
    }

    /// Withdraws that record before the leader starts its command again, and only while the region's fence
    /// is open: true when the command may start. The fence row is read under a share lock, so this and a
    /// failover's fence write are ordered: either the fence step's census (which follows its write) sees
    /// the record withdrawn, or this sees the fence closed and the command does not start.
    public static func withdrawCommandStopped(_ lock: LockSession, epoch: Int) async throws -> Bool {
        let rows = try await lock.connection.query(
            """
            WITH f AS (SELECT open AND coalesce(hold_until <= now(), true) AS open FROM switchyard.fence WHERE id = 1 FOR SHARE)
            UPDATE switchyard.leadership l SET exec_stopped_epoch = NULL FROM f
            WHERE l.id = 1 AND l.epoch = $1 AND f.open
            RETURNING l.epoch
            """, [.int(epoch)])
        return !rows.rows.isEmpty
    }

    /// What a leader's check found.
    public enum Standing: Sendable, Equatable {
        /// Still the leader and the region fence is open: may schedule.
        case leadingOpen(clusterEpoch: Int)
        /// Still the leader but the region is fenced (a standby, or failed over): must not schedule.
        case leadingFenced
        /// Another node has a newer epoch: step down.
        case superseded(current: Int)
    }

    /// Heartbeat as leader: refreshes `heartbeat_at` only while the epoch is still ours.
    public static func leaderHeartbeat(_ lock: LockSession, epoch: Int) async throws -> Standing {
        try await lock.connection.transaction { c in try await check(c, epoch: epoch, touch: true) }
    }

    /// Reads (and with `touch` refreshes) leadership and fence, locking both rows against a concurrent
    /// epoch bump or fence change until the transaction ends.
    static func check(_ c: isolated PostgresConnection, epoch: Int, touch: Bool) async throws -> Standing {
        let row = try await c.query(
            """
            SELECT l.epoch, f.open AND coalesce(f.hold_until <= now(), true) AS open, f.cluster_epoch
            FROM switchyard.leadership l, switchyard.fence f
            WHERE l.id = 1 AND f.id = 1 FOR SHARE
            """
        ).first
        guard let row else {
            throw PostgresError(
                code: .other, operation: "check", message: "leadership or fence row missing: run switchyard init")
        }
        let current = try row["epoch"].require(Int.self)
        if current != epoch { return .superseded(current: current) }
        if touch {
            try await c.query(
                "UPDATE switchyard.leadership SET heartbeat_at = now() WHERE id = 1 AND epoch = $1", [.int(epoch)])
        }
        // A fence under a dispatch hold (a failover could not fence the old region) is not open yet: the
        // leader neither schedules nor starts its --exec command until the hold has passed.
        guard try row["open"].require(Bool.self) else { return .leadingFenced }
        return .leadingOpen(clusterEpoch: try row["cluster_epoch"].require(Int.self))
    }

    /// A write attempted with a stale epoch or through a closed fence.
    public struct Refused: Error, CustomStringConvertible {
        /// What the check found.
        public var standing: Standing
        /// Why the write was refused.
        public var description: String { "leader write refused: \(standing)" }
    }

    /// Runs `body` as a fenced leader write: inside one transaction on `connection` that first checks
    /// the epoch and the fence, throwing `Refused` (and writing nothing) when either is not ours.
    public static func fencedWrite<T: Sendable>(
        _ connection: PostgresConnection, epoch: Int,
        _ body: @escaping @Sendable (isolated PostgresConnection) async throws -> T
    ) async throws -> T {
        try await connection.transaction { c in
            let standing = try await check(c, epoch: epoch, touch: true)
            guard case .leadingOpen = standing else { throw Refused(standing: standing) }
            return try await body(c)
        }
    }

    /// Renews (or takes) `region`'s failsafe lease in one region database for `ttl`, carrying the cluster
    /// epoch at which it last held the active-region lease. Refused (false) once a failover revoked that
    /// epoch here, or while another region holds an unexpired lease at the same or a newer epoch.
    public static func renewFailsafeLease(
        _ c: PostgresConnection, region: String, clusterEpoch: Int, holder: String, ttl: Duration,
        timeout: Duration? = nil
    ) async throws -> Bool {
        try await c.query(
            """
            UPDATE switchyard.failsafe_lease
            SET region = $1, cluster_epoch = $2, holder = $3, renewed_at = now(), expires_at = now() + make_interval(secs => $4)
            WHERE id = 1 AND $2 >= revoked_below AND cluster_epoch <= $2
              AND (region IS NULL OR region = $1 OR expires_at IS NULL OR expires_at < now() OR cluster_epoch < $2)
            RETURNING revoked_below
            """, [.text(region), .int(clusterEpoch), .text(holder), .double(ttl.secondsDouble)], timeout: timeout
        ).first != nil
    }
}
