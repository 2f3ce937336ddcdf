import Foundation

extension FailoverDecision {
    /// One component as one observer last wrote it.
    public struct ComponentView: Sendable, Equatable {
        /// Its state.
        public var state: HealthState
        /// Since when it has been in that state.
        public var since: Date
        /// For a failing state: positive evidence or silence.
        public var evidence: Evidence?
        /// Since when it has been up without being down (nil if it never came back from down).
        public var upSince: Date?
        /// For a failing state: when its current run of failed probes began (nil: take `since`).
        public var failingSince: Date?

        /// A component view.
        public init(
            state: HealthState, since: Date, evidence: Evidence? = nil, upSince: Date? = nil, failingSince: Date? = nil
        ) {
            self.state = state
            self.since = since
            self.evidence = evidence
            self.upSince = upSince
            self.failingSince = failingSince
        }
    }

    /// An observer's view of a region, reduced from its components the one way the decision and the
    /// status document both use: the region's health from its critical components, since when it has
    /// been down (the longest-down critical component), since when it has been up (when the last of its
    /// critical components came back; distant future if any never did), and the evidence behind a
    /// failing region.
    public static func observation(
        observer: String, live: Bool, components: [String: ComponentView], critical: [String]
    ) -> Observation {
        let states = components.mapValues(\.state)
        let health = ComponentHealth.region(states, critical: critical)
        let downSince = critical.compactMap { name -> Date? in
            guard let component = components[name], component.state == .down else { return nil }
            return component.since
        }.min()
        let ups = critical.compactMap { components[$0] }.map(\.upSince)
        let upSince: Date? = ups.isEmpty || ups.contains { $0 == nil } ? nil : ups.compactMap { $0 }.max()
        let evidence = regionEvidence(components.compactMapValues(\.evidence), states: states, critical: critical)
        // When the region's failure began: the earliest start of a failing run among its failing critical
        // components (a partition's silences start together; their down states follow later).
        let failingSince = critical.compactMap { name -> Date? in
            guard let component = components[name], component.state == .down || component.state == .suspect
            else { return nil }
            return component.failingSince ?? component.since
        }.min()
        return Observation(
            observer: observer, live: live, health: health, downSince: health == .down ? downSince : nil,
            evidence: evidence, upSince: health == .healthy ? (upSince ?? Date.distantFuture) : nil,
            failingSince: failingSince)
    }

    /// The silent votes that are their observer's problem, not their region's: for each observer and each
    /// region it finds silent, how many regions' silences began together with that one (within `window`
    /// of it, itself included), kept only where that is at least two and more than half of the regions.
    /// A partition of the observer, or of its network, silences every region it cuts off within a probe
    /// round or two; a region that went dark long before (a standby lost an hour ago) is a fact about that
    /// region, and a later, separate silence of the active region is a vote. Only silences no one else
    /// confirms count: a region that most of the other live observers also find failing is failing, a fact
    /// about it, whatever else fails at the same moment (the active region hung while a standby went dark:
    /// the simulator found that two such faults a probe round apart discounted every vote, for as long as
    /// they lasted). The decision discounts these votes; the status shows why.
    /// (`confirmed: false` counts confirmed silences too: the rule before, kept for the simulator's mutation
    /// check, which must catch it.)
    /// Observers in `lagging` confirm nothing (they cast no vote either).
    public static func correlatedSilence(
        _ regions: [Region], window: Duration, confirmed: Bool = true, lagging: Set<String> = []
    ) -> [String: [String: Int]] {
        var starts: [String: [(region: String, since: Date)]] = [:]
        for region in regions {
            let live = region.observations.filter { $0.live && !lagging.contains($0.observer) }
            for o in region.observations where o.silent {
                let others = live.filter { $0.observer != o.observer }
                let confirming = others.filter { $0.health == .down || $0.health == .suspect }.count
                if confirmed && !others.isEmpty && confirming * 2 > others.count { continue }
                starts[o.observer, default: []].append((region.name, o.failingSince ?? .distantPast))
            }
        }
        let width = window.secondsDouble
        var correlated: [String: [String: Int]] = [:]
        for (observer, silences) in starts {
            for silence in silences {
                let together = silences.filter { abs($0.since.timeIntervalSince(silence.since)) <= width }.count
                if together >= 2 && together * 2 > regions.count {
                    correlated[observer, default: [:]][silence.region] = together
                }
            }
        }
        return correlated
    }
}
