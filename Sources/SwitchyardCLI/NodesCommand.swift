import ArgumentParser
import Foundation
import Postgres
import SwitchyardCore
import SwitchyardRuntime

/// `switchyard nodes --region R [--json]`: who leads a region, with which epoch, since when, and
/// every node's last heartbeat.
struct NodesCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "nodes", abstract: "Show a region's leader, epoch and nodes.")
    @OptionGroup var global: GlobalOptions
    @Option(help: "Region.") var region: String
    @Flag(help: "Print JSON.") var json = false

    func run() async throws {
        let configuration = try ConfigLoader.load(directory: global.config)
        guard let regionConfig = configuration.region(named: region) else {
            throw OperationFailure(message: "--region \(region): no such region", exitCode: 2)
        }
        return try await PostgresConnection.with(regionConfig.databaseDSN, timeout: .seconds(3)) { db in
            let status = try await SchedulerStatus.read(db, region: region)
            if json {
                try Output.json(status)
                return
            }
            print(
                "region \(region): leader \(status.leader ?? "none") epoch \(status.epoch) since \(status.since.map { "\($0)" } ?? "-")"
            )
            print(pad("NODE", 44) + pad("KIND", 10) + pad("ROLE", 9) + pad("EPOCH", 7) + "HEARTBEAT AGE")
            for node in status.nodes {
                print(
                    pad(node.nodeId, 44) + pad(node.kind, 10) + pad(node.role, 9)
                        + pad(node.epoch.map(String.init) ?? "-", 7)
                        + String(format: "%.1fs", node.heartbeatAgeSeconds))
            }
        }
    }
}
