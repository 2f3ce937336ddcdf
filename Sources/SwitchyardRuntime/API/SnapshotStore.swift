import Foundation
import NIOCore
import SwitchyardCore
import Synchronization

/// What the API serves, prepared by the agent's refresh loop: the encoded `/status` body, the
/// per-region answers of the load-balancer endpoint, recent events, readiness. Requests only read
/// it; nothing is computed per request.
public final class SnapshotStore: Sendable {
    /// One state change, as `/events` serves it.
    public struct Event: Codable, Sendable {
        /// Its id (increasing).
        public var id: Int
        /// When it happened.
        public var at: Date
        /// What kind of event.
        public var kind: String
        /// The region it concerns, if one.
        public var region: String?
        /// What happened.
        public var message: String
        /// Creates an event.
        public init(id: Int, at: Date, kind: String, region: String?, message: String) {
            self.id = id
            self.at = at
            self.kind = kind
            self.region = region
            self.message = message
        }
    }

    struct State: Sendable {
        var status: ByteBuffer = ByteBuffer(
            bytes: (try? WireJSON.encoder().encode(StatusServer.ErrorBody(code: "starting", message: "no snapshot yet")))
                ?? Data())
        var document: StatusDocument?
        var activeAndHealthy: [String: Bool] = [:]
        var events: [Event] = []
        var ready = false
        var readyReason = "starting"
        var metrics: ByteBuffer = ByteBuffer()
        var trends = TrendBuffer()
        var history: [FailoverHistory] = []
    }

    private let state = Mutex(State())

    /// Creates an empty store.
    public init() {}

    /// Publishes a new snapshot.
    func publish(_ document: StatusDocument, ready: Bool, readyReason: String) {
        let body = (try? StatusDocument.encoder().encode(document)) ?? Data("{}".utf8)
        var buffer = ByteBufferAllocator().buffer(capacity: body.count)
        buffer.writeBytes(body)
        var answers: [String: Bool] = [:]
        for region in document.regions {
            answers[region.name] = region.name == document.activeRegion && region.health == .healthy
        }
        state.withLock {
            $0.status = buffer
            $0.document = document
            $0.activeAndHealthy = answers
            $0.ready = ready
            $0.readyReason = readyReason
            $0.trends.record(document)
        }
    }

    /// How many of the newest events the agent keeps for `/events`.
    static let eventsKept = 1000

    /// How many failovers the agent keeps for `/history`.
    static let historyKept = 20

    /// The newest failovers with their steps, for `/history`.
    func setHistory(_ entries: [FailoverHistory]) {
        let entries = entries.prefix(Self.historyKept).map { $0.hookURLsAsOrigins() }
        state.withLock { $0.history = entries }
    }

    /// `/history`'s body: the newest `limit` failovers with their steps.
    func historyBody(limit: Int) -> ByteBuffer {
        let entries = state.withLock { Array($0.history.prefix(limit)) }
        return ByteBuffer(bytes: (try? StatusDocument.encoder().encode(["failovers": entries])) ?? Data("{}".utf8))
    }

    /// `/trends`'s body: encoded on request (the dashboard asks every few seconds, the agent samples every second).
    func trendsBody() -> ByteBuffer {
        let trends = state.withLock { $0.trends }  // a copy: the document is built outside the lock
        let document = trends.document
        return ByteBuffer(bytes: (try? StatusDocument.encoder().encode(document)) ?? Data("{}".utf8))
    }

    /// Appends events (kept to the newest 1,000).
    func append(events new: [Event]) {
        guard !new.isEmpty else { return }
        state.withLock { s in
            s.events.append(contentsOf: new)
            if s.events.count > Self.eventsKept { s.events.removeFirst(s.events.count - Self.eventsKept) }
        }
    }

    /// The newest event id known.
    var lastEventId: Int { state.withLock { $0.events.last?.id ?? 0 } }

    func setMetrics(_ bytes: [UInt8]) {
        var buffer = ByteBufferAllocator().buffer(capacity: bytes.count)
        buffer.writeBytes(bytes)
        state.withLock { $0.metrics = buffer }
    }

    /// The `/status` body and whether a snapshot exists yet (before the first one: a JSON error).
    var statusBody: (ByteBuffer, ready: Bool) { state.withLock { ($0.status, $0.document != nil) } }
    var metricsBody: ByteBuffer { state.withLock { $0.metrics } }
    var document: StatusDocument? { state.withLock { $0.document } }
    var readiness: (Bool, String) { state.withLock { ($0.ready, $0.readyReason) } }
    /// nil: unknown region.
    func activeAndHealthy(_ region: String) -> Bool? { state.withLock { $0.activeAndHealthy[region] } }
    func events(since id: Int, limit: Int) -> [Event] {
        state.withLock { s in Array(s.events.filter { $0.id > id }.prefix(limit)) }
    }
}
