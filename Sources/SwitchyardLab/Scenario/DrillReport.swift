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
    public var detect_ms: Double?
    /// Fault → last hook acknowledged (or activation, or the new leader acting).
    public var rto_ms: Double?
    /// Workload runs in flight when the fault struck.
    public var runs_in_flight: Int
    /// Of those, runs that never finished anywhere.
    public var runs_lost: Int
    /// Of those, runs executed more than once.
    public var runs_twice: Int
    /// Total time two leaders acted at once (0 is the bar).
    public var dual_leader_ms: Double
    /// Each expectation, what was measured and whether it held.
    public var expectations: [DrillExpectation.Outcome]

    /// The fault kind.
    public var fault: String
    /// Why the drill did not run (the partition fault without root), or nil.
    public var skipped: String?
    /// Fault to the fence step finished.
    public var fence_ms: Double?
    /// Fault to the target activated.
    public var activate_ms: Double?
    /// Failovers that began after the fault.
    public var failovers: Int
    /// Runs executing in two regions at once.
    public var runs_overlapping: Int
    /// Routing hooks that failed.
    public var hook_failures: Int
    /// 1 when the deployment did not come back healthy after the fault.
    public var unrecovered: Int
    /// Commands stopped (fenced, unconfirmed or abandoned) in any region from the fault to the end.
    public var commands_stopped: Int
    /// Executions that started in the region active before the fault while the fault lasted.
    public var runs_started_during_fault: Int?
    /// Fault → the first execution that started in the region a failover activated.
    public var first_execution_ms: Double?
    /// Workload runs that succeeded in the region active after the fault (where they were moved to).
    public var runs_finished_in_target: Int?
    /// The failover the fault caused, if any.
    public var failover: FailoverSummary?
    /// The region active before the fault, and after the drill.
    public var active_before: String?
    /// The region active when the drill ended.
    public var active_after: String?
    /// Overlaps of acting intervals, one line each (empty when the invariants held).
    public var dual_leader: [String]
    /// What happened, in order, in milliseconds from the fault.
    public var timeline: [TimelineEntry]
    /// Campaign only: totals and one report per fault.
    public var totals: CampaignTotals?
    /// Campaign only: one report per fault.
    public var rounds: [DrillReport]?

    /// Creates an empty report for a scenario and fault.
    public init(scenario: String, fault: String) {
        self.scenario = scenario
        self.fault = fault
        passed = false
        runs_in_flight = 0
        runs_lost = 0
        runs_twice = 0
        dual_leader_ms = 0
        expectations = []
        failovers = 0
        runs_overlapping = 0
        hook_failures = 0
        unrecovered = 0
        commands_stopped = 0
        dual_leader = []
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
        public var runs_moved: Int?
        /// Where from: `table` or `shadow`.
        public var runs_source: String?

        /// Creates a value.
        public init(
            id: Int, kind: String, from: String?, to: String, state: String, runs_moved: Int?, runs_source: String?
        ) {
            self.id = id
            self.kind = kind
            self.from = from
            self.to = to
            self.state = state
            self.runs_moved = runs_moved
            self.runs_source = runs_source
        }
    }

    /// One line of the timeline.
    public struct TimelineEntry: Codable, Sendable, Equatable {
        /// Milliseconds from the fault (negative before it).
        public var at_ms: Double
        /// What happened.
        public var event: String

        /// Creates a value.
        public init(at_ms: Double, event: String) {
            self.at_ms = (at_ms * 10).rounded() / 10
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
        /// Median recovery time.
        public var rto_median_ms: Double?
        /// Worst recovery time.
        public var rto_worst_ms: Double?
        /// Median detection time.
        public var detect_median_ms: Double?
        /// Workload runs in flight when the fault struck.
        public var runs_in_flight: Int
        /// Of those, runs that never finished anywhere.
        public var runs_lost: Int
        /// Of those, runs executed more than once.
        public var runs_twice: Int
        /// Runs executing in two regions at once.
        public var runs_overlapping: Int
        /// Total time two leaders acted at once (0 is the bar).
        public var dual_leader_ms: Double
        /// Intervals in which two leaders acted at once.
        public var dual_leader_intervals: Int
        /// Faults per kind.
        public var by_fault: [String: Int]
    }

    /// The measured value of a metric, nil when it was not measured.
    public func value(of metric: DrillMetric) -> Double? {
        switch metric {
        case .failovers: Double(failovers)
        case .detectMs: detect_ms
        case .fenceMs: fence_ms
        case .activateMs: activate_ms
        case .rtoMs: rto_ms
        case .runsInFlight: Double(runs_in_flight)
        case .runsLost: Double(runs_lost)
        case .runsTwice: Double(runs_twice)
        case .dualLeaderMs: dual_leader_ms
        case .runsOverlapping: Double(runs_overlapping)
        case .hookFailures: Double(hook_failures)
        case .unrecovered: Double(unrecovered)
        case .commandsStopped: Double(commands_stopped)
        case .runsStartedDuringFault: runs_started_during_fault.map(Double.init)
        case .firstExecutionMs: first_execution_ms
        case .runsFinishedInTarget: runs_finished_in_target.map(Double.init)
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
        let rtos = ran.compactMap(\.rto_ms).sorted()
        let detects = ran.compactMap(\.detect_ms).sorted()
        func median(_ values: [Double]) -> Double? { values.isEmpty ? nil : values[(values.count - 1) / 2] }
        report.rounds = rounds
        report.failovers = ran.reduce(0) { $0 + $1.failovers }
        report.runs_in_flight = ran.reduce(0) { $0 + $1.runs_in_flight }
        report.runs_lost = ran.reduce(0) { $0 + $1.runs_lost }
        report.runs_twice = ran.reduce(0) { $0 + $1.runs_twice }
        report.runs_overlapping = ran.reduce(0) { $0 + $1.runs_overlapping }
        report.hook_failures = ran.reduce(0) { $0 + $1.hook_failures }
        report.dual_leader_ms = ran.reduce(0) { $0 + $1.dual_leader_ms }
        report.dual_leader = ran.flatMap(\.dual_leader)
        report.unrecovered = ran.reduce(0) { $0 + $1.unrecovered }
        report.commands_stopped = ran.reduce(0) { $0 + $1.commands_stopped }
        report.first_execution_ms = ran.compactMap(\.first_execution_ms).max()
        let finished = ran.compactMap(\.runs_finished_in_target)
        report.runs_finished_in_target = finished.isEmpty ? nil : finished.reduce(0, +)
        report.rto_ms = rtos.last
        report.detect_ms = detects.last
        report.fence_ms = ran.compactMap(\.fence_ms).max()
        report.activate_ms = ran.compactMap(\.activate_ms).max()
        report.active_before = rounds.first?.active_before
        report.active_after = rounds.last?.active_after
        report.totals = CampaignTotals(
            faults: rounds.count, skipped: rounds.count - ran.count, failovers: report.failovers,
            recovered: ran.count - report.unrecovered, rto_median_ms: median(rtos), rto_worst_ms: rtos.last,
            detect_median_ms: median(detects), runs_in_flight: report.runs_in_flight, runs_lost: report.runs_lost,
            runs_twice: report.runs_twice, runs_overlapping: report.runs_overlapping,
            dual_leader_ms: report.dual_leader_ms,
            dual_leader_intervals: report.dual_leader.count,
            by_fault: Dictionary(rounds.map { ($0.fault, 1) }, uniquingKeysWith: +))
        return report
    }
}
