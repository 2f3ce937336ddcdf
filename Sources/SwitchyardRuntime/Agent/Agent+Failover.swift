import Foundation
import Logging
import Postgres
import SwitchyardCore
import Synchronization

extension Agent {
    /// Contends for failover leadership (the control database's failover lock, on a lock session with
    /// the election timeouts). The leader finishes an interrupted failover, runs operators' requests,
    /// decides automatic failovers from everyone's observations, and keeps the standbys' shadow runs.
    func failoverLoop() async {
        let election = configuration.controlPlane.election
        // The lock session's connects outlive one wait (`connect_timeout`): across a far, loaded link a
        // connect costs about that, and an agent that abandoned each attempt would never contend again.
        let connector = LockSession.connector(
            dsn: configuration.controlPlane.control.dsn, region: FailoverLock.key, node: "agent-\(observer)",
            settings: election)
        defer { connector.cancel() }
        while !shutdown.requested && !Task.isCancelled {
            var lock: LockSession?
            var handedOver = false
            do {
                let session = try await LockSession.open(using: connector, region: FailoverLock.key, settings: election)
                lock = session
                while !shutdown.requested, !Task.isCancelled, try await !session.acquire() {}
                guard !shutdown.requested && !Task.isCancelled else { break }
                logger.notice("leading failovers")
                let control = try await PostgresConnection.connect(
                    configuration.controlPlane.control.dsn, timeout: .seconds(3), defaultTimeout: .seconds(30))
                defer { Task { await control.close() } }
                try await ControlStore.recordEvent(
                    control, kind: "failover-leader", message: "\(observer) leads failovers")
                // Region connections kept open by the shadow sync and borrowed by failovers (see WarmConnections).
                let warm = WarmConnections()
                let executor = FailoverExecutor(
                    configuration: configuration, leader: observer, logger: logger, warm: warm)
                let deadline = SharedLeaderDeadline(stepDownAfter: election.stepDownAfter)
                // A failover can run longer than idle_session_timeout (it may wait out a lease, copy many
                // runs): keep the lock session busy meanwhile, or the server would free the lock mid-failover.
                // Each answer confirms the lock as the loop's own does (the session held it when the query was
                // sent): a pass slowed by a far control database or a starved host keeps its right to act
                // while the session answers, instead of stepping down with a failover due.
                let keepAlive = Task {
                    while !Task.isCancelled {
                        let sent = ContinuousClock.now
                        if (try? await session.connection.query("SELECT 1")) != nil { deadline.confirm(sentAt: sent) }
                        try? await Task.sleep(for: election.heartbeatInterval)
                    }
                }
                defer { keepAlive.cancel() }
                // Shadow copies on a task of their own: a cut-off active region stalls them, and must not
                // stall the leader's heartbeat or its decisions with them.
                let shadows = Task { await shadowLoop(warm) }
                let airflowEvents = Task { await airflowDriftEvents() }
                defer { airflowEvents.cancel() }
                defer {
                    shadows.cancel()
                    Task {
                        await shadows.value; await warm.closeAll()
                    }
                }
                let incidents = IncidentBook()  // read when leadership begins, then kept in step
                var lastIncidentError = ""
                var lastOutcome = ""
                var nextReconcile = ContinuousClock.now
                while !shutdown.requested && !Task.isCancelled {
                    let sent = ContinuousClock.now
                    try await session.connection.query("SELECT 1")
                    deadline.confirm(sentAt: sent)
                    if let report = try await executor.resume(control) {
                        logger.notice(
                            "finished interrupted failover",
                            metadata: ["failover": "\(report.id)", "state": "\(report.state)"])
                    }
                    try await serveRequests(
                        control, executor: executor, stillLeading: { deadline.allowsActing(at: .now) })
                    let (input, unreconciled) = try await DecisionInputReader.readForLeader(
                        control, configuration: configuration)
                    // Incidents first: the one a failover answers is open (and its key known) before it begins.
                    if deadline.allowsActing(at: .now) {
                        do {
                            try await handleIncidents(control, input: input, book: incidents)
                            lastIncidentError = ""
                        } catch {
                            incidents.invalidate()
                            if "\(error)" != lastIncidentError {
                                logger.warning("incident bookkeeping failed", metadata: ["error": "\(error)"])
                            }
                            lastIncidentError = "\(error)"
                        }
                    }
                    let outcome = FailoverDecision.decide(input)
                    if case .failover(let target, let reason) = outcome, deadline.allowsActing(at: .now) {
                        // A leader that could not finish it from where it stands (cut off from the other
                        // regions, the control database beside it) leaves it to a better-placed agent.
                        let reach = databaseReach()
                        if !reach.canFinish(target: target),
                            let other = LeaderReach.betterPlaced(than: observer, target: target, in: input)
                        {
                            handedOver = true
                            await handOver(
                                control,
                                why: "instead of failing over to \(target): "
                                    + reach.handOffReason(target: target, to: other))
                            break
                        }
                        logger.warning("automatic failover", metadata: ["target": "\(target)", "reason": "\(reason)"])
                        do {
                            // The quorum is confirmed on a fresh read inside the transaction that begins the
                            // failover: an observer that wrote the region healthy since the read above wins.
                            let id = try await executor.begin(
                                control, kind: .failover, to: target, reason: reason,
                                confirm: DecisionInputReader.confirmation(target: target, configuration: configuration))
                            let report = try await executor.run(control, id: id)
                            logger.notice(
                                "failover finished", metadata: ["failover": "\(id)", "state": "\(report.state)"])
                        } catch let refusal as FailoverExecutor.Refusal {
                            logger.warning(
                                "automatic failover not begun", metadata: ["reason": "\(refusal.description)"])
                        } catch {
                            logger.error(
                                "failover failed; the journal keeps it for resumption", metadata: ["error": "\(error)"])
                        }
                    } else if "\(outcome)" != lastOutcome, case .blocked(let why) = outcome {
                        logger.warning("failover blocked", metadata: ["reason": "\(why)"])
                    } else if "\(outcome)" != lastOutcome, case .stay(let why) = outcome,
                        why.contains(FailoverDecision.notCounted)
                    {
                        // Observers that see the active region down but whose votes do not count (lagging, or
                        // finding most regions silent at once): the one reason a due failover silently waits.
                        logger.warning("failover waits: down votes not counted", metadata: ["reason": "\(why)"])
                    }
                    lastOutcome = "\(outcome)"
                    // Runs a failover could not move (its old database was unreachable, the shadow's copy
                    // older than them) come home when that database answers again.
                    // The count rides the decision's read: no round trip while nothing waits.
                    if unreconciled > 0, deadline.allowsActing(at: .now), ContinuousClock.now >= nextReconcile {
                        nextReconcile = .now + .seconds(2)
                        do {
                            _ = try await executor.reconcile(control)
                        } catch {
                            logger.warning("reconciliation failed; retried", metadata: ["error": "\(error)"])
                        }
                    }
                    guard deadline.allowsActing(at: .now) else {
                        logger.warning("stepping down from failover leadership: the lock session went quiet")
                        break
                    }
                    // While any live observer finds the active region failing, decide every 100 ms: the
                    // evidence path is only as fast as the leader looks at it.
                    let watching =
                        input.regions.first { $0.name == input.activeRegion }?.observations
                        .contains { $0.live && ($0.health == .down || $0.health == .suspect) } ?? false
                    await shutdown.sleep(
                        watching
                            ? .milliseconds(100)
                            : min(configuration.controlPlane.probes.interval, election.heartbeatInterval))
                }
            } catch {
                logger.warning("failover leadership session failed; reconnecting", metadata: ["error": "\(error)"])
            }
            if let lock { await lock.close() }
            // Handed over: the agents waiting on the lock get it at once; this one waits before it contends
            // again, so one of them leads.
            await shutdown.sleep(handedOver ? election.stepDownAfter + election.lockWait : .milliseconds(200))
        }
    }

