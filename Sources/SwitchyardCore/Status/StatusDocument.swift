import Foundation

/// The JSON served by `GET /status` and printed by `switchyard status --json`.
/// Field names are snake_case and stable: dashboards and scripts read them.
public struct StatusDocument: Codable, Sendable, Equatable {
    /// When the agent built this snapshot.
    public var generatedAt: Date
    /// The agent (vantage point) that serves it.
    public var observer: String
    /// Whether the control database answered the last refresh.
    public var controlDbReachable: Bool
    /// The active region (nil while a failover has cleared it).
    public var activeRegion: String?
    /// The cluster epoch.
    public var epoch: Int
    /// True while automatic failover is paused.
    public var paused: Bool
    /// The running failover, if any.
    public var failoverInProgress: FailoverSummary?
    /// The active-region lease.
    public var lease: Lease?
    /// Every region, highest priority first.
    public var regions: [Region]
    /// The most recent failover or switchover.
    public var lastFailover: FailoverSummary?
    /// How this observer judges itself (Sentinel's TILT): lagging observers cast no down vote.
    public var selfHealth: SelfHealth?
    /// Since when this observer has not reached the control database (nil while it does).
    public var controlDbUnreachableSince: Date?
    /// The active region acting on its failsafe lease (the control database is unreachable to it).
    public var failsafe: Failsafe?
    /// Whether the Airflow regions agree on Variables, Connections, Pools and the Fernet key (nil: no
    /// region runs Airflow, or not checked yet).
    public var airflowConsistency: AirflowConsistency?
    /// Whether a loss of the active region with its observer would fail over by itself (nil while the control
    /// database is unreachable to this observer).
    public var failoverCapacity: FailoverCapacity?

    /// A region acting on the failsafe lease a majority of region databases confirm.
    public struct Failsafe: Codable, Sendable, Equatable {
        /// The region.
        public var region: String
        /// Since when.
        public var since: Date?
        /// The region databases whose majority confirmed the failsafe lease.
        public var confirmedBy: [String]
        /// Creates the summary.
        public init(region: String, since: Date?, confirmedBy: [String]) {
            self.region = region
            self.since = since
            self.confirmedBy = confirmedBy
        }
    }

    /// The serving observer's own health.
    public struct SelfHealth: Codable, Sendable, Equatable {
        /// True while the observer declares itself lagging (its timers or round trips overshot).
        public var lagging: Bool
        /// Why, while lagging.
        public var reason: String?
        /// Lag windows since the agent started.
        public var lagEvents: Int
        /// Probes not counted because they overlapped a lag window, since the agent started.
        public var inconclusiveProbes: Int
        /// Creates a self-health summary.
        public init(lagging: Bool, reason: String?, lagEvents: Int, inconclusiveProbes: Int) {
            self.lagging = lagging
            self.reason = reason
            self.lagEvents = lagEvents
            self.inconclusiveProbes = inconclusiveProbes
        }
    }

    /// The active-region lease as the control database holds it.
    public struct Lease: Codable, Sendable, Equatable {
        /// The region.
        public var region: String?
        /// The scheduler node that renewed it last.
        public var holder: String?
        /// The cluster epoch it was renewed at.
        public var epoch: Int
        /// When it ends.
        public var expiresAt: Date?
        /// Unexpired on the control database's clock.
        public var fresh: Bool
        /// Creates a lease summary.
        public init(region: String?, holder: String?, epoch: Int, expiresAt: Date?, fresh: Bool) {
            self.region = region
            self.holder = holder
            self.epoch = epoch
            self.expiresAt = expiresAt
            self.fresh = fresh
        }
    }

    /// One region.
    public struct Region: Codable, Sendable, Equatable {
        /// The region's name.
        public var name: String
        /// `active` or `standby`.
        public var role: String
        /// Its failover priority (higher is preferred).
        public var priority: Int
        /// This observer's view: the worst state among the critical components.
        public var health: HealthState
        /// The components whose failure makes it fail.
        public var critical: [String]
        /// `database`, `redis`, `schedulers`.
        public var components: [String: Component]
        /// The scheduler leader and its epoch, from the schedulers probe.
        public var schedulerLeader: String?
        /// Its scheduler leader's epoch.
        public var schedulerEpoch: Int?
        /// Every observer's view of this region.
        public var observers: [ObserverView]
        /// Live observers, and how many of them see the region down (what the failover decision uses).
        public var liveObservers: Int
        /// Live observers that see it down.
        public var observersSeeingDown: Int
        /// Creates a region entry.
        public init(
            name: String, role: String, priority: Int, health: HealthState, critical: [String],
            components: [String: Component], schedulerLeader: String?, schedulerEpoch: Int?,
            observers: [ObserverView], liveObservers: Int, observersSeeingDown: Int
        ) {
            self.name = name
            self.role = role
            self.priority = priority
            self.health = health
            self.critical = critical
            self.components = components
            self.schedulerLeader = schedulerLeader
            self.schedulerEpoch = schedulerEpoch
            self.observers = observers
            self.liveObservers = liveObservers
            self.observersSeeingDown = observersSeeingDown
        }
    }

    /// One component as this observer sees it.
    public struct Component: Codable, Sendable, Equatable {
        /// Its state.
        public var state: HealthState
        /// The last probe's latency.
        public var latencyMs: Double?
        /// Since when.
        public var since: Date
        /// The last failure (nil when healthy).
        public var lastError: String?
        /// What the probe read.
        public var detail: ComponentDetail
        /// While suspect or down: `positive` when the component itself said it is dead (refused, reset,
        /// shutting down, a stale heartbeat row), `silence` when nothing answered in time.
        public var evidence: Evidence?
        /// Creates a component entry.
        public init(
            state: HealthState, latencyMs: Double?, since: Date, lastError: String?, detail: ComponentDetail,
            evidence: Evidence? = nil
        ) {
            self.evidence = evidence
            self.state = state
            self.latencyMs = latencyMs
            self.since = since
            self.lastError = lastError
            self.detail = detail
        }
    }

