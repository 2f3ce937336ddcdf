import Foundation
import Logging
import Postgres
import Redis
import SwitchyardCore

/// `switchyard worker --region R`: consumes the region's dispatch stream with a consumer group and
/// runs each run's command.
///
/// A message with an epoch below the region's fence is dropped (its run is dispatched again by the
/// current leader). A run is claimed with a compare-and-set on its dispatch id, so one dispatch runs
/// once; the outcome is recorded only if the run is still the one this worker claimed. Messages of
/// a dead worker are reclaimed (XAUTOCLAIM) and its run taken over once its heartbeat is stale.
public final class Worker: Sendable {
    let configuration: Configuration
    let region: RegionConfig
    /// This worker's node id and consumer name.
    public let workerId: String
    let shutdown: ShutdownSignal
    let logger: Logger
    /// A claimant whose heartbeat is older than this is dead; its runs and messages are taken over.
    let staleAfter: Duration
    static let group = "switchyard-workers"
    /// Its fence checks, its command's kill grace, and how long it trusts a fence it read.
    var timing: SafetyTiming { SafetyTiming(configuration.controlPlane) }

    /// What its commands' environment starts from (`CommandEnvironment`: never the worker's secrets); each
    /// command adds its run's `SWITCHYARD_*` variables.
    let commandEnvironment: [String: String]

    /// Where its runs come from: the region's Redis stream.
    let redisConfig: RedisConfig

    /// Creates a worker; `run()` does the work. nil for a region without Redis (nothing is dispatched there).
    public init?(
        configuration: Configuration, region: RegionConfig, workerId: String, staleAfter: Duration,
        commandEnvironment: CommandEnvironment = CommandEnvironment(), shutdown: ShutdownSignal, logger: Logger
    ) {
        guard let redis = region.redis else { return nil }
        self.commandEnvironment = commandEnvironment.build(
            from: ProcessInfo.processInfo.environment, withheld: configuration.withheldVariables,
            adding: ["SWITCHYARD_REGION": region.name])
        self.redisConfig = redis
        self.configuration = configuration
        self.region = region
        self.workerId = workerId
        self.staleAfter = staleAfter
        self.shutdown = shutdown
        var logger = logger
        logger[metadataKey: "switchyard.region"] = .string(region.name)
        logger[metadataKey: "switchyard.worker"] = .string(workerId)
        self.logger = logger
    }

    var dispatcher: RunDispatcher { RunDispatcher(region: region.name, stream: redisConfig.stream) }

    /// Consumes until shutdown; a run in progress finishes first.
    public func run() async {
        logger.info("worker starting")
        let node = NodeSession(dsn: region.databaseDSN, nodeId: workerId, logger: logger)
        while !shutdown.requested {
            do {
                let redis = try await RedisConnector.connect(
                    redisConfig, commandTimeout: .seconds(5), name: "worker-redis")
                let db = try await PostgresConnection.connect(
                    region.databaseDSN, timeout: .seconds(3), defaultTimeout: .seconds(10), name: "worker-db")
                defer {
                    Task {
                        await redis.close(); await db.close()
                    }
                }
                try await ensureGroup(redis)
                try await releaseOrphanedClaims(db)
                await node.beat(role: "worker", epoch: nil, kind: "worker")
                var lastReclaim = ContinuousClock.now - .seconds(60)
                var lastBeat = ContinuousClock.now
                while !shutdown.requested {
                    if ContinuousClock.now - lastBeat >= .seconds(1) {
                        await node.beat(role: "worker", epoch: nil, kind: "worker")
                        lastBeat = .now
                    }
                    if ContinuousClock.now - lastReclaim >= staleAfter / 2 {
                        for entry in try await reclaim(redis) {
                            try await handle(entry, redis: redis, db: db, node: node)
                        }
                        lastReclaim = .now
                    }
                    for entry in try await read(redis) { try await handle(entry, redis: redis, db: db, node: node) }
                }
            } catch {
                logger.warning("worker connection failed; reconnecting", metadata: ["error": "\(error)"])
                await shutdown.sleep(.milliseconds(500))
            }
        }
        await node.beat(role: "stopped", epoch: nil, kind: "worker")
        await node.close()
        logger.info("worker stopped")
    }

    func ensureGroup(_ redis: RedisConnection) async throws {
        do {
            // From id 0: entries published before the group existed are still consumed.
            try await redis.command(["XGROUP", "CREATE", redisConfig.stream, Self.group, "0", "MKSTREAM"])
        } catch let error as RedisError where error.message.hasPrefix("BUSYGROUP") {}
    }

    struct Entry {
        var id: String
        var fields: [String: String]
    }

    func read(_ redis: RedisConnection) async throws -> [Entry] {
        let reply = try await redis.command([
            "XREADGROUP", "GROUP", Self.group, workerId, "COUNT", "1", "BLOCK", "1000", "STREAMS", redisConfig.stream,
            ">",
        ])
        guard let streams = reply.array, let first = streams.first?.array, first.count == 2,
            let entries = first[1].array
        else { return [] }
        return entries.compactMap(Self.entry)
    }

    func reclaim(_ redis: RedisConnection) async throws -> [Entry] {
        let reply = try await redis.command([
            "XAUTOCLAIM", redisConfig.stream, Self.group, workerId, String(staleAfter.wholeMilliseconds), "0-0",
            "COUNT", "16",
        ])
        guard let parts = reply.array, parts.count >= 2, let entries = parts[1].array else { return [] }
        return entries.compactMap(Self.entry)
    }

    static func entry(_ reply: RedisReply) -> Entry? {
        guard let pair = reply.array, pair.count == 2, let id = pair[0].string else { return nil }
        var fields: [String: String] = [:]
        if let flat = pair[1].array {
            var i = 0
            while i + 1 < flat.count {
                if let k = flat[i].string, let v = flat[i + 1].string { fields[k] = v }
                i += 2
            }
        }
        return Entry(id: id, fields: fields)
    }

    /// Between connections this worker executes nothing, so a run still claimed by it is orphaned: it
    /// stopped the command when it could not confirm its fence (or died and restarted) and could not
    /// record that. Unclaimed, the region's leader dispatches it again (at once under a newer epoch);
    /// without this it would stay `running` forever when the region was not failed over after all.
    /// The execution's end is unknown (the command was stopped earlier), so only its outcome is set.
    func releaseOrphanedClaims(_ db: PostgresConnection) async throws {
        // One statement: the claims and the executions change together.
        let released = try await db.query(
            """
            WITH abandoned AS (
                UPDATE switchyard.executions SET outcome = 'abandoned' WHERE worker = $1 AND finished_at IS NULL AND outcome IS NULL
            )
            UPDATE switchyard.dag_run SET worker = NULL, updated_at = now() WHERE worker = $1 AND state = 'running'
            RETURNING dag_id, run_id
            """, [.text(workerId)]
        ).rows
        if !released.isEmpty {
            logger.notice(
                "released runs this worker had claimed but no longer executes",
                metadata: [
                    "runs": "\(released.map { "\($0["dag_id"].string ?? "?")/\($0["run_id"].string ?? "?")" })"
                ])
        }
    }

    func ack(_ redis: RedisConnection, _ id: String) async throws {
        try await redis.command(["XACK", redisConfig.stream, Self.group, id])
    }
}
