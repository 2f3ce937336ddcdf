import Foundation
import Postgres
import SwitchyardCore
import SwitchyardRuntime

/// The deployment a drill runs against: its configuration, connections to the control and region
/// databases, and, for the local deployment, its processes (read afresh from `deployment.json`, since
/// restarts change PIDs).
public struct DrillTarget: Sendable {
    /// The loaded configuration.
    public var configuration: Configuration
    /// The `regions/` directory it came from.
    public var configDirectory: String
    /// The local deployment's directory; nil for a configured deployment.
    public var devDirectory: String?
    /// The `switchyard` binary (for switchovers and restarted daemons).
    public var binary: String

    /// Resolves the scenario's deployment; `directory`/`config` (command-line options) win over the file.
    public static func resolve(
        _ deployment: DrillScenario.Deployment, directory: String?, config: String?, binary: String
    ) throws -> DrillTarget {
        switch deployment {
        case .dev(let fromFile):
            let dir = DevDeployment.absolute(directory ?? fromFile ?? ".switchyard/dev")
            guard let state = try DevState.load(directory: dir) else {
                throw DrillError(
                    "no local deployment in \(dir): start one with `switchyard dev up --daemons --dir \(dir)`")
            }
            return DrillTarget(
                configuration: state.hostConfiguration(try ConfigLoader.load(directory: state.configDirectory)),
                configDirectory: state.configDirectory, devDirectory: dir, binary: binary)
        case .configured(let fromFile):
            let dir = config ?? fromFile ?? "regions"
            return DrillTarget(
                configuration: try ConfigLoader.load(directory: dir), configDirectory: dir, devDirectory: nil,
                binary: binary)
        }
    }

    /// True for a local deployment whose regions run in network namespaces (`dev up --netns`).
    public var isPartitionable: Bool { (try? dev())?.network != nil }

    /// The local deployment's current state.
    func dev() throws -> DevState {
        guard let dir = devDirectory, let state = try DevState.load(directory: dir) else {
            throw DrillError("not a local deployment")
        }
        return state
    }

    /// The program and arguments of a `switchyard` command against the deployment's configuration (inside
    /// the hub namespace of a partitionable local deployment, where its addresses exist).
    func switchyard(_ arguments: [String]) -> (String, [String]) {
        (try? dev())?.command(binary, arguments) ?? (binary, arguments)
    }

    /// A new connection to the control database.
    func control() async throws -> PostgresConnection {
        try await PostgresConnection.connect(configuration.controlPlane.control.dsn, timeout: .seconds(5))
    }

    /// A new connection to a region's database, or nil when it does not answer within `timeout`.
    func region(_ name: String, timeout: Duration = .seconds(3)) async -> PostgresConnection? {
        guard let region = configuration.region(named: name) else { return nil }
        return try? await PostgresConnection.connect(region.databaseDSN, timeout: timeout)
    }

    /// The active region and the cluster epoch.
    func cluster(_ control: PostgresConnection) async throws -> (active: String?, epoch: Int) {
        let cluster = try await ControlStore.cluster(control)
        return (cluster.activeRegion, cluster.epoch)
    }

    /// Live observers (agents seen within three probe intervals, at least 2 s) and the components
    /// they do not see healthy.
    func health(_ control: PostgresConnection) async throws -> (observers: Int, unhealthy: [String]) {
        try await DeploymentHealth.read(
            control, liveWithin: max(configuration.controlPlane.probes.interval.secondsDouble * 3, 2))
    }
}

/// A drill that cannot go on (a precondition that does not hold, a fault that cannot be injected).
public struct DrillError: Error, CustomStringConvertible, Sendable {
    /// What went wrong.
    public var description: String
    init(_ description: String) { self.description = description }
}
