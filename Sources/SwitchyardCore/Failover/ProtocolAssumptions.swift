import Foundation

/// What Switchyard's failover decision assumes of the world, in one place, and the detection bound
/// those assumptions justify. The deterministic simulator (`switchyard bench simulate`) stays inside
/// them unless asked not to (`--beyond`), and checks the decision against them: no failover of a
/// healthy active region, whatever observers, links and clocks do within them; and, when the active
/// region is truly crashed, hung, dark or cut off, a healthy standby exists and a majority of the
/// observers is live, a failover within `detectionBound`. docs/geography.md states them for operators.
public struct ProtocolAssumptions: Sendable, Equatable {
    /// The longest an observer stalls without being restarted (a GC pause, CPU steal, SIGSTOP): its own
    /// timers then overshoot, and it declares itself lagging.
    public var maxObserverPause: Duration
    /// The longest round trip of a healthy link between two sites: below the probe timeout, so a healthy
    /// region's probes succeed.
    public var maxRoundTrip: Duration
    /// The longest one-way trip of an observer's write to the control database.
    public var maxControlTransit: Duration
    /// The largest share of probes a healthy link loses at random.
    public var maxProbeLoss: Double
    /// The largest rate at which two hosts' monotonic clocks drift apart (observers send ages measured
    /// on their own clock; the control database stamps them on its).
    public var maxDriftRate: Double
    /// How long the failover leader's role takes to move to another agent when the leading one is lost
    /// (its lock session ends by `idle_session_timeout`, the next one's lock wait).
    public var leaderHandover: Duration

    /// How many observers may be cut off from sites that are up (their own network's fault) at the same
    /// time: fewer than half of them (one of two). More, and they outvote the rest: a majority that cannot
    /// reach the active region is, for failover, that region's partition.
    public static func maxObserversCutOff(regions: Int) -> Int { max(1, (regions - 1) / 2) }

    /// The assumptions for `configuration`.
    public init(
        probes: ProbeConfig = .init(), election: ElectionConfig = .init(), maxObserverPause: Duration = .seconds(2),
        maxControlTransit: Duration = .milliseconds(250), maxProbeLoss: Double = 0.05, maxDriftRate: Double = 0.0005
    ) {
        self.maxObserverPause = maxObserverPause
        self.maxRoundTrip = min(.milliseconds(500), probes.timeout * 5 / 8)
        self.maxControlTransit = maxControlTransit
        self.maxProbeLoss = maxProbeLoss
        self.maxDriftRate = maxDriftRate
        self.leaderHandover = election.idleSessionTimeout + election.lockWait + election.heartbeatInterval
    }

    /// From the start of a lasting fault of the active region to the failover's start, at most, when a
    /// healthy standby exists and a majority of observers is live, on silence alone (positive evidence is
    /// faster):
    /// - the observers' next probe round starts within a probe `interval` and fails after its `timeout`;
    /// - failing rounds then come every `max(interval / 4, 50 ms)` plus a timeout, and the component is down
    ///   once it has failed for `down_after` (plus one round to see it);
    /// - the observer writes its view every `interval`, and the write takes the control transit;
    /// - the quorum's votes count once down for `failure_grace`;
    /// - the leader decides every 100 ms while a live observer finds the active region failing (up to
    ///   `min(interval, heartbeat_interval)` before it notices), and a lost leader is replaced within
    ///   `leaderHandover`;
    /// - an observer that paused discards its probes and casts no vote for its lag holdoff
    ///   (`max(2 × interval, 1 s)`) after the pause: a pause and a holdoff more;
    /// - drift stretches it all by `maxDriftRate`.
    public func detectionBound(probes: ProbeConfig, failover: FailoverConfig, election: ElectionConfig) -> Duration {
        let round = max(probes.interval / 4, .milliseconds(50)) + probes.timeout
        let firstFailure = probes.interval + probes.timeout
        let down = probes.downAfter + round
        let report = probes.interval + maxControlTransit
        let decide = min(probes.interval, election.heartbeatInterval) + .milliseconds(100)
        let holdoff = max(probes.interval * 2, .seconds(1))
        let pause = maxObserverPause + holdoff + round
        let total = firstFailure + down + report + failover.failureGrace + decide + leaderHandover + pause
        return total * (1 + maxDriftRate)
    }
}
