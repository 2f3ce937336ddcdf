import Foundation
import Logging
import Postgres
import SwitchyardCore

/// Runs a failover as the journaled state machine `begin → fence → migrate → activate → route →
/// complete` (safety invariants 4–6). Each transition is written to the control database before the
/// next step starts and every step is idempotent, so a failover whose executor died is finished,
/// exactly once, by the next one (`resume`). The caller holds the failover lock.
public struct FailoverExecutor: Sendable {
    let configuration: Configuration
    let leader: String
    let logger: Logger
    let progress: @Sendable (String) -> Void
    /// Test hook: exit the process right after journaling this step (simulates a dying leader).
    let stopAfter: FailoverStep?
    /// The failover leader's open region connections, borrowed to fence and read the old region.
    let warm: WarmConnections?

    /// Creates an executor acting as `leader`.
    public init(configuration: Configuration, leader: String, logger: Logger, warm: WarmConnections? = nil,
                progress: @escaping @Sendable (String) -> Void = { _ in }) {
        self.configuration = configuration
        self.leader = leader
        self.logger = logger
        self.warm = warm
        self.progress = progress
        stopAfter = ProcessInfo.processInfo.environment["SWITCHYARD_TEST_STOP_AFTER_STEP"].flatMap(FailoverStep.init(rawValue:))
    }

    /// Why a failover cannot start.
    public struct Refusal: Error, CustomStringConvertible {
        public var description: String
        /// The running failover, when that is the reason.
        public var runningId: Int?
    }

    /// What a finished failover did.
    public struct Report: Codable, Sendable {
        public var id: Int
        public var kind: String
        public var from_region: String?
        public var to_region: String
        public var epoch: Int
        public var state: String
        public var runs_moved: Int
        public var runs_source: String
        public var hooks: [HookCaller.Result]
        public var steps_ms: [String: Double]
    }

    /// Journals a new failover to `target`: epoch + 1, active region cleared. Returns its id.
    ///
    /// - Parameter confirm: checked inside the transaction, after the cluster state is locked and before
    ///   anything is written; a non-nil answer refuses the failover with that reason (an automatic
    ///   failover re-reads the observers' views here, so it never begins on a stale one).
    public func begin(_ control: PostgresConnection, kind: String, to target: String, reason: String, requestId: Int? = nil,
                      confirm: (@Sendable (PostgresConnection) async throws -> String?)? = nil) async throws -> Int {
        guard configuration.region(named: target) != nil else { throw Refusal(description: "no region named \(target)") }
        let leader = self.leader
        do {
            let id = try await control.transaction { c in
                // The new epoch must survive a crash of the control database, whatever its server-wide setting.
                try await c.query("SET LOCAL synchronous_commit = on")
                let row = try await c.query("SELECT active_region, epoch FROM switchyard.cluster_state WHERE id = 1 FOR UPDATE").first
                let from = try row?["active_region"].optional(String.self)
                if from == target { throw Refusal(description: "\(target) is already the active region") }
                if let confirm, let refusal = try await confirm(c) { throw Refusal(description: refusal) }
                let id = try await c.query(
                    """
                    INSERT INTO switchyard.failovers (kind, from_region, to_region, reason, leader, step, request_id)
                    VALUES ($1, $2, $3, $4, $5, 'begin', $6) RETURNING id
                    """, [.text(kind), .optional(from), .text(target), .text(reason), .text(leader), .optional(requestId)]
                ).first?["id"].require(Int.self) ?? 0
                let epoch = try await c.query(
                    "UPDATE switchyard.cluster_state SET epoch = epoch + 1, active_region = NULL, failover_id = $1, updated_at = now() WHERE id = 1 RETURNING epoch",
                    [.int(id)]).first?["epoch"].require(Int.self) ?? 0
                try await c.query("UPDATE switchyard.failovers SET epoch = $2, step = 'fence' WHERE id = $1", [.int(id), .int(epoch)])
                try await c.query(
                    "INSERT INTO switchyard.failover_steps (failover_id, step, finished_at, result) VALUES ($1, 'begin', now(), $2::jsonb)",
                    [.int(id), .json("{\"epoch\":\(epoch),\"from\":\(json(from)),\"to\":\(json(target))}")])
                try await c.query("INSERT INTO switchyard.events (kind, region, message) VALUES ('failover', $1, $2)",
                                  [.text(target), .text("\(kind) \(id) begins: \(from ?? "none") -> \(target) at epoch \(epoch) (\(reason))")])
                return id
            }
            if stopAfter == .begin {
                logger.critical("stopping after step begin (SWITCHYARD_TEST_STOP_AFTER_STEP)")
                exit(99)
            }
            return id
        } catch let error as PostgresError where error.sqlState == "23505" {
            let running = try await control.query("SELECT id FROM switchyard.failovers WHERE state = 'running'").first?["id"].optional(Int.self)
            throw Refusal(description: "failover \(running.map(String.init) ?? "?") is in progress", runningId: running)
        }
    }

