import Foundation
import Logging
import Postgres
import Redis
import SwitchyardCore

/// `switchyard scheduler --region R`: one node of a region's scheduler group.
///
/// Followers wait in a blocking `pg_advisory_lock` on their lock session, so a crashed leader is
/// replaced within milliseconds. The leader bumps the epoch in the same session, raises the Redis
/// fence, then ticks: every tick is one fenced transaction on the lock session, and it acts only
/// while its monotonic `LeaderDeadline` allows and its active-region lease is fresh.
public final class SchedulerNode: Sendable {
    let configuration: Configuration
    let region: RegionConfig
    /// This node's identity in the region.
    public let nodeId: String
    let logger: Logger
    let shutdown: ShutdownSignal
    /// The leader-gated commands (`--exec`, repeatable: an `airflow scheduler` and a Celery beat), one
    /// guard each.
    let execs: [ExecSupervisor]
    /// The fingerprint of the Fernet key its commands get (`AIRFLOW__CORE__FERNET_KEY`), recorded in its row.
    let airflowFernet: String?
    /// Runs that stay unclaimed this long are published again under a new dispatch id.
    let redispatchAfter: Duration = .seconds(10)

    /// Creates a node; `run()` does the work.
    /// - Parameter execThroughShell: the commands are `/bin/sh -c` lines: SIGTERM goes to the shell's whole
    ///   process group (otherwise to the command itself, then SIGKILL to what is left of its group).
    public init(
        configuration: Configuration, region: RegionConfig, nodeId: String, exec: [[String]],
        execThroughShell: Bool = false, execEnvironment: CommandEnvironment = CommandEnvironment(),
        shutdown: ShutdownSignal, logger: Logger
    ) {
        self.configuration = configuration
        self.region = region
        self.nodeId = nodeId
        self.shutdown = shutdown
        var logger = logger
        logger[metadataKey: "switchyard.region"] = .string(region.name)
        logger[metadataKey: "switchyard.node"] = .string(nodeId)
        self.logger = logger
        // The commands get an environment of their own, never the node's secrets (`CommandEnvironment`).
        let environment = execEnvironment.build(
            from: ProcessInfo.processInfo.environment, withheld: configuration.withheldVariables,
            adding: ["SWITCHYARD_REGION": region.name, "SWITCHYARD_NODE_ID": nodeId])
        self.airflowFernet =
            exec.isEmpty ? nil : environment["AIRFLOW__CORE__FERNET_KEY"].flatMap(AirflowFernet.fingerprint)
        self.execs = exec.map {
            ExecSupervisor(
                command: $0, grace: configuration.controlPlane.election.execGrace, termMainOnly: !execThroughShell,
                environment: environment, logger: logger)
        }
    }

    var election: ElectionConfig { configuration.controlPlane.election }

    /// Contends for leadership until shutdown; then hands leadership off and deregisters.
    public func run() async {
        logger.info("scheduler node starting")
        let nodeSession = NodeSession(
            dsn: region.databaseDSN, nodeId: nodeId, airflowFernet: airflowFernet, logger: logger)
        // One lease keeper for the node's life: its control-database connection is opened while following,
        // so a new leader's first tick is not delayed by connecting and authenticating.
        let lease = ActiveLease(
            dsn: configuration.controlPlane.control.dsn, region: region.name, holder: nodeId,
            ttl: configuration.controlPlane.failover.leaseTTL, logger: logger)
        let failsafe = FailsafeLease(configuration: configuration, region: region.name, holder: nodeId, logger: logger)
        while !shutdown.requested {
            var lock: LockSession?
            do {
                let session = try await LockSession.open(
                    dsn: region.databaseDSN, region: region.name, node: nodeId, settings: election)
                lock = session
                await nodeSession.beat(role: "follower", epoch: nil)
                await lease.prepare()
                guard try await waitForLock(session, nodeSession: nodeSession) else { break }
                try await leadRenewing(
                    session, nodeSession: nodeSession, leases: Leases(active: lease, failsafe: failsafe))
            } catch {
                logger.warning("lock session failed; reconnecting", metadata: ["error": "\(error)"])
            }
            for exec in execs { await exec.stop(reason: "not leading") }
            if let lock { await lock.close() }
            if !shutdown.requested { await shutdown.sleep(.milliseconds(200)) }
        }
        for exec in execs { await exec.stop(reason: "shutdown") }
        await nodeSession.beat(role: "stopped", epoch: nil)
        await nodeSession.close()
        logger.info("scheduler node stopped")
    }

