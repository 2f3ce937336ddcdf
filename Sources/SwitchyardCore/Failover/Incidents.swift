import Foundation

/// Incidents, not messages: a region's failure is one incident with one key from its first down to its
/// recovery, so a receiver (PagerDuty's `dedup_key`, a chat thread) sees one thing open and close.
///
/// An incident opens when a quorum of observers votes the region down (the same votes a failover
/// needs) and notifies `trigger`. It resolves once a majority of live observers has seen the region
/// healthy for `resolve_after` without a break, and notifies `resolve` with the same key. A region that
/// fails again before then stays in the same incident: that repeated down is not notified again, only
/// counted (`flaps`). The failover leader alone acts on incidents, so one agent sends each notification.
public enum Incidents {
    /// An open incident as the control database keeps it.
    public struct Open: Sendable, Equatable {
        /// Journal id.
        public var id: Int
        /// The failing region.
        public var region: String
        /// Since when a majority has seen it healthy again (nil while it is down or unclear).
        public var healthySince: Date?
        /// A majority has seen it healthy since its last down: a down now is a flap.
        public var recovered: Bool
        /// Creates one.
        public init(id: Int, region: String, healthySince: Date?, recovered: Bool = false) {
            self.id = id
            self.region = region
            self.healthySince = healthySince
            self.recovered = recovered || healthySince != nil
        }
    }

    /// What the observers say of a region, for incidents.
    public enum Verdict: Sendable, Equatable {
        /// A quorum votes it down.
        case down(reason: String)
        /// A majority of the live, non-lagging observers sees it healthy.
        case healthy
        /// Neither (suspect, split, or too few observers).
        case unclear
    }

    /// What the failover leader does about incidents now.
    public enum Change: Sendable, Equatable {
        /// Open an incident for the region and notify `trigger`.
        case open(region: String, reason: String)
        /// The region failed again after it had recovered, before its incident resolved: count a flap,
        /// notify nothing.
        case flapped(id: Int)
        /// A majority sees the region healthy again: start the resolve clock.
        case recovering(id: Int, since: Date)
        /// No longer clearly healthy (suspect, split, a down inside its grace): the resolve clock stops;
        /// a flap is counted only if it goes on to be voted down.
        case recoveryInterrupted(id: Int)
        /// Healthy for `resolveAfter` (or no longer configured): resolve and notify `resolve`.
        case resolve(id: Int)
    }

    /// The key a receiver deduplicates on: one per incident.
    public static func key(region: String, id: Int) -> String { "switchyard-\(region)-\(id)" }

    /// Each region's verdict from the decision's input.
    public static func verdicts(_ input: FailoverDecision.Input) -> [String: Verdict] {
        let needed = FailoverDecision.needed(input.quorum, knownObservers: input.knownObservers)
        var verdicts: [String: Verdict] = [:]
        let correlated = FailoverDecision.correlatedSilence(
            input.regions, window: input.correlationWindow, lagging: Set(input.laggingObservers.keys))
        for region in input.regions {
            let votes = FailoverDecision.downVotes(region, input, correlated: correlated).votes
            if votes.count >= needed {
                verdicts[region.name] = .down(
                    reason:
                        "\(region.name) down for \(votes.count) of \(input.knownObservers) observers (\(votes.map(\.observer).sorted().joined(separator: ", ")))"
                )
                continue
            }
            let live = region.observations.filter { $0.live && input.laggingObservers[$0.observer] == nil }
            let healthy = live.filter { $0.health == .healthy }.count
            verdicts[region.name] = !live.isEmpty && healthy * 2 > live.count ? .healthy : .unclear
        }
        return verdicts
    }

    /// The changes due now, given the open incidents (at most one per region) and the verdicts.
    public static func changes(open: [Open], verdicts: [String: Verdict], now: Date, resolveAfter: Duration)
        -> [Change]
    {
        var changes: [Change] = []
        for (region, verdict) in verdicts.sorted(by: { $0.key < $1.key }) {
            let incident = open.first { $0.region == region }
            switch (verdict, incident) {
            case (.down(let reason), nil):
                changes.append(.open(region: region, reason: reason))
            case (.down, let incident?) where incident.recovered:
                changes.append(.flapped(id: incident.id))
            case (.unclear, let incident?) where incident.healthySince != nil:
                changes.append(.recoveryInterrupted(id: incident.id))
            case (.healthy, let incident?):
                if let since = incident.healthySince {
                    if now.timeIntervalSince(since) >= resolveAfter.secondsDouble {
                        changes.append(.resolve(id: incident.id))
                    }
                } else {
                    changes.append(.recovering(id: incident.id, since: now))
                }
            default:
                break
            }
        }
        // Regions no longer configured have no verdict: their incidents close.
        for incident in open where verdicts[incident.region] == nil { changes.append(.resolve(id: incident.id)) }
        return changes
    }
}
