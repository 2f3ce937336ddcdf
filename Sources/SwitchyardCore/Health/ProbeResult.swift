import Foundation

/// What one probe of one component found.
public struct ProbeResult: Sendable, Equatable {
    /// Whether the component answered correctly within its deadline.
    public var success: Bool
    /// Round-trip latency of the probe when it got an answer.
    public var latency: Duration?
    /// Why it failed (scrubbed of secrets).
    public var error: String?
    /// What the component reported.
    public var detail: ComponentDetail
    /// For a failure: whether the target said it is dead (positive) or nothing answered in time (silence).
    public var evidence: Evidence?
    /// For a failure that counts as silence although the target answered (it refused the observer's
    /// credentials, or an administrator ended the probe's session): why. Raised as an event and a metric.
    public var ambiguity: String?

    /// A success.
    public static func ok(_ latency: Duration, _ detail: ComponentDetail = .init()) -> ProbeResult {
        ProbeResult(success: true, latency: latency, error: nil, detail: detail, evidence: nil, ambiguity: nil)
    }

    /// A failure; without a class it counts as silence, the kind that needs the longer corroboration.
    public static func failed(
        _ error: String, evidence: Evidence = .silence, ambiguity: String? = nil, latency: Duration? = nil,
        _ detail: ComponentDetail = .init()
    ) -> ProbeResult {
        ProbeResult(
            success: false, latency: latency, error: error, detail: detail,
            evidence: ambiguity == nil ? evidence : .silence,
            ambiguity: ambiguity)
    }
}

/// Component-specific facts a probe reports (absent keys are omitted from the JSON).
public struct ComponentDetail: Sendable, Equatable, Codable {
    /// Postgres: whether the server is a standby.
    public var inRecovery: Bool?
    /// Postgres: seconds since the last replayed transaction, on a standby.
    public var replicationLagSeconds: Double?
    /// Redis: `master` or `slave` (INFO replication role).
    public var role: String?
    /// Redis: a replica's `master_link_status`.
    public var masterLinkStatus: String?
    /// Redis with Sentinel: the master address Sentinel reports.
    public var sentinelMaster: String?
    /// Schedulers: the leader node.
    public var leader: String?
    /// Schedulers: the leadership epoch.
    public var epoch: Int?
    /// Schedulers: live nodes.
    public var nodes: Int?
    /// Schedulers: seconds since the leader's last heartbeat.
    public var leaderHeartbeatAgeSeconds: Double?
    /// HTTP probe: the status code.
    public var httpStatus: Int?
    /// Findings that do not fail the probe but an operator should see (e.g. a Sentinel mismatch).
    public var findings: [String]?
    /// Postgres (a region database): which lease the region's fence validity comes from, `control` (the
    /// active-region lease) or `failsafe` (the control database is unreachable).
    public var leaseSource: String?
    /// Postgres: since when the region's leader has acted on the failsafe lease.
    public var failsafeSince: Date?
    /// Postgres: the regions whose databases confirm that failsafe lease.
    public var failsafeRegions: [String]?
    /// Database: runs queued in the region's runs table (counted every few seconds; nil when unknown).
    public var runsQueued: Int?
    /// Database: runs running in the region's runs table.
    public var runsRunning: Int?

    /// Empty detail.
    public init() {}
}
