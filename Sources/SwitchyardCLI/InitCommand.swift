import ArgumentParser
import Postgres
import SwitchyardCore
import SwitchyardRuntime

/// `switchyard init [--active REGION] [--grants | --print-grants] [--agent-role R] [--scheduler-role R] [--worker-role R]`.
struct InitCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "init",
        abstract: "Create or upgrade the control and region database schemas; set the first active region.")

    @OptionGroup var global: GlobalOptions
    @Option(help: "Region to make active when none is (first init).") var active: String?
    @Flag(help: "Print the report as JSON.") var json = false
    @Flag(
        help:
            "Also grant the agent's, scheduler nodes' and workers' roles the least they need (the roles must exist; run again after every upgrade and, in Airflow regions, after airflow db migrate)."
    ) var grants = false
    @Flag(help: "Print the grants' SQL for every database instead of initializing anything.") var printGrants = false
    @Option(help: "The agent's role (also migrate-runs and the operator's commands).") var agentRole =
        "switchyard_agent"
    @Option(help: "The scheduler nodes' role.") var schedulerRole = "switchyard_scheduler"
    @Option(help: "The workers' role.") var workerRole = "switchyard_worker"

    func run() async throws {
        let roles = Grants.Roles(agent: agentRole, scheduler: schedulerRole, worker: workerRole)
        if printGrants {
            print("-- control database, as the owner of the switchyard schema")
            for statement in Grants.control(roles) { print(statement + ";") }
            print("\n-- every region database, as the owner of the switchyard schema")
            for statement in Grants.region(roles) { print(statement + ";") }
            print("\n-- every Airflow region database, as the owner of Airflow's tables")
            for statement in Grants.airflow(roles) { print(statement + ";") }
            return
        }
        let configuration = try ConfigLoader.load(directory: global.config)
        let report = try await InitCommand.initialize(configuration, active: active)
        var granted: Grants.Report?
        if grants {
            do {
                granted = try await Grants.apply(
                    controlDSN: configuration.controlPlane.control.dsn,
                    regions: configuration.regions.map { ($0.name, $0.databaseDSN, $0.runs.preset == .airflow) },
                    roles: roles)
            } catch let error as PostgresError where error.sqlState == "42704" {
                throw OperationFailure(
                    message:
                        "a role to grant to does not exist (\(agentRole), \(schedulerRole), \(workerRole)): create it first, "
                        + "e.g. CREATE ROLE \(workerRole) LOGIN PASSWORD '...'")
            }
        }
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
        for (database, count) in (granted?.applied ?? [:]).sorted(by: { $0.key < $1.key }) {
            print("grants: \(database): \(count) statements")
        }
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
