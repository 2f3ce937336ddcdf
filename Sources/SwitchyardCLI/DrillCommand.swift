import ArgumentParser
import Dispatch
import Foundation
import SwitchyardCore
import SwitchyardLab
import SwitchyardRuntime

/// `switchyard drill FILE`: rehearse a failure on a deployment, measured and restored.
struct DrillCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "drill",
        abstract: "Run a drill scenario (runbooks/drills/*.yaml): inject the fault, measure, restore, report.",
        discussion: """
            Progress goes to stderr; the report (Markdown, or JSON with --json) to stdout. Exit 0 when every \
            expectation held, 1 when one broke (the report says which and by how much) or the drill could not \
            run, 2 when the scenario file is malformed (nothing is touched then). Ctrl-C restores the deployment.
            """)

    @Argument(help: "The scenario file.") var file: String
    @Flag(help: "Print the report as JSON.") var json = false
    @Option(help: "Also write the Markdown report to this file.") var report: String?
    @Option(help: "Local deployment directory (overrides the scenario's).") var dir: String?
    @Option(help: "Configuration directory of a configured deployment (overrides the scenario's).") var config: String?
    @Option(help: "Campaign: number of faults (overrides the scenario's).") var count: Int?
    @Option(help: "Campaign: random seed (overrides the scenario's).") var seed: UInt64?
    @Flag(help: "Leave the deployment as the fault left it.") var noRestore = false
    @Option(
        help:
            "Campaign: append each fault's report to this file as one JSON line as it finishes, so a long campaign cut short keeps what it measured."
    )
    var rounds: String?

    func run() async throws {
        signal(SIGPIPE, SIG_IGN)
        var scenario = try DrillScenarioLoader.load(path: file)
        if var campaign = scenario.campaign {
            if let count { campaign.count = max(1, count) }
            if let seed { campaign.seed = seed }
            scenario.campaign = campaign
        }
        let binary = SelfExecutable.path
        let target: DrillTarget
        do {
            target = try DrillTarget.resolve(scenario.deployment, directory: dir, config: config, binary: binary)
        } catch let error as DrillError {
            throw OperationFailure(message: error.description)
        }
        // A partition needs each region in a network namespace: against a loopback deployment the drill
        // brings up a partitionable one beside it (when root) and takes it down afterwards (unless it was
        // already there, or --no-restore). All of it inside the task Ctrl-C cancels.
        let needsLab: Bool
        if case .partition = scenario.fault, scenario.campaign == nil, target.devDirectory != nil,
            !target.isPartitionable,
            DrillPartition.unavailableReason == nil
        {
            needsLab = true
        } else {
            needsLab = false
        }
        let restore: DrillScenario.Restore? = noRestore ? DrillScenario.Restore.none : nil
        let keepLab = noRestore
        let description =
            "drill \(scenario.name): \(scenario.description.isEmpty ? scenario.fault.kind.rawValue : scenario.description)"
        let task = Task {
            guard needsLab else {
                Output.progress(description)
                return try await DrillRunner(
                    scenario: scenario, target: target, restore: restore, roundsLog: rounds
                ) {
                    Output.progress($0)
                }.run()
            }
            let lab = try await DrillPartition.lab(beside: target) { Output.progress($0) }
            Output.progress(description)
            do {
                let report = try await DrillRunner(
                    scenario: scenario, target: lab.target, restore: restore, roundsLog: rounds
                ) {
                    Output.progress($0)
                }.run()
                if lab.created && !keepLab { await DrillPartition.tearDown(lab.target) { Output.progress($0) } }
                return report
            } catch {
                // Detached: the teardown must finish even though this task may have been cancelled.
                if lab.created && !keepLab {
                    await Task.detached { await DrillPartition.tearDown(lab.target) { Output.progress($0) } }.value
                }
                throw error
            }
        }
        // Ctrl-C (or SIGTERM) cancels the drill; the runner restores the deployment before returning.
        var sources: [DispatchSourceSignal] = []
        for number in [SIGINT, SIGTERM] {
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
            source.setEventHandler { task.cancel() }
            source.resume()
            sources.append(source)
        }
        let result = await task.result
        sources.forEach { $0.cancel() }
        let drillReport: DrillReport
        switch result {
        case .success(let value): drillReport = value
        case .failure(let error as DrillError): throw OperationFailure(message: error.description)
        case .failure(is CancellationError):
            throw OperationFailure(message: "drill interrupted; the deployment was restored")
        case .failure(let error):
            if task.isCancelled { throw OperationFailure(message: "drill interrupted; the deployment was restored") }
            throw error
        }
        if let report { try drillReport.markdown.write(toFile: report, atomically: true, encoding: .utf8) }
        if json { try Output.json(drillReport) } else { print(drillReport.markdown) }
        for broken in drillReport.expectations where !broken.held {
            Output.error("expectation broken: \(broken.explanation)")
        }
        if let skipped = drillReport.skipped { Output.error("drill skipped: \(skipped)") }
        if !drillReport.passed { throw ExitCode(1) }
    }
}

/// `switchyard parse-check ARGS…`: parses a command line as `switchyard ARGS…` would, without running
/// it. The runbook test uses it to prove every command the runbooks show is one we accept.
struct ParseCheckCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "parse-check", abstract: "Internal: check that a switchyard command line parses.",
        shouldDisplay: false)
    @Argument(parsing: .captureForPassthrough) var arguments: [String] = []

    func run() throws {
        do {
            _ = try Switchyard.parseAsRoot(arguments)
        } catch {
            if Switchyard.exitCode(for: error) == .success { return }  // --help and --version parse
            throw OperationFailure(message: Switchyard.message(for: error), exitCode: 2)
        }
    }
}
