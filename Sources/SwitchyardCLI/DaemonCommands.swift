import ArgumentParser
import CMalloc
import Foundation
import Logging
import SwitchyardCore
import SwitchyardRuntime

/// Shared daemon start-up: load the configuration, find the region, set up logging. Each daemon then
/// runs as a `DaemonService`, whose service group turns SIGTERM and SIGINT into its shutdown signal.
struct DaemonContext {
    let configuration: Configuration
    let region: RegionConfig
    let logger: Logger
    let shutdown: ShutdownSignal

    static func make(config: String, region name: String, label: String) throws -> DaemonContext {
        let configuration = try ConfigLoader.load(directory: config)
        guard let region = configuration.region(named: name) else {
            throw OperationFailure(
                message:
                    "--region \(name): no such region (have \(configuration.regions.map(\.name).joined(separator: ", ")))",
                exitCode: 2)
        }
        Logging.bootstrapOnce(level: configuration.controlPlane.logging.level)
        // A command the daemon starts runs as the same user: without this it could read the daemon's secrets
        // from /proc/PID/environ (and attach a debugger). Non-dumpable, /proc/PID belongs to root.
        _ = sy_set_non_dumpable()
        signal(SIGPIPE, SIG_IGN)  // a dead exec-guard must not kill the node through its pipe
        return DaemonContext(
            configuration: configuration, region: region, logger: Logger(label: label), shutdown: ShutdownSignal())
    }
}

extension Logging {
    nonisolated(unsafe) private static var bootstrapped = false

    /// Logs to stderr, one line per event, at the configured level.
    static func bootstrapOnce(level: LogLevel) {
        guard !bootstrapped else { return }
        bootstrapped = true
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = Logger.Level(rawValue: level.rawValue) ?? .info
            return handler
        }
    }
}

/// Namespace for the logging helpers above.
enum Logging {}

/// The operator's `--exec-env` / `--command-env` list, refused (exit 2) when malformed or when it names one of
/// Switchyard's secrets.
func commandEnvironment(_ specifications: [String], option: String, configuration: Configuration) throws
    -> CommandEnvironment
{
    do {
        let environment = try CommandEnvironment.parse(specifications, option: option)
        try environment.check(withheld: configuration.withheldVariables, option: option)
        return environment
    } catch {
        throw OperationFailure(message: error.description, exitCode: 2)
    }
}

func defaultNodeId(_ kind: String, region: String) -> String {
    "\(kind)-\(region)-\(ProcessInfo.processInfo.hostName)-\(getpid())"
}

/// `switchyard scheduler --region R [--node-id ID] [--exec CMD]`.
struct SchedulerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "scheduler",
        abstract: "Run a scheduler node: elect a region leader, schedule while leading the active region.")
    @OptionGroup var global: GlobalOptions
    @Option(help: "Region this node belongs to.") var region: String
    @Option(help: "Node id (default: scheduler-REGION-HOST-PID).") var nodeId: String?
    @Option(
        help:
            "Run this command only while leading the active region (e.g. \"airflow scheduler\"). It is split into words and run without a shell, so it receives SIGTERM itself and gets election.exec_grace to stop. Repeat for several singletons (a Celery beat too): all run under the same leadership."
    )
    var exec: [String] = []
    @Flag(
        help:
            "Run the --exec command through /bin/sh -c (for pipes, redirections, variables); the shell should `exec` the program so it receives SIGTERM."
    )
    var execShell = false
    @Option(
        name: .customLong("exec-env"),
        help: ArgumentHelp(
            "Give the --exec commands this variable: NAME passes the node's own on, NAME=VALUE sets it. Repeatable. They get PATH, HOME, the locale, a virtualenv, CA and proxy settings and Airflow's AIRFLOW_* settings besides, never Switchyard's secrets.",
            valueName: "NAME[=VALUE]"))
    var execEnv: [String] = []

    func run() async throws {
        var argv: [[String]] = []
        for command in exec {
            if execShell {
                argv.append(["/bin/sh", "-c", command])
            } else {
                do {
                    argv.append(try ShellWords.split(command))
                } catch {
                    throw OperationFailure(message: "--exec \"\(command.prefix(80))\": \(error)", exitCode: 2)
                }
            }
        }
        let context = try DaemonContext.make(config: global.config, region: region, label: "switchyard.scheduler")
        let environment = try commandEnvironment(execEnv, option: "--exec-env", configuration: context.configuration)
        let node = SchedulerNode(
            configuration: context.configuration, region: context.region,
            nodeId: nodeId ?? defaultNodeId("scheduler", region: region),
            exec: argv, execThroughShell: execShell, execEnvironment: environment, shutdown: context.shutdown,
            logger: context.logger)
        try await DaemonService(shutdown: context.shutdown) { await node.run() }.runUntilShutdown(
            logger: context.logger)
    }
}

