import Foundation

/// The combined view of all observers: per region, how many live observers see it down. This is
/// what the failover decision reads; an observer whose own heartbeat is stale does not count.
public enum ObserverQuorum {
    /// One observer's reported health of one region.
    public struct Report: Sendable, Equatable {
        public var observer: String
        public var region: String
        public var health: HealthState
        public var observerLastSeen: Date
        /// Creates a report.
        public init(observer: String, region: String, health: HealthState, observerLastSeen: Date) {
            self.observer = observer
            self.region = region
            self.health = health
            self.observerLastSeen = observerLastSeen
        }
    }

    /// The tally for one region.
    public struct Tally: Sendable, Equatable, Codable {
        /// Observers whose heartbeat is fresh.
        public var liveObservers: Int
        /// Of those, how many see the region down.
        public var seeingDown: Int
        /// Of those, how many see it healthy.
        public var seeingHealthy: Int
        /// Creates a tally.
        public init(liveObservers: Int, seeingDown: Int, seeingHealthy: Int) {
            self.liveObservers = liveObservers
            self.seeingDown = seeingDown
            self.seeingHealthy = seeingHealthy
        }
    }

    /// Tallies reports per region; an observer is live when its last heartbeat is within `liveWithin` of `now`.
    public static func tally(_ reports: [Report], now: Date, liveWithin: Duration) -> [String: Tally] {
        var result: [String: Tally] = [:]
        let horizon = now.addingTimeInterval(-(Double(liveWithin.components.seconds) + Double(liveWithin.components.attoseconds) / 1e18))
        for report in reports where report.observerLastSeen >= horizon {
            var t = result[report.region] ?? Tally(liveObservers: 0, seeingDown: 0, seeingHealthy: 0)
            t.liveObservers += 1
            if report.health == .down { t.seeingDown += 1 }
            if report.health == .healthy { t.seeingHealthy += 1 }
            result[report.region] = t
        }
        return result
    }
}
