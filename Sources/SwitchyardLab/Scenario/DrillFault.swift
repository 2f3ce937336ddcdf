import SwitchyardCore
import SwitchyardRuntime

/// What a partition cuts the active region off from.
public enum PartitionScope: String, Sendable, Equatable, CaseIterable {
    /// Every other region and the control database.
    case everything = "all"
    /// The control database only: the region still reaches the other regions and they reach it.
    case controlDatabase = "control"
}

/// A fault a drill injects. Every kind but `shell` and `switchover` signals processes of the local
/// deployment, so a configured (production) deployment allows only those two.
public enum DrillFault: Sendable, Equatable {
    /// SIGKILL the active region's scheduler leader.
    case killSchedulerLeader
    /// SIGKILL every scheduler node of the active region (its scheduler hosts die): nothing can lead it,
    /// so it fails over (with Airflow: its guards stop `airflow scheduler`, whose job stops heartbeating).
    case killSchedulers
    /// SIGKILL every host of the active region but its database (which runs highly available within
    /// the region): its scheduler nodes, its workers with their gated commands (Celery workers) and
    /// everything they run, Airflow's processes, and its Redis (a Celery broker with tasks queued in it).
    /// Its agent, an observer, lives on.
    case killHosts
    /// The whole active region dies at once: `killHosts`, and its database crashes too (SIGQUIT to the
    /// postmaster). The failover copies its runs from the target's shadow.
    case killRegion
    /// SIGSTOP the active region's scheduler leader; SIGCONT after `duration`.
    case freezeSchedulerLeader(duration: Duration)
    /// Fast shutdown of the active region's Postgres (a clean stop).
    case stopDatabase
    /// Immediate shutdown of the active region's Postgres (SIGQUIT to the postmaster: a crash).
    case killDatabase
    /// SIGSTOP the active region's postmaster (new connections hang); SIGCONT after `duration`.
    case hangDatabase(duration: Duration)
    /// Stop the active region's Redis.
    case stopRedis
    /// Cut the active region off (network namespaces + nftables; root only) from everything beyond its
    /// own database and Redis (`.everything`), or from the control database only (`.controlDatabase`).
    case partition(duration: Duration, from: PartitionScope = .everything)
    /// Kill the active database, then SIGKILL the failover leader when the failover reaches `step`.
    case killFailoverLeader(step: FailoverStep)
    /// Make the routing hook endpoint answer 500 (`hang: false`) or never answer, then kill the active
    /// database so a failover calls it.
    case failingHook(hang: Bool)
    /// Run a shell command (a configured deployment's own fault injection).
    case shell(command: String)
    /// A planned switchover to `to` (nil: the best healthy standby); the safe drill for production.
    case switchover(to: String?)
    /// Fast shutdown of the control database for `duration`, then start it again: the active region keeps
    /// running on its failsafe lease; no failover may follow and no command may stop.
    case stopControlDatabase(duration: Duration)
    /// SIGSTOP the control database's postmaster and backends for `duration` (a hung control database).
    case hangControlDatabase(duration: Duration)
    /// Crash the control database's primary (SIGQUIT) and promote its streaming replica `after` later, as
    /// an HA Postgres fails over (needs `dev up --control-replica`).
    case controlDatabaseFailover(after: Duration)
    /// A brown-out that harms no region (agents frozen, a connection storm, CPU hogs, or all) for
    /// `duration`: no failover may follow.
    case brownout(kind: BrownoutKind, duration: Duration)
    /// The active region goes dark for `duration`: every process of it (its Postgres with every backend,
    /// its Redis, its scheduler nodes, workers and agent) SIGSTOPped, as a host that lost power or
    /// network: silence, never a refusal.
    case dark(duration: Duration)
    /// The lowest-priority standby goes dark, and `after` that (the drill's fault instant) the active
    /// region's database hangs (its postmaster SIGSTOPped: no new connection) for `duration`, the standby
    /// staying dark meanwhile: two separate silences that must not be taken for one observer's problem;
    /// the healthy standby takes over.
    case darkStandbyThenHang(after: Duration, duration: Duration)
    /// Every WAN link of the active region black-holed for `duration` (needs `dev up --wan`): it
    /// reaches nothing beyond itself and nothing reaches it, silently.
    case link(duration: Duration)
    /// The active region's wall clock stepped forward by `offset` (its daemons run on libfaketime clocks:
    /// `dev up --clock-skew`, or a WAN profile's) for `duration`, then stepped back by as much: no failover
    /// may follow, no command may stop, as no safety decision reads a wall clock. (A step back below the
    /// region's own offset is not possible: libfaketime stalls a clock behind the host's.)
    case clockStep(offset: Duration, duration: Duration)
    /// The best standby (highest priority) goes dark for `duration`: no failover may follow, and the
    /// active region keeps running its work.
    case darkStandby(duration: Duration)
    /// The best standby's postmaster SIGQUIT (a crash): no failover may follow.
    case killStandbyDatabase
    /// One observer frozen (SIGSTOP its agent; SIGCONT after `duration`), every region left healthy: the
    /// witness (`observer: witness`, the default) or the active region's own agent (`observer: active`).
    /// No failover may follow: the observers left see the active region healthy, and the status says
    /// whether a loss of the active region could still be failed over meanwhile (`failover_capacity`).
    case freezeAgent(observer: String, duration: Duration)
    /// A latency spike: every WAN link of the active region delayed by `delayMs` more each way for
    /// `duration` (needs `dev up --wan`): slower, never silent, and no failover may follow.
    case slowLink(delayMs: Double, duration: Duration)

