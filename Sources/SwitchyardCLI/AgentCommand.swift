import ArgumentParser
import CMalloc
import Foundation
import Logging
import Prometheus
import SwitchyardCore
import SwitchyardRuntime

/// `switchyard agent --observer NAME [--listen HOST:PORT]`, or `switchyard agent --witness [--observer NAME]`.
struct AgentCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "agent",
        abstract: "Run an agent: probe every region from this vantage point and serve the status API.")
    @OptionGroup var global: GlobalOptions
    @Option(help: "This observer's name: the region it runs in, or with --witness its own (default witness).")
    var observer: String?
    @Flag(
        help: ArgumentHelp(
            "Run as a witness: an observer in a site with no region of its own (a third site for two regions).",
            discussion:
                "It probes every region and votes like any agent, and may lead a failover, but no region is its "
                + "own: losing a region never loses it. Its name must not be a region's."))
    var witness = false
    @Option(help: "Listen address HOST:PORT (default: api.listen from controlplane.yaml; port 0 picks a free one).")
    var listen: String?

    func run() async throws {
        let configuration = try ConfigLoader.load(directory: global.config)
        let observer = try Self.observerName(
            observer, witness: witness, regions: configuration.regions.map(\.name))
        Logging.bootstrapOnce(level: configuration.controlPlane.logging.level)
        signal(SIGPIPE, SIG_IGN)
        // One malloc arena per probe thread (glibc's default is up to 8 per core) costs megabytes of
        // resident heap at hundreds of regions; two arenas are plenty for an agent that mostly waits.
        _ = sy_limit_malloc_arenas(2)
        // A command on this host running as this user must not read its secrets from /proc/PID/environ.
        _ = sy_set_non_dumpable()
        var host = configuration.controlPlane.api.listenHost
        var port = configuration.controlPlane.api.listenPort
        if let listen {
            guard let colon = listen.lastIndex(of: ":"), let p = Int(listen[listen.index(after: colon)...]),
                (0...65535).contains(p)
            else {
                throw OperationFailure(message: "--listen must be HOST:PORT", exitCode: 2)
            }
            host = String(listen[..<colon])
            port = p
        }
        let shutdown = ShutdownSignal()
        let logger = Logger(label: "switchyard.agent")
        let agent = Agent(
            configuration: configuration, observer: observer, host: host, port: port, shutdown: shutdown,
            logger: logger,
            registry: PrometheusCollectorRegistry())
        do {
            try await DaemonService(shutdown: shutdown) { try await agent.run() }.runUntilShutdown(logger: logger)
        } catch {
            throw OperationFailure(message: "agent stopped: \(error)")
        }
    }

    /// The observer's name: a region's for a region's agent; with `--witness` none of the regions' (a witness
    /// named like a region would be counted as lost with it, and its region's agent would share its rows).
    static func observerName(_ name: String?, witness: Bool, regions: [String]) throws -> String {
        guard witness else {
            guard let name else {
                throw OperationFailure(
                    message: "--observer NAME is required (the region this agent runs in), or --witness", exitCode: 2)
            }
            return name
        }
        let name = name ?? "witness"
        if regions.contains(name) {
            throw OperationFailure(
                message:
                    "--witness --observer \(name): \(name) is a region; a witness runs in a site with no region of its own and needs a name of its own",
                exitCode: 2)
        }
        return name
    }
}
