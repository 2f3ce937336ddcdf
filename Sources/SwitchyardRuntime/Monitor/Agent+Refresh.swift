import CMalloc
import Foundation
import Postgres
import SwitchyardCore
import Synchronization

extension Agent {
    /// Every probe interval: write this observer's view to the control database, read everyone's,
    /// and publish a new snapshot. Without the control database the snapshot still carries this
    /// observer's own probes, marked as such, and /readyz says why it is not ready.
    func refreshLoop(apiURL: @escaping @Sendable () -> String?) async {
        let interval = configuration.controlPlane.probes.interval
        let control = PostgresConnection.unconnected(
            ConnInfo.appending(configuration.controlPlane.control.dsn, [("application_name", "switchyard-agent-\(observer)")]),
            name: "agent-control")
        var lastEventId = 0
        let budget = configuration.controlPlane.probes.timeout
        // What the control database last said (the active region, the epoch, the lease): kept, marked
        // unreachable, while it does not answer, so the status still says which region is active.
        var lastView = ControlView()
        var unreachableSince: Date?
        while !shutdown.requested && !Task.isCancelled {
            let started = ContinuousClock.now
            let local = monitor.components
            let transitions = monitor.drainTransitions()
            var view = ControlView()
            do {
                if await !control.isOpen { try await control.reconnect(timeout: budget) }
                let sent = ContinuousClock.now
                try await write(control, local: local, transitions: transitions, apiURL: apiURL())
                view = try await read(control, sinceEvent: lastEventId)
                // A slow control round trip is the observer's surroundings being slow too: lag.
                let now = ContinuousClock.now
                selfHealth.measured("the control database round trip", expected: budget, actual: now - sent, endedAt: now)
                view.reachable = true
                lastEventId = view.events.last?.id ?? lastEventId
                store.append(events: view.events)
                activeRegion.set(view.activeRegion)
                lastView = view
                lastView.events = []
                if unreachableSince != nil { logger.notice("control database reachable again") }
                unreachableSince = nil
            } catch {
                if unreachableSince == nil {
                    logger.warning("control database refresh failed", metadata: ["error": "\(error)"])
                    unreachableSince = Date()
                } else {
                    logger.debug("control database refresh failed", metadata: ["error": "\(error)"])
                }
                await control.close()
                view = lastView
                view.reachable = false
                view.observations = [:]
            }
            var document = snapshot(local: local, view: view)
            document.control_db_unreachable_since = unreachableSince
            document.failsafe = failsafe(in: local, active: view.activeRegion)
            let ready = view.reachable && monitor.probing
            store.publish(document, ready: ready,
                          readyReason: !view.reachable ? "control database unreachable" : (!monitor.probing ? "probes not started" : "ok"))
            metrics.recordCluster(regions: configuration.regions.map(\.name), active: view.activeRegion, epoch: view.epoch,
                                  latestFailoverId: view.lastFailover?.id)
            metrics.recordControl(reachable: view.reachable, failsafe: document.failsafe, regions: configuration.regions.map(\.name))
            let lag = selfHealth.lagging()
            metrics.recordSelfHealth(lagging: lag != nil, lag: lag?.lag, lagEvents: selfHealth.lagEvents,
                                     inconclusiveProbes: document.self_health?.inconclusive_probes ?? 0)
            store.setMetrics(metrics.emit())
            // Probe failures allocate and free connection buffers all the time; hand the pages back.
            _ = sy_malloc_trim()
            // A state change is written at once, not at the next interval: detection waits on it.
            while !shutdown.requested, !Task.isCancelled, ContinuousClock.now - started < interval, !monitor.hasTransitions {
                await shutdown.sleep(min(.milliseconds(20), interval - (ContinuousClock.now - started)))
            }
        }
        await control.close()
    }

    struct ControlView {
        var reachable = false
        var activeRegion: String?
        var epoch = 0
        var paused = false
        var lease: StatusDocument.Lease?
        var running: StatusDocument.FailoverSummary?
        var lastFailover: StatusDocument.FailoverSummary?
        /// observer -> region -> component -> state, with the observer's liveness.
        var observations: [String: (live: Bool, observedAt: Date, regions: [String: [String: HealthState]])] = [:]
        /// observer -> region -> evidence of its failing critical components.
        var evidence: [String: [String: [String: Evidence]]] = [:]
        /// Observers in self-declared lag, with why.
        var lagging: [String: String] = [:]
        var events: [SnapshotStore.Event] = []
    }

