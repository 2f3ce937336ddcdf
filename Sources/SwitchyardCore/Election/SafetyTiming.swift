/// Every duration a safety invariant rests on, derived from the configuration in one place and read
/// by every component: the scheduler leader (its leases and the fence validity it pushes), the worker
/// (its fence checks and its command's kill grace), the failover (how long it waits and holds), and
/// the config loader (which refuses combinations that cannot hold).
///
/// The chain it keeps: a region's leader acts only while a lease holds (the active-region lease in the
/// control database, or the failsafe lease confirmed by a majority of region databases); each tick
/// pushes what is left of it, less `validityMargin`, to its region's fence as `open_until`; a worker
/// runs a command only while the `open_until` it last read holds (measured from when it sent that
/// read), and its guard stops the command by itself at the same instant; so every command of a region
/// that lost its lease has stopped `stopBound` after the lease ended. A failover that could not fence
/// the old region waits the leases out and then holds the target's dispatches for `stopBound`.
public struct SafetyTiming: Sendable, Equatable {
    /// The active-region lease lifetime (`failover.lease_ttl`); the failsafe lease has the same.
    public var leaseTTL: Duration
    /// How often both leases are renewed (`failover.lease_renew_interval`).
    public var leaseRenewInterval: Duration
    /// The leader's tick, which pushes the fence validity (`election.heartbeat_interval`).
    public var tickInterval: Duration
    /// How long a leader acts without a confirmed round trip on its lock session.
    public var stepDownAfter: Duration
    /// SIGTERM to SIGKILL for a leader-gated `--exec` command (`election.exec_grace`).
    public var execGrace: Duration
    /// Time allowed to write the fence into the old region (`failover.fence_timeout`).
    public var fenceTimeout: Duration
    /// The most two hosts may disagree about one bound (`failover.max_clock_drift`): every bound that one
    /// host waits out for another carries it.
    public var maxClockDrift: Duration

    /// Taken off the fence validity a tick pushes: the time between computing it and the region
    /// database stamping it, and the one-way latency between the leader and its database.
    public var validityMargin: Duration = .milliseconds(250)
    /// How often a worker running a command reads its region's fence.
    public var fenceCheckInterval: Duration = .milliseconds(500)
    /// How long that read may take (a loaded database answers in hundreds of milliseconds; a read that
    /// timed out costs a reconnect).
    public var fenceQueryTimeout: Duration = .milliseconds(800)
    /// How long a worker may take to reconnect to its region database before a read (SCRAM on a loaded host).
    public var fenceReconnectTimeout: Duration = .seconds(1)
    /// SIGTERM to SIGKILL for a worker's command.
    public var killGrace: Duration = .seconds(2)
    /// A guard's poll period plus the scheduling delay of a loaded host before it acts on a deadline.
    public var guardSlack: Duration = .milliseconds(250)

    /// Derives the timing from the control-plane configuration.
    public init(_ controlPlane: ControlPlaneConfig) {
        self.init(election: controlPlane.election, failover: controlPlane.failover)
    }

    /// Derives the timing from the election and failover sections.
    public init(election: ElectionConfig, failover: FailoverConfig) {
        leaseTTL = failover.leaseTTL
        leaseRenewInterval = failover.leaseRenewInterval
        tickInterval = election.heartbeatInterval
        stepDownAfter = election.stepDownAfter
        execGrace = election.execGrace
        fenceTimeout = failover.fenceTimeout
        maxClockDrift = failover.maxClockDrift
    }

    // MARK: Leases

    /// The failsafe lease lives as long as the active-region lease.
    public var failsafeTTL: Duration { leaseTTL }
    /// How long one renewal (a reconnect with SCRAM on a loaded host, or a round trip) may take before it
    /// counts as failed: it must leave the lease time to be renewed again before it ends.
    public var renewalTimeout: Duration { min(max(leaseRenewInterval * 2, .milliseconds(500)), leaseTTL / 3) }

    /// The regions a failsafe lease needs: a majority of all regions, its own included.
    public static func failsafeQuorum(regions: Int) -> Int { regions / 2 + 1 }

    /// The region databases a failover must revoke failsafe leases in before it can trust what it read:
    /// enough that every majority that could confirm a lease shares at least one of them.
    public static func revocationQuorum(regions: Int) -> Int { regions - failsafeQuorum(regions: regions) + 1 }

    /// The fence validity a tick pushes, given what was left of the lease when the tick was sent and the
    /// time since; nil when nothing is left.
    public func fenceValidity(leaseLeft: Duration, sinceSent: Duration) -> Duration? {
        let left = leaseLeft - sinceSent - validityMargin
        return left > .zero ? left : nil
    }

    // MARK: Workers

    /// A worker trusts a fence read that carries no validity (just activated, or a draining switchover's
    /// closed fence) this long after sending it.
    public var unboundedFenceTrust: Duration { leaseTTL / 2 }

    /// How long a worker trusts a fence read, from when it sent it: until the validity it carries ends (a
    /// leader pushes at most a lease TTL; a larger one is capped there), so reads may fail for most of a
    /// TTL (a loaded database, a reconnect) before a healthy region's command is stopped, and a worker that
    /// stops reading (frozen, its database hung) stops its command when the region's lease ends.
    public func workerTrust(validityLeft: Duration?) -> Duration {
        guard let validityLeft else { return unboundedFenceTrust }
        return max(.zero, min(validityLeft, leaseTTL))
    }

