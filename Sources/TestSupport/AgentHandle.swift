import Foundation
import HTTP
import Postgres
import SwitchyardCore
import SwitchyardLab
import SwitchyardRuntime

extension DevFixture {
    /// Starts an agent on a free port and waits until its API answers; returns its base URL.
    public func startAgent(_ observer: String, config: String? = nil) async throws -> String {
        let logs = state.directory + "/logs"
        try FileManager.default.createDirectory(atPath: logs, withIntermediateDirectories: true)
        let name = "agent-\(observer)"
        try start(name, ["agent", "--observer", observer, "--listen", "127.0.0.1:0"], config: config)
        let deadline = ContinuousClock.now + .seconds(20)
        while ContinuousClock.now < deadline {
            if let line = log(name).split(separator: "\n").first(where: { $0.contains("status API listening") }),
                let range = line.range(of: "url=http://")
            {
                let url = String("http://" + line[range.upperBound...].split(separator: " ")[0])
                // Ready once the first snapshot is served.
                while ContinuousClock.now < deadline {
                    if (try? await get(url, "/status").status) == 200 { return url }
                    try await Task.sleep(for: .milliseconds(50))
                }
            }
            try await Task.sleep(for: .milliseconds(50))
        }
        throw DevError("agent \(observer) did not start: \(log(name))")
    }

    /// GETs a path from an agent.
    public func get(_ base: String, _ path: String, method: String = "GET") async throws -> HTTPResponse {
        try await HTTPClient().send(
            HTTPRequest(method: method, url: base + path, timeout: .seconds(5), connectTimeout: .seconds(1)))
    }

    /// The agent's /status, decoded.
    public func status(_ base: String) async throws -> StatusDocument {
        let response = try await get(base, "/status")
        return try StatusDocument.decoder().decode(StatusDocument.self, from: Data(response.body))
    }

    /// Waits, bounded, until `observers` live agents have each seen every region healthy and not down
    /// for `steadyFor` (a standby must have been up for `failure_grace` to be chosen as a target): a
    /// test that faults a region right after its agents start would otherwise see a failover pass over
    /// a standby the agents have known for only a second.
    public func waitSteady(
        _ control: PostgresConnection, observers: Int, steadyFor: Duration = .seconds(2),
        timeout: Duration = .seconds(30)
    ) async -> Bool {
        await waitUntil(timeout: timeout) {
            guard
                let seen = try? await ControlStore.observations(
                    control, liveWithin: .seconds(3), seenWithin: .seconds(3)),
                !seen.isEmpty
            else { return false }
            let steadySince = Date().addingTimeInterval(-steadyFor.secondsDouble)
            return Set(seen.map(\.observer)).count == observers
                && seen.allSatisfy { $0.state == .healthy && ($0.upSince.map { $0 < steadySince } ?? true) }
        } != nil
    }
}