    /// Blocks in pg_advisory_lock, bounded by lock_wait and retried; false when shutdown came first.
    func waitForLock(_ lock: LockSession, nodeSession: NodeSession) async throws -> Bool {
        var lastBeat = ContinuousClock.now
        while !shutdown.requested {
            if try await lock.acquire() { return true }
            if ContinuousClock.now - lastBeat >= election.heartbeatInterval {
                await nodeSession.beat(role: "follower", epoch: nil)
                lastBeat = ContinuousClock.now
            }
        }
        return false
    }

    /// The leases a leader may act on: the active-region lease in the control database, and the
    /// failsafe lease in a majority of the region databases while the control database is unreachable.
    struct Leases {
        var active: ActiveLease
        var failsafe: FailsafeLease
        let window = ActingWindow()

        /// What the leader may act on at `now`: the longer of the two leases that hold for the same epoch (both
        /// are renewed all along, so the hand-over when the control database stops answering leaves no gap in
        /// the fence validity), attributed to the control database while its renewals succeed.
        func holding(at now: ContinuousClock.Instant) -> Holding? {
            let control = active.remaining(at: now)
            let safe = failsafe.standing(at: now)
            let epoch = active.clusterEpoch
            switch (control, safe) {
            case let (c?, s?) where s.epoch == epoch:
                return Holding(
                    left: max(c, s.left), clusterEpoch: epoch, source: active.answering ? "control" : "failsafe",
                    failsafeRegions: s.regions)
            case let (c?, _):
                return Holding(left: c, clusterEpoch: epoch, source: "control", failsafeRegions: nil)
            case let (nil, s?):
                return Holding(left: s.left, clusterEpoch: s.epoch, source: "failsafe", failsafeRegions: s.regions)
            case (nil, nil):
                return nil
            }
        }
    }

    /// A lease held at an instant.
    struct Holding: Equatable {
        var left: Duration
        var clusterEpoch: Int
        /// `control` while the control database renews the active-region lease, else `failsafe`.
        var source: String
        /// The regions whose databases confirm the failsafe lease, when it holds.
        var failsafeRegions: [String]?
    }

    /// Leads with both leases renewed on tasks of their own, which end (awaited) with the leadership.
    func leadRenewing(_ lock: LockSession, nodeSession: NodeSession, leases: Leases) async throws {
        leases.active.forget()
        leases.failsafe.forget()
        let window = leases.window
        // The lock was just won (a confirmed round trip): the renewals may start at once, so the first tick
        // finds a lease; the tick loop keeps the window open from then on.
        window.open(until: .now + election.stepDownAfter)
        let interval = configuration.controlPlane.failover.leaseRenewInterval
        let renewals = leases.active.renewing(every: interval) { window.isOpen }
        let active = leases.active
        let failsafeRenewals = leases.failsafe.renewing(
            every: interval, acting: { window.isOpen }, answer: { active.lastAnswer })
        let outcome: Result<Void, Error>
        do {
            try await lead(lock, nodeSession: nodeSession, leases: leases)
            outcome = .success(())
        } catch {
            outcome = .failure(error)
        }
        window.close()
        renewals.cancel()
        failsafeRenewals.cancel()
        await renewals.value
        await failsafeRenewals.value
        try outcome.get()
    }

