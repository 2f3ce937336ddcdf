/// `controlplane.yaml`: the control database, the status API, and every timing and policy knob.
public struct ControlPlaneConfig: Sendable, Equatable {
    /// The control database.
    public var control: ControlDatabaseConfig
    /// The agent's status API.
    public var api: APIConfig
    /// Health probing and hysteresis.
    public var probes: ProbeConfig
    /// Leader election timings on the lock session.
    public var election: ElectionConfig
    /// Failover policy and timings.
    public var failover: FailoverConfig
    /// Log output.
    public var logging: LoggingConfig

    /// Creates a control-plane configuration; everything but the control database has defaults.
    public init(
        control: ControlDatabaseConfig, api: APIConfig = .init(), probes: ProbeConfig = .init(),
        election: ElectionConfig = .init(), failover: FailoverConfig = .init(), logging: LoggingConfig = .init()
    ) {
        self.control = control
        self.api = api
        self.probes = probes
        self.election = election
        self.failover = failover
        self.logging = logging
    }
}

/// The control database holding cluster state, leases, observations and the failover journal.
public struct ControlDatabaseConfig: Sendable, Equatable {
    /// A libpq connection string; may list several hosts with `target_session_attrs=read-write`.
    public var dsn: String

    /// Creates the section.
    public init(dsn: String) {
        self.dsn = dsn
    }
}

/// `api`: where the agent serves `/status` and which environment variable holds its bearer token.
public struct APIConfig: Sendable, Equatable {
    /// Listen host (default `127.0.0.1`).
    public var listenHost: String
    /// Listen port, 0-65535 (default 8080; 0 picks a free port).
    public var listenPort: Int
    /// The name of the environment variable holding the API token (default `SWITCHYARD_API_TOKEN`).
    public var tokenEnv: String

    /// Creates the section with defaults.
    public init(listenHost: String = "127.0.0.1", listenPort: Int = 8080, tokenEnv: String = "SWITCHYARD_API_TOKEN") {
        self.listenHost = listenHost
        self.listenPort = listenPort
        self.tokenEnv = tokenEnv
    }
}

/// `probes`: how often regions are probed and how many results flip their health.
public struct ProbeConfig: Sendable, Equatable {
    /// Time between probe rounds (1s).
    public var interval: Duration
    /// Per-probe timeout, at most `interval` (800ms).
    public var timeout: Duration
    /// Consecutive failures before a component is suspect (1).
    public var failuresToSuspect: Int
    /// Consecutive failures before a component is down (3).
    public var failuresToDown: Int
    /// A component failing continuously this long is down regardless of counts (3s).
    public var downAfter: Duration
    /// Consecutive successes before a down component is healthy again (2).
    public var successesToRecover: Int
    /// A scheduler heartbeat older than this is stale; regions may override it (5s).
    public var schedulerStaleAfter: Duration
    /// How often an agent compares the Airflow regions' Variables, Connections, Pools and Fernet key (60s).
    public var airflowCheckInterval: Duration

    /// Creates the section with defaults.
    public init(
        interval: Duration = .seconds(1), timeout: Duration = .milliseconds(800), failuresToSuspect: Int = 1,
        failuresToDown: Int = 3, downAfter: Duration = .seconds(3), successesToRecover: Int = 2,
        schedulerStaleAfter: Duration = .seconds(5), airflowCheckInterval: Duration = .seconds(60)
    ) {
        self.airflowCheckInterval = airflowCheckInterval
        self.interval = interval
        self.timeout = timeout
        self.failuresToSuspect = failuresToSuspect
        self.failuresToDown = failuresToDown
        self.downAfter = downAfter
        self.successesToRecover = successesToRecover
        self.schedulerStaleAfter = schedulerStaleAfter
    }

    /// Silences one observer finds that began within this of each other began together: a partition of
    /// the observer reaches every probe it cuts off within one round (an interval plus a timeout); the
    /// second interval is slack for a loaded host and a jittery link. Wider would let a long-dark standby
    /// pair with a later hang of the active region; narrower would let one partition count as two faults.
    public var silenceCorrelationWindow: Duration { interval * 2 + timeout }

    /// How long an observer gives a new connection (to a region's database, or the control database)
    /// after its kept one was lost: twice the probe timeout. A connect with SCRAM costs about four round
    /// trips (TCP, startup, the two SCRAM messages), twice a probe's ping; with the probe timeout alone an
    /// observer 100 ms from a database (a 200 ms round trip) could never connect again once cut off.
    public var connectTimeout: Duration { timeout * 2 }

    /// An observer whose last write is younger than this is live: its observations count (three missed
    /// rounds, at least two seconds so a fast interval does not drop an observer for one slow write).
    /// The decision, the status and the reconciliation's health check all judge liveness by this one value.
    public var liveWithin: Duration { max(interval * 3, .seconds(2)) }
}

/// `election`: the lock-session settings that bound how long a frozen or cut-off leader keeps acting.
public struct ElectionConfig: Sendable, Equatable {
    /// Server-side `idle_session_timeout`: frees the lock of a paused client (3s).
    public var idleSessionTimeout: Duration
    /// How often the leader touches its lock session (500ms).
    public var heartbeatInterval: Duration
    /// The leader stops acting this long after its last good heartbeat; shorter than every server timeout (2s).
    public var stepDownAfter: Duration
    /// `statement_timeout` on the lock session (2s).
    public var statementTimeout: Duration
    /// How long one acquire attempt waits for the lock (1s).
    public var lockWait: Duration
    /// libpq `connect_timeout` (2s).
    public var connectTimeout: Duration
    /// TCP keepalive idle time, client and server side (2s).
    public var keepalivesIdle: Duration
    /// TCP keepalive probe interval (1s).
    public var keepalivesInterval: Duration
    /// TCP keepalive probes before the connection is dropped (2).
    public var keepalivesCount: Int
    /// `tcp_user_timeout`, client and server side (3s).
    public var tcpUserTimeout: Duration
    /// Time an `--exec` child gets between SIGTERM and SIGKILL after leadership is lost (1s).
    public var execGrace: Duration

