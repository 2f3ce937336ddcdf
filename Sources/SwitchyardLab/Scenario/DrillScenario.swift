import SwitchyardCore
import SwitchyardRuntime

/// A failover drill: where it runs, what must hold before the fault, the fault, how the deployment is
/// restored, and the bounds its measurements must stay within. Read from `runbooks/drills/*.yaml`.
public struct DrillScenario: Sendable, Equatable {
    /// Short name, reported as `scenario`.
    public var name: String
    /// What the drill rehearses, for the report.
    public var description: String
    /// The deployment it runs against.
    public var deployment: Deployment
    /// What must hold before the fault is injected.
    public var preconditions: Preconditions
    /// The fault (for a campaign: the first fault kind of its list, unused).
    public var fault: DrillFault
    /// How the deployment is brought back afterwards.
    public var restore: Restore
    /// Bound on the whole observation after the fault (failover finished, runs settled).
    public var timeout: Duration
    /// What must hold, checked after the fault.
    public var expectations: [DrillExpectation]
    /// Many randomized faults in a row instead of one.
    public var campaign: Campaign?

    /// Creates a scenario.
    public init(
        name: String, description: String = "", deployment: Deployment = .dev(directory: nil),
        preconditions: Preconditions = .init(), fault: DrillFault, restore: Restore = .failback,
        timeout: Duration = .seconds(90), expectations: [DrillExpectation] = [], campaign: Campaign? = nil
    ) {
        self.name = name
        self.description = description
        self.deployment = deployment
        self.preconditions = preconditions
        self.fault = fault
        self.restore = restore
        self.timeout = timeout
        self.expectations = expectations
        self.campaign = campaign
    }

    /// The deployment a drill runs against.
    public enum Deployment: Sendable, Equatable {
        /// The local deployment of `switchyard dev up` (its directory; nil means the default or `--dir`).
        case dev(directory: String?)
        /// A configured deployment reached through its `regions/` directory (nil means `--config`).
        case configured(config: String?)

        /// True for the local deployment, whose processes the drill may signal.
        public var isLocal: Bool {
            if case .dev = self { return true }
            return false
        }
    }

    /// Conditions checked (and waited for, within `wait`) before any fault.
    public struct Preconditions: Sendable, Equatable {
        /// Every live observer sees every region healthy.
        public var allHealthy: Bool
        /// This region must be the active one.
        public var activeRegion: String?
        /// Runs the drill starts itself and waits to see executing before the fault.
        public var workload: Workload?
        /// The agent leading failovers runs in the active region (the local deployment: the drill restarts
        /// the leading agent until one there wins the lock).
        public var failoverLeaderInActive: Bool
        /// The control database runs under Patroni (`dev up --control-patroni`): a drill of Patroni's own
        /// failover refuses, with the reason, to run on a plain one.
        public var controlPatroni: Bool
        /// How long to wait for the conditions to hold.
        public var wait: Duration

        /// Creates the preconditions.
        public init(
            allHealthy: Bool = true, activeRegion: String? = nil, workload: Workload? = nil,
            failoverLeaderInActive: Bool = false, controlPatroni: Bool = false, wait: Duration = .seconds(60)
        ) {
            self.allHealthy = allHealthy
            self.activeRegion = activeRegion
            self.workload = workload
            self.failoverLeaderInActive = failoverLeaderInActive
            self.controlPatroni = controlPatroni
            self.wait = wait
        }
    }

    /// Runs triggered by the drill in the active region before the fault.
    public struct Workload: Sendable, Equatable {
        /// Number of runs.
        public var runs: Int
        /// The DAG they belong to (its command should outlast detection, so the runs are in flight).
        public var dag: String
        /// Airflow: the task that must be running in every run when the fault strikes (nil: any task).
        public var task: String?
        /// Airflow: how many runs must be executing `task` when the fault strikes (nil: every run); the
        /// others' may be queued (in a Celery broker whose workers are busy).
        public var executing: Int?

        /// Creates a workload.
        public init(runs: Int, dag: String = "drill", task: String? = nil, executing: Int? = nil) {
            self.runs = runs
            self.dag = dag
            self.task = task
            self.executing = executing
        }
    }

    /// What the drill does after measuring.
    public enum Restore: String, Sendable, Equatable, CaseIterable {
        /// Restart what the fault stopped and switch back to the region that was active before.
        case failback
        /// Restart what the fault stopped; leave the active region where the failover put it.
        case restart
        /// Leave everything as the fault left it (to inspect it).
        case none
    }

    /// Many randomized faults in a row.
    public struct Campaign: Sendable, Equatable {
        /// Number of faults.
        public var count: Int
        /// Seed of the random choice of faults (the same seed replays the same sequence).
        public var seed: UInt64
        /// The fault kinds to choose from.
        public var faults: [DrillFault]

        /// Creates a campaign.
        public init(count: Int, seed: UInt64, faults: [DrillFault]) {
            self.count = count
            self.seed = seed
            self.faults = faults
        }
    }
}
