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

        /// A component view.
        public init(state: HealthState, since: Date, evidence: Evidence? = nil, upSince: Date? = nil) {
            self.state = state
            self.since = since
            self.evidence = evidence
            self.upSince = upSince
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
        return Observation(
            observer: observer, live: live, health: health, downSince: health == .down ? downSince : nil,
            evidence: evidence, upSince: health == .healthy ? (upSince ?? Date.distantFuture) : nil)
    }

    /// Observers that find more than half of the regions (and at least two) failing with nothing but
    /// silence, with how many: their silent votes are the observer's problem, not the regions'. The
    /// decision discounts their votes; the status shows why.
    public static func correlatedSilence(_ regions: [Region]) -> [String: Int] {
        var silent: [String: Int] = [:]
        for region in regions {
            for o in region.observations where o.silent { silent[o.observer, default: 0] += 1 }
        }
        return silent.filter { $0.value >= 2 && $0.value * 2 > regions.count }
    }
}
