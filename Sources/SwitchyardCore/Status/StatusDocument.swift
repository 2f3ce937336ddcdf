import Foundation

/// The JSON served by `GET /status` and printed by `switchyard status --json`.
/// Field names are snake_case and stable: dashboards and scripts read them.
public struct StatusDocument: Codable, Sendable, Equatable {
    /// When the agent built this snapshot.
    public var generated_at: Date
    /// The agent (vantage point) that serves it.
    public var observer: String
    /// Whether the control database answered the last refresh.
    public var control_db_reachable: Bool
    /// The active region (nil while a failover has cleared it).
    public var active_region: String?
    /// The cluster epoch.
    public var epoch: Int
    /// True while automatic failover is paused.
    public var paused: Bool
    /// The running failover, if any.
    public var failover_in_progress: FailoverSummary?
    /// The active-region lease.
    public var lease: Lease?
    /// Every region, highest priority first.
    public var regions: [Region]
    /// The most recent failover or switchover.
    public var last_failover: FailoverSummary?
    /// How this observer judges itself (Sentinel's TILT): lagging observers cast no down vote.
    public var self_health: SelfHealth?
    /// Since when this observer has not reached the control database (nil while it does).
    public var control_db_unreachable_since: Date?
    /// The active region acting on its failsafe lease (the control database is unreachable to it).
    public var failsafe: Failsafe?

    /// A region acting on the failsafe lease a majority of region databases confirm.
    public struct Failsafe: Codable, Sendable, Equatable {
        /// The region.
        public var region: String
        /// Since when.
        public var since: Date?
        /// The region databases whose majority confirmed the failsafe lease.
        public var confirmed_by: [String]
        /// Creates the summary.
        public init(region: String, since: Date?, confirmed_by: [String]) {
            self.region = region
            self.since = since
            self.confirmed_by = confirmed_by
        }
    }

    /// The serving observer's own health.
    public struct SelfHealth: Codable, Sendable, Equatable {
        /// True while the observer declares itself lagging (its timers or round trips overshot).
        public var lagging: Bool
        /// Why, while lagging.
        public var reason: String?
        /// Lag windows since the agent started.
        public var lag_events: Int
        /// Probes not counted because they overlapped a lag window, since the agent started.
        public var inconclusive_probes: Int
        /// Creates a self-health summary.
        public init(lagging: Bool, reason: String?, lag_events: Int, inconclusive_probes: Int) {
            self.lagging = lagging
            self.reason = reason
            self.lag_events = lag_events
            self.inconclusive_probes = inconclusive_probes
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
        public var expires_at: Date?
        /// Unexpired on the control database's clock.
        public var fresh: Bool
        /// Creates a lease summary.
        public init(region: String?, holder: String?, epoch: Int, expires_at: Date?, fresh: Bool) {
            self.region = region
            self.holder = holder
            self.epoch = epoch
            self.expires_at = expires_at
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
        public var scheduler_leader: String?
        /// Its scheduler leader's epoch.
        public var scheduler_epoch: Int?
        /// Every observer's view of this region.
        public var observers: [ObserverView]
        /// Live observers, and how many of them see the region down (what the failover decision uses).
        public var live_observers: Int
        /// Live observers that see it down.
        public var observers_seeing_down: Int
        /// Creates a region entry.
        public init(
            name: String, role: String, priority: Int, health: HealthState, critical: [String],
            components: [String: Component], scheduler_leader: String?, scheduler_epoch: Int?,
            observers: [ObserverView], live_observers: Int, observers_seeing_down: Int
        ) {
            self.name = name
            self.role = role
            self.priority = priority
            self.health = health
            self.critical = critical
            self.components = components
            self.scheduler_leader = scheduler_leader
            self.scheduler_epoch = scheduler_epoch
            self.observers = observers
            self.live_observers = live_observers
            self.observers_seeing_down = observers_seeing_down
        }
    }

    /// One component as this observer sees it.
    public struct Component: Codable, Sendable, Equatable {
        /// Its state.
        public var state: HealthState
        /// The last probe's latency.
        public var latency_ms: Double?
        /// Since when.
        public var since: Date
        /// The last failure (nil when healthy).
        public var last_error: String?
        /// What the probe read.
        public var detail: ComponentDetail
        /// While suspect or down: `positive` when the component itself said it is dead (refused, reset,
        /// shutting down, a stale heartbeat row), `silence` when nothing answered in time.
        public var evidence: Evidence?
        /// Creates a component entry.
        public init(
            state: HealthState, latency_ms: Double?, since: Date, last_error: String?, detail: ComponentDetail,
            evidence: Evidence? = nil
        ) {
            self.evidence = evidence
            self.state = state
            self.latency_ms = latency_ms
            self.since = since
            self.last_error = last_error
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
        public var observed_at: Date
        /// It wrote within the liveness window.
        public var live: Bool
        /// For a failing view: `positive` (the target said it is dead) or `silence` (nothing answered).
        public var evidence: Evidence?
        /// Why this observer's down vote would not count now: it declares itself lagging, or it finds
        /// most regions silent at once (then the silence is its own problem). Nil when it counts.
        public var discounted: String?
        /// Creates an observer view.
        public init(
            observer: String, health: HealthState, components: [String: HealthState], observed_at: Date, live: Bool,
            evidence: Evidence? = nil, discounted: String? = nil
        ) {
            self.observer = observer
            self.health = health
            self.components = components
            self.observed_at = observed_at
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
        public var from_region: String?
        /// The region it moved to.
        public var to_region: String
        /// Why.
        public var reason: String
        /// Its state.
        public var state: String
        /// The step it is at.
        public var step: String
        /// When it began.
        public var started_at: Date
        /// When it finished (nil while running).
        public var finished_at: Date?
        /// Creates a summary.
        public init(
            id: Int, kind: String, from_region: String?, to_region: String, reason: String, state: String,
            step: String, started_at: Date, finished_at: Date?
        ) {
            self.id = id
            self.kind = kind
            self.from_region = from_region
            self.to_region = to_region
            self.reason = reason
            self.state = state
            self.step = step
            self.started_at = started_at
            self.finished_at = finished_at
        }
    }

    /// Creates a document.
    public init(
        generated_at: Date, observer: String, control_db_reachable: Bool, active_region: String?, epoch: Int,
        paused: Bool, failover_in_progress: FailoverSummary?, lease: Lease?, regions: [Region],
        last_failover: FailoverSummary?, self_health: SelfHealth? = nil
    ) {
        self.self_health = self_health
        self.generated_at = generated_at
        self.observer = observer
        self.control_db_reachable = control_db_reachable
        self.active_region = active_region
        self.epoch = epoch
        self.paused = paused
        self.failover_in_progress = failover_in_progress
        self.lease = lease
        self.regions = regions
        self.last_failover = last_failover
    }

    /// The encoder the API and the CLI share (ISO dates with fractional seconds, sorted keys).
    public static func encoder(pretty: Bool = false) -> JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting =
            pretty ? [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes] : [.sortedKeys, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .custom { date, encoder in
            var container = encoder.singleValueContainer()
            try container.encode(isoMillis(date))
        }
        return encoder
    }

    /// The matching decoder.
    public static func decoder() -> JSONDecoder {
        let decoder = JSONDecoder()
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
