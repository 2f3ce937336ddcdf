import SwitchyardCore
import SwitchyardRuntime

/// What a drill measured and whether its expectations held. The first keys are the interface
/// contract's (`scenario`, `passed`, `detect_ms`, `rto_ms`, `runs_in_flight`, `runs_lost`,
/// `runs_twice`, `dual_leader_ms`, `expectations`); the rest add detail.
public struct DrillReport: Codable, Sendable, Equatable {
    /// The scenario's name.
    public var scenario: String
    /// True when every expectation held (and nothing was skipped).
    public var passed: Bool
    /// Fault → detection (the failover began, or the new leader acted); nil when not measured.
    public var detectMs: Double?
    /// Fault → last hook acknowledged (or activation, or the new leader acting).
    public var rtoMs: Double?
    /// Workload runs in flight when the fault struck.
    public var runsInFlight: Int
    /// Of those, runs that never finished anywhere.
    public var runsLost: Int
    /// Of those, runs executed more than once.
    public var runsTwice: Int
    /// Of those, runs the fault's region finished while cut off (running out its lease) after the shadow's
    /// last copy, which the target ran again: at-least-once, as the contract allows; not in `runsTwice`.
    public var runsRerun: Int = 0
    /// Total time two leaders acted at once (0 is the bar).
    public var dualLeaderMs: Double
    /// Each expectation, what was measured and whether it held.
    public var expectations: [DrillExpectation.Outcome]

    /// The fault kind.
    public var fault: String
    /// Why the drill did not run (the partition fault without root), or nil.
    public var skipped: String?
    /// Fault to the fence step finished.
    public var fenceMs: Double?
    /// Fault to the target activated.
    public var activateMs: Double?
    /// Failovers that began after the fault.
    public var failovers: Int
    /// Runs executing in two regions at once.
    public var runsOverlapping: Int
    /// Routing hooks that failed.
    public var hookFailures: Int
    /// 1 when the deployment did not come back healthy after the fault.
    public var unrecovered: Int
    /// Commands stopped (fenced, unconfirmed or abandoned) in any region from the fault to the end.
    public var commandsStopped: Int
    /// Executions that started in the region active before the fault while the fault lasted.
    public var runsStartedDuringFault: Int?
    /// Fault → the first execution that started in the region a failover activated.
    public var firstExecutionMs: Double?
    /// Workload runs that succeeded in the region active after the fault (where they were moved to).
    public var runsFinishedInTarget: Int?
    /// Airflow drills, from the drill DAG's ledger (`AirflowLedger`): task attempts recorded.
    public var taskAttempts: Int?
    /// Task instances with attempts in two regions at once.
    public var attemptsOverlapping: Int?
    /// Task instances run again after an attempt had finished its work.
    public var tasksRerunAfterFinishing: Int?
    /// Moved from the shadow (the old database lost): task instances whose work finished after the shadow's
    /// last copy and ran again in the target (at least once: no copy could know), counted apart.
    public var tasksRerunAfterShadowCopy: Int?
    /// Task instances of the workload never finished anywhere.
    public var tasksUnfinished: Int?
    /// Fault → the last task attempt's work finished.
    public var lastTaskFinishedMs: Double?
    /// The failover the fault caused, if any.
    public var failover: FailoverSummary?
    /// The region active before the fault, and after the drill.
    public var activeBefore: String?
    /// The region active when the drill ended.
    public var activeAfter: String?
    /// Overlaps of acting intervals, one line each (empty when the invariants held).
    public var dualLeader: [String]
    /// What happened, in order, in milliseconds from the fault.
    public var timeline: [TimelineEntry]
    /// A Patroni control database's failover: the primary's crash → another member accepts writes.
    public var controlPromotedMs: Double?
    /// The member Patroni promoted.
    public var controlPromoted: String?
    /// Writes committed on the crashed primary (a marker event, committed just before) the new primary lacks.
    public var controlWritesLost: Int?
    /// Campaign only: faults that must not fail over after which one began.
    public var falseFailovers: Int?
    /// Campaign only: faults that must fail over after which none began.
    public var missedFailovers: Int?
    /// Campaign only: totals and one report per fault.
    public var totals: CampaignTotals?
    /// Campaign only: one report per fault.
    public var rounds: [DrillReport]?

