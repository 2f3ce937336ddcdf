import Foundation

/// Whether to fail over, and to which region, as a pure function of what the observers report.
///
/// The active region is down only when a quorum of live observers has each seen one of its critical
/// components down continuously for `failureGrace`. The quorum is counted against every known
/// observer, not only the live ones: one observer cut off from the active region (the others dead or
/// seeing it healthy) can never trigger a failover on its own. The target is the standby that a
/// majority of live observers see healthy, with the highest priority; ties go to the lowest
/// replication lag, then the name.
public enum FailoverDecision {
    /// One observer's current view of one region.
    public struct Observation: Sendable, Equatable {
        public var observer: String
        /// The observer's heartbeat is fresh.
        public var live: Bool
        public var health: HealthState
        /// Since when the region has been down continuously in this observer's view (nil when it is not down).
        public var downSince: Date?
        /// Creates an observation.
        public init(observer: String, live: Bool, health: HealthState, downSince: Date? = nil) {
            self.observer = observer
            self.live = live
            self.health = health
            self.downSince = downSince
        }
    }

    /// A region and every observer's view of it.
    public struct Region: Sendable, Equatable {
        public var name: String
        public var priority: Int
        /// Replication lag of its database, when known (seconds).
        public var replicationLag: Double?
        public var observations: [Observation]
        /// Creates a region input.
        public init(name: String, priority: Int, replicationLag: Double? = nil, observations: [Observation]) {
            self.name = name
            self.priority = priority
            self.replicationLag = replicationLag
            self.observations = observations
        }
    }

    /// Everything the decision reads.
    public struct Input: Sendable, Equatable {
        public var now: Date
        public var activeRegion: String?
        public var regions: [Region]
        /// Every observer that has ever reported (the quorum's denominator).
        public var knownObservers: Int
        public var quorum: Quorum
        public var failureGrace: Duration
        public var cooldown: Duration
        public var maxFailoversPerHour: Int
        /// Start times of earlier failovers (any kind).
        public var recentFailovers: [Date]
        public var paused: Bool
        public var automatic: Bool
        /// Creates an input.
        public init(now: Date, activeRegion: String?, regions: [Region], knownObservers: Int, quorum: Quorum,
                    failureGrace: Duration, cooldown: Duration, maxFailoversPerHour: Int, recentFailovers: [Date],
                    paused: Bool, automatic: Bool) {
            self.now = now
            self.activeRegion = activeRegion
            self.regions = regions
            self.knownObservers = knownObservers
            self.quorum = quorum
            self.failureGrace = failureGrace
            self.cooldown = cooldown
            self.maxFailoversPerHour = maxFailoversPerHour
            self.recentFailovers = recentFailovers
            self.paused = paused
            self.automatic = automatic
        }
    }

    /// The outcome, with the reason an operator reads.
    public enum Outcome: Sendable, Equatable {
        /// Nothing to do: the active region is not down by quorum.
        case stay(String)
        /// The active region is down but a failover may not start now.
        case blocked(String)
        /// Fail over to `target`.
        case failover(target: String, reason: String)
    }

    /// Votes needed: the configured count, or a majority of every known observer.
    public static func needed(_ quorum: Quorum, knownObservers: Int) -> Int {
        switch quorum {
        case .majority: max(1, knownObservers / 2 + 1)
        case .count(let n): n
        }
    }

    /// Decides.
    public static func decide(_ input: Input) -> Outcome {
        guard let activeName = input.activeRegion, let active = input.regions.first(where: { $0.name == activeName }) else {
            return .stay("no active region")
        }
        let needed = needed(input.quorum, knownObservers: input.knownObservers)
        let grace = input.failureGrace.asSeconds
        let votes = active.observations.filter { o in
            o.live && o.health == .down && (o.downSince.map { input.now.timeIntervalSince($0) >= grace } ?? false)
        }
        guard votes.count >= needed else {
            let down = active.observations.filter { $0.live && $0.health == .down }.count
            return .stay("\(activeName): \(votes.count) of \(needed) needed observers see it down for \(input.failureGrace) (\(down) see it down now)")
        }
        let reason = "\(activeName) down for \(votes.count) of \(input.knownObservers) observers (\(votes.map(\.observer).sorted().joined(separator: ", ")))"
        if !input.automatic { return .blocked("\(reason); automatic failover is off") }
        if input.paused { return .blocked("\(reason); failover is paused") }
        if let last = input.recentFailovers.max(), input.now.timeIntervalSince(last) < input.cooldown.asSeconds {
            return .blocked("\(reason); inside the cooldown of \(input.cooldown) after the last failover")
        }
        let lastHour = input.recentFailovers.filter { input.now.timeIntervalSince($0) < 3600 }.count
        if lastHour >= input.maxFailoversPerHour {
            return .blocked("\(reason); \(lastHour) failovers in the last hour (max \(input.maxFailoversPerHour))")
        }
        let candidates = input.regions.filter { region in
            guard region.name != activeName else { return false }
            let live = region.observations.filter(\.live)
            let healthy = live.filter { $0.health == .healthy }.count
            return !live.isEmpty && healthy * 2 > live.count
        }
        guard let target = candidates.min(by: better) else {
            return .blocked("\(reason); no healthy standby")
        }
        return .failover(target: target.name, reason: reason)
    }

    /// Ordering of candidates: higher priority, then lower lag (unknown lag last), then name.
    static func better(_ a: Region, _ b: Region) -> Bool {
        if a.priority != b.priority { return a.priority > b.priority }
        let lagA = a.replicationLag ?? .infinity, lagB = b.replicationLag ?? .infinity
        if lagA != lagB { return lagA < lagB }
        return a.name < b.name
    }
}

extension Duration {
    var asSeconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
}
