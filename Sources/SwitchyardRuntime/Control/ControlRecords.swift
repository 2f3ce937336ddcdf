import Foundation
import Postgres
import Redaction
import SwitchyardCore

/// The cluster's single row: which region is active at which epoch, and whether automatic failover is paused.
public struct ClusterState: Sendable, Equatable {
    /// The active region; nil while a failover runs between its begin and activate steps.
    public var activeRegion: String?
    /// The cluster epoch (bumped by every failover).
    public var epoch: Int
    /// Automatic failover is paused.
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
    /// Its id.
    public var id: Int
    /// What started it.
    public var kind: FailoverKind
    /// The region it moved away from (nil when none was active).
    public var fromRegion: String?
    /// The region it moved to.
    public var toRegion: String
    /// Why (journaled by whoever started it).
    public var reason: String
    /// Where it stands.
    public var state: FailoverState
    /// The step it is at (the next to run, or the last one when finished).
    public var step: FailoverStep
    /// The cluster epoch (bumped by every failover).
    public var epoch: Int?
    /// The failover leader (or CLI) that began it.
    public var leader: String?
    /// Active runs its migrate step copied.
    public var runsMoved: Int?
    /// Where they were copied from: `table` (the old database) or `shadow`.
    public var runsSource: String?
    /// Why a step did not finish, or which required hooks failed.
    public var error: String?
    /// The operator request it carries out, if any.
    public var requestId: Int?
    /// When it began.
    public var startedAt: Date
    /// When it finished (nil while running).
    public var finishedAt: Date?

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
        fromRegion = try row["from_region"].optional()
        toRegion = try row["to_region"].require()
        reason = try row["reason"].require()
        let stateText: String = try row["state"].require()
        state = FailoverState(rawValue: stateText) ?? .running
        step = FailoverStep(rawValue: try row["step"].require(String.self)) ?? .begin
        epoch = try row["epoch"].optional()
        leader = try row["leader"].optional()
        runsMoved = try row["runs_moved"].optional()
        runsSource = try row["runs_source"].optional()
        error = try row["error"].optional()
        requestId = try row["request_id"].optional()
        startedAt = try row["started_at"].require()
        finishedAt = try row["finished_at"].optional()
    }

    /// The journal row as `/status` shows it.
    public var summary: StatusDocument.FailoverSummary {
        .init(
            id: id, kind: kind.rawValue, fromRegion: fromRegion, toRegion: toRegion, reason: reason,
            state: state.rawValue,
            step: step.rawValue, startedAt: startedAt, finishedAt: finishedAt)
    }

}

/// One step of a journaled failover (`switchyard.failover_steps`), with its typed result.
public struct StepRecord: Encodable, Sendable {
    /// The step it is at (the next to run, or the last one when finished).
    public var step: FailoverStep
    /// When it began.
    public var startedAt: Date
    /// When it finished (nil while running).
    public var finishedAt: Date?
    /// Milliseconds from start to finish (nil while running).
    public var durationMs: Double?
    /// The step's journaled result; nil while it runs (or when a journal written by hand has none).
    public var result: StepResult?
    static let columns =
        "step, started_at, finished_at, extract(epoch FROM finished_at - started_at)::float8 * 1000 AS ms, result::text AS result"

    /// A `failover_steps` row read with `columns`; nil for a step this version does not know.
    init?(_ row: PostgresRow) throws {
        guard let step = FailoverStep(rawValue: try row["step"].require(String.self)) else { return nil }
        self.step = step
        startedAt = try row["started_at"].require()
        finishedAt = try row["finished_at"].optional()
        durationMs = try row["ms"].optional()
        result = StepResult.decode(step, json: try row["result"].optional())
    }
}

/// An operator's request waiting for (or taken by) the failover leader (`switchyard.failover_requests`).
public struct RequestRecord: Sendable, Equatable {
    /// Its id.
    public var id: Int
    /// What started it.
    public var kind: FailoverKind
    /// The region it moved to.
    public var toRegion: String
    /// Why (journaled by whoever started it).
    public var reason: String
    /// The failover leader has picked it up.
    public var picked: Bool
    /// The failover it began, if it began one.
    public var failoverId: Int?
    /// Why a step did not finish, or which required hooks failed.
    public var error: String?
    /// The state of the failover it started, once it started one.
    public var failoverState: FailoverState?
}