    /// This agent's view of every region's database, as a failover leader's reach.
    func databaseReach() -> LeaderReach {
        let components = monitor.components
        return LeaderReach(
            databases: Dictionary(
                uniqueKeysWithValues: configuration.regions.map { region in
                    (region.name, components[region.name]?["database"]?.health.state ?? .unknown)
                }))
    }

    /// Says why this leader hands failover leadership over (the caller then closes its lock session).
    func handOver(_ control: PostgresConnection, why: String) async {
        logger.warning("handing failover leadership over", metadata: ["why": "\(why)"])
        try? await ControlStore.recordEvent(
            control, kind: "failover-leader", message: "\(observer) hands failover leadership over \(why)")
    }

    /// While this agent leads failovers: every `shadow_interval`, copies the active region's active runs
    /// into each standby's shadow table (none while a failover runs: it reads them). Cancelled when the
    /// agent stops leading.
    func shadowLoop(_ warm: WarmConnections) async {
        let interval = configuration.controlPlane.failover.shadowInterval
        var control: PostgresConnection?
        while !shutdown.requested && !Task.isCancelled {
            let started = ContinuousClock.now
            do {
                let c: PostgresConnection
                if let open = control {
                    c = open
                } else {
                    c = try await PostgresConnection.connect(
                        configuration.controlPlane.control.dsn, timeout: .seconds(2), defaultTimeout: .seconds(3))
                    control = c
                }
                // None while a failover runs: it reads the shadow copies.
                let running = try await ControlStore.runningFailoverId(c) != nil
                let cluster = running ? nil : try await ControlStore.cluster(c)
                if let cluster, let active = cluster.activeRegion,
                    let activeConfig = configuration.region(named: active),
                    !Task.isCancelled
                {
                    // Each region's connection is this loop's only while it copies from or to it; a failover
                    // borrows them in between, the standbys' even while the copy waits on a silent active region.
                    _ = try await ShadowSync.sync(
                        active: activeConfig, epoch: cluster.epoch,
                        standbys: configuration.regions.filter { $0.name != active }, warm: warm)
                }
            } catch let error as ShadowSync.SourceFailed {
                logger.debug("shadow sync failed", metadata: ["error": "\(error)"])
            } catch {
                logger.debug("shadow sync failed", metadata: ["error": "\(error)"])
                if let c = control { await c.close() }
                control = nil
            }
            let left = interval - (ContinuousClock.now - started)
            if left > .zero { await shutdown.sleep(left) }
        }
        if let c = control { await c.close() }
    }

