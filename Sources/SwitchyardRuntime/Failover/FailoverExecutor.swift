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
    public init(
        configuration: Configuration, leader: String, logger: Logger, warm: WarmConnections? = nil,
        progress: @escaping @Sendable (String) -> Void = { _ in }
    ) {
        self.configuration = configuration
        self.leader = leader
        self.logger = logger
        self.warm = warm
        self.progress = progress
        stopAfter = ProcessInfo.processInfo.environment["SWITCHYARD_TEST_STOP_AFTER_STEP"].flatMap(
            FailoverStep.init(rawValue:))
    }

    /// Why a failover cannot start.
    public struct Refusal: Error, CustomStringConvertible {
        /// Why.
        public var description: String
        /// The running failover, when that is the reason.
        public var runningId: Int?
    }

    /// What a finished failover did.
    public struct Report: Codable, Sendable {
        /// The failover's id.
        public var id: Int
        /// What started it.
        public var kind: FailoverKind
        /// The region it moved away from (nil when none was active).
        public var fromRegion: String?
        /// The region it moved to.
        public var toRegion: String
        /// The cluster epoch it set.
        public var epoch: Int
        /// How it ended.
        public var state: FailoverState
        /// Active runs copied to the target.
        public var runsMoved: Int
        /// Where from: `table` (the old database) or `shadow`.
        public var runsSource: String
        /// Every routing hook's outcome.
        public var hooks: [HookCaller.Result]
        /// Each step's duration in milliseconds.
        public var stepsMs: [String: Double]
    }

    /// Journals a new failover to `target`: epoch + 1, active region cleared. Returns its id.
    ///
    /// - Parameter confirm: checked inside the transaction, after the cluster state is locked and before
    ///   anything is written; a non-nil answer refuses the failover with that reason (an automatic
    ///   failover re-reads the observers' views here, so it never begins on a stale one).
    public func begin(
        _ control: PostgresConnection, kind: FailoverKind, to target: String, reason: String, requestId: Int? = nil,
        confirm: (@Sendable (PostgresConnection) async throws -> String?)? = nil
    ) async throws -> Int {
        guard configuration.region(named: target) != nil else {
            throw Refusal(description: "no region named \(target)")
        }
        let leader = self.leader
        do {
            let id = try await control.transaction { c in
                let locked = try await ControlStore.lockCluster(c)
                let from = locked.activeRegion
                if from == target { throw Refusal(description: "\(target) is already the active region") }
                if let confirm, let refusal = try await confirm(c) { throw Refusal(description: refusal) }
                return try await ControlStore.beginFailover(
                    c, locked: locked, kind: kind, from: from, to: target, reason: reason, leader: leader,
                    requestId: requestId
                ).id
            }
            if stopAfter == .begin {
                logger.critical("stopping after step begin (SWITCHYARD_TEST_STOP_AFTER_STEP)")
                exit(99)
            }
            return id
        } catch let error as PostgresError where error.sqlState == "23505" {
            let running = try await ControlStore.runningFailoverId(control)
            throw Refusal(description: "failover \(running.map(String.init) ?? "?") is in progress", runningId: running)
        }
    }

    /// Finishes the running failover, if any (after the executor that began it died).
    public func resume(_ control: PostgresConnection) async throws -> Report? {
        guard let id = try await ControlStore.runningFailoverId(control) else { return nil }
        logger.notice("resuming failover", metadata: ["failover": "\(id)"])
        return try await run(control, id: id)
    }

    /// Runs every remaining step of failover `id`.
    public func run(_ control: PostgresConnection, id: Int) async throws -> Report {
        guard let failover = try await ControlStore.failover(control, id: id), let epoch = failover.epoch else {
            throw Refusal(description: "no failover \(id)")
        }
        var context = Context(
            id: id, kind: failover.kind, from: failover.fromRegion, to: failover.toRegion, epoch: epoch)
        let finished = try await ControlStore.stepFinished(control, id: id, step: failover.step)
        var first = true
        for step in FailoverStep.remaining(recorded: failover.step, finished: finished) where step != .begin {
            // Begin starts the fence step and each finished step starts the next in the same round trip;
            // the first step of a resumed failover may not be started yet.
            // A step already started when the failover is resumed was interrupted: its effects may be half done.
            context.resumedStep = nil
            if first, try await !ControlStore.startStep(control, id: id, step: step) { context.resumedStep = step }
            first = false
            progress("failover \(id): \(step.rawValue)")
            let result: StepResult
            do {
                result = try await perform(step, &context, control: control)
            } catch {
                // The failover stays running (resumed later); the journal says why this step did not finish.
                try? await ControlStore.recordStepError(control, id: id, "step \(step.rawValue) not finished: \(error)")
                throw error
            }
            try await ControlStore.finishStep(control, id: id, result: result)
            if stopAfter == step {
                logger.critical("stopping after step \(step.rawValue) (SWITCHYARD_TEST_STOP_AFTER_STEP)")
                exit(99)
            }
        }
        return try await Self.report(control, id: id)
    }

    struct Context: Sendable {
        var id: Int
        var kind: FailoverKind
        var from: String?
        var to: String
        var epoch: Int
        /// The step being performed again after an interrupted attempt (nil on a first attempt).
        var resumedStep: FailoverStep? = nil
    }

    /// The report of failover `id`, from its journal.
    public static func report(_ control: PostgresConnection, id: Int) async throws -> Report {
        guard let failover = try await ControlStore.failover(control, id: id) else {
            throw Refusal(description: "no failover \(id)")
        }
        var timings: [String: Double] = [:]
        var hooks: [HookCaller.Result] = []
        for step in try await ControlStore.steps(control, failover: id) {
            timings[step.step.rawValue] = ((step.durationMs ?? 0) * 10).rounded() / 10
            if case .route(let route) = step.result { hooks = route.hooks }
        }
        return Report(
            id: id, kind: failover.kind, fromRegion: failover.fromRegion, toRegion: failover.toRegion,
            epoch: failover.epoch ?? 0, state: failover.state, runsMoved: failover.runsMoved ?? 0,
            runsSource: failover.runsSource ?? "", hooks: hooks, stepsMs: timings)
    }
}
