/// The journaled steps of a failover, in order. Each is idempotent, and each transition is written
/// to the control database before the next step starts, so a new failover leader resumes a running
/// failover at its recorded step and finishes it exactly once.
public enum FailoverStep: String, Sendable, Codable, CaseIterable, Comparable {
    /// Journal row written, epoch bumped, active region cleared.
    case begin
    /// The old region fenced in its own database, or its active-region lease waited out.
    case fence
    /// Active runs copied to the target (from the old database, else the target's shadow copy).
    case migrate
    /// The target's fence opened with the new epoch; the target set active.
    case activate
    /// Routing hooks called; results journaled.
    case route
    /// Journal closed; notification hooks called.
    case complete

    /// The step after this one, nil after `complete`.
    public var next: FailoverStep? {
        let all = Self.allCases
        guard let index = all.firstIndex(of: self), index + 1 < all.count else { return nil }
        return all[index + 1]
    }

    /// Steps still to run for a failover whose journal says `recorded` is the current step and
    /// whether that step finished.
    public static func remaining(recorded: FailoverStep, finished: Bool) -> [FailoverStep] {
        let start = finished ? recorded.next : recorded
        guard let start else { return [] }
        return allCases.filter { $0 >= start }
    }

    /// Declaration order.
    public static func < (lhs: FailoverStep, rhs: FailoverStep) -> Bool {
        allCases.firstIndex(of: lhs)! < allCases.firstIndex(of: rhs)!
    }
}
