/// One region file (`regions/<name>.yaml`): its database, Redis, schedulers, run table and routing hooks.
public struct RegionConfig: Sendable, Equatable {
    /// The region name, `^[a-z][a-z0-9-]{0,31}$`, unique across files.
    public var name: String
    /// Failover preference: the healthy standby with the highest priority becomes active.
    public var priority: Int
    /// The region database's libpq connection string.
    public var databaseDSN: String
    /// The region's Redis (Switchyard's dispatch stream, or the Celery broker it probes); nil when the
    /// region has none (Airflow with its LocalExecutor, `runs.dispatch: false`).
    public var redis: RedisConfig?
    /// How the region's schedulers are probed.
    public var schedulers: SchedulersConfig
    /// Components whose failure makes the region down (default: every configured one).
    public var critical: [RegionComponent]
    /// Which run table failover migrates.
    public var runs: RunsConfig
    /// Hooks called to re-point traffic, and notifications.
    public var routing: RoutingConfig
    /// The file this region was read from, for messages.
    public var file: String

    /// Creates a region configuration.
    public init(
        name: String, priority: Int, databaseDSN: String, redis: RedisConfig?, schedulers: SchedulersConfig,
        critical: [RegionComponent] = RegionComponent.allCases, runs: RunsConfig = .init(),
        routing: RoutingConfig = .init(), file: String = ""
    ) {
        self.name = name
        self.priority = priority
        self.databaseDSN = databaseDSN
        self.redis = redis
        self.schedulers = schedulers
        self.critical = critical
        self.runs = runs
        self.routing = routing
        self.file = file
    }

    /// The components this region has: `redis` only with a `redis` section.
    public var components: [RegionComponent] { RegionComponent.allCases.filter { $0 != .redis || redis != nil } }
}

/// The parts of a region whose health is probed.
public enum RegionComponent: String, Sendable, Equatable, CaseIterable {
    /// The region database.
    case database
    /// The region's Redis.
    case redis
    /// The region's schedulers.
    case schedulers
}

/// `schedulers`: how scheduler liveness is observed.
public struct SchedulersConfig: Sendable, Equatable {
    /// The probe kind.
    public enum Probe: String, Sendable, Equatable, CaseIterable {
        /// Switchyard's own heartbeat table in the region database.
        case heartbeat
        /// Airflow's `job` table (latest SchedulerJob heartbeat).
        case airflow
        /// An HTTP health endpoint (`url`).
        case http
    }

    /// The probe kind (heartbeat).
    public var probe: Probe
    /// The health URL, present exactly when `probe` is `http`.
    public var url: String?
    /// A heartbeat older than this is stale (default: `probes.scheduler_stale_after`; with the `airflow`
    /// probe, 30 s, Airflow's own `scheduler_health_check_threshold` default).
    public var staleAfter: Duration
    /// A Switchyard scheduler leader's heartbeat older than this is stale (`probes.scheduler_stale_after`):
    /// the `airflow` probe's readiness of a standby, whose leader starts `airflow scheduler` once active.
    public var leaderStaleAfter: Duration
    /// `start_timeout` (the `airflow` probe): how long `airflow scheduler` may take, from the moment the
    /// region's leader may start it (activation, the end of a dispatch hold, a hand-off's wait), to its
    /// first heartbeat. Until then an active region without a SchedulerJob is starting, not down: a
    /// Python start-up that imports Airflow and its providers takes tens of seconds on a busy host (one
    /// had printed only its banner 31 s after it started, at load 14 on 2 cores), and a region judged
    /// down while it starts fails over for nothing.
    public var startTimeout: Duration

    /// Airflow's `scheduler_health_check_threshold` default, the `airflow` probe's default threshold.
    public static let airflowDefaultStaleAfter: Duration = .seconds(30)
    /// The `airflow` probe's default `start_timeout`.
    public static let airflowDefaultStartTimeout: Duration = .seconds(120)

    /// Creates the section.
    public init(
        probe: Probe = .heartbeat, url: String? = nil, staleAfter: Duration = .seconds(5),
        leaderStaleAfter: Duration? = nil, startTimeout: Duration = SchedulersConfig.airflowDefaultStartTimeout
    ) {
        self.probe = probe
        self.url = url
        self.staleAfter = staleAfter
        self.leaderStaleAfter = leaderStaleAfter ?? staleAfter
        self.startTimeout = startTimeout
    }
}

/// `runs`: the run table that failover copies.
public struct RunsConfig: Sendable, Equatable {
    /// Table layout presets.
    public enum Preset: String, Sendable, Equatable, CaseIterable {
        /// Switchyard's own `switchyard.dag_run`.
        case builtin
        /// Airflow's `public.dag_run`, with its foreign keys remapped on copy.
        case airflow

        /// The preset's table when none is given.
        public var defaultTable: String {
            switch self {
            case .builtin: "switchyard.dag_run"
            case .airflow: "public.dag_run"
            }
        }
    }

    /// The preset (builtin).
    public var preset: Preset
    /// The schema-qualified table name.
    public var table: String
    /// Whether the region's leader dispatches runs to workers through the region's Redis stream (Switchyard's
    /// own scheduling). Default: with the builtin preset; not with `airflow`, whose own scheduler and
    /// executor run the DAGs (the leader then only holds the lease, pushes the fence validity and runs
    /// its `--exec` command, and never touches Redis).
    public var dispatch: Bool

    /// Creates the section; the table defaults to the preset's, dispatch to whether the preset is builtin.
    public init(preset: Preset = .builtin, table: String? = nil, dispatch: Bool? = nil) {
        self.preset = preset
        self.table = table ?? preset.defaultTable
        self.dispatch = dispatch ?? (preset == .builtin)
    }
}

/// `routing`: hooks that re-point traffic on failover, and notifications sent when one completes.
public struct RoutingConfig: Sendable, Equatable {
    /// Called in order during the `route` step.
    public var hooks: [HookConfig]
    /// Called when a failover completes.
    public var notify: [HookConfig]

    /// Creates the section.
    public init(hooks: [HookConfig] = [], notify: [HookConfig] = []) {
        self.hooks = hooks
        self.notify = notify
    }
}
