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
        /// Seconds since the region's fence last changed (its activation), and whether it is open.
        public var fenceAge: Double?
        public var fenceOpen: Bool

        public init(aliveJobs: Int, jobAge: Double?, leaderAge: Double?, fenceAge: Double?, fenceOpen: Bool) {
            self.aliveJobs = aliveJobs
            self.jobAge = jobAge
            self.leaderAge = leaderAge
            self.fenceAge = fenceAge
            self.fenceOpen = fenceOpen
        }
    }

    /// nil when ready; else why not (positive evidence: the rows say so).
    public static func problem(_ r: Reading, active: Bool, staleAfter: Duration, leaderStaleAfter: Duration) -> String? {
        let threshold = staleAfter.secondsDouble
        let leaderFresh = r.leaderAge.map { $0 <= leaderStaleAfter.secondsDouble } ?? false
        if r.aliveJobs > 0 { return nil }
        let noJob = "no running SchedulerJob with a heartbeat in the last \(staleAfter)"
        if active {
            // Just activated: its leader is starting `airflow scheduler`, which registers within Airflow's threshold.
            if leaderFresh, r.fenceOpen, let age = r.fenceAge, age <= threshold { return nil }
            return noJob
        }
        if leaderFresh { return nil }
        return r.leaderAge == nil
            ? "\(noJob), and no Switchyard scheduler leader to start one"
            : "\(noJob), and the Switchyard scheduler leader's heartbeat is \(Int(r.leaderAge ?? 0)) s old (stale after \(leaderStaleAfter))"
    }
}
