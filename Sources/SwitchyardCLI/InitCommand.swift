import ArgumentParser
import SwitchyardCore
import SwitchyardRuntime

/// `switchyard init [--active REGION]`.
struct InitCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "init",
        abstract: "Create or upgrade the control and region database schemas; set the first active region.")

    @OptionGroup var global: GlobalOptions
    @Option(help: "Region to make active when none is (first init).") var active: String?
    @Flag(help: "Print the report as JSON.") var json = false

    func run() async throws {
        let configuration = try ConfigLoader.load(directory: global.config)
        let report = try await InitCommand.initialize(configuration, active: active)
        if json {
            try Output.json(report)
            return
        }
        for (database, versions) in report.applied.sorted(by: { $0.key < $1.key }) {
            let what = versions.isEmpty ? "up to date" : "applied \(versions.map { "v\($0)" }.joined(separator: ", "))"
            print("\(database): \(what)")
        }
        print("dags: \(report.dags) in every region")
        print("active region: \(report.activeRegion ?? "none") (epoch \(report.epoch))")
    }

    /// Runs init for a loaded configuration (also used by `dev up`).
    static func initialize(_ configuration: Configuration, active: String?) async throws -> Initializer.Report {
        do {
            return try await Initializer.run(
                controlDSN: configuration.controlPlane.control.dsn,
                regions: configuration.regions.map { .init(name: $0.name, priority: $0.priority, dsn: $0.databaseDSN) },
                dags: configuration.dags.map {
                    .init(
                        id: $0.id, schedule: $0.schedule == .manual ? nil : $0.schedule.configText, command: $0.command,
                        maxActiveRuns: $0.maxActiveRuns, timeout: $0.timeout, paused: $0.paused)
                },
                active: active)
        } catch let refusal as Initializer.Refusal {
            throw OperationFailure(message: refusal.description)
        }
    }
}
