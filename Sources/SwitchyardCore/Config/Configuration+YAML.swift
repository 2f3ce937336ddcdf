import Foundation
import Redaction
import Yams

extension Configuration {
    /// The loaded configuration as YAML with every default filled in, for `switchyard config show`.
    ///
    /// Connection-string and URL passwords appear as `***`, and so do values of headers that look
    /// like credentials (`Authorization`, `…Token`, `…Secret`, `…Key`, `Cookie`, `…Password`).
    public func redactedYAML() -> String {
        let document = map([
            ("directory", string(directory)),
            ("controlplane", controlPlaneNode()),
            ("regions", Node(regions.map(regionNode))),
            ("dags", Node(dags.map(dagNode))),
        ])
        return (try? Yams.serialize(node: document, width: -1, sortKeys: false)) ?? "# cannot render configuration\n"
    }

    private func controlPlaneNode() -> Node {
        let plane = controlPlane
        let api = plane.api
        let probes = plane.probes
        let election = plane.election
        let failover = plane.failover
        return map([
            ("control", map([("dsn", string(ConnInfo.redacted(plane.control.dsn)))])),
            (
                "api",
                map([
                    ("listen", string(HostPort(host: api.listenHost, port: api.listenPort).description)),
                    ("token_env", string(api.tokenEnv)),
                ])
            ),
            (
                "probes",
                map([
                    ("interval", duration(probes.interval)), ("timeout", duration(probes.timeout)),
                    ("failures_to_suspect", int(probes.failuresToSuspect)),
                    ("failures_to_down", int(probes.failuresToDown)), ("down_after", duration(probes.downAfter)),
                    ("successes_to_recover", int(probes.successesToRecover)),
                    ("scheduler_stale_after", duration(probes.schedulerStaleAfter)),
                    ("airflow_check_interval", duration(probes.airflowCheckInterval)),
                ])
            ),
            (
                "election",
                map([
                    ("idle_session_timeout", duration(election.idleSessionTimeout)),
                    ("heartbeat_interval", duration(election.heartbeatInterval)),
                    ("step_down_after", duration(election.stepDownAfter)),
                    ("statement_timeout", duration(election.statementTimeout)),
                    ("lock_wait", duration(election.lockWait)),
                    ("connect_timeout", duration(election.connectTimeout)),
                    ("keepalives_idle", duration(election.keepalivesIdle)),
                    ("keepalives_interval", duration(election.keepalivesInterval)),
                    ("keepalives_count", int(election.keepalivesCount)),
                    ("tcp_user_timeout", duration(election.tcpUserTimeout)),
                    ("exec_grace", duration(election.execGrace)),
                ])
            ),
            (
                "failover",
                map([
                    ("auto", bool(failover.auto)), ("quorum", plain(failover.quorum.configText)),
                    ("failure_grace", duration(failover.failureGrace)),
                    ("evidence_grace", duration(min(failover.evidenceGrace, failover.failureGrace))),
                    ("cooldown", duration(failover.cooldown)),
                    ("max_failovers_per_hour", int(failover.maxFailoversPerHour)),
                    ("lease_ttl", duration(failover.leaseTTL)),
                    ("lease_renew_interval", duration(failover.leaseRenewInterval)),
                    ("shadow_interval", duration(failover.shadowInterval)),
                    ("fence_timeout", duration(failover.fenceTimeout)),
                    ("switchover_quiesce_timeout", duration(failover.switchoverQuiesceTimeout)),
                    ("incident_resolve_after", duration(failover.incidentResolveAfter)),
                    ("max_clock_drift", duration(failover.maxClockDrift)),
                ])
            ),
            ("logging", map([("level", plain(plane.logging.level.rawValue))])),
        ])
    }

    private func regionNode(_ region: RegionConfig) -> Node {
        var redis: [(String, Node)] = []
        if let config = region.redis {
            switch config.connection {
            case .url(let url): redis.append(("url", string(URLRedaction.redacted(url.text))))
            case .sentinel(let sentinel):
                var fields: [(String, Node)] = [
                    ("addresses", Node(sentinel.addresses.map { string($0.description) })),
                    ("master", string(sentinel.master)),
                ]
                if let env = sentinel.passwordEnv { fields.append(("password_env", string(env))) }
                redis.append(("sentinel", map(fields)))
            }
            redis.append(("stream", string(config.stream)))
        }
        var schedulers: [(String, Node)] = [("probe", plain(region.schedulers.probe.rawValue))]
        if let url = region.schedulers.url { schedulers.append(("url", string(URLRedaction.redacted(url)))) }
        schedulers.append(("stale_after", duration(region.schedulers.staleAfter)))
        if region.schedulers.probe == .airflow {
            schedulers.append(("start_timeout", duration(region.schedulers.startTimeout)))
        }
        return map([
            ("name", string(region.name)), ("file", string(region.file)), ("priority", int(region.priority)),
            ("database", map([("dsn", string(ConnInfo.redacted(region.databaseDSN)))])),
            ("redis", region.redis == nil ? plain("null") : map(redis)),
            ("schedulers", map(schedulers)),
            ("critical", Node(region.critical.map { plain($0.rawValue) })),
            (
                "runs",
                map([
                    ("preset", plain(region.runs.preset.rawValue)), ("table", string(region.runs.table)),
                    ("dispatch", plain(region.runs.dispatch ? "true" : "false")),
                ])
            ),
            (
                "routing",
                map([
                    ("hooks", Node(region.routing.hooks.map(hookNode))),
                    ("notify", Node(region.routing.notify.map(hookNode))),
                ])
            ),
        ])
    }

