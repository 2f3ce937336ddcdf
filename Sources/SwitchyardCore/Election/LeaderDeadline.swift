/// The leader's own, monotonic, permission to act.
///
/// The server frees the lock of a silent session after `idle_session_timeout` (or the TCP timeouts
/// for a partition). The leader stops acting `stepDownAfter` after the *send* time of its last
/// confirmed round trip on the lock session, which configuration validation keeps shorter than
/// every server-side release route: so a leader that was frozen, paused or cut off has stepped
/// down before anyone else can win the lock. Sending time, not completion time, is used because
/// the server's idle clock may start as soon as the request arrives.
public struct LeaderDeadline: Sendable, Equatable {
    /// How long after a confirmed round trip the leader may still act.
    public let stepDownAfter: Duration
    /// Send time of the newest round trip the server confirmed.
    public private(set) var confirmedAt: ContinuousClock.Instant?

    /// A deadline that allows nothing until the first confirmation.
    public init(stepDownAfter: Duration) {
        self.stepDownAfter = stepDownAfter
    }

    /// Records a round trip on the lock session, sent at `sentAt`, that succeeded.
    public mutating func confirm(sentAt: ContinuousClock.Instant) {
        if let confirmedAt, confirmedAt >= sentAt { return }
        confirmedAt = sentAt
    }

    /// Forgets every confirmation (after stepping down).
    public mutating func reset() { confirmedAt = nil }

    /// True while the leader may act.
    public func allowsActing(at now: ContinuousClock.Instant) -> Bool {
        guard let confirmedAt else { return false }
        return now < confirmedAt + stepDownAfter
    }

    /// Time left to act; zero when expired.
    public func remaining(at now: ContinuousClock.Instant) -> Duration {
        guard let confirmedAt else { return .zero }
        let left = confirmedAt + stepDownAfter - now
        return left > .zero ? left : .zero
    }
}
