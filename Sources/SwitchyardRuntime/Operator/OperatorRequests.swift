import Foundation
import Postgres
import SwitchyardCore

/// The one door for operator requests, shared by the CLI (`failover`, `switchover`, `pause`, `resume`)
/// and the agent's API (`POST /failover`, `/switchover`, `/pause`, `/resume`): one admission policy,
/// one way to queue a request for the failover leader, one way to pause. The CLI and the API only
/// parse, call this, and print or answer.
public struct OperatorRequests: Sendable {
    /// What the operator asks for: a `failover` the decision must agree with, a `forced` one it need
    /// not (the target's own health is still checked), or a planned `switchover`.
    public typealias Kind = FailoverKind

    /// Why a request is refused; nothing was changed. `code` is the API's error code (409 unless noted).
    public enum Refusal: Error, CustomStringConvertible, Sendable, Equatable {
        case unknownRegion(String, known: [String])
        case failoverInProgress(id: Int)
        case alreadyActive(String)
        case targetUnhealthy(String, views: String)
        case targetDatabaseSilent(String, error: String)
        case decisionPicksAnother(chosen: String, target: String, why: String)
        case decisionSaysNo(why: String)

        /// Why, for an operator.
        public var description: String {
            switch self {
            case .unknownRegion(let name, let known): "no region named \(name) (have \(known.joined(separator: ", ")))"
            case .failoverInProgress(let id): "failover \(id) is in progress"
            case .alreadyActive(let name): "\(name) is already the active region"
            case .targetUnhealthy(let name, let views): "\(name) is not healthy in the observers' view: \(views)"
            case .targetDatabaseSilent(let name, let error): "\(name)'s database does not answer: \(error)"
            case .decisionPicksAnother(let chosen, let target, let why):
                "the decision picks \(chosen), not \(target) (\(why)); use --force"
            case .decisionSaysNo(let why): "the decision says no: \(why); use --force to fail over anyway"
            }
        }

        /// The API's error code.
        public var code: String {
            switch self {
            case .unknownRegion: "unknown_region"
            case .failoverInProgress: "failover_in_progress"
            case .alreadyActive: "already_active"
            case .targetUnhealthy: "target_unhealthy"
            case .targetDatabaseSilent: "target_unreachable"
            case .decisionPicksAnother, .decisionSaysNo: "decision_refuses"
            }
        }

        /// The failover in progress, for the API's `failover_id`.
        public var failoverId: Int? { if case .failoverInProgress(let id) = self { id } else { nil } }
    }

    let configuration: Configuration

    /// Requests against `configuration`'s regions.
    public init(configuration: Configuration) { self.configuration = configuration }

    /// Every check a request passes before it runs or is queued, in order: the target exists, no
    /// failover runs, the target is not already active, a majority of the live observers see it healthy
    /// (when any observe it), its database answers, and (for `.failover`) the decision picks it.
    public func admit(_ control: PostgresConnection, kind: Kind, to target: String) async throws {
        guard let region = configuration.region(named: target) else {
            throw Refusal.unknownRegion(target, known: configuration.regions.map(\.name))
        }
        if let running = try await ControlStore.runningFailoverId(control) {
            throw Refusal.failoverInProgress(id: running)
        }
        let input = try await DecisionInputReader.read(control, configuration: configuration)
        if input.activeRegion == target { throw Refusal.alreadyActive(target) }
        if let unhealthy = Self.unhealthyTarget(input, target) { throw unhealthy }
        do {
            let db = try await PostgresConnection.connect(region.databaseDSN, timeout: .seconds(3))
            await db.close()
        } catch {
            throw Refusal.targetDatabaseSilent(target, error: "\(error)")
        }
        guard kind == .failover else { return }
        switch FailoverDecision.decide(input) {
        case .failover(let chosen, _) where chosen == target: return
        case .failover(let chosen, let why):
            throw Refusal.decisionPicksAnother(chosen: chosen, target: target, why: why)
        case .stay(let why), .blocked(let why): throw Refusal.decisionSaysNo(why: why)
        }
    }

    /// A majority of the live observers that observe `target` must see it healthy (when any observe it).
    static func unhealthyTarget(_ input: FailoverDecision.Input, _ target: String) -> Refusal? {
        let observations = input.regions.first { $0.name == target }?.observations.filter(\.live) ?? []
        guard !observations.isEmpty, observations.filter({ $0.health == .healthy }).count * 2 <= observations.count
        else { return nil }
        return .targetUnhealthy(
            target, views: observations.map { "\($0.observer) sees \($0.health.rawValue)" }.joined(separator: ", "))
    }

    /// The check the failover leader makes when it picks a queued request up, inside the transaction that
    /// begins it: the observers' views may have changed since the request was admitted, so a fresh read
    /// must still see the target healthy. Returns the refusal's reason, or nil.
    public func pickupConfirmation(target: String) -> @Sendable (PostgresConnection) async throws -> String? {
        let configuration = self.configuration
        return { c in
            let input = try await DecisionInputReader.read(c, configuration: configuration)
            return Self.unhealthyTarget(input, target).map { "refused when picked up: \($0.description)" }
        }
    }

    /// Queues an admitted request for the failover leader; returns its id. It keeps its kind: the
    /// decision was checked when it was admitted, and its target's health is checked again at pickup.
    public func enqueue(_ control: PostgresConnection, kind: Kind, to target: String, reason: String) async throws
        -> Int
    {
        try await ControlStore.enqueueRequest(control, kind: kind, to: target, reason: reason)
    }

    /// Pauses (or resumes) automatic failover; records an event only when it changed. Returns whether it did.
    @discardableResult
    public func setPaused(_ control: PostgresConnection, _ paused: Bool, reason: String) async throws -> Bool {
        try await ControlStore.setPaused(control, paused, reason: reason)
    }
}