/// The active-region lease in the control database, as the status shows it.
public struct LeaseRecord: Sendable, Equatable {
    /// The region.
    public var region: String?
    /// The scheduler node that renewed it last.
    public var holder: String?
    /// The cluster epoch (bumped by every failover).
    public var epoch: Int
    /// When it ends, on the control database's clock.
    public var expiresAt: Date?
    /// Unexpired on the control database's clock.
    public var fresh: Bool
}

/// One observer's view of one component (`switchyard.observations` joined with the observer's `agents` row).
public struct ObservationRecord: Sendable, Equatable {
    /// The observer (agent) that wrote it.
    public var observer: String
    /// The region.
    public var region: String
    /// The component: `database`, `redis` or `schedulers`.
    public var component: String
    /// Where it stands.
    public var state: HealthState
    /// Since when it has been in this state.
    public var since: Date
    /// The evidence behind a failing state: positive (refused, errors) or silence (timeouts).
    public var evidence: Evidence?
    /// Since when it has been up without being down (nil if it never came back).
    public var upSince: Date?
    /// For a failing state: when its run of failed probes began.
    public var failingSince: Date?
    /// The observer wrote within the liveness window.
    public var live: Bool
    /// When the observer last wrote (distant past when it has no `agents` row).
    public var lastSeen: Date
    /// The observer declared itself lagging, with why.
    public var lagReason: String?
}

/// What an observer writes about one component each interval.
public struct ObservationWrite: Sendable {
    /// The region.
    public var region: String
    /// The component: `database`, `redis` or `schedulers`.
    public var component: String
    /// Where it stands.
    public var state: HealthState
    /// How long it has been in this state, on the observer's monotonic clock: the control database
    /// turns it into a time on its own clock, so an observer's wall clock never reaches a decision.
    public var sinceAge: Duration
    /// The last probe's latency in milliseconds.
    public var latencyMs: Double?
    /// The last failure (nil when healthy).
    public var lastError: String?
    /// The probe's detail, encoded as JSON (nil when it does not encode).
    public var detail: Data?
    /// The evidence behind a failing state: positive (refused, errors) or silence (timeouts).
    public var evidence: Evidence?
    /// Probes not counted because they overlapped the observer's own lag.
    public var inconclusive: Int
    /// How long it has been up without being down (nil if it never came back), as `sinceAge`.
    public var upAge: Duration?
    /// How long its current run of failed probes has lasted (nil when not failing), as `sinceAge`.
    public var failingAge: Duration?
}

/// An observer's own row: where its API listens, and whether it is in self-declared lag.
public struct AgentWrite: Sendable {
    /// The observer (agent) that wrote it.
    public var observer: String
    /// Where its status API listens.
    public var apiURL: String?
    /// Its self-declared lag, with why and how much.
    public var lag: (reason: String, ms: Double)?
}

/// A health transition to record as an event.
public struct HealthEvent: Encodable, Sendable {
    /// The observer (agent) that wrote it.
    public var observer: String
    /// The region.
    public var region: String
    /// The component: `database`, `redis` or `schedulers`.
    public var component: String
    /// Where it stands.
    public var state: HealthState
    /// The event's line.
    public var message: String

    enum CodingKeys: String, CodingKey { case observer, component, state }
}

/// A journaled failover with its steps: `switchyard history --json`'s entries and `/history`'s.
/// Encodes as the failover's fields plus `steps`.
public struct FailoverHistory: Encodable, Sendable {
    /// The journal row.
    public var failover: FailoverRecord
    /// Its steps, in order.
    public var steps: [StepRecord]

    /// A failover with its steps.
    public init(failover: FailoverRecord, steps: [StepRecord]) {
        self.failover = failover
        self.steps = steps
    }

    enum CodingKeys: String, CodingKey { case steps }

    /// The same with every hook's URL cut to its origin (`URLRedaction.origin`): for `/history`, which
    /// the status API serves without a token, while a chat webhook's path is its secret.
    public func hookURLsAsOrigins() -> FailoverHistory {
        func origins(_ hooks: [HookCaller.Result]) -> [HookCaller.Result] {
            hooks.map { hook in
                var hook = hook
                hook.url = URLRedaction.origin(hook.url)
                return hook
            }
        }
        var copy = self
        copy.steps = steps.map { record in
            var record = record
            switch record.result {
            case .route(var route)?:
                route.hooks = origins(route.hooks)
                record.result = .route(route)
            case .complete(var complete)?:
                complete.notified = origins(complete.notified)
                record.result = .complete(complete)
            default: break
            }
            return record
        }
        return copy
    }

    /// The failover's fields, then `steps`.
    public func encode(to encoder: any Encoder) throws {
        try failover.encode(to: encoder)
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(steps, forKey: .steps)
    }
}
