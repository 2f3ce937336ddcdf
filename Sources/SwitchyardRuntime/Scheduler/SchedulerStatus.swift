import Foundation
import Postgres

/// A region's scheduler picture, readable by anyone with access to the region database.
public struct SchedulerStatus: Codable, Sendable {
    /// One node row.
    public struct Node: Codable, Sendable {
        /// The node's id.
        public var nodeId: String
        /// `scheduler` or `worker`.
        public var kind: String
        /// `leader`, `follower` or `worker`.
        public var role: String
        /// The leadership epoch it leads at (leaders only).
        public var epoch: Int?
        /// Its process id.
        public var pid: Int
        /// When it last wrote its row.
        public var lastHeartbeat: Date
        /// How long ago that was.
        public var heartbeatAgeSeconds: Double
    }

    /// The region.
    public var region: String
    /// Current leadership epoch.
    public var epoch: Int
    /// The node that last won the lock, if any.
    public var leader: String?
    /// When it won.
    public var since: Date?
    /// Its last leader heartbeat.
    public var leaderHeartbeat: Date?
    /// Seconds since that heartbeat (server clock).
    public var leaderHeartbeatAgeSeconds: Double?
    /// Whether the region fence is open, and with which cluster epoch.
    public var fenceOpen: Bool
    /// The cluster epoch the region's fence was last set with.
    public var fenceClusterEpoch: Int
    /// Every node.
    public var nodes: [Node]

    /// Reads the status from a region database.
    public static func read(_ c: PostgresConnection, region: String) async throws -> SchedulerStatus {
        let l = try await c.query(
            """
            SELECT l.epoch, l.leader_node, l.since, l.heartbeat_at, extract(epoch FROM now() - l.heartbeat_at)::float8 AS age,
                   f.open, f.cluster_epoch
            FROM switchyard.leadership l, switchyard.fence f WHERE l.id = 1 AND f.id = 1
            """
        ).first
        let nodes = try await c.query(
            """
            SELECT node_id, kind, role, epoch, pid, last_heartbeat, extract(epoch FROM now() - last_heartbeat)::float8 AS age
            FROM switchyard.nodes ORDER BY kind, node_id
            """
        ).rows.map {
            Node(
                nodeId: try $0["node_id"].require(), kind: try $0["kind"].require(), role: try $0["role"].require(),
                epoch: try $0["epoch"].optional(), pid: try $0["pid"].require(),
                lastHeartbeat: try $0["last_heartbeat"].require(),
                heartbeatAgeSeconds: try $0["age"].require())
        }
        return SchedulerStatus(
            region: region, epoch: try l?["epoch"].require() ?? 0, leader: try l?["leader_node"].optional(),
            since: try l?["since"].optional(), leaderHeartbeat: try l?["heartbeat_at"].optional(),
            leaderHeartbeatAgeSeconds: try l?["age"].optional(), fenceOpen: try l?["open"].require() ?? false,
            fenceClusterEpoch: try l?["cluster_epoch"].require() ?? 0, nodes: nodes)
    }
}
