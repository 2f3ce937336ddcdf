import Logging
import Postgres
import Synchronization

/// The active region's lease in the control database (safety invariant 4). The region's leader
/// renews it; it may schedule only while its own monotonic copy of the lease is fresh, and that
/// copy ends no later than the server's `expires_at`, since it is measured from before the renewal
/// was sent. A region that is not `cluster_state.active_region` gets no lease.
final class ActiveLease: Sendable {
    let dsn: String
    let region: String
    let holder: String
    let ttl: Duration
    let logger: Logger
    private let state = Mutex<(validUntil: ContinuousClock.Instant?, clusterEpoch: Int)>((nil, -1))
    /// What the control database last answered this leadership (errors leave it as it was).
    private let answer = Mutex<Answer>(.none)
    private let answeredLast = Mutex(true)
    /// Renewal attempts finished since the last `forget` (a new leader waits briefly for its first).
    private let attempts = Mutex(0)
    private let connection = Mutex<PostgresConnection?>(nil)

    init(dsn: String, region: String, holder: String, ttl: Duration, logger: Logger) {
        self.dsn = dsn
        self.region = region
        self.holder = holder
        self.ttl = ttl
        self.logger = logger
    }

    deinit {
        if let c = connection.withLock({ $0 }) { Task { await c.close() } }
    }

    /// The cluster epoch of the last successful renewal.
    var clusterEpoch: Int { state.withLock { $0.clusterEpoch } }

    /// What is left of the lease at `now` (nil when it is not fresh): the fence validity a tick may
    /// push, so the region's workers stop trusting their fence no later than the lease itself ends.
    func remaining(at now: ContinuousClock.Instant) -> Duration? {
        state.withLock { s in s.validUntil.flatMap { now < $0 ? $0 - now : nil } }
    }

    /// What the control database last said about this region.
    enum Answer: Sendable, Equatable {
        /// Nothing yet this leadership (it has not answered).
        case none
        /// Active at this cluster epoch.
        case active(clusterEpoch: Int)
        /// Not the active region.
        case notActive
    }

    /// The control database's last answer this leadership.
    var lastAnswer: Answer { answer.withLock { $0 } }

    /// True while the last renewal attempt got an answer (the control database is reachable).
    var answering: Bool { answeredLast.withLock { $0 } }

    /// Drops any lease held from an earlier leadership: a new leader starts with none.
    func forget() {
        state.withLock { $0 = (nil, -1) }
        answer.withLock { $0 = .none }
        attempts.withLock { $0 = 0 }
    }

    /// Renews every `interval` until cancelled, off the leader's tick path: a control database that
    /// hangs (SIGSTOP, a black-holed link) blocks only this task, never the region's heartbeat on its
    /// lock session, so the leader keeps its region leadership and merely stops scheduling when the
    /// lease it holds runs out.
    /// Renews only while `acting` holds, so a leader that stopped acting stops extending the lease.
    func renewing(every interval: Duration, acting: @escaping @Sendable () -> Bool = { true }) -> Task<Void, Never> {
        Task {
            while !Task.isCancelled {
                guard acting() else {
                    try? await Task.sleep(for: .milliseconds(10))
                    continue
                }
                let started = ContinuousClock.now
                await renew()
                attempts.withLock { $0 += 1 }
                let left = interval - (ContinuousClock.now - started)
                if left > .zero { try? await Task.sleep(for: left) }
            }
        }
    }

    /// Waits up to `bound` for the first renewal attempt since `forget` to finish.
    func awaitFirstAttempt(within bound: Duration) async {
        let deadline = ContinuousClock.now + bound
        while attempts.withLock({ $0 }) == 0, ContinuousClock.now < deadline {
            try? await Task.sleep(for: .milliseconds(1))
        }
    }

    /// Opens the control-database connection ahead of need (failures are retried at renewal).
    func prepare() async { _ = try? await open() }

    private func open() async throws -> PostgresConnection {
        if let c = connection.withLock({ $0 }), await c.isOpen { return c }
        let fresh = try await PostgresConnection.connectDurable(dsn, timeout: .seconds(2), name: "lease-\(region)")
        connection.withLock { $0 = fresh }
        return fresh
    }

    func renew() async {
        let sent = ContinuousClock.now
        do {
            let c = try await open()
            let held = try await ControlStore.renewActiveLease(c, region: region, holder: holder, ttl: ttl)
            if let epoch = held {
                state.withLock { $0 = (sent + ttl, epoch) }
                answer.withLock { $0 = .active(clusterEpoch: epoch) }
            } else {
                state.withLock { $0 = (nil, -1) }
                answer.withLock { $0 = .notActive }
            }
            if !answeredLast.withLock({ $0 }) { answeredLast.withLock { $0 = true } }
        } catch {
            // Once per outage, not twice a second: the leader logs whether it acts on the failsafe lease.
            let first = answeredLast.withLock { was in
                defer { was = false }; return was
            }
            if first {
                logger.warning("active-region lease renewal failed", metadata: ["error": "\(error)"])
            } else {
                logger.debug("active-region lease renewal failed", metadata: ["error": "\(error)"])
            }
            if let c = connection.withLock({ c in
                defer { c = nil }; return c
            }) {
                await c.close()
            }
        }
    }
}
