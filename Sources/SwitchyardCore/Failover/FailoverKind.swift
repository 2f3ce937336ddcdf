/// What started a failover, as the journal and the operator requests record it.
public enum FailoverKind: String, Sendable, Codable, CaseIterable {
    /// A failover the decision agreed with: automatic, or an operator's that the decision picks.
    case failover
    /// An operator's failover the decision need not agree with (`--force`, `"force": true`); the
    /// target's own health is still checked.
    case forced
    /// A planned switchover: the old region drains instead of being killed.
    case switchover
}

/// Where a journaled failover stands.
public enum FailoverState: String, Sendable, Codable, CaseIterable {
    /// Steps remain; the next failover leader resumes it.
    case running
    /// Every step finished and every required hook acknowledged.
    case completed
    /// Every step finished, but a required hook failed.
    case completedWithErrors = "completed_with_errors"
    /// Given up (not written by this version; kept for journals that have it).
    case aborted
}