    /// Leads until the deadline lapses, the epoch is superseded, the session fails, or shutdown.
    func lead(_ lock: LockSession, nodeSession: NodeSession, leases: Leases) async throws {
        let lease = leases.active
        let timing = SafetyTiming(configuration.controlPlane)
        var deadline = LeaderDeadline(stepDownAfter: election.stepDownAfter)
        let bumpSent = ContinuousClock.now
        // A node with no --exec command records at once that none runs: a failover's target then holds nothing for it.
        let succession = try await RegionStore.takeOver(
            lock, node: nodeId, commandless: execs.isEmpty, predecessorCommandBound: timing.execStopBound)
        let epoch = succession.epoch
        deadline.confirm(sentAt: bumpSent)
        // The predecessor's command (an --exec command such as `airflow scheduler`) may still be shutting down:
        // its guard stops it at the end of the lease it was last fed (at most step_down_after after the
        // predecessor's last heartbeat) and kills it exec_grace later (`SafetyTiming.execStopBound`, with the
        // drift margin). Unless the predecessor recorded that its
        // command had exited before it let go, start ours only once that bound has passed: never two at once.
        var predecessorClear: ContinuousClock.Instant? = nil
        if !succession.predecessorStoppedExec {
            let bound = timing.execStopBound
            let waited = succession.sincePredecessorHeartbeat ?? .zero
            predecessorClear = bound > waited ? .now + (bound - waited) : nil
        }
        for exec in execs { await exec.lead(notBefore: predecessorClear) }
        // Whether this leader recorded that no command of the region runs (`exec_stopped_epoch`): set while
        // its commands are stopped and the predecessor's cannot run, withdrawn before they start again.
        var recordedStopped = execs.isEmpty && succession.recordedStopped
        leases.window.open(until: .now + deadline.remaining(at: .now))
        var logger = self.logger
        logger[metadataKey: "switchyard.epoch"] = .string(String(epoch))
        logger.notice("won leadership")
        // The first renewal normally takes a millisecond on the connection opened while following: wait
        // for it (briefly) so a new leader acts on its first tick; a hung control database delays nothing.
        await lease.awaitFirstAttempt(within: min(election.heartbeatInterval, election.stepDownAfter / 4))
        let dispatcher = RunDispatcher(region: region.name, stream: region.redis?.stream ?? "")
        var redis: RedisConnection?
        var fenceRaised = false
        var scheduling = false
        var leaseSource: String?
        defer { Task { [redis] in await redis?.close() } }
        var lastNodeBeat = ContinuousClock.now - .seconds(1)

        while !shutdown.requested {
            guard deadline.allowsActing(at: .now) else {
                logger.warning("stepping down: no confirmed round trip within step_down_after")
                return
            }
            leases.window.open(until: .now + deadline.remaining(at: .now))
            // The control database said this region is not active: no failsafe lease may outlive that.
            if lease.lastAnswer == .notActive, leases.failsafe.heldEpoch != nil { leases.failsafe.forget() }
            // The lease to act on, as the renewal tasks last confirmed it.
            let sent = ContinuousClock.now
            let holding = leases.holding(at: sent)
            if holding?.source != leaseSource {
                switch holding?.source {
                case "failsafe":
                    logger.warning(
                        "control database unreachable: acting on the failsafe lease",
                        metadata: [
                            "confirmed_by": "\(holding?.failsafeRegions ?? [])"
                        ])
                case "control" where leaseSource == "failsafe":
                    logger.notice("active-region lease renewed in the control database again: failsafe over")
                case nil where leaseSource != nil:
                    logger.warning(
                        "no lease holds: neither the control database nor a majority of region databases confirm it")
                default: break
                }
                leaseSource = holding?.source
            }
            let result: RegionStore.TickResult
            if let holding {
                // The validity is computed inside the tick's transaction, from the lease's end: it runs from the
                // transaction's start on the database's clock, which came before, so it ends before the lease.
                let leaseLeft = holding.left
                result = try await RegionStore.tick(
                    lock, epoch: epoch, region: region.name, now: Date(), redispatchAfter: redispatchAfter,
                    lease: .init(
                        clusterEpoch: holding.clusterEpoch,
                        validity: { timing.fenceValidity(leaseLeft: leaseLeft, sinceSent: .now - sent) ?? .zero },
                        source: holding.source,
                        failsafeRegions: holding.source == "failsafe" ? holding.failsafeRegions : nil),
                    schedule: region.runs.dispatch)
            } else {
                result = RegionStore.TickResult(standing: try await RegionStore.leaderHeartbeat(lock, epoch: epoch))
            }
            deadline.confirm(sentAt: sent)
            if case .superseded(let current) = result.standing {
                logger.warning("stepping down: epoch superseded", metadata: ["current": "\(current)"])
                return
            }
            var canSchedule = false
            if let holding, case .leadingOpen(let clusterEpoch) = result.standing, clusterEpoch == holding.clusterEpoch
            {
                canSchedule = true
            }
            if canSchedule != scheduling {
                logger.notice(
                    canSchedule
                        ? "scheduling: region is active and its fence is open"
                        : "idle: region is not active or is fenced")
                scheduling = canSchedule
            }
            if !result.created.isEmpty { logger.info("created runs", metadata: ["runs": "\(result.created)"]) }
            // Redis: raise the fence once per leadership, then publish what the tick dispatched (not at all in a
            // region whose runs Airflow dispatches: its leader never touches Redis).
            // (The configuration refuses `runs.dispatch` without a redis section.)
            if region.runs.dispatch, let redisConfig = region.redis, !result.dispatches.isEmpty || !fenceRaised {
                do {
                    if redis == nil {
                        redis = try await RedisConnector.connect(redisConfig, name: "dispatch-\(region.name)")
                    }
                    if let r = redis {
                        if !fenceRaised {
                            try await dispatcher.raiseFence(r, epoch: epoch)
                            fenceRaised = true
                        }
                        for message in result.dispatches {
                            guard deadline.allowsActing(at: .now) else { break }
                            try await dispatcher.publish(r, message)
                        }
                    }
                } catch let stale as RunDispatcher.StaleEpoch {
                    logger.warning("stepping down: \(stale)")
                    return
                } catch {
                    logger.warning(
                        "dispatch failed; unclaimed runs are published again later", metadata: ["error": "\(error)"])
                    if let r = redis { await r.close() }
                    redis = nil
                }
            }
            // The command's guard stops it by itself when leadership or the lease runs out, whichever is first.
            let now = ContinuousClock.now
            let leaseLeft = holding.map { $0.left - (now - sent) } ?? .zero
            let leaseUntil = now + max(.zero, min(deadline.remaining(at: now), leaseLeft))
            var runCommands = canSchedule
            if runCommands, recordedStopped, !execs.isEmpty {
                if try await RegionStore.withdrawCommandStopped(lock, epoch: epoch) {
                    recordedStopped = false
                } else {
                    runCommands = false
                }
            }
            for exec in execs {
                await exec.update(shouldRun: runCommands, leaseUntil: leaseUntil)
            }
            // A leader without commands records once the predecessor's cannot run: a switchover need not wait.
            if (!runCommands || execs.isEmpty), !recordedStopped, predecessorClear.map({ .now >= $0 }) ?? true {
                var idle = true
                for exec in execs where !(await exec.idle) { idle = false }
                if idle {
                    // A failover away from this region now holds nothing for the command (a switchover's
                    // quiesce waits for this: Airflow's LocalExecutor finishes its running tasks first).
                    try await RegionStore.recordCommandStopped(lock, epoch: epoch)
                    recordedStopped = true
                    logger.info("recorded that no leader-gated command runs")
                }
            }
            if ContinuousClock.now - lastNodeBeat >= .seconds(1) {
                await nodeSession.beat(role: "leader", epoch: epoch)
                lastNodeBeat = .now
            }
            // Holding a lease while the fence is closed is a region just activated and under its dispatch hold:
            // look again soon, so work resumes when the hold ends rather up to a tick later.
            let holdingFenced = holding != nil && result.standing == .leadingFenced
            let pause = holdingFenced ? min(election.heartbeatInterval, .milliseconds(100)) : election.heartbeatInterval
            await shutdown.sleep(min(pause, deadline.remaining(at: .now)))
        }
        // Voluntary hand-off: stop the child first (it gets its full grace), record that it has exited, then
        // unlock so a follower wins at once and starts its own command without waiting.
        // The lock is held meanwhile (its session kept from idle_session_timeout): the command may take its
        // whole grace, and no other node may start its own before this one has exited.
        let keepAlive =
            execs.isEmpty
            ? nil
            : Task { [lock, election] in
                while !Task.isCancelled {
                    try? await lock.keepAlive()
                    try? await Task.sleep(for: min(election.heartbeatInterval, election.idleSessionTimeout / 3))
                }
            }
        var stopped = !execs.isEmpty
        await withTaskGroup(of: Bool.self) { group in
            for exec in execs {
                group.addTask {
                    await exec.stop(reason: "shutdown")
                    return await exec.idle
                }
            }
            for await idle in group where !idle { stopped = false }
        }
        keepAlive?.cancel()
        _ = await keepAlive?.value
        do {
            try await lock.release(node: nodeId, execStoppedAt: stopped ? epoch : nil)
            logger.notice("released leadership")
        } catch {
            logger.warning("release failed; closing the session frees the lock", metadata: ["error": "\(error)"])
        }
    }
}
