import Foundation
import Hummingbird
import Logging
import SwitchyardCore
import SwitchyardRuntime
import Synchronization

/// The lab's one stand-in for what routing hooks call (a DNS or load-balancer API), on Hummingbird:
/// `POST /route` is recorded and answered as `mode` says. The dev deployment's router
/// (`DevRouter`, mode and journal in files, so drills can fail it) and the failover benchmark's
/// receiver (always `ok`, arrivals in memory) are both this endpoint.
public struct HookEndpoint: Sendable {
    /// How the endpoint answers.
    public enum Mode: String, Sendable, CaseIterable {
        /// 200.
        case ok
        /// 500.
        case fail
        /// Never answers (the caller's timeout ends the attempt).
        case hang
    }

    /// One call, as it arrived.
    public struct Call: Sendable {
        /// When it arrived.
        public var at: Date
        /// How it was answered.
        public var answered: Mode
        /// The hook's body.
        public var body: String
    }

    let mode: @Sendable () -> Mode
    let record: @Sendable (Call) -> Void
    let extraRoutes: @Sendable (Router<BasicRequestContext>) -> Void

    /// An endpoint answering as `mode` says at each call, and handing every call to `record`.
    public init(
        mode: @escaping @Sendable () -> Mode = { .ok }, record: @escaping @Sendable (Call) -> Void,
        extraRoutes: @escaping @Sendable (Router<BasicRequestContext>) -> Void = { _ in }
    ) {
        self.mode = mode
        self.record = record
        self.extraRoutes = extraRoutes
    }

    func router() -> Router<BasicRequestContext> {
        let router = Router()
        router.post("/route") { request, _ in
            let body = String(buffer: try await request.body.collect(upTo: 64 * 1024))
            let mode = self.mode()
            self.record(Call(at: Date(), answered: mode, body: body))
            switch mode {
            case .ok: return Response(status: .ok)
            case .fail: return Response(status: .internalServerError)
            case .hang:
                try await Task.sleep(for: .seconds(3600))
                return Response(status: .ok)
            }
        }
        extraRoutes(router)
        return router
    }

    /// Serves on `host:port` until the task is cancelled; `onRunning` gets the bound port. Cancelling is
    /// how it stops, so Hummingbird's report of the cancellation is not logged.
    public func run(host: String, port: Int, onRunning: @escaping @Sendable (Int) async -> Void = { _ in }) async throws
    {
        try await application(host: host, port: port, logLevel: .critical, onRunning: onRunning).run()
    }

    /// Serves on `host:port` as a process's one service: until SIGTERM or SIGINT.
    public func serve(host: String, port: Int) async throws {
        try await application(host: host, port: port, logLevel: .warning).runService()
    }

    func application(
        host: String, port: Int, logLevel: Logger.Level, onRunning: @escaping @Sendable (Int) async -> Void = { _ in }
    ) -> some ApplicationProtocol {
        var logger = Logger(label: "switchyard.lab.hooks")
        logger.logLevel = logLevel
        return Application(
            router: router(), configuration: .init(address: .hostname(host, port: port)),
            onServerRunning: { channel in await onRunning(channel.localAddress?.port ?? port) }, logger: logger)
    }
}

/// The failover benchmark's hook endpoint: started in-process on a free loopback port, it answers 200
/// and remembers when each call arrived.
final class HookArrivals: Sendable {
    private let calls = Mutex<[Date]>([])
    private let port = Mutex<Int?>(nil)
    private let task = Mutex<Task<Void, Never>?>(nil)

    /// Starts listening on a free port; returns the hook URL.
    func start() async throws -> String {
        let endpoint = HookEndpoint(record: { call in self.calls.withLock { $0.append(call.at) } })
        task.withLock {
            $0 = Task {
                try? await endpoint.run(host: "127.0.0.1", port: 0) { bound in self.port.withLock { $0 = bound } }
            }
        }
        let deadline = ContinuousClock.now + .seconds(10)
        while ContinuousClock.now < deadline {
            if let port = port.withLock({ $0 }) { return "http://127.0.0.1:\(port)/route" }
            try await Task.sleep(for: .milliseconds(10))
        }
        throw DevError("hook endpoint did not start")
    }

    /// Arrival times of every call so far.
    var arrivals: [Date] { calls.withLock { $0 } }

    func stop() { task.withLock { $0?.cancel() } }
}
