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
    let exec: ExecSupervisor?
    /// Runs that stay unclaimed this long are published again under a new dispatch id.
    let redispatchAfter: Duration = .seconds(10)

    /// Creates a node; `run()` does the work.
    public init(configuration: Configuration, region: RegionConfig, nodeId: String, exec: [String]?,
                shutdown: ShutdownSignal, logger: Logger) {
        self.configuration = configuration
        self.region = region
        self.nodeId = nodeId
        self.shutdown = shutdown
        var logger = logger
        logger[metadataKey: "switchyard.region"] = .string(region.name)
        logger[metadataKey: "switchyard.node"] = .string(nodeId)
        self.logger = logger
        self.exec = exec.map {
            ExecSupervisor(command: $0, grace: configuration.controlPlane.election.execGrace, logger: logger)
        }
    }

    var election: ElectionConfig { configuration.controlPlane.election }

    /// Contends for leadership until shutdown; then hands leadership off and deregisters.
    public func run() async {
        logger.info("scheduler node starting")
        let nodeSession = NodeSession(dsn: region.databaseDSN, nodeId: nodeId, logger: logger)
        // One lease keeper for the node's life: its control-database connection is opened while following,
        // so a new leader's first tick is not delayed by connecting and authenticating.
        let lease = ActiveLease(dsn: configuration.controlPlane.control.dsn, region: region.name, holder: nodeId,
                                ttl: configuration.controlPlane.failover.leaseTTL, logger: logger)
        while !shutdown.requested {
            var lock: LockSession?
            do {
                let session = try await LockSession.open(dsn: region.databaseDSN, region: region.name, node: nodeId, settings: election)
                lock = session
                await nodeSession.beat(role: "follower", epoch: nil)
                await lease.prepare()
                guard try await waitForLock(session, nodeSession: nodeSession) else { break }
                try await leadRenewing(session, nodeSession: nodeSession, lease: lease)
            } catch {
                logger.warning("lock session failed; reconnecting", metadata: ["error": "\(error)"])
            }
            await exec?.stop(reason: "not leading")
            if let lock { await lock.close() }
            if !shutdown.requested { await shutdown.sleep(.milliseconds(200)) }
        }
        await exec?.stop(reason: "shutdown")
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

    /// Leads with the active-region lease renewed on a task of its own, which ends (awaited) with the
    /// leadership.
    func leadRenewing(_ lock: LockSession, nodeSession: NodeSession, lease: ActiveLease) async throws {
        lease.forget()
        let renewals = lease.renewing(every: configuration.controlPlane.failover.leaseRenewInterval)
        do {
            try await lead(lock, nodeSession: nodeSession, lease: lease)
        } catch {
            renewals.cancel()
            await renewals.value
            throw error
        }
        renewals.cancel()
        await renewals.value
    }

    /// Leads until the deadline lapses, the epoch is superseded, the session fails, or shutdown.
    func lead(_ lock: LockSession, nodeSession: NodeSession, lease: ActiveLease) async throws {
        var deadline = LeaderDeadline(stepDownAfter: election.stepDownAfter)
        let bumpSent = ContinuousClock.now
        let epoch = try await RegionStore.bumpEpoch(lock, node: nodeId)
        deadline.confirm(sentAt: bumpSent)
        var logger = self.logger
        logger[metadataKey: "switchyard.epoch"] = .string(String(epoch))
        logger.notice("won leadership")
        // The first renewal normally takes a millisecond on the connection opened while following: wait
        // for it (briefly) so a new leader acts on its first tick; a hung control database delays nothing.
        await lease.awaitFirstAttempt(within: min(election.heartbeatInterval, election.stepDownAfter / 4))
        let dispatcher = RunDispatcher(region: region.name, stream: region.redis.stream)
        var redis: RedisConnection?
        var fenceRaised = false
        var scheduling = false
        defer { Task { [redis] in await redis?.close() } }
        var lastNodeBeat = ContinuousClock.now - .seconds(1)

        while !shutdown.requested {
            guard deadline.allowsActing(at: .now) else {
                logger.warning("stepping down: no confirmed round trip within step_down_after")
                return
            }
            // The active-region lease, as the renewal task last confirmed it.
            let leaseLeft = lease.remaining(at: .now)
            let active = leaseLeft != nil
            let sent = ContinuousClock.now
            let result: RegionStore.TickResult
            if active {
                result = try await RegionStore.tick(lock, epoch: epoch, region: region.name, now: Date(), redispatchAfter: redispatchAfter,
                                                     validity: leaseLeft.map { $0 - (ContinuousClock.now - sent) - Worker.validityMargin })
            } else {
                result = RegionStore.TickResult(standing: try await RegionStore.leaderHeartbeat(lock, epoch: epoch))
            }
            deadline.confirm(sentAt: sent)
            if case .superseded(let current) = result.standing {
                logger.warning("stepping down: epoch superseded", metadata: ["current": "\(current)"])
                return
            }
            var canSchedule = false
            if active, case .leadingOpen(let clusterEpoch) = result.standing, clusterEpoch == lease.clusterEpoch { canSchedule = true }
            if canSchedule != scheduling {
                logger.notice(canSchedule ? "scheduling: region is active and its fence is open" : "idle: region is not active or is fenced")
                scheduling = canSchedule
            }
            if !result.created.isEmpty { logger.info("created runs", metadata: ["runs": "\(result.created)"]) }
            // Redis: raise the fence once per leadership, then publish what the tick dispatched.
            if !result.dispatches.isEmpty || !fenceRaised {
                do {
                    if redis == nil { redis = try await RedisConnector.connect(region.redis, name: "dispatch-\(region.name)") }
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
                    logger.warning("dispatch failed; unclaimed runs are published again later", metadata: ["error": "\(error)"])
                    if let r = redis { await r.close() }
                    redis = nil
                }
            }
            await exec?.update(shouldRun: canSchedule, leaseRemaining: deadline.remaining(at: .now))
            if ContinuousClock.now - lastNodeBeat >= .seconds(1) {
                await nodeSession.beat(role: "leader", epoch: epoch)
                lastNodeBeat = .now
            }
            await shutdown.sleep(min(election.heartbeatInterval, deadline.remaining(at: .now)))
        }
        // Voluntary hand-off: stop the child first, then unlock so a follower wins at once.
        await exec?.stop(reason: "shutdown")
        do {
            try await lock.release(node: nodeId)
            logger.notice("released leadership")
        } catch {
            logger.warning("release failed; closing the session frees the lock", metadata: ["error": "\(error)"])
        }
    }
}
