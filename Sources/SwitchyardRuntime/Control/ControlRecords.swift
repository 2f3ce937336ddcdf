import Foundation
import Postgres
import SwitchyardCore

/// The cluster's single row: which region is active at which epoch, and whether automatic failover is paused.
public struct ClusterState: Sendable, Equatable {
    public var activeRegion: String?
    public var epoch: Int
    public var paused: Bool
    /// The control database's clock when it was read.
    public var now: Date

    init(_ row: PostgresRow) throws {
        activeRegion = try row["active_region"].optional()
        epoch = try row["epoch"].require()
        paused = try row["paused"].require()
        now = try row["now"].require()
    }
}

/// One failover or switchover from the journal (`switchyard.failovers`). Encodes as the `history`
/// command's JSON entry (without its steps).
public struct FailoverRecord: Codable, Sendable, Equatable {
    public var id: Int
    public var kind: FailoverKind
    public var from_region: String?
    public var to_region: String
    public var reason: String
    public var state: FailoverState
    public var step: FailoverStep
    public var epoch: Int?
    public var leader: String?
    public var runs_moved: Int?
    public var runs_source: String?
    public var error: String?
    public var request_id: Int?
    public var started_at: Date
    public var finished_at: Date?

    /// The columns `init(_:)` reads, for a SELECT list.
    static let columns = """
        id, kind, from_region, to_region, reason, state, step, epoch, leader, runs_moved, runs_source, error, request_id,
        started_at, finished_at
        """

    init(_ row: PostgresRow) throws {
        id = try row["id"].require()
        let kindText: String = try row["kind"].require()
        guard let kind = FailoverKind(rawValue: kindText) else {
            throw PostgresError(code: .other, operation: "read failover \(id)", message: "unknown kind \(kindText)")
        }
        self.kind = kind
        from_region = try row["from_region"].optional()
        to_region = try row["to_region"].require()
        reason = try row["reason"].require()
        let stateText: String = try row["state"].require()
        state = FailoverState(rawValue: stateText) ?? .running
        step = FailoverStep(rawValue: try row["step"].require(String.self)) ?? .begin
        epoch = try row["epoch"].optional()
        leader = try row["leader"].optional()
        runs_moved = try row["runs_moved"].optional()
        runs_source = try row["runs_source"].optional()
        error = try row["error"].optional()
        request_id = try row["request_id"].optional()
        started_at = try row["started_at"].require()
        finished_at = try row["finished_at"].optional()
    }

    /// The journal row as `/status` shows it.
    public var summary: StatusDocument.FailoverSummary {
        .init(id: id, kind: kind.rawValue, from_region: from_region, to_region: to_region, reason: reason, state: state.rawValue,
              step: step.rawValue, started_at: started_at, finished_at: finished_at)
    }

}

/// One step of a journaled failover (`switchyard.failover_steps`), with its typed result.
public struct StepRecord: Encodable, Sendable {
    public var step: FailoverStep
    public var started_at: Date
    public var finished_at: Date?
    public var duration_ms: Double?
    /// The step's journaled result; nil while it runs (or when a journal written by hand has none).
    public var result: StepResult?
}

/// An operator's request waiting for (or taken by) the failover leader (`switchyard.failover_requests`).
public struct RequestRecord: Sendable, Equatable {
    public var id: Int
    public var kind: FailoverKind
    public var to_region: String
    public var reason: String
    public var picked: Bool
    public var failover_id: Int?
    public var error: String?
    /// The state of the failover it started, once it started one.
    public var failover_state: FailoverState?
}

/// The active-region lease in the control database, as the status shows it.
public struct LeaseRecord: Sendable, Equatable {
    public var region: String?
    public var holder: String?
    public var epoch: Int
    public var expiresAt: Date?
    /// Unexpired on the control database's clock.
    public var fresh: Bool
}

/// One observer's view of one component (`switchyard.observations` joined with the observer's `agents` row).
public struct ObservationRecord: Sendable, Equatable {
    public var observer: String
    public var region: String
    public var component: String
    public var state: HealthState
    public var since: Date
    public var evidence: Evidence?
    public var upSince: Date?
    /// The observer wrote within the liveness window.
    public var live: Bool
    /// When the observer last wrote (distant past when it has no `agents` row).
    public var lastSeen: Date
    /// The observer declared itself lagging, with why.
    public var lagReason: String?
}

/// What an observer writes about one component each interval.
public struct ObservationWrite: Sendable {
    public var region: String
    public var component: String
    public var state: HealthState
    public var since: Date
    public var latencyMs: Double?
    public var lastError: String?
    /// The probe's detail, encoded as JSON (nil when it does not encode).
    public var detail: Data?
    public var evidence: Evidence?
    public var inconclusive: Int
    public var upSince: Date?
}

/// An observer's own row: where its API listens, and whether it is in self-declared lag.
public struct AgentWrite: Sendable {
    public var observer: String
    public var apiURL: String?
    public var lag: (reason: String, ms: Double)?
}

/// A health transition to record as an event.
public struct HealthEvent: Encodable, Sendable {
    public var observer: String
    public var region: String
    public var component: String
    public var state: HealthState
    public var message: String

    enum CodingKeys: String, CodingKey { case observer, component, state }
}