    /// Creates an empty report for a scenario and fault.
    public init(scenario: String, fault: String) {
        self.scenario = scenario
        self.fault = fault
        passed = false
        runsInFlight = 0
        runsLost = 0
        runsTwice = 0
        dualLeaderMs = 0
        expectations = []
        failovers = 0
        runsOverlapping = 0
        hookFailures = 0
        unrecovered = 0
        commandsStopped = 0
        dualLeader = []
        timeline = []
    }

    /// The failover a drill caused.
    public struct FailoverSummary: Codable, Sendable, Equatable {
        /// The failover's id.
        public var id: Int
        /// What started it.
        public var kind: String
        /// The region it moved away from.
        public var from: String?
        /// The region it moved to.
        public var to: String
        /// How it ended.
        public var state: String
        /// Active runs it copied.
        public var runsMoved: Int?
        /// Where from: `table` or `shadow`.
        public var runsSource: String?
        /// The agent (observer) that began it.
        public var leader: String?

        /// Creates a value.
        public init(
            id: Int, kind: String, from: String?, to: String, state: String, runsMoved: Int?, runsSource: String?,
            leader: String? = nil
        ) {
            self.leader = leader
            self.id = id
            self.kind = kind
            self.from = from
            self.to = to
            self.state = state
            self.runsMoved = runsMoved
            self.runsSource = runsSource
        }
    }

    /// One line of the timeline.
    public struct TimelineEntry: Codable, Sendable, Equatable {
        /// Milliseconds from the fault (negative before it).
        public var atMs: Double
        /// What happened.
        public var event: String

        /// Creates a value.
        public init(atMs: Double, event: String) {
            self.atMs = (atMs * 10).rounded() / 10
            self.event = event
        }
    }

    /// A campaign's totals.
    public struct CampaignTotals: Codable, Sendable, Equatable {
        /// Faults injected.
        public var faults: Int
        /// Faults skipped (not runnable here).
        public var skipped: Int
        /// Failovers that began after the fault.
        public var failovers: Int
        /// Faults the deployment recovered from.
        public var recovered: Int
        /// Faults that must not fail over after which one began (the checker's first judgement).
        public var falseFailovers: Int
        /// Faults that must fail over after which none began.
        public var missedFailovers: Int
        /// 99th percentile of recovery time (the worst below 100 faults).
        public var rtoP99Ms: Double?
        /// Median recovery time.
        public var rtoMedianMs: Double?
        /// Worst recovery time.
        public var rtoWorstMs: Double?
        /// Median detection time.
        public var detectMedianMs: Double?
        /// Workload runs in flight when the fault struck.
        public var runsInFlight: Int
        /// Of those, runs that never finished anywhere.
        public var runsLost: Int
        /// Of those, runs executed more than once.
        public var runsTwice: Int
        /// Runs executing in two regions at once.
        public var runsOverlapping: Int
        /// Total time two leaders acted at once (0 is the bar).
        public var dualLeaderMs: Double
        /// Intervals in which two leaders acted at once.
        public var dualLeaderIntervals: Int
        /// Faults per kind.
        public var byFault: [String: Int]
    }

    /// The measured value of a metric, nil when it was not measured.
    public func value(of metric: DrillMetric) -> Double? {
        switch metric {
        case .failovers: Double(failovers)
        case .detectMs: detectMs
        case .fenceMs: fenceMs
        case .activateMs: activateMs
        case .rtoMs: rtoMs
        case .runsInFlight: Double(runsInFlight)
        case .runsLost: Double(runsLost)
        case .runsTwice: Double(runsTwice)
        case .dualLeaderMs: dualLeaderMs
        case .runsOverlapping: Double(runsOverlapping)
        case .hookFailures: Double(hookFailures)
        case .unrecovered: Double(unrecovered)
        case .commandsStopped: Double(commandsStopped)
        case .runsStartedDuringFault: runsStartedDuringFault.map(Double.init)
        case .firstExecutionMs: firstExecutionMs
        case .runsFinishedInTarget: runsFinishedInTarget.map(Double.init)
        case .attemptsOverlapping: attemptsOverlapping.map(Double.init)
        case .tasksRerunAfterFinishing: tasksRerunAfterFinishing.map(Double.init)
        case .tasksUnfinished: tasksUnfinished.map(Double.init)
        case .falseFailovers: falseFailovers.map(Double.init)
        case .missedFailovers: missedFailovers.map(Double.init)
        case .controlPromotedMs: controlPromotedMs
        case .controlWritesLost: controlWritesLost.map(Double.init)
        }
    }

