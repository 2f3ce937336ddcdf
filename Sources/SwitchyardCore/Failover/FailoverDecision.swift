import Foundation

/// Whether to fail over, and to which region, as a pure function of what the observers report.
///
/// The active region is down only when a quorum of live observers has each seen one of its critical
/// components down continuously: for `evidenceGrace` when the observer has positive evidence (the
/// target refused, reset, said it is shutting down…), for `failureGrace` when it only went silent.
/// A vote is not counted from an observer in self-declared lag (its own timers overshot: what it
/// missed says nothing about the target), nor a silent vote from an observer that finds most regions
/// silent since the same moment (correlated silence is the observer's or its network's problem; a
/// region that went dark long before is not part of it). The quorum is
/// counted against every known observer, not only the live ones: one observer cut off from the
/// active region can never trigger a failover on its own. The target is a standby that a majority of
/// the live, unlagged observers see healthy and have not seen down for `failureGrace` (a standby that
/// flickers back from down is no target; a passing suspect does not disqualify one), with the highest priority; ties go to the lowest replication lag, then the name.
public enum FailoverDecision {
    /// One observer's current view of one region.
    public struct Observation: Sendable, Equatable {
        /// The observer.
        public var observer: String
        /// The observer's heartbeat is fresh.
        public var live: Bool
        /// The region's health in its view.
        public var health: HealthState
        /// Since when the region has been down continuously in this observer's view (nil when it is not down).
        public var downSince: Date?
        /// For a suspect or down region: positive evidence or silence.
        public var evidence: Evidence?
        /// Since when the region has been up (healthy, or at most suspect for a moment) without being
        /// down in this observer's view; nil when it is not healthy now.
        public var upSince: Date?
        /// For a suspect or down region: when its failure began in this observer's view (the start of the
        /// earliest failing run among its critical components); nil when not failing.
        public var failingSince: Date?
        /// Creates an observation.
        public init(
            observer: String, live: Bool, health: HealthState, downSince: Date? = nil, evidence: Evidence? = nil,
            upSince: Date? = nil, failingSince: Date? = nil
        ) {
            self.observer = observer
            self.live = live
            self.health = health
            self.downSince = downSince
            self.evidence = health == .healthy || health == .unknown ? nil : (evidence ?? .silence)
            self.upSince = health == .healthy ? (upSince ?? .distantPast) : nil
            self.failingSince = health == .down || health == .suspect ? (failingSince ?? downSince) : nil
        }

        /// True when the observer finds the region failing and has only silence to show for it.
        var silent: Bool { (health == .down || health == .suspect) && evidence == .silence }
    }

