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
        let controlConninfo = ConnInfo.appending(
            configuration.controlPlane.control.dsn, [("application_name", "switchyard-agent-\(observer)")])
        var control = PostgresConnection.unconnected(controlConninfo, name: "agent-control")
        // A reconnect that outlasts one refresh's wait goes on, and the next refresh takes it up: across a WAN
        // on a loaded host a connect costs about the wait, and abandoning each attempt would never reconnect.
        let connector = PostgresConnector(controlConninfo, name: "agent-control")
        // The newest event the store holds; a fresh agent starts at the newest `eventsKept` events, not at
        // the first ever (a long-lived control database would show old events for minutes).
        var lastEventId: Int?
        let budget = configuration.controlPlane.probes.timeout
        // What the control database last said (the active region, the epoch, the lease): kept, marked
        // unreachable, while it does not answer, so the status still says which region is active.
        var lastView = ControlView()
        var unreachableSince: Date?
        // The failover through which failed hooks were counted (nil until the first read sets the baseline).
        var hooksCountedThrough: Int?
        // The newest failover `/history` holds, whether it was running then, and when it was read: re-read
        // on a new failover, when it finishes, and every 2 s while it runs. The hook-failure count and the
        // running step come from that same read.
        var historyThrough: (id: Int, running: Bool, at: ContinuousClock.Instant)?
        var runningStep: (step: FailoverStep, since: Date)?
        while !shutdown.requested && !Task.isCancelled {
            let started = ContinuousClock.now
            let local = monitor.components
            let transitions = monitor.drainTransitions()
            let notices = monitor.drainNotices()
            var view = ControlView()
            do {
                if await !control.isOpen {
                    await control.close()
                    control = try await connector.connect(waiting: configuration.controlPlane.probes.connectTimeout)
                }
                if lastEventId == nil {
                    lastEventId = max(0, try await ControlStore.latestEventId(control) - SnapshotStore.eventsKept)
                }
                let sent = ContinuousClock.now
                view = try await exchange(
                    control, local: local, transitions: transitions, notices: notices, apiURL: apiURL(),
                    sinceEvent: lastEventId ?? 0)
                // A control round trip far slower than this observer's own usual one is its surroundings being
                // slow too: lag. A far control database is the usual, not lag (`ObserverSelfHealth.baseline`).
                let now = ContinuousClock.now
                selfHealth.measuredAgainstBaseline(
                    "the control database round trip", key: "control", budget: budget, actual: now - sent, endedAt: now)
                view.reachable = true
                lastEventId = view.events.last?.id ?? lastEventId
                store.append(events: view.events)
                activeRegion.set(view.activeRegion)
                lastView = view
                lastView.events = []
                if unreachableSince != nil { logger.notice("control database reachable again") }
                unreachableSince = nil
                // For the dashboard and the metrics, outside the measured round trip; a failure here says
                // nothing of the control database's reachability.
                do {
                    let newest = (id: view.lastFailover?.id ?? 0, running: view.running != nil)
                    let due =
                        historyThrough.map {
                            $0.id != newest.id || $0.running != newest.running
                                || (newest.running && ContinuousClock.now - $0.at >= .seconds(2))
                        } ?? true
                    if due {
                        let history = try await ControlStore.history(control, limit: SnapshotStore.historyKept)
                        store.setHistory(history)
                        historyThrough = (newest.id, newest.running, ContinuousClock.now)
                        let counted = Self.hookFailures(in: history, after: hooksCountedThrough)
                        for hook in counted.failed { metrics.countHookFailure(hook: hook) }
                        hooksCountedThrough = counted.mark
                        runningStep = history.first { $0.failover.state == .running }?.steps
                            .last { $0.finishedAt == nil }.map { ($0.step, $0.startedAt) }
                    }
                    if view.running != nil { view.runningStep = runningStep }
                } catch {
                    logger.debug("failover history not refreshed", metadata: ["error": "\(error)"])
                }
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
                view.observations = []
            }
            var document = snapshot(local: local, view: view)
            document.controlDbUnreachableSince = unreachableSince
            document.failsafe = failsafe(in: local, active: view.activeRegion)
            document.airflowConsistency = airflowConsistency.get()
            let ready = view.reachable && monitor.probing
            store.publish(
                document, ready: ready,
                readyReason: !view.reachable
                    ? "control database unreachable" : (!monitor.probing ? "probes not started" : "ok"))
            metrics.recordCluster(
                regions: configuration.regions.map(\.name), active: view.activeRegion, epoch: view.epoch,
                latestFailoverId: view.lastFailover?.id)
            metrics.recordRegions(document.regions)
            if let capacity = document.failoverCapacity { metrics.recordCapacity(capacity) }
            metrics.recordFailover(
                running: view.running != nil, step: view.runningStep?.step, stepSince: view.runningStep?.since)
            metrics.recordControl(
                reachable: view.reachable, failsafe: document.failsafe, regions: configuration.regions.map(\.name))
            let lag = selfHealth.lagging()
            metrics.recordSelfHealth(
                lagging: lag != nil, lag: lag?.lag, lagEvents: selfHealth.lagEvents,
                inconclusiveProbes: document.selfHealth?.inconclusiveProbes ?? 0)
            store.setMetrics(metrics.emit())
            // Probe failures allocate and free connection buffers all the time; hand the pages back.
            _ = sy_malloc_trim()
            // A state change is written at once, not at the next interval: detection waits on it. Awaited, not
            // polled: the doorbell's signal is taken before the check, so a change recorded between them wakes it.
            let recorded = monitor.transitionRecorded.next
            let left = interval - (ContinuousClock.now - started)
            if !shutdown.requested, !Task.isCancelled, left > .zero, !monitor.hasTransitions {
                await withTaskGroup(of: Void.self) { group in
                    group.addTask { await recorded.wait() }
                    group.addTask { await self.shutdown.sleep(left) }
                    await group.next()
                    group.cancelAll()
                }
            }
        }
        connector.cancel()
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
        /// Every observer's view of every component, with its liveness and self-declared lag.
        var observations: [ObservationRecord] = []
        var events: [SnapshotStore.Event] = []
        /// The running failover's current step and when it began.
        var runningStep: (step: FailoverStep, since: Date)?
        /// The control database's clock at the read.
        var now: Date?
        /// Observers that wrote within the day (the quorum's denominator).
        var knownObservers = 0
    }

    /// The failed hooks of the failovers in `history` (newest first) that finished after `through`,
    /// oldest first up to the first still running, and the new mark. The first call (no mark) only sets
    /// the baseline: what happened before this agent started is not counted. `history` is re-read on every
    /// new or finished failover, so no finished failover is skipped unless more than its length finish
    /// between two refreshes.
    static func hookFailures(in history: [FailoverHistory], after through: Int?) -> (failed: [String], mark: Int) {
        let latest = history.first?.failover.id ?? 0
        let oldestRunning = history.last { $0.failover.state == .running }?.failover.id
        guard let through else { return ([], oldestRunning.map { $0 - 1 } ?? latest) }
        var mark = through
        var failed: [String] = []
        for entry in history.reversed() where entry.failover.id > through {
            guard entry.failover.state != .running else { break }
            for step in entry.steps {
                switch step.result {
                case .route(let route)?: failed += route.hooks.filter { !$0.succeeded }.map(\.name)
                case .complete(let complete)?: failed += complete.notified.filter { !$0.succeeded }.map(\.name)
                default: break
                }
            }
            mark = entry.failover.id
        }
        return (failed, mark)
    }

    /// Writes this observer's interval and reads everyone's, in one round trip.
    func exchange(
        _ c: PostgresConnection, local: [String: [String: MonitorState.Component]],
        transitions: [MonitorState.Transition], notices: [MonitorState.Notice] = [],
        apiURL: String?, sinceEvent: Int
    ) async throws -> ControlView {
        for notice in notices {
            logger.warning(
                "ambiguous probe failure",
                metadata: ["switchyard.region": "\(notice.region)", "message": "\(notice.message)"])
        }
        var observations: [ObservationWrite] = []
        // Ages on this observer's monotonic clock: the control database stamps them on its own.
        let now = ContinuousClock.now
        for (region, byName) in local {
            for (name, component) in byName {
                let health = component.health
                observations.append(
                    ObservationWrite(
                        region: region, component: name, state: health.state, sinceAge: now - health.changedAt,
                        latencyMs: health.latency.map { $0.secondsDouble * 1000 },
                        lastError: health.state == .healthy ? nil : health.lastError,
                        detail: try? WireJSON.encoder().encode(component.detail), evidence: health.evidence,
                        inconclusive: health.inconclusiveProbes, upAge: health.upAt.map { now - $0 },
                        failingAge: health.state == .down || health.state == .suspect
                            ? health.troubleSince.map { now - $0 } : nil))
            }
        }
        let lag = selfHealth.lagging()
        let events = transitions.map { t in
            HealthEvent(
                observer: observer, region: t.region, component: t.component, state: t.to,
                message: "\(observer) sees \(t.region) \(t.component) \(t.to.rawValue)"
                    + (t.to == .healthy ? "" : (t.error.map { ": \($0)" } ?? "")))
        }
        let writes = try ControlStore.observationStatements(
            agent: AgentWrite(
                observer: observer, apiURL: apiURL, lag: lag.map { ($0.reason, $0.lag.secondsDouble * 1000) }),
            observations: observations, transitions: events,
            warnings: notices.map { (region: $0.region, message: "\(observer) sees \($0.message)") })
        let liveWithin = configuration.controlPlane.probes.liveWithin
        let read = try await ControlStore.refresh(c, writes: writes, sinceEvent: sinceEvent, liveWithin: liveWithin)
        var view = ControlView()
        view.activeRegion = read.cluster.activeRegion
        view.epoch = read.cluster.epoch
        view.paused = read.cluster.paused
        view.now = read.cluster.now
        view.knownObservers = read.knownObservers
        if let lease = read.lease {
            view.lease = .init(
                region: lease.region, holder: lease.holder, epoch: lease.epoch, expiresAt: lease.expiresAt,
                fresh: lease.fresh)
        }
        view.lastFailover = read.failovers.latest?.summary
        view.running = read.failovers.running?.summary
        view.observations = read.observations
        view.events = read.events
        return view
    }

    func snapshot(local: [String: [String: MonitorState.Component]], view: ControlView) -> StatusDocument {
        // Every observer's view of every region, reduced exactly as the failover decision reduces it.
        let records = Dictionary(grouping: view.observations, by: \.region).mapValues {
            Dictionary(grouping: $0, by: \.observer)
        }
        let decisionRegions = configuration.regions.map { region -> FailoverDecision.Region in
            let critical = region.critical.map(\.rawValue)
            let observations = (records[region.name] ?? [:]).sorted { $0.key < $1.key }.map { name, rows in
                FailoverDecision.observation(
                    observer: name, live: rows.contains(where: \.live),
                    components: Dictionary(
                        rows.map {
                            (
                                $0.component,
                                FailoverDecision.ComponentView(
                                    state: $0.state, since: $0.since, evidence: $0.evidence, upSince: $0.upSince,
                                    failingSince: $0.failingSince)
                            )
                        }, uniquingKeysWith: { a, _ in a }),
                    critical: critical)
            }
            return .init(name: region.name, priority: region.priority, observations: observations)
        }
        // Observers that find most regions failing with nothing but silence: the decision discounts them.
        let lagging = Dictionary(
            view.observations.compactMap { o in o.live ? o.lagReason.map { (o.observer, $0) } : nil },
            uniquingKeysWith: { a, _ in a })
        let silentRegions = FailoverDecision.correlatedSilence(
            decisionRegions, window: configuration.controlPlane.probes.silenceCorrelationWindow,
            lagging: Set(lagging.keys))
        let regions = configuration.regions.map { region -> StatusDocument.Region in
            let critical = region.critical.map(\.rawValue)
            var components: [String: StatusDocument.Component] = [:]
            for (name, c) in local[region.name] ?? [:] {
                components[name] = .init(
                    state: c.health.state,
                    latencyMs: c.health.latency.map { ($0.secondsDouble * 1_000_000).rounded() / 1000 },
                    since: c.health.since, lastError: c.health.state == .healthy ? nil : c.health.lastError,
                    detail: c.detail,
                    evidence: c.health.state == .healthy ? nil : c.health.evidence)
            }
            let health = ComponentHealth.region(components.mapValues(\.state), critical: critical)
            var observers: [StatusDocument.ObserverView] = []
            for o in decisionRegions.first(where: { $0.name == region.name })?.observations ?? [] {
                let rows = records[region.name]?[o.observer] ?? []
                var discounted = lagging[o.observer].map { "lagging: \($0)" }
                if discounted == nil, o.evidence == .silence, let silent = silentRegions[o.observer]?[region.name] {
                    discounted =
                        "finds \(silent) of \(configuration.regions.count) regions silent since the same moment"
                }
                observers.append(
                    .init(
                        observer: o.observer, health: o.health,
                        components: Dictionary(rows.map { ($0.component, $0.state) }, uniquingKeysWith: { a, _ in a }),
                        observedAt: rows.map(\.lastSeen).max() ?? .distantPast, live: o.live, evidence: o.evidence,
                        discounted: discounted))
            }
            if !view.reachable {
                // Without the control database this observer only knows its own view.
                let own = FailoverDecision.observation(
                    observer: observer, live: true,
                    components: (local[region.name] ?? [:]).mapValues {
                        .init(
                            state: $0.health.state, since: $0.health.since, evidence: $0.health.evidence,
                            upSince: $0.health.upSince)
                    }, critical: critical)
                observers = [
                    .init(
                        observer: observer, health: own.health, components: components.mapValues(\.state),
                        observedAt: Date(), live: true, evidence: own.evidence,
                        discounted: selfHealth.lagging().map { "lagging: \($0.reason)" })
                ]
            }
            let live = observers.filter(\.live)
            let schedulers = local[region.name]?["schedulers"]?.detail
            return .init(
                name: region.name, role: region.name == view.activeRegion ? "active" : "standby",
                priority: region.priority,
                health: health, critical: critical, components: components, schedulerLeader: schedulers?.leader,
                schedulerEpoch: schedulers?.epoch, observers: observers, liveObservers: live.count,
                observersSeeingDown: live.filter { $0.health == .down }.count)
        }
        // Whether a loss of the active region would fail over by itself (only with the control database's
        // observations: this observer alone cannot tell).
        var capacity: FailoverCapacity? = nil
        if view.reachable {
            let failover = configuration.controlPlane.failover
            capacity = FailoverCapacity.assess(
                FailoverDecision.Input(
                    now: view.now ?? Date(), activeRegion: view.activeRegion, regions: decisionRegions,
                    knownObservers: view.knownObservers, quorum: failover.quorum, failureGrace: failover.failureGrace,
                    cooldown: failover.cooldown, maxFailoversPerHour: failover.maxFailoversPerHour,
                    recentFailovers: [], paused: view.paused, automatic: failover.auto,
                    evidenceGrace: min(failover.evidenceGrace, failover.failureGrace), laggingObservers: lagging,
                    correlationWindow: configuration.controlPlane.probes.silenceCorrelationWindow))
        }
        let lag = selfHealth.lagging()
        let inconclusive = local.values.flatMap(\.values).map(\.health.inconclusiveProbes).reduce(0, +)
        var document = StatusDocument(
            generatedAt: Date(), observer: observer, controlDbReachable: view.reachable,
            activeRegion: view.activeRegion, epoch: view.epoch, paused: view.paused,
            failoverInProgress: view.running, lease: view.lease, regions: regions, lastFailover: view.lastFailover,
            selfHealth: .init(
                lagging: lag != nil, reason: lag?.reason, lagEvents: selfHealth.lagEvents,
                inconclusiveProbes: inconclusive))
        document.failoverCapacity = capacity
        return document
    }

    /// The active region acting on its failsafe lease, as this observer's probe of its database reads it.
    func failsafe(in local: [String: [String: MonitorState.Component]], active: String?) -> StatusDocument.Failsafe? {
        guard let active, let database = local[active]?["database"], database.health.state == .healthy,
            database.detail.leaseSource == "failsafe"
        else { return nil }
        return .init(
            region: active, since: database.detail.failsafeSince, confirmedBy: database.detail.failsafeRegions ?? [])
    }
}
