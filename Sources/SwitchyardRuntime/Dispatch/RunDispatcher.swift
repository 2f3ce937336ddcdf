import Redis
import SwitchyardCore

/// Publishes runs to a region's Redis stream through a Lua script that refuses an epoch lower than
/// the region's fence key (safety invariant 2). The fence key is never expired and never deleted.
public struct RunDispatcher: Sendable {
    /// The region.
    public let region: String
    /// The stream workers consume.
    public let stream: String

    /// Creates a dispatcher for a region's stream.
    public init(region: String, stream: String) {
        self.region = region
        self.stream = stream
    }

    /// `switchyard:{region}:fence`: the highest leadership epoch seen for the region.
    public var fenceKey: String { "switchyard:{\(region)}:fence" }

    /// Raises the fence to `epoch` if it is lower; returns the fence afterwards.
    static let raiseScript = RedisScript(
        """
        local fence = tonumber(redis.call('GET', KEYS[1]) or '0')
        local epoch = tonumber(ARGV[1])
        if epoch > fence then redis.call('SET', KEYS[1], ARGV[1]); return epoch end
        return fence
        """)

    /// Publishes unless the epoch is below the fence: returns {1, id} or {0, fence}.
    static let publishScript = RedisScript(
        """
        local fence = tonumber(redis.call('GET', KEYS[1]) or '0')
        local epoch = tonumber(ARGV[1])
        if epoch < fence then return {0, fence} end
        if epoch > fence then redis.call('SET', KEYS[1], ARGV[1]) end
        local id = redis.call('XADD', KEYS[2], '*', 'region', ARGV[2], 'epoch', ARGV[1], 'dag_id', ARGV[3],
            'run_id', ARGV[4], 'dispatch_id', ARGV[5])
        return {1, id}
        """)

    /// A publish refused because a newer leader raised the fence.
    public struct StaleEpoch: Error, CustomStringConvertible {
        /// The refused epoch.
        public var epoch: Int
        /// The fence that refused it.
        public var fence: Int
        /// Message.
        public var description: String { "publish with epoch \(epoch) refused: the fence is at \(fence)" }
    }

    /// Raises the region's fence to the new leader's epoch, before it publishes anything.
    @discardableResult
    public func raiseFence(_ redis: RedisConnection, epoch: Int) async throws -> Int {
        let reply = try await redis.evalCached(Self.raiseScript, keys: [fenceKey], arguments: [String(epoch)])
        return reply.int ?? 0
    }

    /// The current fence.
    public func fence(_ redis: RedisConnection) async throws -> Int {
        try await redis.command(["GET", fenceKey]).int ?? 0
    }

    /// Publishes one message; throws `StaleEpoch` when the fence is higher than its epoch.
    @discardableResult
    public func publish(_ redis: RedisConnection, _ message: DispatchMessage) async throws -> String {
        let reply = try await redis.evalCached(
            Self.publishScript, keys: [fenceKey, stream],
            arguments: [String(message.epoch), message.region, message.dagId, message.runId, message.dispatchId])
        guard let parts = reply.array, parts.count == 2 else {
            throw RedisError(code: .unexpectedReply, operation: "publish", message: "unexpected script reply")
        }
        if parts[0].int == 1, let id = parts[1].string { return id }
        throw StaleEpoch(epoch: message.epoch, fence: parts[1].int ?? 0)
    }
}
