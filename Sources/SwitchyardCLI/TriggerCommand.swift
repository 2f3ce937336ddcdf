import ArgumentParser
import Foundation
import Postgres
import SwitchyardCore
import SwitchyardRuntime

/// `switchyard trigger DAG [--conf JSON] [--region R]`: queue a manual run in the active region.
struct TriggerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "trigger", abstract: "Queue a manual run of a DAG in the active region.")
    @OptionGroup var global: GlobalOptions
    @Argument(help: "DAG id.") var dag: String
    @Option(help: "Run configuration, a JSON object.") var conf: String?
    @Option(help: "Region (default: the active region).") var region: String?
    @Flag(help: "Print JSON.") var json = false

    struct Report: Encodable {
        var region: String
        var dagId: String
        var runId: String
    }

    func run() async throws {
        let configuration = try ConfigLoader.load(directory: global.config)
        guard configuration.dags.contains(where: { $0.id == dag }) else {
            throw OperationFailure(message: "no DAG named \(dag) in \(global.config)/dags.yaml", exitCode: 2)
        }
        if let conf {
            guard let object = try? JSONSerialization.jsonObject(with: Data(conf.utf8)), object is [String: Any] else {
                throw OperationFailure(message: "--conf must be a JSON object", exitCode: 2)
            }
        }
        let target: String
        if let region {
            target = region
        } else {
            let active = try await PostgresConnection.with(configuration.controlPlane.control.dsn, timeout: .seconds(3))
            { control in
                try await ControlStore.activeRegion(control)
            }
            guard let active else {
                throw OperationFailure(message: "no region is active (a failover may be in progress); pass --region")
            }
            target = active
        }
        guard let regionConfig = configuration.region(named: target) else {
            throw OperationFailure(message: "--region \(target): no such region", exitCode: 2)
        }
        return try await PostgresConnection.with(regionConfig.databaseDSN, timeout: .seconds(3)) { db in
            let runId = try await RegionStore.trigger(db, dagId: dag, conf: conf)
            if json {
                try Output.json(Report(region: target, dagId: dag, runId: runId))
            } else {
                print("queued \(dag)/\(runId) in \(target)")
            }
        }
    }
}
