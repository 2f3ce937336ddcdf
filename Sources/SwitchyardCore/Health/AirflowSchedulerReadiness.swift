/// Whether an Airflow region's schedulers are what its role needs, from one read of its database.
///
/// Only the active region's Switchyard leader runs `airflow scheduler` (`switchyard scheduler --exec`),
/// so a standby has no Airflow scheduler by design: its readiness is a Switchyard scheduler leader with
/// a fresh heartbeat, ready to start the command once the region is activated (or an Airflow scheduler,
/// where an operator runs one everywhere). The active region needs a SchedulerJob whose heartbeat is
/// within Airflow's own threshold, except while its leader is starting the command after activation.
public enum AirflowSchedulerReadiness {
    /// What the probe read.
    public struct Reading: Sendable, Equatable {
        /// SchedulerJobs with a heartbeat within the threshold.
        public var aliveJobs: Int
        /// Seconds since the newest SchedulerJob heartbeat (nil: none running).
        public var jobAge: Double?
        /// Seconds since the Switchyard leader's heartbeat (nil: no leader row).
        public var leaderAge: Double?
        /// Seconds since the region could start `airflow scheduler`: its fence last changed (its activation),
        /// or its dispatch hold ended, whichever is later (negative while the hold lasts).
        public var fenceAge: Double?
        /// The region's fence is open (it may act).
        public var fenceOpen: Bool
        /// Seconds since the current Switchyard leader took over (nil: no leader row).
        public var leaderTenure: Double?
        /// Seconds since any SchedulerJob's last heartbeat, whatever its state now (nil: none ever).
        public var lastBeatAge: Double?

        /// The inputs of one reading.
        public init(
            aliveJobs: Int, jobAge: Double?, leaderAge: Double?, fenceAge: Double?, fenceOpen: Bool,
            leaderTenure: Double? = nil, lastBeatAge: Double? = nil
        ) {
            self.aliveJobs = aliveJobs
            self.jobAge = jobAge
            self.leaderAge = leaderAge
            self.fenceAge = fenceAge
            self.fenceOpen = fenceOpen
            self.leaderTenure = leaderTenure
            self.lastBeatAge = lastBeatAge
        }
    }

    /// nil when ready; else why not (positive evidence: the rows say so).
    ///
    /// - Parameter startWindow: how long a new leader may wait before it starts `airflow scheduler` after a
    ///   hand-off (`step_down_after + exec_grace + 250 ms`); the start-up's own allowance is added on top.
    /// - Parameter startTimeout: how long `airflow scheduler` may take to its first heartbeat once it may
    ///   start (`schedulers.start_timeout`); never less than Airflow's threshold.
    public static func problem(
        _ r: Reading, active: Bool, staleAfter: Duration, leaderStaleAfter: Duration,
        startWindow: Duration = .zero, startTimeout: Duration = SchedulersConfig.airflowDefaultStartTimeout
    ) -> String? {
        let threshold = staleAfter.secondsDouble
        let starting = max(threshold, startTimeout.secondsDouble)
        let leaderFresh = r.leaderAge.map { $0 <= leaderStaleAfter.secondsDouble } ?? false
        // The active region's Switchyard leader is gone: its guards have stopped `airflow scheduler` (SIGTERM,
        // SIGKILL after exec_grace), although a killed scheduler's job row looks alive for up to stale_after.
        if active, let age = r.leaderAge, age > leaderStaleAfter.secondsDouble {
            return
                "the Switchyard scheduler leader's heartbeat is \(Int(age)) s old (stale after \(leaderStaleAfter)): nothing leads the region, so no airflow scheduler runs there"
        }
        if r.aliveJobs > 0 { return nil }
        let noJob = "no running SchedulerJob with a heartbeat in the last \(staleAfter)"
        if active {
            // Just activated (or still held after a failover), or a new leader after a hand-off: it is starting
            // `airflow scheduler`, which registers within `start_timeout` of the moment it may.
            if leaderFresh, r.fenceOpen, let age = r.fenceAge, age <= starting { return nil }
            // A hand-off's grace only when Airflow ran until about the takeover (its last beat within the
            // threshold before it): leaders that keep changing hands while Airflow never starts do not renew
            // the grace with each takeover.
            if leaderFresh, r.fenceOpen, let tenure = r.leaderTenure, tenure <= starting + startWindow.secondsDouble,
                let last = r.lastBeatAge, last <= tenure + threshold
            {
                return nil
            }
            return noJob
        }
        if leaderFresh { return nil }
        return r.leaderAge == nil
            ? "\(noJob), and no Switchyard scheduler leader to start one"
            : "\(noJob), and the Switchyard scheduler leader's heartbeat is \(Int(r.leaderAge ?? 0)) s old (stale after \(leaderStaleAfter))"
    }
}
