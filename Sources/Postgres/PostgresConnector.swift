import Synchronization

/// Connects with a wait and a lifetime of their own: an attempt its caller stopped waiting for runs
/// on, up to `lifetime`, and the caller's next `connect(waiting:)` takes it up where it is instead of
/// starting again from TCP.
///
/// Across a WAN a connect costs four to five round trips (TCP, the TLS request, the startup, the
/// SCRAM exchange), and on a loaded host more. A caller whose wait is about that cost, if it abandons
/// each attempt at its wait, fails every attempt for as long as the cost stays there: the probe, the
/// agent's control session and the failover leader's lock session stalled for half a minute that
/// way across a 200 ms round trip. Their waits are part of the timing arithmetic (how soon a silent
/// region counts as silent), so they stay; only the attempt outlives them.
public final class PostgresConnector: Sendable {
    /// The connection string every attempt uses.
    public let conninfo: String
    /// How long one attempt may run, whoever waits for it.
    public let lifetime: Duration
    /// The lifetime callers get unless they say otherwise (libpq's own default `connect_timeout`
    /// is unlimited; 10 s is what `PostgresConnection.connect` allows when the string names none).
    public static let defaultLifetime: Duration = .seconds(10)

    private let name: String
    private let defaultTimeout: Duration?
    private let state = Mutex(State())

    private struct State {
        var attempt: Attempt?
        var started = 0
        var cancelled = false
    }

    /// - Parameters:
    ///   - lifetime: how long one attempt may run (never less than a caller's wait).
    ///   - defaultTimeout: the deadline of statements on the connections it makes that give none.
    public init(
        _ conninfo: String, lifetime: Duration = PostgresConnector.defaultLifetime, defaultTimeout: Duration? = nil,
        name: String = "postgres"
    ) {
        self.conninfo = conninfo
        self.lifetime = lifetime
        self.defaultTimeout = defaultTimeout
        self.name = name
    }

    deinit { cancel() }

    /// Attempts started so far (each from TCP).
    public var attemptsStarted: Int { state.withLock { $0.started } }

    /// A new connection, waiting for it at most `wait`.
    ///
    /// Takes up the attempt in flight if there is one; else starts one. An attempt that ended before
    /// this call (while nobody waited) gives its connection if it made one within its lifetime, and is
    /// forgotten (closed) otherwise: a failure is old news, and a connection idle that long may be dead.
    /// When the wait ends first the attempt goes on and this throws `.timeout`, saying so; when the
    /// caller's task or the connector is cancelled, `.cancelled`. A connection goes to one caller only.
    public func connect(waiting wait: Duration) async throws(PostgresError) -> PostgresConnection {
        let called = ContinuousClock.now
        let deadline = called + wait
        while true {
            let attempt: Attempt = try state.withLock { (s) throws(PostgresError) -> Attempt in
                if s.cancelled { throw Self.cancelled("the connector was cancelled") }
                if let attempt = s.attempt, attempt.usable(within: lifetime) { return attempt }
                s.attempt?.cancel()
                let attempt = Attempt(
                    conninfo: conninfo, lifetime: max(lifetime, wait), defaultTimeout: defaultTimeout, name: name)
                s.attempt = attempt
                s.started += 1
                return attempt
            }
            switch await attempt.outcome(until: deadline) {
            case .timedOut:
                let elapsed = ContinuousClock.now - attempt.started
                throw PostgresError(
                    code: .timeout, operation: "connect",
                    message:
                        "no connection within \(wait.formattedSeconds); the attempt goes on (\(elapsed.formattedSeconds) of up to \(attempt.lifetime.formattedSeconds)) and the next connect takes it up"
                )
            case .abandoned:
                // This caller's task was cancelled, or the connector (cancel) or its attempt (reset) was.
                if Task.isCancelled { throw Self.cancelled("the connect was cancelled") }
                if state.withLock({ $0.cancelled }) { throw Self.cancelled("the connector was cancelled") }
                continue
            case .failed(let error):
                state.withLock { s in if s.attempt === attempt { s.attempt = nil } }
                // An older attempt this caller joined ran out its own lifetime: this caller's wait is not spent, so
                // it starts one of its own (once: an attempt started within this call has its failure returned).
                if attempt.started < called, error.code == .timeout, ContinuousClock.now < deadline { continue }
                throw error
            case .made:
                // Claimed and forgotten in one step, so no second caller takes the same connection.
                let connection = state.withLock { s in
                    let claimed = attempt.claim()
                    if s.attempt === attempt { s.attempt = nil }
                    return claimed
                }
                if let connection { return connection }
                // Another caller took it first: this one starts (or takes up) the next attempt.
                if ContinuousClock.now >= deadline {
                    throw PostgresError(
                        code: .timeout, operation: "connect",
                        message: "no connection within \(wait.formattedSeconds); another caller took the one made")
                }
            }
        }
    }

    private static func cancelled(_ message: String) -> PostgresError {
        PostgresError(code: .cancelled, operation: "connect", message: message)
    }

    /// Abandons the attempt in flight, if any (a connection it still makes is closed), and refuses
    /// new ones: for an owner that is shutting down.
    public func cancel() {
        let attempt = state.withLock { s in
            s.cancelled = true
            defer { s.attempt = nil }
            return s.attempt
        }
        attempt?.cancel()
    }

