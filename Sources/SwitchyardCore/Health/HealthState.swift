/// The health of a component or a region, as an observer sees it.
public enum HealthState: String, Sendable, Codable, Equatable, Comparable, CaseIterable {
    /// Answering within its deadline.
    case healthy
    /// Failing, but not yet for long enough to be called down.
    case suspect
    /// Failing for at least `failures_to_down` probes or `down_after`.
    case down
    /// Not probed yet.
    case unknown

    var severity: Int {
        switch self {
        case .healthy: 0
        case .unknown: 1
        case .suspect: 2
        case .down: 3
        }
    }

    /// Orders by severity: healthy < unknown < suspect < down.
    public static func < (lhs: HealthState, rhs: HealthState) -> Bool { lhs.severity < rhs.severity }
}
