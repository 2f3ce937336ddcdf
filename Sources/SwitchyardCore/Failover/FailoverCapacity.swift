import Foundation

/// Whether losing the active region now would be failed over automatically: Redis Sentinel's `CKQUORUM`
/// for Switchyard. Losing a site loses its observer with it, so the question is whether the live observers
/// elsewhere still make the quorum, and whether a standby is a healthy target. Two regions without a witness
/// never can (their quorum is 2 of 2); a witness (an observer in a third site with no region of its own)
/// cut off makes the same true until it returns.
public struct FailoverCapacity: Codable, Sendable, Equatable {
    /// True when losing the active region with its observer would still fail it over automatically.
    public var ready: Bool
    /// Why, in the words an operator reads.
    public var reason: String
    /// Down votes a failover needs.
    public var needed: Int
    /// Observers that reported within the day (the quorum's denominator).
    public var knownObservers: Int
    /// Live observers that are not lagging, sorted.
    public var liveObservers: [String]
    /// Of those, the ones that would remain if the active region were lost.
    public var remainingIfActiveLost: [String]
    /// Observers with no region of their own (witnesses), as far as the observations show, sorted.
    public var witnesses: [String]
    /// Standbys a failover could go to now (`FailoverDecision.eligibleTargets`), best first.
    public var targets: [String]

    /// Assesses `input` for a deployment whose regions are `regionNames`: an observer named for a region runs in
    /// it and is lost with it; any other is a witness.
    public static func assess(_ input: FailoverDecision.Input) -> FailoverCapacity {
        let regionNames = Set(input.regions.map(\.name))
        let observers = Set(input.regions.flatMap(\.observations).map(\.observer))
        let live = Set(
            input.regions.flatMap(\.observations).filter { $0.live && input.laggingObservers[$0.observer] == nil }
                .map(\.observer))
        let needed = FailoverDecision.needed(input.quorum, knownObservers: input.knownObservers)
        let remaining = live.filter { $0 != input.activeRegion }.sorted()
        let targets = FailoverDecision.eligibleTargets(input, excluding: input.activeRegion)
            .sorted(by: FailoverDecision.better).map(\.name)
        let ready: Bool
        let reason: String
        if let active = input.activeRegion {
            let count = "\(remaining.count) of \(input.knownObservers) observers would remain, \(needed) needed"
            if !input.automatic {
                ready = false
                reason = "automatic failover is off"
            } else if input.paused {
                ready = false
                reason = "automatic failover is paused"
            } else if remaining.count < needed {
                ready = false
                reason =
                    "a loss of \(active) would not fail over by itself: \(count)"
                    + (input.knownObservers <= 2
                        ? " (two observers: add a witness, or fail over by hand with --force)" : "")
            } else if targets.isEmpty {
                ready = false
                reason =
                    "a loss of \(active) would not fail over: no standby is healthy for a majority of its observers"
            } else {
                ready = true
                reason = "a loss of \(active) would fail over to \(targets[0]): \(count)"
            }
        } else {
            ready = false
            reason = "no active region"
        }
        return FailoverCapacity(
            ready: ready, reason: reason, needed: needed, knownObservers: input.knownObservers,
            liveObservers: live.sorted(), remainingIfActiveLost: remaining,
            witnesses: observers.subtracting(regionNames).sorted(), targets: targets)
    }
}
