import ArgumentParser
import Foundation
import Logging
import Postgres
import SwitchyardCore
import SwitchyardRuntime

/// `switchyard failover --to R [--force]` and `switchyard switchover --to R`.
struct FailoverCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "failover", abstract: "Fail over to a region (with --force even when the decision says no).")
    @OptionGroup var global: GlobalOptions
    @Option(help: "Target region.") var to: String = ""
    @Flag(help: "Fail over even though the observers do not see the active region down.") var force = false
    @Flag(help: "Only finish an interrupted failover (its executor died), then exit.") var resume = false
    @Option(help: "Why (journaled).") var reason: String = "operator"
    @Flag(help: "Print the report as JSON.") var json = false

    func run() async throws {
        if resume {
            try await resumeFailover(config: global.config, json: json)
            return
        }
        guard !to.isEmpty else { throw OperationFailure(message: "--to REGION is required", exitCode: 2) }
        try await runFailover(
            config: global.config, kind: force ? .forced : .failover, to: to, reason: reason, json: json)
    }
}

func resumeFailover(config: String, json: Bool) async throws {
    let configuration = try ConfigLoader.load(directory: config)
    Logging.bootstrapOnce(level: configuration.controlPlane.logging.level)
    return try await PostgresConnection.with(configuration.controlPlane.control.dsn, timeout: .seconds(5)) { control in
        guard try await FailoverLock.acquire(control, wait: .seconds(3)) else {
            throw OperationFailure(
                message: "the failover lock is held: the failover leader resumes interrupted failovers itself")
        }
        let executor = FailoverExecutor(
            configuration: configuration, leader: "cli-\(ProcessInfo.processInfo.hostName)-\(getpid())",
            logger: Logger(label: "switchyard.failover")
        ) { Output.progress($0) }
        guard let report = try await executor.resume(control) else {
            print("no failover is in progress")
            return
        }
        if json { try Output.json(report) } else { print("failover \(report.id) \(report.state)") }
        if report.state != .completed { throw ExitCode(1) }
    }
}

/// Planned switchover: drain the old region (nothing new starts, running commands finish), final copy, promote.
struct SwitchoverCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "switchover",
        abstract: "Planned switchover: drain the active region, copy its runs, promote the target.")
    @OptionGroup var global: GlobalOptions
    @Option(help: "Target region.") var to: String
    @Option(help: "Why (journaled).") var reason: String = "planned switchover"
    @Flag(help: "Print the report as JSON.") var json = false

    func run() async throws {
        try await runFailover(config: global.config, kind: .switchover, to: to, reason: reason, json: json)
    }
}

/// Admits the request (`OperatorRequests`: the same checks as the API's), then runs it here when no
/// agent leads failovers, or queues it for the leader and follows it.
func runFailover(config: String, kind: OperatorRequests.Kind, to target: String, reason: String, json: Bool)
    async throws
{
    let configuration = try ConfigLoader.load(directory: config)
    Logging.bootstrapOnce(level: configuration.controlPlane.logging.level)
    let requests = OperatorRequests(configuration: configuration)
    return try await PostgresConnection.with(configuration.controlPlane.control.dsn, timeout: .seconds(5)) { control in
        do {
            try await requests.admit(control, kind: kind, to: target)
        } catch let refusal as OperatorRequests.Refusal {
            throw OperationFailure(message: refusal.description, exitCode: 1)
        }
        guard try await FailoverLock.acquire(control, wait: .seconds(1)) else {
            // An agent leads failovers: hand it the request and follow it.
            let report = try await requestFromLeader(
                control, requests: requests, kind: kind, to: target, reason: reason,
                timeout: configuration.controlPlane.failover.switchoverQuiesceTimeout + .seconds(120))
            try printReport(report, json: json)
            return
        }
        // The lock is given back before the session closes (closing it would too), awaited either way.
        let report: FailoverExecutor.Report
        do {
            let executor = FailoverExecutor(
                configuration: configuration, leader: "cli-\(ProcessInfo.processInfo.hostName)-\(getpid())",
                logger: Logger(label: "switchyard.failover")
            ) { Output.progress($0) }
            if let resumed = try await executor.resume(control) {
                Output.progress("finished the interrupted failover \(resumed.id) first")
            }
            let id = try await executor.begin(control, kind: kind, to: target, reason: reason)
            report = try await executor.run(control, id: id)
            try? await FailoverLock.release(control)
        } catch let refusal as FailoverExecutor.Refusal {
            try? await FailoverLock.release(control)
            throw OperationFailure(message: refusal.description)
        } catch {
            try? await FailoverLock.release(control)
            throw error
        }
        try printReport(report, json: json)
    }
}

func printReport(_ report: FailoverExecutor.Report, json: Bool) throws {
    if json {
        try Output.json(report)
    } else {
        print(
            "\(report.kind.rawValue) \(report.id): \(report.fromRegion ?? "none") -> \(report.toRegion) \(report.state.rawValue) at epoch \(report.epoch); "
                + "\(report.runsMoved) runs moved (\(report.runsSource))")
        for hook in report.hooks {
            print("  hook \(hook.name): \(hook.succeeded ? "ok" : "FAILED") after \(hook.attempts.count) attempt(s)")
        }
    }
    if report.state != .completed { throw ExitCode(1) }
}

/// Queues a request for the failover leader and waits for its failover to finish.
func requestFromLeader(
    _ control: PostgresConnection, requests: OperatorRequests, kind: OperatorRequests.Kind, to target: String,
    reason: String, timeout: Duration
) async throws -> FailoverExecutor.Report {
    let id = try await requests.enqueue(control, kind: kind, to: target, reason: reason)
    Output.progress("request \(id) queued for the failover leader")
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        let request = try await ControlStore.request(control, id: id)
        if let error = request?.error, request?.failoverId == nil {
            throw OperationFailure(message: error)
        }
        if let failoverId = request?.failoverId, let state = request?.failoverState, state != .running {
            return try await FailoverExecutor.report(control, id: failoverId)
        }
        try await Task.sleep(for: .milliseconds(100))
    }
    throw OperationFailure(message: "the failover leader did not finish request \(id) in time")
}
