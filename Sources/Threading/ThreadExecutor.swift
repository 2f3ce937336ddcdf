import Foundation

/// A serial executor that runs every job on one dedicated OS thread.
///
/// Blocking C calls (libpq, hiredis) must never run on Swift's cooperative thread pool: with two
/// cores that pool has two threads, and one hung database would stall every task in the process.
/// An actor whose `unownedExecutor` is a `ThreadExecutor` runs all of its methods on its own
/// thread, so a blocking call inside such an actor blocks only that connection.
public final class ThreadExecutor: SerialExecutor, @unchecked Sendable {
    // Invariant: `jobs` and `stopped` are only touched while holding `condition`.
    private let condition = NSCondition()
    private var jobs: [UnownedJob] = []
    private var stopped = false
    // Written once by the thread before it runs any job; read only from jobs or isolation checks.
    nonisolated(unsafe) private var owner: pthread_t?
    private let name: String

    /// Starts the thread. It lives until `shutdown()` is called and the queue has drained.
    public init(name: String, stackSize: Int = 256 * 1024) {
        self.name = name
        let thread = Thread { [self] in
            self.loop()
            DedicatedThreads.finished()
        }
        thread.name = name
        thread.stackSize = stackSize
        DedicatedThreads.started()
        thread.start()
    }

    private func loop() {
        owner = pthread_self()
        while true {
            condition.lock()
            while jobs.isEmpty && !stopped { condition.wait() }
            if jobs.isEmpty && stopped {
                condition.unlock()
                return
            }
            let batch = jobs
            jobs.removeAll(keepingCapacity: true)
            condition.unlock()
            for job in batch { job.runSynchronously(on: asUnownedSerialExecutor()) }
        }
    }

    /// Queues a job; called by the Swift runtime.
    public func enqueue(_ job: consuming ExecutorJob) {
        let unowned = UnownedJob(job)
        condition.lock()
        jobs.append(unowned)
        condition.signal()
        condition.unlock()
    }

    /// The executor reference actors return from `unownedExecutor`.
    public func asUnownedSerialExecutor() -> UnownedSerialExecutor {
        UnownedSerialExecutor(ordinary: self)
    }

    /// True when the caller runs on this executor's thread (the runtime asks when it cannot tell).
    public func isIsolatingCurrentContext() -> Bool? {
        guard let owner else { return false }
        return pthread_equal(owner, pthread_self()) != 0
    }

    /// Crashes unless the caller runs on this executor's thread.
    public func checkIsolated() {
        precondition(isIsolatingCurrentContext() == true, "not on the \(name) thread")
    }

    /// Lets the thread exit once every queued job has run.
    public func shutdown() {
        condition.lock()
        stopped = true
        condition.signal()
        condition.unlock()
    }
}

/// Runs one blocking closure on a fresh OS thread and returns its result to the awaiting task.
///
/// For rare, independent blocking calls (an HTTP hook, a child process wait) where a long-lived
/// connection thread would be wasted.
public func runOnDedicatedThread<T: Sendable>(
    name: String = "switchyard-blocking",
    _ body: @escaping @Sendable () throws -> T
) async throws -> T {
    try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, Error>) in
        let thread = Thread {
            do { continuation.resume(returning: try body()) } catch { continuation.resume(throwing: error) }
            DedicatedThreads.finished()
        }
        thread.name = name
        thread.stackSize = 512 * 1024
        DedicatedThreads.started()
        thread.start()
    }
}