    /// Creates the section with defaults.
    public init(
        idleSessionTimeout: Duration = .seconds(3), heartbeatInterval: Duration = .milliseconds(500),
        stepDownAfter: Duration = .seconds(2), statementTimeout: Duration = .seconds(2),
        lockWait: Duration = .seconds(1),
        connectTimeout: Duration = .seconds(2), keepalivesIdle: Duration = .seconds(2),
        keepalivesInterval: Duration = .seconds(1), keepalivesCount: Int = 2, tcpUserTimeout: Duration = .seconds(3),
        execGrace: Duration = .seconds(1)
    ) {
        self.idleSessionTimeout = idleSessionTimeout
        self.heartbeatInterval = heartbeatInterval
        self.stepDownAfter = stepDownAfter
        self.statementTimeout = statementTimeout
        self.lockWait = lockWait
        self.connectTimeout = connectTimeout
        self.keepalivesIdle = keepalivesIdle
        self.keepalivesInterval = keepalivesInterval
        self.keepalivesCount = keepalivesCount
        self.tcpUserTimeout = tcpUserTimeout
        self.execGrace = execGrace
    }
}

/// How many live observers must agree that the active region is down.
public enum Quorum: Sendable, Equatable {
    /// More than half of the live observers.
    case majority
    /// At least this many observers.
    case count(Int)

    /// As written in configuration: `majority` or a number.
    public var configText: String {
        switch self {
        case .majority: "majority"
        case .count(let count): "\(count)"
        }
    }
}

/// `failover`: when the failover leader may move the active region, and the lease and shadow timings.
public struct FailoverConfig: Sendable, Equatable {
    /// Whether failovers happen automatically (true); manual `failover --force` always works.
    public var auto: Bool
    /// Observers that must agree the active region is down (majority).
    public var quorum: Quorum
    /// A critical component must fail continuously this long before a failover when observers only
    /// met silence (timeouts); also how long a standby must have been healthy to be chosen (2s).
    public var failureGrace: Duration
    /// The same when observers have positive evidence of death (refused, reset, shutting down, a
    /// stale heartbeat row): at most `failure_grace` (500ms).
    public var evidenceGrace: Duration
    /// No automatic failover within this time of the last one (5m).
    public var cooldown: Duration
    /// Automatic failovers allowed in any hour (3).
    public var maxFailoversPerHour: Int
    /// The active-region lease lifetime (3s).
    public var leaseTTL: Duration
    /// How often the active leader renews its lease, at most half the TTL (500ms).
    public var leaseRenewInterval: Duration
    /// How often active runs are copied to standby shadows (1s).
    public var shadowInterval: Duration
    /// Time allowed to write the fence into the old region (2s).
    public var fenceTimeout: Duration
    /// Time a switchover waits for running work to drain (30s).
    public var switchoverQuiesceTimeout: Duration
    /// A region's incident resolves once it has been healthy this long without a break; a down in
    /// between is the same incident, counted and not notified again (60s).
    public var incidentResolveAfter: Duration
    /// The most two hosts may disagree about any one safety bound (a lease, a grace, a hold: each under
    /// a minute) through clock rate drift and a loaded host's scheduling: added to every bound one host
    /// waits out for another (500ms).
    public var maxClockDrift: Duration

    /// Creates the section with defaults.
    public init(
        auto: Bool = true, quorum: Quorum = .majority, failureGrace: Duration = .seconds(2),
        cooldown: Duration = .seconds(300), maxFailoversPerHour: Int = 3, leaseTTL: Duration = .seconds(3),
        leaseRenewInterval: Duration = .milliseconds(500), shadowInterval: Duration = .seconds(1),
        fenceTimeout: Duration = .seconds(2), switchoverQuiesceTimeout: Duration = .seconds(30),
        evidenceGrace: Duration = .milliseconds(500), incidentResolveAfter: Duration = .seconds(60),
        maxClockDrift: Duration = .milliseconds(500)
    ) {
        self.incidentResolveAfter = incidentResolveAfter
        self.maxClockDrift = maxClockDrift
        self.evidenceGrace = evidenceGrace
        self.auto = auto
        self.quorum = quorum
        self.failureGrace = failureGrace
        self.cooldown = cooldown
        self.maxFailoversPerHour = maxFailoversPerHour
        self.leaseTTL = leaseTTL
        self.leaseRenewInterval = leaseRenewInterval
        self.shadowInterval = shadowInterval
        self.fenceTimeout = fenceTimeout
        self.switchoverQuiesceTimeout = switchoverQuiesceTimeout
    }
}

/// Log severities, matching swift-log's levels.
public enum LogLevel: String, Sendable, Equatable, CaseIterable {
    /// Everything.
    case trace
    /// Diagnostics.
    case debug
    /// Normal operation (default).
    case info
    /// Noteworthy state changes.
    case notice
    /// Degraded but working.
    case warning
    /// Failed operations.
    case error
    /// The process cannot continue.
    case critical
}

/// `logging`.
public struct LoggingConfig: Sendable, Equatable {
    /// Minimum level logged (info).
    public var level: LogLevel

    /// Creates the section with defaults.
    public init(level: LogLevel = .info) {
        self.level = level
    }
}