    /// Forgets the attempt in flight, closing what it makes, and lets the next `connect` start a new
    /// one: for an owner whose target changed.
    public func reset() {
        let attempt = state.withLock { s in
            defer { s.attempt = nil }
            return s.attempt
        }
        attempt?.cancel()
    }

    /// One attempt, running on a connection (and a thread) of its own.
    private final class Attempt: Sendable {
        typealias Outcome = Result<PostgresConnection, PostgresError>
        let started = ContinuousClock.now
        let lifetime: Duration
        private let task: Task<Void, Never>
        private let box: Box

        final class Box: Sendable { let shared = Mutex(Shared()) }

        struct Shared {
            var outcome: Outcome?
            var finishedAt: ContinuousClock.Instant?
            var waiters: [Int: CheckedContinuation<Bool, Never>] = [:]
            /// Waiters whose wait ended before they were registered.
            var expired: Set<Int> = []
            var nextWaiter = 0
            /// A caller took the connection: it is theirs, never closed here, never given again.
            var claimed = false
            var abandoned = false
        }

        /// How a wait for the attempt ended.
        enum Waited {
            case made
            case failed(PostgresError)
            case timedOut
            case abandoned
        }

        init(conninfo: String, lifetime: Duration, defaultTimeout: Duration?, name: String) {
            self.lifetime = lifetime
            let box = Box()
            self.box = box
            task = Task {
                let outcome: Outcome
                do throws(PostgresError) {
                    outcome = .success(
                        try await PostgresConnection.connect(
                            conninfo, timeout: lifetime, defaultTimeout: defaultTimeout, name: name))
                } catch {
                    outcome = .failure(error)
                }
                let (waiters, abandoned) = box.shared.withLock { s in
                    s.outcome = outcome
                    s.finishedAt = .now
                    defer { s.waiters = [:] }
                    return (Array(s.waiters.values), s.abandoned)
                }
                if abandoned, case .success(let connection) = outcome {
                    await connection.close()
                    return
                }
                for waiter in waiters { waiter.resume(returning: true) }
            }
        }

        /// Whether a new caller may take this attempt up: still running, or made a connection, unclaimed,
        /// no longer than `lifetime` ago.
        func usable(within lifetime: Duration) -> Bool {
            box.shared.withLock { s in
                if s.abandoned || s.claimed { return false }
                switch s.outcome {
                case nil: return true
                case .failure: return false
                case .success: return s.finishedAt.map { ContinuousClock.now - $0 <= lifetime } ?? true
                }
            }
        }

        /// Takes the connection for the caller: nil when it failed, was abandoned or was taken already.
        func claim() -> PostgresConnection? {
            box.shared.withLock { s in
                guard !s.abandoned, !s.claimed, case .success(let connection) = s.outcome else { return nil }
                s.claimed = true
                return connection
            }
        }

        /// Waits until the attempt ends, `deadline` passes, or the waiting task or the attempt is cancelled.
        func outcome(until deadline: ContinuousClock.Instant) async -> Waited {
            let id = box.shared.withLock { s in
                defer { s.nextWaiter += 1 }
                return s.nextWaiter
            }
            let timer = Task {
                guard (try? await Task.sleep(until: deadline)) != nil else { return }
                self.giveUp(id)
            }
            defer { timer.cancel() }
            let ended = await withTaskCancellationHandler {
                await withCheckedContinuation { (continuation: CheckedContinuation<Bool, Never>) in
                    // Resolved now (false: the wait already ended), or registered until the attempt or the wait ends.
                    let now: Bool? = box.shared.withLock { s in
                        if s.abandoned || s.expired.remove(id) != nil { return false }
                        if s.outcome != nil { return true }
                        s.waiters[id] = continuation
                        return nil
                    }
                    if let now { continuation.resume(returning: now) }
                }
            } onCancel: {
                self.giveUp(id)
            }
            return box.shared.withLock { s in
                if s.abandoned || Task.isCancelled { return .abandoned }
                switch s.outcome {
                case .success?: return .made
                case .failure(let error)?: return .failed(error)
                case nil: return ended ? .abandoned : .timedOut
                }
            }
        }

        /// Ends waiter `id`'s wait: at once if it is registered, else when it registers.
        private func giveUp(_ id: Int) {
            let waiter = box.shared.withLock { s in
                guard let waiter = s.waiters.removeValue(forKey: id) else {
                    if s.outcome == nil { s.expired.insert(id) }
                    return nil as CheckedContinuation<Bool, Never>?
                }
                return waiter
            }
            waiter?.resume(returning: false)
        }

        /// Stops the attempt; a connection it made, or still makes, is closed unless a caller took it.
        func cancel() {
            let (made, waiters) = box.shared.withLock { s in
                s.abandoned = true
                defer { s.waiters = [:] }
                if !s.claimed, case .success(let connection) = s.outcome {
                    return (connection as PostgresConnection?, Array(s.waiters.values))
                }
                return (nil, Array(s.waiters.values))
            }
            task.cancel()
            for waiter in waiters { waiter.resume(returning: false) }
            if let made { Task { await made.close() } }
        }
    }
}

extension Duration {
    /// "1.6 s": seconds with one decimal, for messages.
    fileprivate var formattedSeconds: String {
        let (seconds, attoseconds) = components
        let tenths = Int(seconds) * 10 + Int(attoseconds / 100_000_000_000_000_000)
        return "\(tenths / 10).\(tenths % 10) s"
    }
}