    /// Finishes the running failover, if any (after the executor that began it died).
    public func resume(_ control: PostgresConnection) async throws -> Report? {
        guard let id = try await control.query("SELECT id FROM switchyard.failovers WHERE state = 'running'").first?["id"].optional(Int.self) else {
            return nil
        }
        logger.notice("resuming failover", metadata: ["failover": "\(id)"])
        return try await run(control, id: id)
    }

    /// Runs every remaining step of failover `id`.
    public func run(_ control: PostgresConnection, id: Int) async throws -> Report {
        guard let row = try await control.query(
            "SELECT kind, from_region, to_region, epoch, step, state FROM switchyard.failovers WHERE id = $1", [.int(id)]).first
        else { throw Refusal(description: "no failover \(id)") }
        var context = Context(
            id: id, kind: try row["kind"].require(), from: try row["from_region"].optional(), to: try row["to_region"].require(),
            epoch: try row["epoch"].require())
        let recorded = FailoverStep(rawValue: try row["step"].require(String.self)) ?? .begin
        let finished = try await control.query(
            "SELECT finished_at IS NOT NULL AS done FROM switchyard.failover_steps WHERE failover_id = $1 AND step = $2",
            [.int(id), .text(recorded.rawValue)]).first?["done"].optional(Bool.self) ?? false
        for step in FailoverStep.remaining(recorded: recorded, finished: finished) where step != .begin {
            try await control.query(
                "INSERT INTO switchyard.failover_steps (failover_id, step) VALUES ($1, $2) ON CONFLICT DO NOTHING", [.int(id), .text(step.rawValue)])
            progress("failover \(id): \(step.rawValue)")
            let result: String
            do {
                result = try await perform(step, &context, control: control)
            } catch {
                // The failover stays running (resumed later); the journal says why this step did not finish.
                try? await control.query("UPDATE switchyard.failovers SET error = $2 WHERE id = $1 AND state = 'running'",
                                         [.int(id), .text("step \(step.rawValue) not finished: \(error)")])
                throw error
            }
            try await control.transaction { c in
                try await c.query(
                    "UPDATE switchyard.failover_steps SET finished_at = now(), result = $3::jsonb WHERE failover_id = $1 AND step = $2",
                    [.int(id), .text(step.rawValue), .json(result)])
                if let next = step.next {
                    try await c.query("UPDATE switchyard.failovers SET step = $2 WHERE id = $1", [.int(id), .text(next.rawValue)])
                }
            }
            if stopAfter == step {
                logger.critical("stopping after step \(step.rawValue) (SWITCHYARD_TEST_STOP_AFTER_STEP)")
                exit(99)
            }
        }
        return try await Self.report(control, id: id)
    }

    struct Context: Sendable {
        var id: Int
        var kind: String
        var from: String?
        var to: String
        var epoch: Int
    }

    /// The report of failover `id`, from its journal.
    public static func report(_ control: PostgresConnection, id: Int) async throws -> Report {
        let row = try await control.query(
            "SELECT kind, from_region, to_region, epoch, state, coalesce(runs_moved, 0) AS moved, coalesce(runs_source, '') AS source FROM switchyard.failovers WHERE id = $1",
            [.int(id)]).first
        let steps = try await control.query(
            "SELECT step, extract(epoch FROM finished_at - started_at)::float8 * 1000 AS ms, result::text AS result FROM switchyard.failover_steps WHERE failover_id = $1",
            [.int(id)]).rows
        var timings: [String: Double] = [:]
        var hooks: [HookCaller.Result] = []
        for s in steps {
            let name: String = try s["step"].require()
            timings[name] = ((try s["ms"].optional(Double.self) ?? 0) * 10).rounded() / 10
            if name == "route", let text = try s["result"].optional(String.self),
               let decoded = try? JSONDecoder().decode(RouteResult.self, from: Data(text.utf8)) {
                hooks = decoded.hooks
            }
        }
        return Report(id: id, kind: try row?["kind"].require() ?? "", from_region: try row?["from_region"].optional(),
                      to_region: try row?["to_region"].require() ?? "", epoch: try row?["epoch"].require() ?? 0,
                      state: try row?["state"].require() ?? "", runs_moved: try row?["moved"].require() ?? 0,
                      runs_source: try row?["source"].require() ?? "", hooks: hooks, steps_ms: timings)
    }

    struct RouteResult: Codable {
        var hooks: [HookCaller.Result]
    }
}

func json(_ text: String?) -> String {
    guard let text else { return "null" }
    return String(decoding: (try? JSONEncoder().encode(text)) ?? Data("null".utf8), as: UTF8.self)
}