    private func hookNode(_ hook: HookConfig) -> Node {
        let headers = hook.headers.sorted { $0.key < $1.key }.map { name, value in
            (name, string(Self.isSensitiveHeader(name) ? "***" : value))
        }
        var fields: [(String, Node)] = [
            ("name", string(hook.name)), ("url", string(URLRedaction.redacted(hook.url))),
            ("method", plain(hook.method.rawValue)), ("headers", map(headers)),
        ]
        if let body = hook.body { fields.append(("body", string(Self.redactedBody(body)))) }
        if let env = hook.secretEnv { fields.append(("secret_env", string(env))) }
        fields += [
            ("timeout", duration(hook.timeout)), ("connect_timeout", duration(hook.connectTimeout)),
            ("retries", int(hook.retries)), ("backoff", duration(hook.backoff)),
            ("max_backoff", duration(hook.maxBackoff)),
            ("success_statuses", hook.successStatuses.map { Node($0.map(int)) } ?? string("2xx")),
            ("required", bool(hook.required)),
        ]
        var tls: [(String, Node)] = []
        if let path = hook.tls.caFile { tls.append(("ca_file", string(path))) }
        if let path = hook.tls.clientCert { tls.append(("client_cert", string(path))) }
        if let path = hook.tls.clientKey { tls.append(("client_key", string(path))) }
        tls.append(("verify", bool(hook.tls.verify)))
        fields.append(("tls", map(tls)))
        return map(fields)
    }

    private func dagNode(_ dag: DAGConfig) -> Node {
        map([
            ("id", string(dag.id)), ("schedule", string(dag.schedule.configText)), ("command", string(dag.command)),
            ("max_active_runs", int(dag.maxActiveRuns)),
            ("timeout", dag.timeout.map(duration) ?? plain("null")), ("paused", bool(dag.paused)),
        ])
    }

    static func isSensitiveHeader(_ name: String) -> Bool {
        let lowered = name.lowercased()
        return ["authorization", "cookie", "token", "secret", "key", "password", "signature"].contains {
            lowered.contains($0)
        }
    }

    /// A hook body template with the values of credential-like JSON keys (`"routing_key": "…"`,
    /// `"token": "…"`) shown as `***`; a value that is only a `{{placeholder}}` stays.
    static func redactedBody(_ body: String) -> String {
        guard let pattern = try? Regex(#""([A-Za-z0-9_.-]+)"(\s*:\s*)"((?:[^"\\]|\\.)*)""#) else { return body }
        return body.replacing(pattern) { match in
            let text = String(body[match.range])
            guard let key = match.output[1].substring, let separator = match.output[2].substring,
                let value = match.output[3].substring, isSensitiveHeader(String(key)),
                !(value.hasPrefix("{{") && value.hasSuffix("}}"))
            else { return text }
            return "\"\(key)\"\(separator)\"***\""
        }
    }

    // MARK: Node builders

    private func map(_ pairs: [(String, Node)]) -> Node {
        Node(pairs.map { (Node($0.0), $0.1) })
    }

    private func plain(_ text: String) -> Node { Node(text, .implicit, .plain) }
    private func int(_ value: Int) -> Node { plain(String(value)) }
    private func bool(_ value: Bool) -> Node { plain(value ? "true" : "false") }
    private func duration(_ value: Duration) -> Node { plain(value.configText) }

    /// Strings are double-quoted unless plainly safe, so that `"true"` or `"0123"` stay strings.
    private func string(_ text: String) -> Node {
        let reserved = ["true", "false", "yes", "no", "on", "off", "null", "~", "y", "n"]
        let safe =
            text.range(of: "^[A-Za-z_][A-Za-z0-9_./-]*$", options: .regularExpression) != nil
            && !reserved.contains(text.lowercased())
        return Node(text, .implicit, safe ? .plain : .doubleQuoted)
    }
}
