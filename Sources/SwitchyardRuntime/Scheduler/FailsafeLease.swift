import Logging
import Postgres
import Synchronization
import SwitchyardCore

/// The failsafe lease (safety invariant 4 while the control database is unreachable): a row the active
/// region's leader renews in every region database it can reach, carrying the cluster epoch at which
/// it last held the active-region lease. It holds while a majority of the region databases, its own
/// included, confirm it, until the earliest deadline among the latest confirmations of that majority;
/// each deadline runs from the send time of its confirmed round trip, so it ends no later than the row
/// the database stamped.
///
/// Any two majorities share a database, so a failover that raises `revoked_below` in enough of them
/// (`SafetyTiming.revocationQuorum`) and waits out the rows it finds there cannot miss a lease this
/// region still holds, and every renewal after its revocation is refused. Each database is renewed on
/// a task of its own, so a hung or cut-off one delays none of the others.
final class FailsafeLease: Sendable {
    struct Target: Sendable {
        var region: String
        var dsn: String
    }

    let region: String
    let holder: String
    let targets: [Target]
    let timing: SafetyTiming
    let quorum: Int
    let logger: Logger
    /// The cluster epoch the lease is renewed for; nil while this node has none to renew.
    private let epoch = Mutex<Int?>(nil)
    /// Per region database: the deadline of its latest confirmation, for the epoch it confirmed.
    private let confirmed = Mutex<[String: (until: ContinuousClock.Instant, epoch: Int)]>([:])
    private let connections = Mutex<[String: PostgresConnection]>([:])

    init(configuration: Configuration, region: String, holder: String, logger: Logger) {
        self.region = region
        self.holder = holder
        targets = configuration.regions.map { Target(region: $0.name, dsn: $0.databaseDSN) }
        timing = SafetyTiming(configuration.controlPlane)
        quorum = SafetyTiming.failsafeQuorum(regions: configuration.regions.count)
        self.logger = logger
    }

    deinit {
        for c in connections.withLock({ $0.values }) { Task { await c.close() } }
    }

    /// What the lease gives at an instant.
    struct Standing: Sendable, Equatable {
        /// Time left.
        var left: Duration
        /// The cluster epoch it holds for.
        var epoch: Int
        /// The regions whose databases confirm it now.
        var regions: [String]
    }

    /// The lease at `now`, nil when fewer than a majority of region databases confirm it.
    func standing(at now: ContinuousClock.Instant) -> Standing? {
        guard let epoch = epoch.withLock({ $0 }) else { return nil }
        let live = confirmed.withLock { $0 }.filter { $0.value.epoch == epoch && $0.value.until > now }
        let deadlines = live.values.map(\.until).sorted(by: >)
        guard deadlines.count >= quorum else { return nil }
        let until = deadlines[quorum - 1]
        return Standing(left: until - now, epoch: epoch, regions: live.keys.sorted())
    }

    /// Sets the epoch to renew for (learned from the active-region lease); nil stops renewing and drops
    /// what was held: the control database said this region is not active.
    func hold(epoch newEpoch: Int?) {
        let changed = epoch.withLock { e in
            defer { e = newEpoch }
            return e != newEpoch
        }
        if changed { confirmed.withLock { $0 = [:] } }
    }

    /// The epoch renewed for.
    var heldEpoch: Int? { epoch.withLock { $0 } }

    /// Drops everything held from an earlier leadership.
    func forget() { hold(epoch: nil) }

    /// Renews in every region database every `interval` until cancelled, while `acting` says this node
    /// still leads and `epochToHold` names an epoch (see `SchedulerNode`).
    func renewing(every interval: Duration, acting: @escaping @Sendable () -> Bool,
                  epochToHold: @escaping @Sendable () async -> Int?) -> Task<Void, Never> {
        Task {
            await withTaskGroup(of: Void.self) { group in
                for target in targets {
                    group.addTask {
                        while !Task.isCancelled {
                            let started = ContinuousClock.now
                            if acting() {
                                if let e = await epochToHold() { self.hold(epoch: e) }
                                if let e = self.heldEpoch { await self.renew(target, epoch: e) }
                            }
                            let left = interval - (ContinuousClock.now - started)
                            if left > .zero { try? await Task.sleep(for: left) }
                        }
                    }
                }
            }
        }
    }

    private func open(_ target: Target) async throws -> PostgresConnection {
        if let c = connections.withLock({ $0[target.region] }), await c.isOpen { return c }
        let fresh = try await PostgresConnection.connect(
            target.dsn, timeout: timing.renewalTimeout, defaultTimeout: timing.renewalTimeout, name: "failsafe-\(target.region)")
        connections.withLock { $0[target.region] = fresh }
        return fresh
    }

    private func renew(_ target: Target, epoch: Int) async {
        let sent = ContinuousClock.now
        do {
            let c = try await open(target)
            let renewed = try await RegionStore.renewFailsafeLease(
                c, region: region, clusterEpoch: epoch, holder: holder, ttl: timing.failsafeTTL, timeout: timing.renewalTimeout)
            if renewed {
                confirmed.withLock { $0[target.region] = (sent + timing.failsafeTTL, epoch) }
            } else {
                confirmed.withLock { $0[target.region] = nil }
                logger.debug("failsafe lease refused", metadata: ["database": "\(target.region)", "epoch": "\(epoch)"])
            }
        } catch {
            logger.debug("failsafe lease renewal failed", metadata: ["database": "\(target.region)", "error": "\(error)"])
            if let c = connections.withLock({ c in c.removeValue(forKey: target.region) }) { await c.close() }
        }
    }

    /// The epoch of an unexpired, unrevoked failsafe lease this region holds in its own database: a
    /// leader elected while the control database is unreachable carries on its predecessor's lease.
    func inherited() async -> Int? {
        guard let own = targets.first(where: { $0.region == region }) else { return nil }
        do {
            let c = try await open(own)
            return try await c.query(
                """
                SELECT cluster_epoch FROM switchyard.failsafe_lease
                WHERE id = 1 AND region = $1 AND expires_at > now() AND cluster_epoch >= revoked_below
                """, [.text(region)], timeout: timing.renewalTimeout
            ).first?["cluster_epoch"].optional(Int.self)
        } catch {
            if let c = connections.withLock({ c in c.removeValue(forKey: own.region) }) { await c.close() }
            return nil
        }
    }
}

/// Until when the region's leader may act, as its tick loop last confirmed it: the lease renewals run
/// only while it is open, so a leader that stopped acting stops extending what a failover must wait out.
final class ActingWindow: Sendable {
    private let until = Mutex<ContinuousClock.Instant?>(nil)

    /// Opens (or extends) the window to `instant`.
    func open(until instant: ContinuousClock.Instant) { until.withLock { $0 = instant } }

    /// Closes it.
    func close() { until.withLock { $0 = nil } }

    /// True while open.
    var isOpen: Bool { until.withLock { $0 }.map { ContinuousClock.now < $0 } ?? false }
}
