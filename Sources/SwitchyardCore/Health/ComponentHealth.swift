import Foundation

/// Hysteresis for one component, as a pure state machine: `healthy → suspect → down` after
/// `failuresToSuspect` / `failuresToDown` consecutive failures or after failing for `downAfter`, and
/// back to healthy only after `successesToRecover` consecutive successes. A single lost probe never
/// flips a component, and a flapping one does not bounce between healthy and down.
public struct ComponentHealth: Sendable, Equatable {
    /// Thresholds (from `probes` in controlplane.yaml).
    public struct Thresholds: Sendable, Equatable {
        public var failuresToSuspect: Int
        public var failuresToDown: Int
        public var downAfter: Duration
        public var successesToRecover: Int
        /// Creates thresholds.
        public init(failuresToSuspect: Int, failuresToDown: Int, downAfter: Duration, successesToRecover: Int) {
            self.failuresToSuspect = failuresToSuspect
            self.failuresToDown = failuresToDown
            self.downAfter = downAfter
            self.successesToRecover = successesToRecover
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
    /// The last failure's message (no secrets: probes produce scrubbed messages).
    public private(set) var lastError: String?
    /// The last probe's latency.
    public private(set) var latency: Duration?
    let thresholds: Thresholds

    /// A component not probed yet.
    public init(thresholds: Thresholds, now: Date = Date()) {
        self.thresholds = thresholds
        self.since = now
    }

    /// Records one probe; returns the new state when it changed.
    @discardableResult
    public mutating func record(
        success: Bool, latency: Duration?, error: String? = nil, at instant: ContinuousClock.Instant, wallClock: Date
    ) -> HealthState? {
        self.latency = latency
        let previous = state
        if success {
            consecutiveSuccesses += 1
            consecutiveFailures = 0
            failingSince = nil
            if state == .unknown || (state != .healthy && consecutiveSuccesses >= thresholds.successesToRecover) {
                state = .healthy
            }
        } else {
            consecutiveFailures += 1
            consecutiveSuccesses = 0
            lastError = error
            let start = failingSince ?? instant
            failingSince = start
            if consecutiveFailures >= thresholds.failuresToDown || instant - start >= thresholds.downAfter {
                state = .down
            } else if consecutiveFailures >= thresholds.failuresToSuspect, state != .down {
                state = .suspect
            }
        }
        guard state != previous else { return nil }
        since = wallClock
        return state
    }

    /// Region health from its components: the worst state among the critical ones.
    public static func region(_ components: [String: HealthState], critical: [String]) -> HealthState {
        let relevant = critical.compactMap { components[$0] }
        guard !relevant.isEmpty else { return .unknown }
        return relevant.max() ?? .unknown
    }
}
