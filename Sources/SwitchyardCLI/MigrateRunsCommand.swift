import ArgumentParser
import Foundation
import Postgres
import SwitchyardCore
import SwitchyardRuntime

/// `switchyard migrate-runs --from A --to B [--dry-run] [--json] [--from-shadow]`.
struct MigrateRunsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "migrate-runs", abstract: "Copy the active runs of one region into another as queued (idempotent)."
    )
    @OptionGroup var global: GlobalOptions
    @Option(help: "Source region.") var from: String
    @Option(help: "Target region.") var to: String
    @Flag(help: "Count what would be copied; change nothing.") var dryRun = false
    @Flag(help: "Read the target's shadow copy of the source's runs instead of the source database.") var fromShadow =
        false
    @Flag(help: "Print the report as JSON.") var json = false
    @Flag(help: "Unpause the copied runs' DAGs that are paused in the target (their runs would wait there).")
    var unpause = false

    func run() async throws {
        let configuration = try ConfigLoader.load(directory: global.config)
        guard let source = configuration.region(named: from), let target = configuration.region(named: to) else {
            throw OperationFailure(message: "--from and --to must name configured regions", exitCode: 2)
        }
        guard from != to else { throw OperationFailure(message: "--from and --to are the same region", exitCode: 2) }
        let targetDB = try await PostgresConnection.connect(target.databaseDSN, timeout: .seconds(5))
        var sourceDB: PostgresConnection?
        if !fromShadow { sourceDB = try await PostgresConnection.connect(source.databaseDSN, timeout: .seconds(5)) }
        let report = try await RunMigrator.migrate(
            from: from, to: to,
            source: sourceDB.map { .table($0, table: source.runs.table) } ?? .shadow(region: from, epoch: nil),
            target: targetDB, targetTable: target.runs.table, preset: target.runs.preset, dryRun: dryRun,
            unpause: unpause)
        await targetDB.close()
        await sourceDB?.close()
        if json {
            try Output.json(report)
            return
        }
        print(
            "\(dryRun ? "would copy" : "copied") \(report.copied) of \(report.found) active runs from \(from) (\(report.source)) to \(to); "
                + "\(report.alreadyPresent) already there; \(String(format: "%.0f", report.durationMs)) ms")
        if report.source == "shadow" {
            print(
                report.shadowAgeMs.map { "the shadow copy was \(String(format: "%.1f", $0 / 1000)) s old" }
                    ?? "the target holds no shadow copy of \(from)'s current active period")
        }
        if !report.orphaned.isEmpty {
            print("orphaned (no such DAG in \(to)): " + report.orphaned.joined(separator: ", "))
        }
        if !report.unpaused.isEmpty {
            print("unpaused in \(to): " + report.unpaused.joined(separator: ", "))
        } else if !report.pausedInTarget.isEmpty {
            print(
                "paused in \(to), so their runs wait there (unpause them, or run again with --unpause): "
                    + report.pausedInTarget.joined(separator: ", "))
        }
    }
}
