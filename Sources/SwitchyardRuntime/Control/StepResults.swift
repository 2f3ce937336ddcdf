import Foundation
import SwitchyardCore

/// What a failover step did, as journaled in `failover_steps.result` (JSON). Each step has its own
/// Codable payload; the step's name in the row says which.
public enum StepResult: Sendable {
    /// The journal row written, the epoch bumped.
    case begin(BeginResult)
    /// The old region fenced, or its leases waited out.
    case fence(FenceResult)
    /// The active runs copied.
    case migrate(MigrateResult)
    /// The target opened and made active.
    case activate(ActivateResult)
    /// The routing hooks called.
    case route(RouteResult)
    /// The journal closed, notifications sent.
    case complete(CompleteResult)

    /// The step this is the result of.
    public var step: FailoverStep {
        switch self {
        case .begin: .begin
        case .fence: .fence
        case .migrate: .migrate
        case .activate: .activate
        case .route: .route
        case .complete: .complete
        }
    }

    /// The JSON journaled for it.
    func json() throws -> String {
        return String(decoding: try WireJSON.encoder().encode(self), as: UTF8.self)
    }

    /// Decodes the result journaled for `step`; nil when there is none or it does not decode (a journal
    /// written by another version).
    static func decode(_ step: FailoverStep, json: String?) -> StepResult? {
        guard let data = json.map({ Data($0.utf8) }) else { return nil }
        let decoder = WireJSON.decoder()
        switch step {
        case .begin: return (try? decoder.decode(BeginResult.self, from: data)).map(StepResult.begin)
        case .fence: return (try? decoder.decode(FenceResult.self, from: data)).map(StepResult.fence)
        case .migrate: return (try? decoder.decode(MigrateResult.self, from: data)).map(StepResult.migrate)
        case .activate: return (try? decoder.decode(ActivateResult.self, from: data)).map(StepResult.activate)
        case .route: return (try? decoder.decode(RouteResult.self, from: data)).map(StepResult.route)
        case .complete: return (try? decoder.decode(CompleteResult.self, from: data)).map(StepResult.complete)
        }
    }
}

extension StepResult: Encodable {
    /// The payload alone, as journaled.
    public func encode(to encoder: any Encoder) throws {
        switch self {
        case .begin(let r): try r.encode(to: encoder)
        case .fence(let r): try r.encode(to: encoder)
        case .migrate(let r): try r.encode(to: encoder)
        case .activate(let r): try r.encode(to: encoder)
        case .route(let r): try r.encode(to: encoder)
        case .complete(let r): try r.encode(to: encoder)
        }
    }
}

/// `begin`: the new epoch, and the regions it moves between.
public struct BeginResult: Codable, Sendable, Equatable {
    /// The cluster epoch (bumped by every failover).
    public var epoch: Int
    /// The region it moves away from.
    public var from: String?
    /// The region it moves to.
    public var to: String?
}

/// `fence`: whether the old region was fenced in its own database, or what was waited out instead.
public struct FenceResult: Codable, Sendable {
    /// The old region was fenced in its own database (false: unreachable, its leases waited out).
    public var fenced: Bool?
    /// Why the step had nothing to do.
    public var skipped: String?
    /// Executions in the old region still running when the wait for them ended.
    public var executionsStillRunning: Int?
    /// The old region's leader recorded that no leader-gated `--exec` command of its runs (it has none,
    /// or it stopped it); false or absent: the target holds its own for `SafetyTiming.execStopBound`.
    public var leaderCommandStopped: Bool?
    /// Gated commands (`worker --exec`: Celery workers) in the old region that had not stopped when the
    /// wait ended; the target then holds for `SafetyTiming.gatedStopBound`.
    public var gatedCommandsStillRunning: Int?
    /// How long the step waited for leases to end: the old region's when it could not fence it, or a
    /// failsafe lease of any region it did not fence. Set whenever it waited: the target then holds.
    public var leaseWaitedMs: Int?
    /// Why it could not fence it.
    public var reason: String?
    /// What the revocation of failsafe leases found.
    public var failsafe: FailsafeRevocation?
}

/// `migrate`: the migration's report, or why there was nothing to migrate.
public enum MigrateResult: Codable, Sendable {
    /// Nothing to migrate, and why.
    case skipped(String)
    /// The migration's report.
    case migrated(RunMigrator.Report)

    enum CodingKeys: String, CodingKey { case skipped }

    /// Decodes `{"skipped": …}` or a migration report.
    public init(from decoder: any Decoder) throws {
        if let skipped = try decoder.container(keyedBy: CodingKeys.self).decodeIfPresent(String.self, forKey: .skipped)
        {
            self = .skipped(skipped)
        } else {
            self = .migrated(try RunMigrator.Report(from: decoder))
        }
    }

    /// Encodes `{"skipped": …}` or the migration report.
    public func encode(to encoder: any Encoder) throws {
        switch self {
        case .skipped(let why):
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(why, forKey: .skipped)
        case .migrated(let report): try report.encode(to: encoder)
        }
    }
}

/// `activate`: the region made active, at which epoch, and how long it holds its dispatches.
public struct ActivateResult: Codable, Sendable, Equatable {
    /// The region made active.
    public var active: String
    /// The cluster epoch (bumped by every failover).
    public var epoch: Int
    /// How long the target holds its dispatches (nil: no hold).
    public var dispatchHoldMs: Int64?
    /// Airflow: the hold was lengthened by the settle's budget, and `complete` settles the task instances
    /// (`SettleResult`) and then ends it.
    public var settleTasks: Bool? = nil
}

/// Airflow, in `complete`: the migrated runs' task instances brought up to date from the old region's
/// database once the hold's bound had passed (its scheduler and executor cannot run any more), before
/// the target's scheduler starts: a task that finished there after the copy is not run again.
public struct SettleResult: Codable, Sendable, Equatable {
    /// Task instances the copy had reset that had finished in the old region since: finished here too.
    public var taskInstancesFinished: Int
    /// Task instances the old region had created since the copy, copied.
    public var taskInstancesAdded: Int
    /// XComs copied with them.
    public var xcomsCopied: Int
    /// How long the settle waited for the hold's bound.
    public var waitedMs: Int64
    /// Why it did not settle (the old database did not answer, or the hold had already ended): the target
    /// runs the reset task instances again (at least once). Nil when it settled.
    public var error: String?
}

/// `route`: every routing hook's outcome.
public struct RouteResult: Codable, Sendable {
    /// Every routing hook's outcome.
    public var hooks: [HookCaller.Result]
}

/// `complete`: the journal's final state, and the notification hooks' outcomes.
public struct CompleteResult: Codable, Sendable {
    /// Where it stands.
    public var state: FailoverState
    /// Every notification hook's outcome.
    public var notified: [HookCaller.Result]
    /// Airflow: what settling the migrated task instances did (nil: nothing to settle).
    public var settled: SettleResult? = nil
}
