import Foundation
import Hummingbird
import Logging
import SwitchyardCore
import SwitchyardRuntime
import Synchronization

/// A routing-hook endpoint on loopback for the failover benchmark: answers 200 and records when each
/// call arrived.
final class HookReceiver: Sendable {
    private let calls = Mutex<[Date]>([])
    private let port = Mutex<Int?>(nil)
    private let task = Mutex<Task<Void, Never>?>(nil)

    /// Starts listening on a free port; returns the base URL.
    func start() async throws -> String {
        let router = Router()
        router.post("/hook") { _, _ in
            self.calls.withLock { $0.append(Date()) }
            return Response(status: .ok)
        }
        var logger = Logger(label: "switchyard.bench.hooks")
        logger.logLevel = .error
        let app = Application(
            router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)),
            onServerRunning: { channel in self.port.withLock { $0 = channel.localAddress?.port } }, logger: logger)
        task.withLock { $0 = Task { try? await app.run() } }
        let deadline = ContinuousClock.now + .seconds(10)
        while ContinuousClock.now < deadline {
            if let port = port.withLock({ $0 }) { return "http://127.0.0.1:\(port)" }
            try await Task.sleep(for: .milliseconds(10))
        }
        throw DevError("hook receiver did not start")
    }

    /// Arrival times of every call so far.
    var arrivals: [Date] { calls.withLock { $0 } }

    func stop() { task.withLock { $0?.cancel() } }
}