    func write(_ c: PostgresConnection, local: [String: [String: MonitorState.Component]], transitions: [MonitorState.Transition],
               apiURL: String?) async throws {
        var regions: [PostgresValue] = [], components: [PostgresValue] = [], states: [PostgresValue] = []
        var since: [PostgresValue] = [], latency: [PostgresValue] = [], errors: [PostgresValue] = [], details: [PostgresValue] = []
        var evidence: [PostgresValue] = [], inconclusive: [PostgresValue] = [], upSince: [PostgresValue] = []
        for (region, byName) in local {
            for (name, component) in byName {
                upSince.append(.optional(component.health.upSince))
                evidence.append(.optional(component.health.evidence?.rawValue))
                inconclusive.append(.int(component.health.inconclusiveProbes))
                regions.append(.text(region))
                components.append(.text(name))
                states.append(.text(component.health.state.rawValue))
                since.append(.date(component.health.since))
                latency.append(component.health.latency.map { .double($0.secondsDouble * 1000) } ?? .null)
                errors.append(component.health.state == .healthy ? .null : .optional(component.health.lastError))
                details.append((try? JSONEncoder().encode(component.detail)).map { .json(String(decoding: $0, as: UTF8.self)) } ?? .null)
            }
        }
        let parameters: [PostgresValue] = [
            .text(observer), .array(regions), .array(components), .array(states), .array(since), .array(latency), .array(errors),
            .array(details), .array(evidence), .array(inconclusive), .array(upSince),
        ]
        let lag = selfHealth.lagging()
        try await c.transaction { c in
            try await c.query(
                """
                INSERT INTO switchyard.observations (observer, region, component, state, since, latency_ms, last_error, detail, evidence,
                                                     inconclusive, up_since, observed_at)
                SELECT $1, r, comp, s, si, l, e, d, ev, inc, up, now()
                FROM unnest($2::text[], $3::text[], $4::text[], $5::timestamptz[], $6::float8[], $7::text[], $8::jsonb[], $9::text[],
                            $10::int8[], $11::timestamptz[])
                    AS t(r, comp, s, si, l, e, d, ev, inc, up)
                ON CONFLICT (observer, region, component) DO UPDATE SET state = excluded.state, since = excluded.since,
                    latency_ms = excluded.latency_ms, last_error = excluded.last_error, detail = excluded.detail,
                    evidence = excluded.evidence, inconclusive = excluded.inconclusive, up_since = excluded.up_since, observed_at = now()
                """,
                parameters)
            try await c.query(
                """
                INSERT INTO switchyard.agents (observer, host, pid, api_url, last_seen, lagging, lag_reason, lag_ms)
                VALUES ($1, $2, $3, $4, now(), $5, $6, $7)
                ON CONFLICT (observer) DO UPDATE SET host = excluded.host, pid = excluded.pid, api_url = excluded.api_url, last_seen = now(),
                    lagging = excluded.lagging, lag_reason = excluded.lag_reason, lag_ms = excluded.lag_ms
                """, [.text(self.observer), .text(ProcessInfo.processInfo.hostName), .int(Int(getpid())), .optional(apiURL),
                       .bool(lag != nil), .optional(lag?.reason), lag.map { .double($0.lag.secondsDouble * 1000) } ?? .null])
            for t in transitions {
                let message = "\(self.observer) sees \(t.region) \(t.component) \(t.to.rawValue)" + (t.to == .healthy ? "" : (t.error.map { ": \($0)" } ?? ""))
                try await c.query(
                    "INSERT INTO switchyard.events (kind, region, message, detail) VALUES ('health', $1, $2, $3::jsonb)",
                    [.text(t.region), .text(message),
                     .json("{\"observer\":\(StatusServer.quoted(self.observer)),\"component\":\(StatusServer.quoted(t.component)),\"state\":\"\(t.to.rawValue)\"}")])
            }
        }
    }

