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
        let changed = try await OperatorRequests(configuration: configuration).setPaused(
            control, paused, reason: reason)
        print(
            changed
                ? "automatic failover \(paused ? "paused" : "resumed")"
                : "automatic failover was already \(paused ? "paused" : "running")")
    }
}

/// `switchyard history [--json] [--limit N]`: past failovers and switchovers with their step timings.
struct HistoryCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "history", abstract: "Show past failovers with step timings.")
    @OptionGroup var global: GlobalOptions
    @Option(help: "How many, newest first.") var limit = 20
    @Flag(help: "Print JSON.") var json = false

    func run() async throws {
        let configuration = try ConfigLoader.load(directory: global.config)
        return try await PostgresConnection.with(configuration.controlPlane.control.dsn, timeout: .seconds(5)) {
            control in
            let entries = try await ControlStore.history(control, limit: limit)
            if json {
                try Output.json(["failovers": entries])
                return
            }
            if entries.isEmpty { print("no failovers yet") }
            let encoder = WireJSON.encoder()
            for e in entries {
                let f = e.failover
                print(
                    "#\(f.id) \(f.kind.rawValue) \(f.fromRegion ?? "-") -> \(f.toRegion) \(f.state.rawValue) (\(f.reason)) started \(f.startedAt)"
                )
                for s in e.steps {
                    let result =
                        s.result.flatMap { try? encoder.encode($0) }.map { String(decoding: $0, as: UTF8.self) } ?? ""
                    print(
                        "    \(pad(s.step.rawValue, 10)) \(s.durationMs.map { String(format: "%8.1f ms", $0) } ?? "  running")  \(result)"
                    )
                }
            }
        }
    }
}
