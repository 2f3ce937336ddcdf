import Postgres
import SwitchyardCore

/// The observers' combined view from the control database: how many agents are live, and every
/// component a live agent does not see healthy. Drills and the failover benchmark wait on it.
public enum DeploymentHealth {
    /// Live observers (seen within `liveWithin` seconds) and, one line each, what they see unhealthy.
    public static func read(_ control: PostgresConnection, liveWithin: Double) async throws -> (
        observers: Int, unhealthy: [String]
    ) {
        let window = Duration.milliseconds(Int64(liveWithin * 1000))
        let observers = try await ControlStore.observerCount(control, seenWithin: window)
        let unhealthy = try await ControlStore.observations(control, liveWithin: window, seenWithin: window)
            .filter { $0.state != .healthy }
            .sorted { ($0.observer, $0.region, $0.component) < ($1.observer, $1.region, $1.component) }
            .map { "\($0.observer) sees \($0.region) \($0.component) \($0.state.rawValue)" }
        return (observers, unhealthy)
    }
}
