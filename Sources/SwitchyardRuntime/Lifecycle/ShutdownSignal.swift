import Dispatch
import Foundation
import Synchronization

/// SIGTERM/SIGINT as a flag, for graceful shutdown of the daemons. Loops check `requested` and
/// sleep through `sleep(_:)`, which returns early (within 20 ms) once shutdown is requested.
public final class ShutdownSignal: Sendable {
    private let flag = Atomic<Bool>(false)
    // Signal sources must stay alive for the life of the process.
    nonisolated(unsafe) private static var sources: [DispatchSourceSignal] = []

    /// A signal not yet wired to any OS signal (tests trigger it by hand).
    public init() {}

    /// Installs handlers for SIGTERM and SIGINT. Call once, from the main task.
    public static func installed() -> ShutdownSignal {
        let shutdown = ShutdownSignal()
        for number in [SIGTERM, SIGINT] {
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
            source.setEventHandler { shutdown.trigger() }
            source.resume()
            sources.append(source)
        }
        return shutdown
    }

    /// True once shutdown was requested.
    public var requested: Bool { flag.load(ordering: .acquiring) }

    /// Requests shutdown.
    public func trigger() { flag.store(true, ordering: .releasing) }

    /// Sleeps for `duration`, or less once shutdown is requested.
    public func sleep(_ duration: Duration) async {
        let deadline = ContinuousClock.now + duration
        while !requested {
            let left = deadline - ContinuousClock.now
            if left <= .zero { return }
            try? await Task.sleep(for: min(left, .milliseconds(20)))
        }
    }

    /// Returns once shutdown is requested.
    public func wait() async {
        while !requested { try? await Task.sleep(for: .milliseconds(20)) }
    }
}