    /// Runs operators' queued failover and switchover requests, oldest first.
    func serveRequests(_ control: PostgresConnection, executor: FailoverExecutor, stillLeading: () -> Bool) async throws
    {
        for request in try await ControlStore.pendingRequests(control) where stillLeading() {
            try await ControlStore.pickRequest(control, id: request.id)
            let failoverId: Int
            do {
                // Admitted when queued (`OperatorRequests`); the target's health is read afresh as it begins.
                failoverId = try await executor.begin(
                    control, kind: request.kind, to: request.toRegion, reason: request.reason, requestId: request.id,
                    confirm: OperatorRequests(configuration: configuration).pickupConfirmation(
                        target: request.toRegion))
                try await ControlStore.linkRequest(control, id: request.id, failover: failoverId)
            } catch let refusal as FailoverExecutor.Refusal {
                try await ControlStore.failRequest(control, id: request.id, refusal.description)
                continue
            } catch {
                // Whoever follows the request (the CLI) learns why instead of waiting out its timeout.
                try? await ControlStore.failRequest(control, id: request.id, "\(error)")
                throw error
            }
            _ = try await executor.run(control, id: failoverId)
        }
    }
}

/// The failover leader's deadline, confirmed by its loop and by its lock session's keep-alive alike.
final class SharedLeaderDeadline: Sendable {
    private let state: Mutex<LeaderDeadline>

    init(stepDownAfter: Duration) { state = Mutex(LeaderDeadline(stepDownAfter: stepDownAfter)) }

    /// Records a round trip on the lock session, sent at `sentAt`, that succeeded.
    func confirm(sentAt: ContinuousClock.Instant) { state.withLock { $0.confirm(sentAt: sentAt) } }

    /// True while the leader may act.
    func allowsActing(at now: ContinuousClock.Instant) -> Bool { state.withLock { $0.allowsActing(at: now) } }
}
