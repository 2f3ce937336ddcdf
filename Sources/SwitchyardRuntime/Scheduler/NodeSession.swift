import Logging
import Postgres

/// A node's second session, for its row in `nodes` (informational heartbeats that followers, blocked
/// in the lock wait on their lock session, could not send there). Failures are logged and retried.
actor NodeSession {
    let dsn: String
    let nodeId: String
    let logger: Logger
    /// The fingerprint of the Fernet key this node gives `airflow scheduler` (`AirflowFernet`), if any.
    let airflowFernet: String?
    var connection: PostgresConnection?

    init(dsn: String, nodeId: String, airflowFernet: String? = nil, logger: Logger) {
        self.dsn = dsn
        self.nodeId = nodeId
        self.airflowFernet = airflowFernet
        self.logger = logger
    }

    func beat(role: String, epoch: Int?, kind: String = "scheduler") async {
        do {
            if connection == nil {
                connection = try await PostgresConnection.connect(
                    dsn, timeout: .seconds(2), defaultTimeout: .seconds(2), name: "node-\(nodeId)")
            }
            if let connection {
                try await RegionStore.heartbeatNode(
                    connection, node: nodeId, kind: kind, role: role, epoch: epoch, airflowFernet: airflowFernet)
            }
        } catch {
            logger.debug("node heartbeat failed", metadata: ["error": "\(error)"])
            await connection?.close()
            connection = nil
        }
    }

    func close() async {
        await connection?.close()
        connection = nil
    }
}
