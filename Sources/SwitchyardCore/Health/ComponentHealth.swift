import Foundation

/// Hysteresis for one component, as a pure state machine: `healthy → suspect` after
/// `failuresToSuspect` consecutive failures; `→ down` after `evidenceFailuresToDown` consecutive
/// failures with positive evidence (the target said it is dead), or after failing continuously for
/// `downAfter` with at least `min(failuresToDown, 2)` failures when it only went silent; back to
/// healthy only after `successesToRecover` consecutive successes. A single lost probe never flips a
/// component, a flapping one does not bounce between healthy and down, and a probe made while the
/// observer itself lagged (`recordInconclusive`) counts neither way.
public struct ComponentHealth: Sendable, Equatable {
    /// Thresholds (from `probes` in controlplane.yaml).
    public struct Thresholds: Sendable, Equatable {
        /// Failed probes in a row before suspect.
        public var failuresToSuspect: Int
        /// Failed probes in a row before down.
        public var failuresToDown: Int
        /// Or failing this long, whichever comes first.
        public var downAfter: Duration
        /// Good probes in a row before healthy again.
        public var successesToRecover: Int
        /// Consecutive failures with positive evidence that make a component down at once.
        public var evidenceFailuresToDown: Int
        /// Creates thresholds.
        public init(
            failuresToSuspect: Int, failuresToDown: Int, downAfter: Duration, successesToRecover: Int,
            evidenceFailuresToDown: Int = 2
        ) {
            self.failuresToSuspect = failuresToSuspect
            self.failuresToDown = failuresToDown
            self.downAfter = downAfter
            self.successesToRecover = successesToRecover
            self.evidenceFailuresToDown = evidenceFailuresToDown
        }
    }

    /// The current state.
    public private(set) var state: HealthState = .unknown
    /// Wall-clock time of the last state change (for "since" in the status).
    public private(set) var since: Date
    /// Consecutive failed probes.
    public private(set) var consecutiveFailures = 0
    /// Consecutive successful probes.
    public private(set) var consecutiveSuccesses = 0
    /// When the current run of failures began (monotonic).
    public private(set) var failingSince: ContinuousClock.Instant?
    /// When the component's trouble began (monotonic): its first failure since it was last healthy. A
    /// success in between does not move it (unlike `failingSince`): what an observer reports as the start
    /// of a region's failure, so one observer's silences on a lossy link still line up.
    public private(set) var troubleSince: ContinuousClock.Instant?
    /// The last failure's message (no secrets: probes produce scrubbed messages).
    public private(set) var lastError: String?
    /// The last probe's latency.
    public private(set) var latency: Duration?
    /// Consecutive failures with positive evidence (a silent failure resets it).
    public private(set) var positiveFailures = 0
    /// The evidence behind a suspect or down state: positive once the target said it is dead in this
    /// run of failures, else silence; nil when healthy or unknown.
    public private(set) var evidence: Evidence?
    /// Probes made while the observer lagged, not counted (since the start).
    public private(set) var inconclusiveProbes = 0
    /// Wall-clock time since when the component has been up (healthy, or at most suspect) without a
    /// break: a passing suspect does not reset it, a down does. Nil while down or unknown.
    public private(set) var upSince: Date?
    /// Monotonic time of the last state change: what the observer reports to others (as an age), since
    /// its wall clock may differ from theirs.
    public private(set) var changedAt: ContinuousClock.Instant
    /// Monotonic time since when the component has been up without a break (nil while down or unknown).
    public private(set) var upAt: ContinuousClock.Instant?
    let thresholds: Thresholds

    /// A component not probed yet.
    public init(thresholds: Thresholds, now: Date = Date(), instant: ContinuousClock.Instant = .now) {
        self.thresholds = thresholds
        self.since = now
        self.changedAt = instant
    }

    /// Records one probe; returns the new state when it changed.
    @discardableResult
    public mutating func record(
        success: Bool, latency: Duration?, error: String? = nil, evidence kind: Evidence = .silence,
        at instant: ContinuousClock.Instant, wallClock: Date
    ) -> HealthState? {
        self.latency = latency
        let previous = state
        if success {
            consecutiveSuccesses += 1
            consecutiveFailures = 0
            positiveFailures = 0
            failingSince = nil
            if state == .unknown || (state != .healthy && consecutiveSuccesses >= thresholds.successesToRecover) {
                state = .healthy
                evidence = nil
            }
            if state == .healthy { troubleSince = nil }
        } else {
            consecutiveFailures += 1
            consecutiveSuccesses = 0
            positiveFailures = kind == .positive ? positiveFailures + 1 : 0
            lastError = error
            let start = failingSince ?? instant
            failingSince = start
            troubleSince = troubleSince ?? instant
            let silentLongEnough =
                instant - start >= thresholds.downAfter && consecutiveFailures >= min(thresholds.failuresToDown, 2)
            if positiveFailures >= thresholds.evidenceFailuresToDown {
                state = .down
                evidence = .positive
            } else if silentLongEnough {
                if state != .down || evidence == nil { evidence = .silence }
                state = .down
            } else if state == .down {
                // Still down; positive evidence met in this run of failures stays the reason.
            } else if consecutiveFailures >= thresholds.failuresToSuspect {
                state = .suspect
                evidence = kind
            }
        }
        guard state != previous else { return nil }
        since = wallClock
        changedAt = instant
        if state == .down || state == .unknown {
            upSince = nil
            upAt = nil
        } else if previous == .down || previous == .unknown {
            upSince = wallClock
            upAt = instant
        }
        return state
    }

    /// Records a probe made while the observer itself lagged: its silence says nothing about the
    /// target, so neither the failure count nor the success count moves.
    public mutating func recordInconclusive() {
        inconclusiveProbes += 1
    }

    /// Region health from its components: the worst state among the critical ones.
    public static func region(_ components: [String: HealthState], critical: [String]) -> HealthState {
        let relevant = critical.compactMap { components[$0] }
        guard !relevant.isEmpty else { return .unknown }
        return relevant.max() ?? .unknown
    }
}
