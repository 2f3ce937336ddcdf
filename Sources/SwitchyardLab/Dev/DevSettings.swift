/// Control-plane settings a dev deployment is brought up with, typed: what tests tune instead of
/// editing `controlplane.yaml` as text (an edit whose text was not found changed nothing, silently).
/// A nil field keeps the deployment's default.
public struct DevSettings: Codable, Sendable, Equatable {
    /// `election.exec_grace` (default 500 ms; 5 s with Airflow).
    public var execGrace: Duration?
    /// `failover.cooldown` (default 5 s).
    public var cooldown: Duration?
    /// Regions (with Redis) whose schedulers are Apache Airflow's: `schedulers.probe: airflow` and
    /// `runs.preset: airflow` instead of Switchyard's own heartbeat and run table.
    public var airflowRegions: Set<String>
    /// `failover.incident_resolve_after` (default 10 s).
    public var incidentResolveAfter: Duration?
    /// The probe, election and failover timings of the shipped `regions/controlplane.yaml` (the product's
    /// defaults) instead of the lab's faster dev timings; the cooldown and hourly cap stay the lab's, so
    /// drills can fail over again and again.
    public var shippedTimings: Bool?

    /// Settings; nil keeps the default.
    public init(
        execGrace: Duration? = nil, cooldown: Duration? = nil, airflowRegions: Set<String> = [],
        incidentResolveAfter: Duration? = nil, shippedTimings: Bool? = nil
    ) {
        self.shippedTimings = shippedTimings
        self.incidentResolveAfter = incidentResolveAfter
        self.execGrace = execGrace
        self.cooldown = cooldown
        self.airflowRegions = airflowRegions
    }

    /// `duration` as the configuration writes it, in whole milliseconds (`1500ms`).
    static func yaml(_ duration: Duration) -> String { "\(duration.wholeMilliseconds)ms" }
}
