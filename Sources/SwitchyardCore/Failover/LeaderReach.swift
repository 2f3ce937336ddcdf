/// Whether a failover leader can finish a failover from where it stands. The fence step revokes failsafe
/// leases in `SafetyTiming.revocationQuorum` region databases and the migration writes to the target; a
/// leader whose own probes find fewer of them up, or the target down (its region cut off from the others,
/// but not from the control database), would wait in those steps until the cut heals, or refuse at the
/// lease-wait limit and begin again, for as long as the cut lasts. Such a leader hands failover leadership
/// over, but only when another live observer is better placed: a database that hangs fails this agent's
/// probes (they open connections) while the sessions a leader already holds still answer, so when every
/// observer's view is as poor as this one's, this leader stays and tries.
public struct LeaderReach: Sendable, Equatable {
    /// The region databases this agent's probes find up (healthy, suspect, or not probed yet), sorted.
    public var reachable: [String]
    /// The ones its probes find down, sorted.
    public var unreachable: [String]
    /// How many a failover must reach.
    public var needed: Int

    /// From this agent's view of each region's database. A suspect database still counts: one failed
    /// probe is a blip, not a cut (a database is down after `failures_to_down` probes and `down_after`,
    /// well before the others' observers agree a region is down and a failover begins).
    public init(databases: [String: HealthState]) {
        reachable = databases.filter { $0.value != .down }.keys.sorted()
        unreachable = databases.filter { $0.value == .down }.keys.sorted()
        needed = SafetyTiming.revocationQuorum(regions: databases.count)
    }

    /// True when this agent reaches enough region databases, the target's among them, to finish a failover.
    public func canFinish(target: String) -> Bool { reachable.count >= needed && !unreachable.contains(target) }

    /// A live observer other than `me`, not lagging, whose view of the regions would let it finish a
    /// failover to `target` (its view of a region: up unless down); nil when none would.
    public static func betterPlaced(than me: String, target: String, in input: FailoverDecision.Input) -> String? {
        let needed = SafetyTiming.revocationQuorum(regions: input.regions.count)
        var views: [String: [String: HealthState]] = [:]
        for region in input.regions {
            for o in region.observations where o.live && o.observer != me && input.laggingObservers[o.observer] == nil {
                views[o.observer, default: [:]][region.name] = o.health
            }
        }
        return views.filter { _, view in
            view.count == input.regions.count && view[target] != .down
                && view.values.filter { $0 != .down }.count >= needed
        }.keys.sorted().first
    }

    /// Why this agent hands failover leadership over (for its log and the events).
    public func handOffReason(target: String, to other: String) -> String {
        "its probes find \(reachable.count) of \(reachable.count + unreachable.count) region databases up "
            + "(down: \(unreachable.joined(separator: ", "))); a failover to \(target) must reach it and revoke "
            + "failsafe leases in \(needed); \(other)'s observer reaches them"
    }
}
