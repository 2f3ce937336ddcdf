import ArgumentParser
import Foundation
import Postgres
import SwitchyardCore
import SwitchyardRuntime

/// `switchyard pause` / `resume`: stop and restart automatic failover (manual commands still work).
struct PauseCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "pause", abstract: "Pause automatic failover.")
    @OptionGroup var global: GlobalOptions
    @Option(help: "Why (recorded in the events).") var reason: String = "operator"

    func run() async throws { try await setPaused(true, config: global.config, reason: reason) }
}

/// See `PauseCommand`.
struct ResumeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "resume", abstract: "Resume automatic failover.")
    @OptionGroup var global: GlobalOptions
    @Option(help: "Why (recorded in the events).") var reason: String = "operator"

    func run() async throws { try await setPaused(false, config: global.config, reason: reason) }
}

func setPaused(_ paused: Bool, config: String, reason: String) async throws {
    let configuration = try ConfigLoader.load(directory: config)
    return try await PostgresConnection.with(configuration.controlPlane.control.dsn, timeout: .seconds(5)) { control in
        let changed = try await OperatorRequests(configuration: configuration).setPaused(control, paused, reason: reason)
        print(changed ? "automatic failover \(paused ? "paused" : "resumed")" : "automatic failover was already \(paused ? "paused" : "running")")
    }
}

/// `switchyard history [--json] [--limit N]`: past failovers and switchovers with their step timings.
struct HistoryCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "history", abstract: "Show past failovers with step timings.")
    @OptionGroup var global: GlobalOptions
    @Option(help: "How many, newest first.") var limit = 20
    @Flag(help: "Print JSON.") var json = false

    struct Entry: Codable {
        var id: Int
        var kind: String
        var from_region: String?
        var to_region: String
        var reason: String
        var state: String
        var step: String
        var epoch: Int?
        var runs_moved: Int?
        var runs_source: String?
        var error: String?
        var started_at: Date
        var finished_at: Date?
        var steps: [Step]
    }

    struct Step: Codable {
        var step: String
        var started_at: Date
        var finished_at: Date?
        var duration_ms: Double?
        var result: String?
    }

    func run() async throws {
        let configuration = try ConfigLoader.load(directory: global.config)
        return try await PostgresConnection.with(configuration.controlPlane.control.dsn, timeout: .seconds(5)) { control in
            var entries: [Entry] = []
            for row in try await control.query(
                """
                SELECT id, kind, from_region, to_region, reason, state, step, epoch, runs_moved, runs_source, error, started_at, finished_at
                FROM switchyard.failovers ORDER BY id DESC LIMIT $1
                """, [.int(limit)]).rows {
                let id: Int = try row["id"].require()
                let steps = try await control.query(
                    """
                    SELECT step, started_at, finished_at, extract(epoch FROM finished_at - started_at)::float8 * 1000 AS ms, result::text AS result
                    FROM switchyard.failover_steps WHERE failover_id = $1 ORDER BY started_at
                    """, [.int(id)]).rows.map {
                        Step(step: try $0["step"].require(), started_at: try $0["started_at"].require(), finished_at: try $0["finished_at"].optional(),
                             duration_ms: try $0["ms"].optional(), result: try $0["result"].optional())
                    }
                entries.append(Entry(
                    id: id, kind: try row["kind"].require(), from_region: try row["from_region"].optional(), to_region: try row["to_region"].require(),
                    reason: try row["reason"].require(), state: try row["state"].require(), step: try row["step"].require(),
                    epoch: try row["epoch"].optional(), runs_moved: try row["runs_moved"].optional(), runs_source: try row["runs_source"].optional(),
                    error: try row["error"].optional(), started_at: try row["started_at"].require(), finished_at: try row["finished_at"].optional(),
                    steps: steps))
            }
            if json {
                try Output.json(["failovers": entries])
                return
            }
            if entries.isEmpty { print("no failovers yet") }
            for e in entries {
                print("#\(e.id) \(e.kind) \(e.from_region ?? "-") -> \(e.to_region) \(e.state) (\(e.reason)) started \(e.started_at)")
                for s in e.steps {
                    print("    \(pad(s.step, 10)) \(s.duration_ms.map { String(format: "%8.1f ms", $0) } ?? "  running")  \(s.result ?? "")")
                }
            }
        }
    }
}
