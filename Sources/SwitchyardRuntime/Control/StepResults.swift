import Foundation
import SwitchyardCore

/// What a failover step did, as journaled in `failover_steps.result` (JSON). Each step has its own
/// Codable payload; the step's name in the row says which.
public enum StepResult: Sendable {
    case begin(BeginResult)
    case fence(FenceResult)
    case migrate(MigrateResult)
    case activate(ActivateResult)
    case route(RouteResult)
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
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        return String(decoding: try encoder.encode(self), as: UTF8.self)
    }

    /// Decodes the result journaled for `step`; nil when there is none or it does not decode (a journal
    /// written by another version).
    static func decode(_ step: FailoverStep, json: String?) -> StepResult? {
        guard let data = json.map({ Data($0.utf8) }) else { return nil }
        let decoder = JSONDecoder()
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
    public var epoch: Int
    public var from: String?
    public var to: String?
}

/// `fence`: whether the old region was fenced in its own database, or what was waited out instead.
public struct FenceResult: Codable, Sendable {
    public var fenced: Bool?
    public var skipped: String?
    public var executions_still_running: Int?
    /// How long the step waited for leases to end: the old region's when it could not fence it, or a
    /// failsafe lease of any region it did not fence. Set whenever it waited: the target then holds.
    public var lease_waited_ms: Int?
    /// Why it could not fence it.
    public var reason: String?
    public var failsafe: FailsafeRevocation?
}

/// `migrate`: the migration's report, or why there was nothing to migrate.
public enum MigrateResult: Codable, Sendable {
    case skipped(String)
    case migrated(RunMigrator.Report)

    enum CodingKeys: String, CodingKey { case skipped }

    public init(from decoder: any Decoder) throws {
        if let skipped = try decoder.container(keyedBy: CodingKeys.self).decodeIfPresent(String.self, forKey: .skipped) {
            self = .skipped(skipped)
        } else {
            self = .migrated(try RunMigrator.Report(from: decoder))
        }
    }

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
    public var active: String
    public var epoch: Int
    public var dispatch_hold_ms: Int64?
}

/// `route`: every routing hook's outcome.
public struct RouteResult: Codable, Sendable {
    public var hooks: [HookCaller.Result]
}

/// `complete`: the journal's final state, and the notification hooks' outcomes.
public struct CompleteResult: Codable, Sendable {
    public var state: FailoverState
    public var notified: [HookCaller.Result]
}
