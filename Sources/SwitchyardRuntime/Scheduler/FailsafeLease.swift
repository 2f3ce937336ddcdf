import Logging
import Postgres
import SwitchyardCore
import Synchronization

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
    /// The cluster epoch the lease is renewed for (nil while this node has none to renew) and, per region
    /// database, the deadline of its latest confirmation with the epoch it confirmed: one lock, so an
    /// epoch change and the confirmations it voids never interleave with a reader.
    private let state = Mutex<(epoch: Int?, confirmed: [String: (until: ContinuousClock.Instant, epoch: Int)])>(
        (nil, [:]))
    private let connections = Mutex<[String: PostgresConnection]>([:])
    /// One per region database: a renewal's connect to a far database that outlasts its wait goes on, and
    /// the next renewal takes it up instead of starting again from TCP.
    private let connectors: [String: PostgresConnector]

    init(configuration: Configuration, region: String, holder: String, logger: Logger) {
        self.region = region
        self.holder = holder
        targets = configuration.regions.map { Target(region: $0.name, dsn: $0.databaseDSN) }
        timing = SafetyTiming(configuration.controlPlane)
        let renewal = timing.renewalTimeout
        connectors = Dictionary(
            uniqueKeysWithValues: targets.map {
                ($0.region, PostgresConnector($0.dsn, defaultTimeout: renewal, name: "failsafe-\($0.region)"))
            })
        quorum = SafetyTiming.failsafeQuorum(regions: configuration.regions.count)
        self.logger = logger
    }

    deinit {
        for connector in connectors.values { connector.cancel() }
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
        let (held, confirmed) = state.withLock { ($0.epoch, $0.confirmed) }
        guard let epoch = held else { return nil }
        let live = confirmed.filter { $0.value.epoch == epoch && $0.value.until > now }
        let deadlines = live.values.map(\.until).sorted(by: >)
        guard deadlines.count >= quorum else { return nil }
        let until = deadlines[quorum - 1]
        return Standing(left: until - now, epoch: epoch, regions: live.keys.sorted())
    }

    /// The epoch renewed for.
    var heldEpoch: Int? { state.withLock { $0.epoch } }

    /// Drops everything held (a new leadership starts with nothing; the control database said this region
    /// is not active).
    func forget() { state.withLock { $0 = (nil, [:]) } }

    /// Decides the epoch to renew for from the control database's last answer, read under this lease's
    /// lock so a "not active" that a tick acted on can never be undone by a renewal that read "active"
    /// before it: active at an epoch holds it; not active drops everything; no answer yet keeps what is
    /// held, or takes `inherited` when nothing is.
    func decide(_ answer: @Sendable () -> ActiveLease.Answer, inherited: Int? = nil) -> Int? {
        state.withLock { s in
            switch answer() {
            case .active(let epoch):
                if s.epoch != epoch { s = (epoch, [:]) }
            case .notActive:
                s = (nil, [:])
            case .none:
                if s.epoch == nil, let inherited { s = (inherited, [:]) }
            }
            return s.epoch
        }
    }

    /// Renews in every region database every `interval` until cancelled, while `acting` says this node
    /// still leads, for the epoch `answer` (the active-region lease's last answer) gives. While the control
    /// database has not answered this leadership, the region's own database is asked for a predecessor's
    /// lease to carry on (by that database's task alone, on its own connection).
    func renewing(
        every interval: Duration, acting: @escaping @Sendable () -> Bool,
        answer: @escaping @Sendable () -> ActiveLease.Answer
    ) -> Task<Void, Never> {
        Task {
            await withTaskGroup(of: Void.self) { group in
                for target in targets {
                    group.addTask {
                        while !Task.isCancelled {
                            guard acting() else {
                                // Not leading (yet): look again soon, so a new leader's first renewal is not an interval late.
                                try? await Task.sleep(for: .milliseconds(10))
                                continue
                            }
                            let started = ContinuousClock.now
                            var epoch = self.decide(answer)
                            if epoch == nil, target.region == self.region, answer() == .none {
                                epoch = self.decide(answer, inherited: await self.inherited(from: target))
                            }
                            if let epoch { await self.renew(target, epoch: epoch) }
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
        guard let connector = connectors[target.region] else {
            throw PostgresError(code: .other, operation: "connect", message: "no database for \(target.region)")
        }
        let fresh = try await PostgresConnection.durable(connector.connect(waiting: timing.renewalTimeout))
        connections.withLock { $0[target.region] = fresh }
        return fresh
    }

    private func renew(_ target: Target, epoch: Int) async {
        let sent = ContinuousClock.now
        do {
            let c = try await open(target)
            let renewed = try await RegionStore.renewFailsafeLease(
                c, region: region, clusterEpoch: epoch, holder: holder, ttl: timing.failsafeTTL,
                timeout: timing.renewalTimeout)
            if renewed {
                state.withLock { s in
                    if s.epoch == epoch { s.confirmed[target.region] = (sent + timing.failsafeTTL, epoch) }
                }
            } else {
                state.withLock { $0.confirmed[target.region] = nil }
                logger.debug("failsafe lease refused", metadata: ["database": "\(target.region)", "epoch": "\(epoch)"])
            }
        } catch {
            logger.debug(
                "failsafe lease renewal failed", metadata: ["database": "\(target.region)", "error": "\(error)"])
            if let c = connections.withLock({ c in c.removeValue(forKey: target.region) }) { await c.close() }
        }
    }

    /// The epoch of an unexpired, unrevoked failsafe lease this region holds in its own database: a
    /// leader elected while the control database is unreachable carries on its predecessor's lease.
    private func inherited(from own: Target) async -> Int? {
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

extension PostgresConnection {
    /// A connection for lease writes: every commit on it waits for its WAL to be flushed
    /// (`synchronous_commit = on`), whatever the server-wide setting, so a lease a holder counted on
    /// survives a crash of that database.
    static func connectDurable(_ dsn: String, timeout: Duration, name: String) async throws -> PostgresConnection {
        try await durable(connect(dsn, timeout: timeout, defaultTimeout: timeout, name: name))
    }

    /// `fresh`, its commits made durable (closed if that fails).
    static func durable(_ fresh: PostgresConnection) async throws -> PostgresConnection {
        do {
            try await fresh.query("SET synchronous_commit = on")
        } catch {
            await fresh.close()
            throw error
        }
        return fresh
    }
}