    // MARK: Failover

    /// Once the old region's last lease has ended, every command it ran (a worker's, or a leader-gated
    /// `--exec` command) has stopped within this: SIGTERM at the end, SIGKILL a grace later, the guard's
    /// slack, and the drift between the host that measured the lease and the hosts that ran the commands.
    public var stopBound: Duration { max(killGrace, execGrace) + guardSlack + maxClockDrift }

    /// A leader-gated `--exec` command has stopped within this of its leader's last confirmed heartbeat,
    /// or of a fence written in its region's database (a tick after the fence sees it; one before it was
    /// sent before it): the leader acts `step_down_after` past its last confirmation, its guard then sends
    /// SIGTERM, SIGKILL `exec_grace` later. A successor in the same region, and a failover's target, start
    /// their own command no earlier.
    public var execStopBound: Duration { stepDownAfter + execGrace + guardSlack + maxClockDrift }

    /// After a fence is written in a region's database, every worker's command there has stopped within
    /// this: a worker trusts its last fence read (sent before the fence) for at most a lease TTL, its guard
    /// then sends SIGTERM and SIGKILL a kill grace later. A worker whose claim was checked before the fence
    /// trusts it from the claim's send, the same bound.
    public var workerStopBound: Duration { leaseTTL + killGrace + guardSlack + maxClockDrift }

    /// After a fence is written in a region's database, every gated command there (`switchyard worker
    /// --exec`: a Celery worker) has stopped within this: its worker trusts its last fence read (sent before
    /// the fence) for at most a lease TTL, its guard then sends SIGTERM (a Celery worker's warm shutdown,
    /// which lets its running tasks finish) and SIGKILL `exec_grace` later.
    public var gatedStopBound: Duration { leaseTTL + execGrace + guardSlack + maxClockDrift }

    /// How long the target holds its dispatches, counted from when the failover knew the old region's
    /// leases had ended, given the time since.
    public func dispatchHold(sinceLeasesEnded: Duration) -> Duration {
        max(.zero, stopBound - sinceLeasesEnded)
    }

    /// How long a target activated after fencing the old region in its own database holds its dispatches
    /// and leader-gated command, counted from the fence step's end (which is after the fence was written):
    /// while workers there may still run an execution (`executionsRunning`), `workerStopBound`; while its
    /// leader may still run a leader-gated command (`leaderCommandStopped` false), `execStopBound`; while a
    /// gated command may still run there (`gatedCommandsRunning`), `gatedStopBound`. Nil when nothing there
    /// can still run.
    public func fencedHold(
        executionsRunning: Bool, leaderCommandStopped: Bool, gatedCommandsRunning: Bool = false,
        sinceFenced: Duration
    ) -> Duration? {
        var bound = Duration.zero
        if executionsRunning { bound = max(bound, workerStopBound) }
        if !leaderCommandStopped { bound = max(bound, execStopBound) }
        if gatedCommandsRunning { bound = max(bound, gatedStopBound) }
        let left = bound - sinceFenced
        return left > .zero ? left : nil
    }

    /// How long the fence step waits for the old region's active-region lease and failsafe leases to
    /// end before it refuses to activate the target: two lease lifetimes (one renewal may have just
    /// succeeded), the fence attempt, and the drift between the hosts.
    public var leaseWaitLimit: Duration { leaseTTL * 2 + fenceTimeout + renewalTimeout + maxClockDrift * 2 }

    // MARK: Validation

    /// A combination of settings the safety chain cannot hold with.
    public struct Problem: Sendable, Equatable {
        /// The section (`election` or `failover`).
        public var section: String
        /// The field to change.
        public var field: String
        /// Why, with the numbers.
        public var message: String
    }

    /// Every impossible combination, empty when the timing holds.
    public func problems() -> [Problem] {
        var problems: [Problem] = []
        // A worker must be able to read a fresh validity before the one it holds ends, or commands stop
        // between two renewals on a healthy region: the lease is renewed at most `leaseRenewInterval`
        // after its last renewal, pushed at the next tick, and read at the worker's next check.
        let chain = leaseRenewInterval + tickInterval + validityMargin + fenceCheckInterval + fenceQueryTimeout
        if chain >= leaseTTL {
            problems.append(
                Problem(
                    section: "failover", field: "lease_ttl",
                    message: "failover.lease_ttl (\(leaseTTL.configText)) must exceed failover.lease_renew_interval + "
                        + "election.heartbeat_interval + the validity margin and a worker's fence check "
                        + "(\(chain.configText)): otherwise workers stop their commands between two renewals of a healthy lease"
                ))
        }
        // Every wait for another host carries the drift margin; one as long as half a lease says the clocks
        // cannot be trusted to measure a lease at all.
        if maxClockDrift * 2 >= leaseTTL {
            problems.append(
                Problem(
                    section: "failover", field: "max_clock_drift",
                    message: "failover.max_clock_drift (\(maxClockDrift.configText)) must be less than half of "
                        + "failover.lease_ttl (\(leaseTTL.configText)): hosts whose clocks disagree that much about "
                        + "a lease cannot share one"))
        }
        if renewalTimeout < .milliseconds(100) {
            problems.append(
                Problem(
                    section: "failover", field: "lease_ttl",
                    message:
                        "failover.lease_ttl (\(leaseTTL.configText)) leaves a lease renewal \(renewalTimeout.configText), "
                        + "less than 100ms, to reach a database"))
        }
        return problems
    }
}