/// `switchyard worker --region R [--exec CMD]`.
struct WorkerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "worker",
        abstract:
            "Run a worker: consume dispatched runs and execute them, or (--exec) run another executor's worker, such as a Celery worker, only while the region may run work."
    )
    @OptionGroup var global: GlobalOptions
    @Option(help: "Region this worker serves.") var region: String
    @Option(help: "Worker id (default: worker-REGION-HOST-PID; required with --exec, stable across restarts).")
    var workerId: String?
    @Option(help: "A worker silent this long is dead: its runs are taken over (e.g. 5s).") var staleAfter: String = "5s"
    @Option(
        name: .customLong("command-env"),
        help: ArgumentHelp(
            "Give the DAG commands (or the --exec command) this variable: NAME passes the worker's own on, NAME=VALUE sets it. Repeatable. They get PATH, HOME, the locale, a virtualenv, CA and proxy settings, Airflow's AIRFLOW_* settings and SWITCHYARD_* run details besides, never Switchyard's secrets.",
            valueName: "NAME[=VALUE]"))
    var commandEnv: [String] = []
    @Option(
        help:
            "Instead of Switchyard's dispatched runs, run this long-lived command (e.g. \"airflow celery worker\") only while the region's fence lets it run work: started once the region is active (after any dispatch hold), stopped gracefully (SIGTERM to the command itself, SIGKILL election.exec_grace later) when a failover fences the region, a switchover drains it, or the fence cannot be confirmed within its trust. Split into words and run without a shell. No redis section is needed."
    )
    var exec: String?
    @Flag(
        help: "Run the --exec command through /bin/sh -c; the shell should `exec` the program so it receives SIGTERM.")
    var execShell = false

    func run() async throws {
        let context = try DaemonContext.make(config: global.config, region: region, label: "switchyard.worker")
        guard let stale = Duration.parse(staleAfter) else {
            throw OperationFailure(message: "--stale-after: not a duration", exitCode: 2)
        }
        let environment = try commandEnvironment(
            commandEnv, option: "--command-env", configuration: context.configuration)
        let id = workerId ?? defaultNodeId("worker", region: region)
        if let exec {
            // The row keeps the command's mark across restarts: a new process under a new id would leave the
            // old row marked for ever (every switchover would wait for it).
            guard workerId != nil else {
                throw OperationFailure(
                    message: "--exec needs --worker-id: a gated worker keeps one row across restarts", exitCode: 2)
            }
            let argv: [String]
            if execShell {
                argv = ["/bin/sh", "-c", exec]
            } else {
                do {
                    argv = try ShellWords.split(exec)
                } catch {
                    throw OperationFailure(message: "--exec \"\(exec.prefix(80))\": \(error)", exitCode: 2)
                }
            }
            guard !argv.isEmpty else { throw OperationFailure(message: "--exec: an empty command", exitCode: 2) }
            let gated = GatedWorker(
                configuration: context.configuration, region: context.region, workerId: id, command: argv,
                throughShell: execShell, environment: environment, shutdown: context.shutdown,
                logger: context.logger)
            try await DaemonService(shutdown: context.shutdown) { await gated.run() }.runUntilShutdown(
                logger: context.logger)
            return
        }
        guard
            let worker = Worker(
                configuration: context.configuration, region: context.region, workerId: id,
                staleAfter: stale, commandEnvironment: environment, shutdown: context.shutdown, logger: context.logger)
        else {
            throw OperationFailure(
                message:
                    "\(context.region.file): region \(region) has no redis section: workers take Switchyard's dispatched runs from Redis (or give --exec)",
                exitCode: 2)
        }
        try await DaemonService(shutdown: context.shutdown) { await worker.run() }.runUntilShutdown(
            logger: context.logger)
    }
}

/// `switchyard exec-guard`: internal; runs a leader-gated or worker command under a lease.
struct ExecGuardCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "exec-guard", abstract: "Internal: run a command until its lease on stdin runs out.",
        shouldDisplay: false)
    @Option var graceMs: Int64 = 1000
    @Option var leaseMs: Int64 = 2000
    @Option var validUntilNs: Int64?
    @Option var leaseUntilNs: Int64?
    @Flag var termMain = false
    @Argument(parsing: .captureForPassthrough) var command: [String] = []

    func run() throws {
        let arguments = command.first == "--" ? Array(command.dropFirst()) : command
        signal(SIGPIPE, SIG_IGN)
        throw ExitCode(
            ExecGuard.run(
                command: arguments, grace: .milliseconds(graceMs), initialLease: .milliseconds(leaseMs),
                validUntilBootNanoseconds: validUntilNs,
                leaseUntilBootNanoseconds: leaseUntilNs, termMainOnly: termMain))
    }
}