    /// A region and every observer's view of it.
    public struct Region: Sendable, Equatable {
        /// The region's name.
        public var name: String
        /// Its failover priority (higher is preferred).
        public var priority: Int
        /// Replication lag of its database, when known (seconds).
        public var replicationLag: Double?
        /// Every observer's view of it.
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
        /// The control database's clock when read.
        public var now: Date
        /// The active region (nil while a failover runs).
        public var activeRegion: String?
        /// Every region with every observer's view of it.
        public var regions: [Region]
        /// Every observer that has ever reported (the quorum's denominator).
        public var knownObservers: Int
        /// How many observers must agree.
        public var quorum: Quorum
        /// How long a region must stay down on silence alone.
        public var failureGrace: Duration
        /// The least time between two failovers.
        public var cooldown: Duration
        /// The most failovers in any hour.
        public var maxFailoversPerHour: Int
        /// Start times of earlier failovers (any kind).
        public var recentFailovers: [Date]
        /// An operator paused automatic failover.
        public var paused: Bool
        /// Automatic failover is configured on.
        public var automatic: Bool
        /// How long a quorum with positive evidence must see the active region down.
        public var evidenceGrace: Duration
        /// Observers in self-declared lag, with why: they cast no down vote and choose no target.
        public var laggingObservers: [String: String]
        /// Silences of one observer that began within this of each other began together
        /// (`ProbeConfig.silenceCorrelationWindow`).
        public var correlationWindow: Duration
        /// Silences most other live observers confirm are the region's, never correlated (`correlatedSilence`);
        /// false only in the simulator's mutation check.
        public var confirmedSilences = true
        /// Creates an input.
        public init(
            now: Date, activeRegion: String?, regions: [Region], knownObservers: Int, quorum: Quorum,
            failureGrace: Duration, cooldown: Duration, maxFailoversPerHour: Int, recentFailovers: [Date],
            paused: Bool, automatic: Bool, evidenceGrace: Duration? = nil, laggingObservers: [String: String] = [:],
            correlationWindow: Duration = ProbeConfig().silenceCorrelationWindow
        ) {
            self.evidenceGrace = evidenceGrace ?? failureGrace
            self.correlationWindow = correlationWindow
            self.laggingObservers = laggingObservers
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

        /// Which of the decision's outcomes this is, for counting them (the simulator's coverage).
        public enum Kind: String, Sendable, CaseIterable, Codable, CodingKeyRepresentable {
            case noActiveRegion = "stay: no active region"
            case notDown = "stay: not down by quorum"
            case automaticOff = "blocked: automatic failover off"
            case paused = "blocked: paused"
            case cooldown = "blocked: cooldown"
            case hourlyLimit = "blocked: failovers per hour"
            case noTarget = "blocked: no healthy standby"
            case failover = "failover"
        }

        /// Which outcome this is.
        public var kind: Kind {
            switch self {
            case .stay(let why): why == FailoverDecision.noActiveRegion ? .noActiveRegion : .notDown
            case .blocked(let why):
                why.hasSuffix(FailoverDecision.automaticOff)
                    ? .automaticOff
                    : why.hasSuffix(FailoverDecision.pausedReason)
                        ? .paused
                        : why.contains(FailoverDecision.cooldownReason)
                            ? .cooldown : why.contains(FailoverDecision.hourlyReason) ? .hourlyLimit : .noTarget
            case .failover: .failover
            }
        }
    }

    static let noActiveRegion = "no active region"
    /// In a stay's reason: the down views that were not counted follow.
    public static let notCounted = "; not counted: "
    static let automaticOff = "; automatic failover is off"
    static let pausedReason = "; failover is paused"
    static let cooldownReason = "; inside the cooldown of "
    static let hourlyReason = " failovers in the last hour (max "

    /// Votes needed: the configured count, or a majority of every known observer.
    public static func needed(_ quorum: Quorum, knownObservers: Int) -> Int {
        switch quorum {
        case .majority: max(1, knownObservers / 2 + 1)
        case .count(let n): n
        }
    }

    /// Decides.
    public static func decide(_ input: Input) -> Outcome {
        guard let activeName = input.activeRegion, let active = input.regions.first(where: { $0.name == activeName })
        else {
            return .stay(noActiveRegion)
        }
        let needed = needed(input.quorum, knownObservers: input.knownObservers)
        let (votes, discounted) = downVotes(active, input)
        guard votes.count >= needed else {
            let down = active.observations.filter { $0.live && $0.health == .down }.count
            let why = discounted.isEmpty ? "" : notCounted + discounted.sorted().joined(separator: "; ")
            return .stay(
                "\(activeName): \(votes.count) of \(needed) needed observers see it down for \(input.evidenceGrace) on evidence or \(input.failureGrace) on silence (\(down) see it down now\(why))"
            )
        }
        let evidence =
            votes.allSatisfy { $0.evidence == .positive }
            ? "positive evidence"
            : votes.allSatisfy { $0.evidence == .silence } ? "silence" : "evidence and silence"
        let reason =
            "\(activeName) down for \(votes.count) of \(input.knownObservers) observers (\(votes.map(\.observer).sorted().joined(separator: ", "))) on \(evidence)"
        if !input.automatic { return .blocked(reason + automaticOff) }
        if input.paused { return .blocked(reason + pausedReason) }
        if let last = input.recentFailovers.max(), input.now.timeIntervalSince(last) < input.cooldown.secondsDouble {
            return .blocked("\(reason)\(cooldownReason)\(input.cooldown) after the last failover")
        }
        let lastHour = input.recentFailovers.filter { input.now.timeIntervalSince($0) < 3600 }.count
        if lastHour >= input.maxFailoversPerHour {
            return .blocked("\(reason); \(lastHour)\(hourlyReason)\(input.maxFailoversPerHour))")
        }
        guard let target = eligibleTargets(input, excluding: activeName).min(by: better) else {
            return .blocked("\(reason); no standby healthy for a majority for \(input.failureGrace)")
        }
        return .failover(target: target.name, reason: reason)
    }

