import Logging
import ServiceLifecycle

/// A daemon (agent, scheduler node, worker) as a swift-service-lifecycle `Service`. The group's
/// graceful shutdown raises the daemon's `ShutdownSignal`: its loops wind down as they would for a
/// test that raised it by hand (a scheduler leader hands off, a worker finishes its run), and the
/// service returns when they have.
public struct DaemonService: Service {
    let shutdown: ShutdownSignal
    let body: @Sendable () async throws -> Void

    /// A service that runs `body`, which must return once `shutdown` is raised.
    public init(shutdown: ShutdownSignal, _ body: @escaping @Sendable () async throws -> Void) {
        self.shutdown = shutdown
        self.body = body
    }

    /// Runs the daemon until it returns; a graceful shutdown of the group raises its signal.
    public func run() async throws {
        try await withGracefulShutdownHandler {
            try await body()
        } onGracefulShutdown: { [shutdown] in
            shutdown.trigger()
        }
    }

    /// Runs `self` in a `ServiceGroup` until it returns. SIGTERM and SIGINT shut it down gracefully,
    /// with no time limit: a leader's `--exec` command gets all of its `exec_grace`.
    public func runUntilShutdown(logger: Logger) async throws {
        let group = ServiceGroup(
            configuration: .init(
                services: [.init(service: self)], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        try await group.run()
    }
}
