/// Whether a failover leader can finish a failover from where it stands. The fence step revokes failsafe
/// leases in `SafetyTiming.revocationQuorum` region databases; a leader whose own probes find fewer of them
/// up (its region cut off from the others, but not from the control database) would wait in that step
/// until the cut heals, or refuse at the lease-wait limit and begin again, for as long as the cut lasts.
/// Such a leader hands failover leadership to an agent that reaches enough of them.
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

    /// True when enough region databases are up for this agent to finish a failover.
    public var canFinish: Bool { reachable.count >= needed }

    /// Why this agent hands failover leadership over (for its log and the events).
    public var handOffReason: String {
        "its probes find \(reachable.count) of \(reachable.count + unreachable.count) region databases up "
            + "(down: \(unreachable.joined(separator: ", "))), and a failover must revoke failsafe leases in \(needed)"
    }
}
