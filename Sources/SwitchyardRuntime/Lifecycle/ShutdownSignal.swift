import Synchronization

/// A daemon's request to wind down. `DaemonService` raises it when its `ServiceGroup` shuts down
/// gracefully (SIGTERM, SIGINT); tests raise it by hand. Loops check `requested` and pause through
/// `sleep(_:)`, which returns as soon as it is raised: no polling.
public final class ShutdownSignal: Sendable {
    private struct State {
        var requested = false
        var nextWaiter = 0
        var waiters: [Int: CheckedContinuation<Void, Never>] = [:]
        /// Waiters cancelled before they registered: they must not wait.
        var cancelled: Set<Int> = []
    }

    private let state = Mutex(State())

    /// A signal not yet raised.
    public init() {}

    /// True once shutdown was requested.
    public var requested: Bool { state.withLock { $0.requested } }

    /// Requests shutdown: every `wait()` and `sleep(_:)` returns.
    public func trigger() {
        let waiters = state.withLock { s -> [CheckedContinuation<Void, Never>] in
            s.requested = true
            defer { s.waiters = [:] }
            return Array(s.waiters.values)
        }
        for waiter in waiters { waiter.resume() }
    }

    /// Returns once shutdown is requested, or when the calling task is cancelled.
    public func wait() async {
        let id = state.withLock { s -> Int in
            s.nextWaiter += 1
            return s.nextWaiter
        }
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let now = state.withLock { s -> Bool in
                    if s.requested || s.cancelled.remove(id) != nil { return true }
                    s.waiters[id] = continuation
                    return false
                }
                if now { continuation.resume() }
            }
        } onCancel: {
            let waiter = state.withLock { s -> CheckedContinuation<Void, Never>? in
                if let waiter = s.waiters.removeValue(forKey: id) { return waiter }
                s.cancelled.insert(id)
                return nil
            }
            waiter?.resume()
        }
        // A waiter resumed by the trigger or registered after its cancellation leaves nothing behind.
        _ = state.withLock { $0.cancelled.remove(id) }
    }

    /// Sleeps for `duration`, or less once shutdown is requested (or the task is cancelled).
    public func sleep(_ duration: Duration) async {
        guard !requested, duration > .zero else { return }
        await withTaskGroup(of: Void.self) { group in
            group.addTask { try? await Task.sleep(for: duration) }
            group.addTask { await self.wait() }
            await group.next()
            group.cancelAll()
        }
    }
}

/// Wakes whoever waits for the next event of a kind (a probe's state change, say), without polling. Take
/// `next` first, then check whether what you wait for is already there, then wait on it: an event rung in
/// between triggers the signal you hold, so none is missed.
public final class Doorbell: Sendable {
    private let current = Mutex(ShutdownSignal())

    /// A doorbell nobody has rung.
    public init() {}

    /// The signal the next `ring` raises.
    public var next: ShutdownSignal { current.withLock { $0 } }

    /// Raises the signal every current waiter holds; later waiters get a fresh one.
    public func ring() {
        current.withLock { signal in
            defer { signal = ShutdownSignal() }
            return signal
        }.trigger()
    }
}
