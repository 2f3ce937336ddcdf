/// A loaded, validated `regions/` directory.
public struct Configuration: Sendable {
    /// The directory it was loaded from, as given.
    public var directory: String
    /// `controlplane.yaml`.
    public var controlPlane: ControlPlaneConfig
    /// Every region, sorted by priority (highest first), then by name.
    public var regions: [RegionConfig]
    /// `dags.yaml` (empty when the file is absent).
    public var dags: [DAGConfig]
    /// Every environment variable `controlplane.yaml` and the region files read through `${VAR}`.
    public var referencedVariables: Set<String> = []

    /// Creates a configuration; `regions` is sorted by priority descending, then name.
    public init(directory: String, controlPlane: ControlPlaneConfig, regions: [RegionConfig], dags: [DAGConfig]) {
        self.directory = directory
        self.controlPlane = controlPlane
        self.regions = regions.sorted { ($0.priority, $1.name) > ($1.priority, $0.name) }
        self.dags = dags
    }

    /// Switchyard's own secrets, by the environment variable they come from: everything `controlplane.yaml`
    /// and the region files read through `${VAR}` (the databases' passwords), the API token's variable, every hook's secret and every Sentinel
    /// password. A command Switchyard starts never gets them (`CommandEnvironment`).
    public var withheldVariables: Set<String> {
        var names = referencedVariables
        names.insert(controlPlane.api.tokenEnv)
        for region in regions {
            for hook in region.routing.hooks + region.routing.notify {
                if let name = hook.secretEnv { names.insert(name) }
            }
            if case .sentinel(let sentinel) = region.redis?.connection, let name = sentinel.passwordEnv {
                names.insert(name)
            }
        }
        return names.union(CommandEnvironment.alwaysWithheld)
    }

    /// The region called `name`, if any.
    public func region(named name: String) -> RegionConfig? {
        regions.first { $0.name == name }
    }
}
