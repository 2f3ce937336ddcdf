extension ControlPlaneConfig {
    /// Reads `controlplane.yaml`'s root mapping, reporting every problem; nil when a required part is unusable.
    static func read(_ root: MappingReader) -> ControlPlaneConfig? {
        root.allow(["control", "api", "probes", "election", "failover", "logging"])
        var dsn: String?
        if let control = root.require("control")?.mapping() {
            control.allow(["dsn"])
            if let value = control.require("dsn"), let text = value.nonEmptyString() {
                if let reason = ConnInfo.validate(text) {
                    value.fail("invalid connection string: \(reason)")
                } else {
                    dsn = text
                }
            }
        }
        let electionSection = root.section("election")
        let failoverSection = root.section("failover")
        let errorsBefore = root.diagnostics.count
        let config = ControlPlaneConfig(
            control: ControlDatabaseConfig(dsn: dsn ?? ""), api: readAPI(root.section("api")),
            probes: readProbes(root.section("probes")), election: readElection(electionSection),
            failover: readFailover(failoverSection), logging: readLogging(root.section("logging")))
        // The safety chain spans sections (leases, ticks, worker checks): checked once the sections
        // themselves are valid, at the line of the field to change.
        if root.diagnostics.count == errorsBefore {
            for problem in SafetyTiming(config).problems() {
                (problem.section == "election" ? electionSection : failoverSection).fail(problem.field, problem.message)
            }
        }
        return dsn == nil ? nil : config
    }

    private static func readAPI(_ section: MappingReader) -> APIConfig {
        section.allow(["listen", "token_env"])
        var api = APIConfig()
        if let value = section.child("listen"), let text = value.string() {
            if let address = HostPort.parse(text) {
                api.listenHost = address.host
                api.listenPort = address.port
            } else {
                value.fail("expected host:port with a port between 0 and 65535, found \"\(text.prefix(60))\"")
            }
        }
        if let value = section.child("token_env"), let name = value.string() {
            if EnvironmentExpansion.isVariableName(name) {
                api.tokenEnv = name
            } else {
                value.fail("expected an environment variable name such as SWITCHYARD_API_TOKEN")
            }
        }
        return api
    }

    private static func readProbes(_ section: MappingReader) -> ProbeConfig {
        section.allow([
            "interval", "timeout", "failures_to_suspect", "failures_to_down", "down_after", "successes_to_recover",
            "scheduler_stale_after", "airflow_check_interval",
        ])
        let defaults = ProbeConfig()
        let errorsBefore = section.diagnostics.count
        let probes = ProbeConfig(
            interval: section.duration("interval", default: defaults.interval),
            timeout: section.duration("timeout", default: defaults.timeout),
            failuresToSuspect: section.int("failures_to_suspect", default: defaults.failuresToSuspect),
            failuresToDown: section.int("failures_to_down", default: defaults.failuresToDown),
            downAfter: section.duration("down_after", default: defaults.downAfter),
            successesToRecover: section.int("successes_to_recover", default: defaults.successesToRecover),
            schedulerStaleAfter: section.duration("scheduler_stale_after", default: defaults.schedulerStaleAfter),
            airflowCheckInterval: section.duration("airflow_check_interval", default: defaults.airflowCheckInterval))
        guard section.diagnostics.count == errorsBefore else { return probes }
        if probes.timeout > probes.interval {
            section.fail(
                "timeout",
                "must not exceed probes.interval (\(probes.interval.configText)), found \(probes.timeout.configText)")
        }
        if probes.failuresToDown < probes.failuresToSuspect {
            section.fail(
                "failures_to_down", "must be at least probes.failures_to_suspect (\(probes.failuresToSuspect))")
        }
        return probes
    }

    private static func readElection(_ section: MappingReader) -> ElectionConfig {
        section.allow([
            "idle_session_timeout", "heartbeat_interval", "step_down_after", "statement_timeout", "lock_wait",
            "connect_timeout", "keepalives_idle", "keepalives_interval", "keepalives_count", "tcp_user_timeout",
            "exec_grace",
        ])
        let d = ElectionConfig()
        let errorsBefore = section.diagnostics.count
        let election = ElectionConfig(
            idleSessionTimeout: section.duration("idle_session_timeout", default: d.idleSessionTimeout),
            heartbeatInterval: section.duration("heartbeat_interval", default: d.heartbeatInterval),
            stepDownAfter: section.duration("step_down_after", default: d.stepDownAfter),
            statementTimeout: section.duration("statement_timeout", default: d.statementTimeout),
            lockWait: section.duration("lock_wait", default: d.lockWait),
            connectTimeout: section.duration("connect_timeout", default: d.connectTimeout),
            keepalivesIdle: section.duration("keepalives_idle", default: d.keepalivesIdle),
            keepalivesInterval: section.duration("keepalives_interval", default: d.keepalivesInterval),
            keepalivesCount: section.int("keepalives_count", default: d.keepalivesCount),
            tcpUserTimeout: section.duration("tcp_user_timeout", default: d.tcpUserTimeout),
            execGrace: section.duration("exec_grace", default: d.execGrace))
        guard section.diagnostics.count == errorsBefore else { return election }
        // The leader must stop acting before the server can free its lock by any route (idle
        // session, TCP user timeout, keepalives); otherwise two leaders could act at once.
        let stepDown = election.stepDownAfter
        let stepDownText = "election.step_down_after (\(stepDown.configText))"
        if stepDown >= election.idleSessionTimeout {
            section.fail(
                "step_down_after",
                "\(stepDownText) must be shorter than election.idle_session_timeout "
                    + "(\(election.idleSessionTimeout.configText)), or a paused leader could act after losing its lock")
        }
        if election.heartbeatInterval * 2 > stepDown {
            section.fail(
                "heartbeat_interval",
                "twice election.heartbeat_interval (\(election.heartbeatInterval.configText)) must not exceed "
                    + stepDownText)
        }
        if stepDown >= election.tcpUserTimeout {
            section.fail(
                "step_down_after",
                "\(stepDownText) must be shorter than election.tcp_user_timeout (\(election.tcpUserTimeout.configText))"
            )
        }
        let keepaliveBound = election.keepalivesIdle + election.keepalivesInterval * election.keepalivesCount
        if stepDown >= keepaliveBound {
            section.fail(
                "step_down_after",
                "\(stepDownText) must be shorter than keepalives_idle + keepalives_interval × keepalives_count "
                    + "(\(keepaliveBound.configText))")
        }
        return election
    }

    private static func readFailover(_ section: MappingReader) -> FailoverConfig {
        section.allow([
            "auto", "quorum", "failure_grace", "evidence_grace", "cooldown", "max_failovers_per_hour", "lease_ttl",
            "lease_renew_interval", "shadow_interval", "fence_timeout", "switchover_quiesce_timeout",
            "incident_resolve_after", "max_clock_drift",
        ])
        let d = FailoverConfig()
        let errorsBefore = section.diagnostics.count
        var quorum = d.quorum
        if let value = section.child("quorum"), let text = value.string() {
            if text == "majority" {
                quorum = .majority
            } else if let count = Int(text), count >= 1 {
                quorum = .count(count)
            } else {
                value.fail("expected \"majority\" or an integer of at least 1, found \"\(text.prefix(40))\"")
            }
        }
        let failover = FailoverConfig(
            auto: section.bool("auto", default: d.auto), quorum: quorum,
            failureGrace: section.duration("failure_grace", default: d.failureGrace, allowZero: true),
            cooldown: section.duration("cooldown", default: d.cooldown, allowZero: true),
            maxFailoversPerHour: section.int("max_failovers_per_hour", default: d.maxFailoversPerHour),
            leaseTTL: section.duration("lease_ttl", default: d.leaseTTL),
            leaseRenewInterval: section.duration("lease_renew_interval", default: d.leaseRenewInterval),
            shadowInterval: section.duration("shadow_interval", default: d.shadowInterval),
            fenceTimeout: section.duration("fence_timeout", default: d.fenceTimeout),
            switchoverQuiesceTimeout: section.duration(
                "switchover_quiesce_timeout", default: d.switchoverQuiesceTimeout),
            evidenceGrace: section.duration("evidence_grace", default: d.evidenceGrace, allowZero: true),
            incidentResolveAfter: section.duration(
                "incident_resolve_after", default: d.incidentResolveAfter, allowZero: true),
            maxClockDrift: section.duration("max_clock_drift", default: d.maxClockDrift))
        guard section.diagnostics.count == errorsBefore else { return failover }
        if section.child("evidence_grace") != nil, failover.evidenceGrace > failover.failureGrace {
            section.fail(
                "evidence_grace",
                "failover.evidence_grace (\(failover.evidenceGrace.configText)) must not exceed failover.failure_grace "
                    + "(\(failover.failureGrace.configText)): positive evidence never needs more patience than silence")
        }
        if failover.leaseRenewInterval * 2 > failover.leaseTTL {
            section.fail(
                "lease_renew_interval",
                "twice failover.lease_renew_interval (\(failover.leaseRenewInterval.configText)) must not exceed "
                    + "failover.lease_ttl (\(failover.leaseTTL.configText))")
        }
        return failover
    }

    private static func readLogging(_ section: MappingReader) -> LoggingConfig {
        section.allow(["level"])
        return LoggingConfig(level: section.choice("level", default: LogLevel.info))
    }
}
