import SwitchyardCore
import SwitchyardRuntime

/// One bound a drill's measurement must stay within, such as `rto_ms <= 10000` or `runs_lost == 0`.
public struct DrillExpectation: Sendable, Equatable {
    /// The measured figure.
    public var metric: DrillMetric
    /// How the figure compares with the bound.
    public var comparison: Comparison
    /// The bound (milliseconds for `_ms` metrics).
    public var bound: Double

    /// Creates an expectation.
    public init(_ metric: DrillMetric, _ comparison: Comparison, _ bound: Double) {
        self.metric = metric
        self.comparison = comparison
        self.bound = bound
    }

    /// Comparison operators as written in scenario files.
    public enum Comparison: String, Sendable, Equatable, CaseIterable {
        case atMost = "<="
        case below = "<"
        case atLeast = ">="
        case above = ">"
        case equal = "=="
    }

    /// The bound as written in reports: `<= 10000`.
    public var boundText: String { "\(comparison.rawValue) \(DrillExpectation.format(bound))" }

    /// Checks `measured` (nil when the drill could not measure it, which never holds).
    public func check(_ measured: Double?) -> Outcome {
        guard let measured else {
            return Outcome(
                name: metric.rawValue, bound: boundText, measured: nil, held: false, by: nil,
                explanation: "\(metric.rawValue) was not measured (bound \(boundText))")
        }
        let held: Bool
        switch comparison {
        case .atMost: held = measured <= bound
        case .below: held = measured < bound
        case .atLeast: held = measured >= bound
        case .above: held = measured > bound
        case .equal: held = measured == bound
        }
        let by = held ? nil : abs(measured - bound)
        let explanation =
            held
            ? "\(metric.rawValue) \(DrillExpectation.format(measured)) holds \(boundText)"
            : "\(metric.rawValue) \(DrillExpectation.format(measured)) breaks \(boundText) by \(DrillExpectation.format(by ?? 0))"
        return Outcome(
            name: metric.rawValue, bound: boundText, measured: measured, held: held, by: by, explanation: explanation)
    }

    /// An expectation checked against a measurement; keys as in the interface contract.
    public struct Outcome: Sendable, Equatable, Codable {
        /// The metric's name.
        public var name: String
        /// The bound, with its operator.
        public var bound: String
        /// What was measured; nil when it could not be.
        public var measured: Double?
        /// True when the measurement is within the bound.
        public var held: Bool
        /// How far outside the bound the measurement fell (nil when held or not measured).
        public var by: Double?
        /// One sentence for people.
        public var explanation: String
    }

    /// Numbers without a trailing `.0`, rounded to 0.1.
    public static func format(_ value: Double) -> String {
        let rounded = (value * 10).rounded() / 10
        return rounded == rounded.rounded() && abs(rounded) < 1e15 ? String(Int(rounded)) : String(rounded)
    }
}

/// The figures a drill measures, each usable in an expectation.
public enum DrillMetric: String, Sendable, Equatable, CaseIterable, Codable {
    /// Failovers (of any kind) started after the fault.
    case failovers
    /// Fault → the failover began (failover faults), or → the new scheduler leader's first act.
    case detectMs = "detect_ms"
    /// Fault → the old region fenced (or its lease waited out).
    case fenceMs = "fence_ms"
    /// Fault → the target region active.
    case activateMs = "activate_ms"
    /// Fault → the last routing hook acknowledged (activation when no hook answered).
    case rtoMs = "rto_ms"
    /// Workload runs not finished when the fault hit.
    case runsInFlight = "runs_in_flight"
    /// Workload runs that never succeeded afterwards.
    case runsLost = "runs_lost"
    /// Workload runs that succeeded more than once.
    case runsTwice = "runs_twice"
    /// Milliseconds during which two leaders acted in one region, or two regions acted (acting records).
    case dualLeaderMs = "dual_leader_ms"
    /// Workload runs whose executions overlapped in two regions.
    case runsOverlapping = "runs_overlapping"
    /// Routing hook calls that failed for good.
    case hookFailures = "hook_failures"
    /// Faults after which the deployment did not come back (a campaign's total; 0 or 1 for one drill).
    case unrecovered
    /// Commands stopped (fenced, unconfirmed or abandoned) in any region during the drill.
    case commandsStopped = "commands_stopped"
    /// Executions that started in the active region while the fault lasted.
    case runsStartedDuringFault = "runs_started_during_fault"
    /// Fault → the first execution that started in the region a failover activated.
    case firstExecutionMs = "first_execution_ms"
    /// Workload runs that succeeded in the region active after the fault.
    case runsFinishedInTarget = "runs_finished_in_target"
    /// Airflow: task instances (drill DAG ledger) with attempts in two regions at once.
    case attemptsOverlapping = "attempts_overlapping"
    /// Airflow: task instances run again after an attempt had finished its work.
    case tasksRerunAfterFinishing = "tasks_rerun_after_finishing"
    /// Airflow: task instances of the workload never finished anywhere.
    case tasksUnfinished = "tasks_unfinished"
    /// Campaign: faults that must not fail over (the active region was not harmed) after which one began.
    case falseFailovers = "false_failovers"
    /// Campaign: faults of the active region that must fail over (a healthy standby, a live majority)
    /// after which none began within the round's timeout.
    case missedFailovers = "missed_failovers"
    /// Patroni control database: the primary's crash → another member accepts writes.
    case controlPromotedMs = "control_promoted_ms"
    /// Patroni control database: writes committed on the old primary before its crash that the new one lacks.
    case controlWritesLost = "control_writes_lost"

    /// True for durations in milliseconds (bounds may be written as `10s`).
    public var isDuration: Bool { rawValue.hasSuffix("_ms") }
}