    func read(_ c: PostgresConnection, sinceEvent: Int) async throws -> ControlView {
        var view = ControlView()
        let liveWithin = max(configuration.controlPlane.probes.interval * 3, .seconds(2))
        if let row = try await c.query("SELECT active_region, epoch, paused FROM switchyard.cluster_state WHERE id = 1").first {
            view.activeRegion = try row["active_region"].optional(String.self)
            view.epoch = try row["epoch"].require(Int.self)
            view.paused = try row["paused"].require(Bool.self)
        }
        if let row = try await c.query(
            "SELECT region, holder, epoch, expires_at, coalesce(expires_at > now(), false) AS fresh FROM switchyard.active_lease WHERE id = 1").first {
            view.lease = .init(region: try row["region"].optional(), holder: try row["holder"].optional(), epoch: try row["epoch"].require(),
                               expires_at: try row["expires_at"].optional(), fresh: try row["fresh"].require())
        }
        let failovers = try await c.query(
            """
            (SELECT id, kind, from_region, to_region, reason, state, step, started_at, finished_at FROM switchyard.failovers
             ORDER BY id DESC LIMIT 1)
            UNION
            (SELECT id, kind, from_region, to_region, reason, state, step, started_at, finished_at FROM switchyard.failovers
             WHERE state = 'running')
            """).rows.map { row in
                StatusDocument.FailoverSummary(
                    id: try row["id"].require(), kind: try row["kind"].require(), from_region: try row["from_region"].optional(),
                    to_region: try row["to_region"].require(), reason: try row["reason"].require(), state: try row["state"].require(),
                    step: try row["step"].require(), started_at: try row["started_at"].require(), finished_at: try row["finished_at"].optional())
            }
        view.lastFailover = failovers.max { $0.id < $1.id }
        view.running = failovers.first { $0.state == "running" }
        let rows = try await c.query(
            """
            SELECT o.observer, o.region, o.component, o.state, o.evidence, a.last_seen, coalesce(a.lagging, false) AS lagging, a.lag_reason,
                   coalesce(a.last_seen > now() - make_interval(secs => $1), false) AS live
            FROM switchyard.observations o LEFT JOIN switchyard.agents a USING (observer)
            """, [.double(liveWithin.secondsDouble)]).rows
        for row in rows {
            let observer: String = try row["observer"].require()
            let live = try row["live"].require(Bool.self)
            let lastSeen = try row["last_seen"].optional(Date.self) ?? Date.distantPast
            let region: String = try row["region"].require()
            let component: String = try row["component"].require()
            var entry = view.observations[observer] ?? (live, lastSeen, [:])
            entry.regions[region, default: [:]][component] = HealthState(rawValue: try row["state"].require(String.self)) ?? .unknown
            view.observations[observer] = entry
            if let evidence = try row["evidence"].optional(String.self).flatMap(Evidence.init(rawValue:)) {
                view.evidence[observer, default: [:]][region, default: [:]][component] = evidence
            }
            if live, try row["lagging"].require(Bool.self) {
                view.lagging[observer] = try row["lag_reason"].optional(String.self) ?? "lagging"
            }
        }
        view.events = try await c.query(
            "SELECT id, at, kind, region, message FROM switchyard.events WHERE id > $1 ORDER BY id LIMIT 500", [.int(sinceEvent)]
        ).rows.map { row in
            SnapshotStore.Event(id: try row["id"].require(), at: try row["at"].require(), kind: try row["kind"].require(),
                                region: try row["region"].optional(), message: try row["message"].require())
        }
        return view
    }