    /// The regions a failover may go to: every region but `active` that most of its live, unlagged observers
    /// have seen healthy for the failure grace without a break. The one rule for a healthy target (the decision,
    /// the failover capacity in the status).
    public static func eligibleTargets(_ input: Input, excluding active: String?) -> [Region] {
        let stableSince = input.now.addingTimeInterval(-input.failureGrace.secondsDouble)
        return input.regions.filter { region in
            guard region.name != active else { return false }
            let live = region.observations.filter { $0.live && input.laggingObservers[$0.observer] == nil }
            let stable = live.filter { $0.health == .healthy && ($0.upSince ?? .distantFuture) <= stableSince }.count
            return !live.isEmpty && stable * 2 > live.count
        }
    }

    /// The observers whose view counts as a vote that `region` is down: live, down for the evidence
    /// grace on positive evidence or the failure grace on silence, not lagging, and not finding most
    /// regions silent at once (silences that began together); with why each live down view that was not
    /// counted was discounted. `correlated` is `correlatedSilence(input.regions, window:)`, passed in when
    /// many regions are asked at once.
    public static func downVotes(_ region: Region, _ input: Input, correlated: [String: [String: Int]]? = nil) -> (
        votes: [Observation], discounted: [String]
    ) {
        let correlated =
            correlated
            ?? correlatedSilence(
                input.regions, window: input.correlationWindow, confirmed: input.confirmedSilences,
                lagging: Set(input.laggingObservers.keys))
        var discounted: [String] = []
        let votes = region.observations.filter { o in
            guard o.live, o.health == .down, let since = o.downSince else { return false }
            if let why = input.laggingObservers[o.observer] {
                discounted.append("\(o.observer) lagging: \(why)")
                return false
            }
            let downFor = input.now.timeIntervalSince(since)
            if o.evidence == .positive { return downFor >= input.evidenceGrace.secondsDouble }
            if let silent = correlated[o.observer]?[region.name] {
                discounted.append(
                    "\(o.observer) finds \(silent) of \(input.regions.count) regions silent since the same moment")
                return false
            }
            return downFor >= input.failureGrace.secondsDouble
        }
        return (votes, discounted)
    }

    /// The evidence behind a failing region in one observer's view: positive when any critical
    /// component at the region's worst state has positive evidence, else silence; nil when the region
    /// is healthy or unknown.
    public static func regionEvidence(
        _ byComponent: [String: Evidence], states: [String: HealthState], critical: [String]
    ) -> Evidence? {
        let health = ComponentHealth.region(states, critical: critical)
        guard health == .down || health == .suspect else { return nil }
        let worst = critical.filter { states[$0] == health }
        return worst.contains { byComponent[$0] == .positive } ? .positive : .silence
    }

    static func better(_ a: Region, _ b: Region) -> Bool {
        if a.priority != b.priority { return a.priority > b.priority }
        let lagA = a.replicationLag ?? .infinity, lagB = b.replicationLag ?? .infinity
        if lagA != lagB { return lagA < lagB }
        return a.name < b.name
    }
}
