import Foundation
import Synchronization

/// Counts the OS threads Switchyard starts for blocking C calls (connection threads, one-off
/// blocking calls), so a process can wait for them before it exits.
///
/// `exit()` runs C++ and Swift global destructors (libswift_Concurrency's among them) while other
/// threads keep running: a connection thread still finishing a close, or the asynchronous
/// `isolated deinit` of a released connection, then races those destructors, which showed as
/// "double free or corruption" and SIGSEGV after a command had done its work. Every command closes
/// what it opened; the entry point then waits here until those threads are gone, and only then exits.
public enum DedicatedThreads {
    private static let live = Mutex(0)

    /// Threads started and not yet finished.
    public static var count: Int { live.withLock { $0 } }

    static func started() { live.withLock { $0 += 1 } }
    static func finished() { live.withLock { $0 -= 1 } }

    /// Waits until every dedicated thread has finished or `timeout` passes; returns how many are left.
    @discardableResult
    public static func drain(timeout: Duration) -> Int {
        let deadline = ContinuousClock.now + timeout
        while true {
            let left = count
            if left <= 0 || ContinuousClock.now >= deadline { return max(0, left) }
            usleep(1000)
        }
    }
}
