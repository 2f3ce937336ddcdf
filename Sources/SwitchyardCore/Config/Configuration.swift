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

    /// Creates a configuration; `regions` is sorted by priority descending, then name.
    public init(directory: String, controlPlane: ControlPlaneConfig, regions: [RegionConfig], dags: [DAGConfig]) {
        self.directory = directory
        self.controlPlane = controlPlane
        self.regions = regions.sorted { ($0.priority, $1.name) > ($1.priority, $0.name) }
        self.dags = dags
    }

    /// The region called `name`, if any.
    public func region(named name: String) -> RegionConfig? {
        regions.first { $0.name == name }
    }
}