    /// Checks every expectation and sets `passed`.
    public mutating func evaluate(_ expectations: [DrillExpectation]) {
        self.expectations = expectations.map { $0.check(value(of: $0.metric)) }
        passed = skipped == nil && self.expectations.allSatisfy(\.held)
    }

    /// Folds per-fault reports into a campaign report: sums, the worst and the median.
    public static func campaign(scenario: String, rounds: [DrillReport]) -> DrillReport {
        var report = DrillReport(scenario: scenario, fault: "campaign")
        let ran = rounds.filter { $0.skipped == nil }
        let rtos = ran.compactMap(\.rtoMs).sorted()
        let detects = ran.compactMap(\.detectMs).sorted()
        func median(_ values: [Double]) -> Double? { values.isEmpty ? nil : values[(values.count - 1) / 2] }
        report.rounds = rounds
        report.failovers = ran.reduce(0) { $0 + $1.failovers }
        report.runsInFlight = ran.reduce(0) { $0 + $1.runsInFlight }
        report.runsLost = ran.reduce(0) { $0 + $1.runsLost }
        report.runsTwice = ran.reduce(0) { $0 + $1.runsTwice }
        report.runsRerun = ran.reduce(0) { $0 + $1.runsRerun }
        report.runsOverlapping = ran.reduce(0) { $0 + $1.runsOverlapping }
        report.hookFailures = ran.reduce(0) { $0 + $1.hookFailures }
        report.dualLeaderMs = ran.reduce(0) { $0 + $1.dualLeaderMs }
        report.dualLeader = ran.flatMap(\.dualLeader)
        report.unrecovered = ran.reduce(0) { $0 + $1.unrecovered }
        report.commandsStopped = ran.reduce(0) { $0 + $1.commandsStopped }
        report.firstExecutionMs = ran.compactMap(\.firstExecutionMs).max()
        let finished = ran.compactMap(\.runsFinishedInTarget)
        report.runsFinishedInTarget = finished.isEmpty ? nil : finished.reduce(0, +)
        report.rtoMs = rtos.last
        report.detectMs = detects.last
        report.fenceMs = ran.compactMap(\.fenceMs).max()
        report.activateMs = ran.compactMap(\.activateMs).max()
        report.activeBefore = rounds.first?.activeBefore
        report.activeAfter = rounds.last?.activeAfter
        // The checker: whether each fault should have failed over is its kind's (the active region was
        // harmed, a healthy standby and a live majority remained); the journal says whether one began.
        let expects = { (round: DrillReport) in DrillFault.Kind(rawValue: round.fault)?.expectsFailover }
        report.falseFailovers = ran.filter { expects($0) == false && $0.failovers > 0 }.count
        report.missedFailovers = ran.filter { expects($0) == true && $0.failovers == 0 }.count
        let p99 = rtos.isEmpty ? nil : rtos[min(rtos.count - 1, Int((Double(rtos.count) * 0.99).rounded(.up)) - 1)]
        report.totals = CampaignTotals(
            faults: rounds.count, skipped: rounds.count - ran.count, failovers: report.failovers,
            recovered: ran.count - report.unrecovered, falseFailovers: report.falseFailovers ?? 0,
            missedFailovers: report.missedFailovers ?? 0, rtoP99Ms: p99, rtoMedianMs: median(rtos),
            rtoWorstMs: rtos.last,
            detectMedianMs: median(detects), runsInFlight: report.runsInFlight, runsLost: report.runsLost,
            runsTwice: report.runsTwice, runsOverlapping: report.runsOverlapping,
            dualLeaderMs: report.dualLeaderMs,
            dualLeaderIntervals: report.dualLeader.count,
            byFault: Dictionary(rounds.map { ($0.fault, 1) }, uniquingKeysWith: +))
        return report
    }
}
