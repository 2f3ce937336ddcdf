import Foundation

/// An observer's judgement of itself, as Redis Sentinel's TILT mode judges its own timer: when the
/// observer's own timers or round trips overshoot their budget by more than `threshold`, the observer
/// was starved (a busy host, a pause, a stop signal) and what it missed during that window says
/// nothing about its targets. Probes that overlap a lag window are inconclusive, and for `holdoff`
/// after the last one the observer declares itself lagging: it casts no down vote.
public struct ObserverSelfHealth: Sendable {
    /// A stretch of time in which the observer did not run as it should have.
    public struct Window: Sendable, Equatable {
        /// When the lag began.
        public var start: ContinuousClock.Instant
        /// When it ended.
        public var end: ContinuousClock.Instant
        /// What lagged, and by how much.
        public var reason: String
    }

    /// An overshoot above this is lag.
    public let threshold: Duration
    /// How long after its last lag the observer still declares itself lagging.
    public let holdoff: Duration
    /// Recent lag windows, oldest first.
    public private(set) var windows: [Window] = []
    /// Recent durations of each thing measured against its own baseline (`measuredAgainstBaseline`).
    private var samples: [String: [Duration]] = [:]
    /// How many recent samples a baseline is taken from: minutes of them, so a loaded stretch of a
    /// minute or two does not become the baseline.
    public static let baselineSamples = 300
    /// Lag windows seen since the start.
    public private(set) var lagEvents = 0

    /// Creates a tracker.
    public init(threshold: Duration, holdoff: Duration) {
        self.threshold = threshold
        self.holdoff = holdoff
    }

    /// The thresholds for a probe configuration: lag is an overshoot of half the probe timeout (at
    /// least 100 ms); an observer declares it for two probe intervals (at least a second) after.
    public init(probes: ProbeConfig) {
        self.init(
            threshold: max(probes.timeout / 2, .milliseconds(100)), holdoff: max(probes.interval * 2, .seconds(1)))
    }

    /// Records something that was budgeted `expected` and took `actual`, ending at `end`; returns true
    /// when it was lag.
    @discardableResult
    public mutating func measured(
        _ what: String, expected: Duration, actual: Duration, endedAt end: ContinuousClock.Instant
    ) -> Bool {
        guard actual - expected > threshold else { return false }
        let ms = { (d: Duration) in Int((d.secondsDouble * 1000).rounded()) }
        windows.append(
            Window(
                start: end - actual, end: end, reason: "\(what) took \(ms(actual)) ms of a \(ms(expected)) ms budget"))
        lagEvents += 1
        let horizon = end - .seconds(60)
        windows.removeAll { $0.end < horizon }
        return true
    }

    /// The baseline of what `key` names: the 10th percentile of its recent samples (nil before the
    /// first). A far link is slow in every sample, so its low percentile is its normal; a loaded host
    /// is slow in some, and they stay above it.
    public func baseline(_ key: String) -> Duration? {
        guard let recent = samples[key], !recent.isEmpty else { return nil }
        return recent.sorted()[recent.count / 10]
    }

    /// Records something whose normal duration depends on where the observer stands (a round trip to a
    /// control database 30 or 250 ms away): it is lag only when it overshoots the larger of `budget` and
    /// this observer's own baseline for it by more than `threshold`, so a far control database is this
    /// observer's normal, not its lag. Each sample joins the baseline whether or not it was lag; a low
    /// percentile of minutes of samples ignores a loaded stretch, while a lasting change of link moves it.
    @discardableResult
    public mutating func measuredAgainstBaseline(
        _ what: String, key: String, budget: Duration, actual: Duration, endedAt end: ContinuousClock.Instant
    ) -> Bool {
        let expected = max(budget, baseline(key) ?? budget)
        var recent = samples[key] ?? []
        recent.append(actual)
        if recent.count > Self.baselineSamples { recent.removeFirst(recent.count - Self.baselineSamples) }
        samples[key] = recent
        return measured(what, expected: expected, actual: actual, endedAt: end)
    }

    /// True when a lag window overlaps `[start, end]`: a failure seen then is inconclusive.
    public func taints(start: ContinuousClock.Instant, end: ContinuousClock.Instant) -> Bool {
        windows.contains { $0.start <= end && $0.end >= start }
    }

    /// Why the observer is lagging at `now`, or nil when it is not.
    public func lagging(at now: ContinuousClock.Instant) -> String? {
        guard let last = windows.last, now - last.end < holdoff else { return nil }
        return last.reason
    }

    /// The length of the last lag window still within the holdoff.
    public func lag(at now: ContinuousClock.Instant) -> Duration? {
        guard let last = windows.last, now - last.end < holdoff else { return nil }
        return last.end - last.start
    }
}