    /// How long a timed fault lasts (nil for one that is injected once).
    public var duration: Duration? {
        switch self {
        case .freezeSchedulerLeader(let d), .hangDatabase(let d), .partition(let d, _), .brownout(_, let d),
            .stopControlDatabase(let d), .hangControlDatabase(let d), .controlDatabaseFailover(let d), .dark(let d),
            .link(let d), .darkStandbyThenHang(_, let d), .clockStep(_, let d), .darkStandby(let d),
            .slowLink(_, let d), .freezeAgent(_, let d):
            d
        default: nil
        }
    }

    /// The name used in scenario files and reports.
    public var kind: Kind {
        switch self {
        case .killSchedulerLeader: .killSchedulerLeader
        case .killSchedulers: .killSchedulers
        case .killHosts: .killHosts
        case .killRegion: .killRegion
        case .freezeSchedulerLeader: .freezeSchedulerLeader
        case .stopDatabase: .stopDatabase
        case .killDatabase: .killDatabase
        case .hangDatabase: .hangDatabase
        case .stopRedis: .stopRedis
        case .partition: .partition
        case .killFailoverLeader: .killFailoverLeader
        case .failingHook(let hang): hang ? .hangingHook : .failingHook
        case .shell: .shell
        case .switchover: .switchover
        case .brownout: .brownout
        case .stopControlDatabase: .stopControlDatabase
        case .hangControlDatabase: .hangControlDatabase
        case .controlDatabaseFailover: .controlDatabaseFailover
        case .dark: .dark
        case .darkStandbyThenHang: .darkStandbyThenHang
        case .link: .link
        case .clockStep: .clockStep
        case .darkStandby: .darkStandby
        case .killStandbyDatabase: .killStandbyDatabase
        case .slowLink: .slowLink
        case .freezeAgent: .freezeAgent
        }
    }

    /// Fault kinds as written in scenario files.
    public enum Kind: String, Sendable, Equatable, CaseIterable {
        case killSchedulerLeader = "kill_scheduler_leader"
        case killSchedulers = "kill_schedulers"
        case killHosts = "kill_hosts"
        case killRegion = "kill_region"
        case freezeSchedulerLeader = "freeze_scheduler_leader"
        case stopDatabase = "stop_database"
        case killDatabase = "kill_database"
        case hangDatabase = "hang_database"
        case stopRedis = "stop_redis"
        case partition
        case killFailoverLeader = "kill_failover_leader"
        case failingHook = "failing_hook"
        case hangingHook = "hanging_hook"
        case shell
        case switchover
        case brownout
        case stopControlDatabase = "stop_control_database"
        case hangControlDatabase = "hang_control_database"
        case controlDatabaseFailover = "control_database_failover"
        case dark
        case darkStandbyThenHang = "dark_standby_then_hang"
        case link
        case clockStep = "clock_step"
        case darkStandby = "dark_standby"
        case killStandbyDatabase = "kill_standby_database"
        case slowLink = "slow_link"
        case freezeAgent = "freeze_agent"

        /// True when the fault signals processes of the local deployment.
        public var needsLocalDeployment: Bool { self != .shell && self != .switchover }

        /// True when the fault takes the control database away (the drill cannot read it meanwhile).
        public var hitsControlDatabase: Bool {
            self == .stopControlDatabase || self == .hangControlDatabase || self == .controlDatabaseFailover
        }

        /// True when the fault strikes a standby, not the active region.
        public var hitsStandby: Bool { self == .darkStandby || self == .killStandbyDatabase }

        /// True when the fault should end in a failover of the active region.
        public var expectsFailover: Bool {
            switch self {
            case .killSchedulerLeader, .freezeSchedulerLeader, .shell, .brownout, .stopControlDatabase,
                .hangControlDatabase,
                .controlDatabaseFailover, .clockStep, .darkStandby, .killStandbyDatabase, .slowLink, .freezeAgent:
                false
            default: true
            }
        }

        /// The fault with its default parameters (used by campaigns, which list kinds only).
        public var defaultFault: DrillFault {
            switch self {
            case .killSchedulerLeader: .killSchedulerLeader
            case .killSchedulers: .killSchedulers
            case .killHosts: .killHosts
            case .killRegion: .killRegion
            case .freezeSchedulerLeader: .freezeSchedulerLeader(duration: .seconds(5))
            case .stopDatabase: .stopDatabase
            case .killDatabase: .killDatabase
            case .hangDatabase: .hangDatabase(duration: .seconds(8))
            case .stopRedis: .stopRedis
            case .partition: .partition(duration: .seconds(8))
            case .killFailoverLeader: .killFailoverLeader(step: .fence)
            case .failingHook: .failingHook(hang: false)
            case .hangingHook: .failingHook(hang: true)
            case .shell: .shell(command: "true")
            case .switchover: .switchover(to: nil)
            case .brownout: .brownout(kind: .combined, duration: .seconds(4))
            case .stopControlDatabase: .stopControlDatabase(duration: .seconds(60))
            case .hangControlDatabase: .hangControlDatabase(duration: .seconds(60))
            case .controlDatabaseFailover: .controlDatabaseFailover(after: .seconds(10))
            case .dark: .dark(duration: .seconds(15))
            case .darkStandbyThenHang: .darkStandbyThenHang(after: .seconds(15), duration: .seconds(15))
            case .link: .link(duration: .seconds(15))
            case .clockStep: .clockStep(offset: .seconds(30), duration: .seconds(15))
            case .darkStandby: .darkStandby(duration: .seconds(15))
            case .killStandbyDatabase: .killStandbyDatabase
            case .slowLink: .slowLink(delayMs: 60, duration: .seconds(15))
            case .freezeAgent: .freezeAgent(observer: "witness", duration: .seconds(20))
            }
        }
    }
}
