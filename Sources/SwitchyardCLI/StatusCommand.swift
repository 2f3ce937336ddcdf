import ArgumentParser
import Foundation
import HTTP
import Postgres
import SwitchyardCore
import SwitchyardRuntime

/// `switchyard status [--json] [--watch] [--agent URL]`: the same picture as `GET /status`.
struct StatusCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status", abstract: "Show every region's health, leaders and the active region.")
    @OptionGroup var global: GlobalOptions
    @Option(help: "Agent base URL (default: a live agent from the control database, else api.listen).") var agent:
        String?
    @Flag(help: "Print the /status JSON.") var json = false
    @Flag(help: "Refresh every second until interrupted.") var watch = false

    func run() async throws {
        let configuration = try ConfigLoader.load(directory: global.config)
        let base = try await agentURL(configuration)
        let client = HTTPClient()
        repeat {
            let response: HTTPResponse
            do {
                response = try await client.send(
                    HTTPRequest(url: base + "/status", timeout: .seconds(3), connectTimeout: .seconds(1)))
            } catch {
                throw OperationFailure(message: "no answer from the agent at \(base): \(error)")
            }
            guard response.status == 200 else {
                throw OperationFailure(message: "agent at \(base) answered \(response.status)")
            }
            if json {
                print(response.bodyText)
            } else {
                let document = try StatusDocument.decoder().decode(StatusDocument.self, from: Data(response.body))
                if watch { print("\u{1B}[2J\u{1B}[H", terminator: "") }
                print(StatusTable.render(document, colour: Output.isTTY))
            }
            if watch { try await Task.sleep(for: .seconds(1)) }
        } while watch
    }

    func agentURL(_ configuration: Configuration) async throws -> String {
        if let agent { return agent.hasSuffix("/") ? String(agent.dropLast()) : agent }
        let url = try? await PostgresConnection.with(configuration.controlPlane.control.dsn, timeout: .seconds(2)) {
            control in
            try await ControlStore.freshestAgentURL(control)
        }
        if let url = url ?? nil { return url }
        return "http://\(configuration.controlPlane.api.listenHost):\(configuration.controlPlane.api.listenPort)"
    }
}

/// The terminal rendering of a status document.
enum StatusTable {
    static func render(_ s: StatusDocument, colour: Bool) -> String {
        func paint(_ state: HealthState) -> String {
            guard colour else { return state.rawValue }
            let code =
                switch state {
                case .healthy: "32"
                case .suspect: "33"
                case .down: "31"
                case .unknown: "90"
                }
            return "\u{1B}[\(code)m\(state.rawValue)\u{1B}[0m"
        }
        func cell(_ state: HealthState, _ text: String, _ width: Int) -> String {
            let padded = pad(text, width)
            return colour ? padded.replacingOccurrences(of: state.rawValue, with: paint(state)) : padded
        }
        var lines: [String] = []
        var header =
            "active region: \(s.activeRegion ?? "NONE")   epoch: \(s.epoch)   paused: \(s.paused ? "yes" : "no")   observer: \(s.observer)"
        if !s.controlDbReachable { header += "   (control database unreachable from this observer)" }
        lines.append(header)
        if let f = s.failoverInProgress {
            lines.append("failover \(f.id) in progress: \(f.fromRegion ?? "?") -> \(f.toRegion), step \(f.step)")
        }
        lines.append("")
        lines.append(
            pad("REGION", 12) + pad("ROLE", 9) + pad("PRI", 5) + pad("HEALTH", 9) + pad("DATABASE", 19)
                + pad("REDIS", 19)
                + pad("SCHEDULERS", 16) + pad("LEADER (EPOCH)", 26) + "DOWN/LIVE")
        for r in s.regions {
            func component(_ name: String) -> (HealthState, String) {
                guard let c = r.components[name] else { return (.unknown, "-") }
                let latency = c.latencyMs.map { String(format: " %.1fms", $0) } ?? ""
                return (c.state, c.state.rawValue + (c.state == .healthy ? latency : ""))
            }
            let (dbState, db) = component("database")
            let (redisState, redis) = component("redis")
            let (schedState, sched) = component("schedulers")
            let leader = r.schedulerLeader.map { "\($0) (\(r.schedulerEpoch ?? 0))" } ?? "none"
            lines.append(
                pad(r.name, 12) + pad(r.role, 9) + pad(String(r.priority), 5) + cell(r.health, r.health.rawValue, 9)
                    + cell(dbState, db, 19) + cell(redisState, redis, 19) + cell(schedState, sched, 16)
                    + pad(String(leader.prefix(25)), 26)
                    + "\(r.observersSeeingDown)/\(r.liveObservers)")
        }
        let errors = s.regions.flatMap { r in
            r.components.sorted { $0.key < $1.key }.compactMap { name, c in
                c.lastError.map { "  \(r.name) \(name): \($0)" }
            }
        }
        if !errors.isEmpty { lines.append(""); lines.append("last errors:"); lines += errors }
        if let c = s.failoverCapacity {
            lines.append("")
            let witnesses = c.witnesses.isEmpty ? "" : "; witness: " + c.witnesses.joined(separator: ", ")
            lines.append(
                "failover capacity: \(c.ready ? "yes" : "NO"): \(c.reason) (live observers: "
                    + (c.liveObservers.isEmpty ? "none" : c.liveObservers.joined(separator: ", ")) + witnesses + ")")
        }
        if let f = s.lastFailover {
            lines.append("")
            lines.append(
                "last failover: #\(f.id) \(f.kind) \(f.fromRegion ?? "?") -> \(f.toRegion) \(f.state) (\(f.reason))")
        }
        return lines.joined(separator: "\n")
    }
}