    /// Another observer's view of a region, from the control database.
    public struct ObserverView: Codable, Sendable, Equatable {
        /// The observer.
        public var observer: String
        /// The region's health in its view.
        public var health: HealthState
        /// Each component's state in its view.
        public var components: [String: HealthState]
        /// When it last wrote.
        public var observedAt: Date
        /// It wrote within the liveness window.
        public var live: Bool
        /// For a failing view: `positive` (the target said it is dead) or `silence` (nothing answered).
        public var evidence: Evidence?
        /// Why this observer's down vote would not count now: it declares itself lagging, or it finds
        /// most regions silent since the same moment (then the silence is its own problem). Nil when it counts.
        public var discounted: String?
        /// Creates an observer view.
        public init(
            observer: String, health: HealthState, components: [String: HealthState], observedAt: Date, live: Bool,
            evidence: Evidence? = nil, discounted: String? = nil
        ) {
            self.observer = observer
            self.health = health
            self.components = components
            self.observedAt = observedAt
            self.live = live
            self.evidence = evidence
            self.discounted = discounted
        }
    }

    /// A failover or switchover from the journal.
    public struct FailoverSummary: Codable, Sendable, Equatable {
        /// The failover's id.
        public var id: Int
        /// What started it.
        public var kind: String
        /// The region it moved away from.
        public var fromRegion: String?
        /// The region it moved to.
        public var toRegion: String
        /// Why.
        public var reason: String
        /// Its state.
        public var state: String
        /// The step it is at.
        public var step: String
        /// When it began.
        public var startedAt: Date
        /// When it finished (nil while running).
        public var finishedAt: Date?
        /// Creates a summary.
        public init(
            id: Int, kind: String, fromRegion: String?, toRegion: String, reason: String, state: String,
            step: String, startedAt: Date, finishedAt: Date?
        ) {
            self.id = id
            self.kind = kind
            self.fromRegion = fromRegion
            self.toRegion = toRegion
            self.reason = reason
            self.state = state
            self.step = step
            self.startedAt = startedAt
            self.finishedAt = finishedAt
        }
    }

    /// Creates a document.
    public init(
        generatedAt: Date, observer: String, controlDbReachable: Bool, activeRegion: String?, epoch: Int,
        paused: Bool, failoverInProgress: FailoverSummary?, lease: Lease?, regions: [Region],
        lastFailover: FailoverSummary?, selfHealth: SelfHealth? = nil
    ) {
        self.selfHealth = selfHealth
        self.generatedAt = generatedAt
        self.observer = observer
        self.controlDbReachable = controlDbReachable
        self.activeRegion = activeRegion
        self.epoch = epoch
        self.paused = paused
        self.failoverInProgress = failoverInProgress
        self.lease = lease
        self.regions = regions
        self.lastFailover = lastFailover
    }

    /// The encoder the API and the CLI share (ISO dates with fractional seconds, sorted keys).
    public static func encoder(pretty: Bool = false) -> JSONEncoder {
        let encoder = WireJSON.encoder(pretty: pretty)
        encoder.dateEncodingStrategy = .custom { date, encoder in
            var container = encoder.singleValueContainer()
            try container.encode(isoMillis(date))
        }
        return encoder
    }

    /// The matching decoder.
    public static func decoder() -> JSONDecoder {
        let decoder = WireJSON.decoder()
        decoder.dateDecodingStrategy = .custom { decoder in
            let text = try decoder.singleValueContainer().decode(String.self)
            guard let date = parseIsoMillis(text) else {
                throw DecodingError.dataCorrupted(
                    .init(codingPath: decoder.codingPath, debugDescription: "bad date \(text)"))
            }
            return date
        }
        return decoder
    }

    /// `2024-05-01T12:00:00.123Z`.
    public static func isoMillis(_ date: Date) -> String {
        let ms = Int64((date.timeIntervalSince1970 * 1000).rounded(.down))
        var time = time_t(ms / 1000)
        var parts = tm()
        gmtime_r(&time, &parts)
        func two(_ v: Int32) -> String { v < 10 ? "0\(v)" : "\(v)" }
        let millis = ms % 1000
        let m = millis < 10 ? "00\(millis)" : millis < 100 ? "0\(millis)" : "\(millis)"
        return
            "\(parts.tm_year + 1900)-\(two(parts.tm_mon + 1))-\(two(parts.tm_mday))T\(two(parts.tm_hour)):\(two(parts.tm_min)):\(two(parts.tm_sec)).\(m)Z"
    }

    static func parseIsoMillis(_ text: String) -> Date? {
        // YYYY-MM-DDTHH:MM:SS.mmmZ
        let digits = text.utf8.map { Int($0) - 48 }
        guard text.utf8.count == 24 else { return nil }
        func n(_ from: Int, _ count: Int) -> Int { (from..<(from + count)).reduce(0) { $0 * 10 + digits[$1] } }
        var parts = tm()
        parts.tm_year = Int32(n(0, 4) - 1900)
        parts.tm_mon = Int32(n(5, 2) - 1)
        parts.tm_mday = Int32(n(8, 2))
        parts.tm_hour = Int32(n(11, 2))
        parts.tm_min = Int32(n(14, 2))
        parts.tm_sec = Int32(n(17, 2))
        return Date(timeIntervalSince1970: Double(timegm(&parts)) + Double(n(20, 3)) / 1000)
    }
}
