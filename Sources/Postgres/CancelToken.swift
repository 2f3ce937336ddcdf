import CLibPQ
import Synchronization

/// libpq's cancel handle for one connection, usable from any thread.
///
/// `PQcancel` is designed to be called from another thread (even a signal handler); the mutex only
/// keeps the handle from being freed or replaced while a cancel is in flight.
final class CancelToken: Sendable {
    private struct Handle: @unchecked Sendable {
        // Invariant: the pointer is owned by the token and freed only under the mutex.
        var pointer: OpaquePointer?
    }

    private let handle = Mutex(Handle(pointer: nil))

    /// Replaces the handle with the one of `connection` (or none).
    func reset(to connection: OpaquePointer?) {
        let fresh = connection.flatMap { PQgetCancel($0) }
        handle.withLock { h in
            if let old = h.pointer { PQfreeCancel(old) }
            h.pointer = fresh
        }
    }

    /// Asks the server to cancel the statement running on the connection. Blocks for a round trip.
    @discardableResult
    func cancel() -> Bool {
        handle.withLock { h in
            guard let pointer = h.pointer else { return false }
            var buffer = [CChar](repeating: 0, count: 256)
            return PQcancel(pointer, &buffer, Int32(buffer.count)) == 1
        }
    }

    deinit { reset(to: nil) }
}
