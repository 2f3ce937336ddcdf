/// What kind of failure a probe found, because the two deserve different patience.
///
/// Positive evidence is the target itself saying it is dead or unfit: a connection refused or reset by
/// it, a server shutting down or read-only where it must be primary, authentication rejected, Redis
/// `LOADING`/`MASTERDOWN`, a scheduler heartbeat row that is there and stale, a health URL that answers
/// an error. It cannot be produced by a slow or starved observer, so a quorum of it may fail over fast.
///
/// Silence is nothing answering in time: the target may be hung or cut off, or the observer (or the
/// network between) may be the one that is slow. It needs longer corroboration, and silence towards
/// most regions at once is taken as the observer's own problem.
public enum Evidence: String, Sendable, Codable, Equatable, CaseIterable {
    case positive
    case silence
}