    func snapshot(local: [String: [String: MonitorState.Component]], view: ControlView) -> StatusDocument {
        // Observers that find most regions failing with nothing but silence (the decision's rule).
        var silentCount: [String: Int] = [:]
        for region in configuration.regions {
            let critical = region.critical.map(\.rawValue)
            for (name, entry) in view.observations where entry.live {
                guard let seen = entry.regions[region.name] else { continue }
                let health = ComponentHealth.region(seen, critical: critical)
                if (health == .down || health == .suspect),
                   Self.evidence(of: view.evidence[name]?[region.name] ?? [:], states: seen, critical: critical) == .silence {
                    silentCount[name, default: 0] += 1
                }
            }
        }
        let silentRegions = silentCount.filter { $0.value >= 2 && $0.value * 2 > configuration.regions.count }
        let regions = configuration.regions.map { region -> StatusDocument.Region in
            let critical = region.critical.map(\.rawValue)
            var components: [String: StatusDocument.Component] = [:]
            for (name, c) in local[region.name] ?? [:] {
                components[name] = .init(state: c.health.state, latency_ms: c.health.latency.map { ($0.secondsDouble * 1_000_000).rounded() / 1000 },
                                         since: c.health.since, last_error: c.health.state == .healthy ? nil : c.health.lastError, detail: c.detail,
                                         evidence: c.health.state == .healthy ? nil : c.health.evidence)
            }
            let health = ComponentHealth.region(components.mapValues(\.state), critical: critical)
            var observers: [StatusDocument.ObserverView] = []
            for (name, entry) in view.observations.sorted(by: { $0.key < $1.key }) {
                guard let seen = entry.regions[region.name] else { continue }
                let regionHealth = ComponentHealth.region(seen, critical: critical)
                let evidence = Self.evidence(of: view.evidence[name]?[region.name] ?? [:], states: seen, critical: critical)
                var discounted = view.lagging[name].map { "lagging: \($0)" }
                if discounted == nil, evidence == .silence, let silent = silentRegions[name] {
                    discounted = "finds \(silent) of \(configuration.regions.count) regions silent at once"
                }
                observers.append(.init(observer: name, health: regionHealth, components: seen, observed_at: entry.observedAt, live: entry.live,
                                       evidence: regionHealth == .healthy ? nil : evidence, discounted: discounted))
            }
            if !view.reachable {
                // Without the control database this observer only knows its own view.
                let own = local[region.name] ?? [:]
                let evidence = Self.evidence(of: own.compactMapValues { $0.health.evidence }, states: components.mapValues(\.state),
                                             critical: critical)
                observers = [.init(observer: observer, health: health, components: components.mapValues(\.state), observed_at: Date(), live: true,
                                   evidence: health == .healthy ? nil : evidence, discounted: selfHealth.lagging().map { "lagging: \($0.reason)" })]
            }
            let live = observers.filter(\.live)
            let schedulers = local[region.name]?["schedulers"]?.detail
            return .init(name: region.name, role: region.name == view.activeRegion ? "active" : "standby", priority: region.priority,
                         health: health, critical: critical, components: components, scheduler_leader: schedulers?.leader,
                         scheduler_epoch: schedulers?.epoch, observers: observers, live_observers: live.count,
                         observers_seeing_down: live.filter { $0.health == .down }.count)
        }
        let lag = selfHealth.lagging()
        let inconclusive = local.values.flatMap(\.values).map(\.health.inconclusiveProbes).reduce(0, +)
        return StatusDocument(generated_at: Date(), observer: observer, control_db_reachable: view.reachable,
                              active_region: view.activeRegion, epoch: view.epoch, paused: view.paused,
                              failover_in_progress: view.running, lease: view.lease, regions: regions, last_failover: view.lastFailover,
                              self_health: .init(lagging: lag != nil, reason: lag?.reason, lag_events: selfHealth.lagEvents,
                                                 inconclusive_probes: inconclusive))
    }

    /// The active region acting on its failsafe lease, as this observer's probe of its database reads it.
    func failsafe(in local: [String: [String: MonitorState.Component]], active: String?) -> StatusDocument.Failsafe? {
        guard let active, let database = local[active]?["database"], database.health.state == .healthy,
              database.detail.lease_source == "failsafe" else { return nil }
        return .init(region: active, since: database.detail.failsafe_since, confirmed_by: database.detail.failsafe_regions ?? [])
    }

    /// The evidence behind a failing region: positive when any critical component at the region's
    /// worst state has positive evidence, else silence (nil when the region is not failing).
    static func evidence(of byComponent: [String: Evidence], states: [String: HealthState], critical: [String]) -> Evidence? {
        FailoverDecision.regionEvidence(byComponent, states: states, critical: critical)
    }
}
