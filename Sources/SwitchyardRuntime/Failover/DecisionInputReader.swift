import Foundation
import Postgres
import SwitchyardCore

/// Builds the failover decision's input from the control database: every observer's component
/// states (with since-when), observer liveness, cluster state and recent failovers.
public enum DecisionInputReader {
    /// Reads the input now.
    public static func read(_ control: PostgresConnection, configuration: Configuration) async throws
        -> FailoverDecision.Input
    {
        try await read(control, configuration: configuration, countingUnreconciled: false).input
    }

    /// What the failover leader reads each cycle: the decision's input and, in the same round trip, how many
    /// finished failovers still wait for their reconciliation (`FailoverExecutor.reconcile`), so the leader
    /// spends no extra round trip on the control database when none does.
    public static func readForLeader(_ control: PostgresConnection, configuration: Configuration) async throws
        -> (input: FailoverDecision.Input, unreconciled: Int)
    {
        let read = try await read(control, configuration: configuration, countingUnreconciled: true)
        return (read.input, read.unreconciled)
    }

    private static func read(_ control: PostgresConnection, configuration: Configuration, countingUnreconciled: Bool)
        async throws -> (input: FailoverDecision.Input, unreconciled: Int)
    {
        let failover = configuration.controlPlane.failover
        let liveWithin = configuration.controlPlane.probes.liveWithin
        // One round trip: a failover leader may be as far from the control database as any observer.
        let results = try await control.pipeline(
            [
                .init(ControlStore.clusterSQL),
                ControlStore.observationsStatement(liveWithin: liveWithin, seenWithin: .seconds(86_400)),
                ControlStore.replicationLagsStatement(liveWithin: liveWithin),
                ControlStore.observerCountStatement(seenWithin: .seconds(86_400)),
                .init(ControlStore.recentFailoverStartsSQL),
            ] + (countingUnreconciled ? [.init(ControlStore.unreconciledFailoversSQL)] : []))
        let cluster = try ControlStore.cluster(from: results[0])
        var views: [String: [String: (live: Bool, components: [String: FailoverDecision.ComponentView])]] = [:]
        // Observers in self-declared lag cast no down vote and choose no target.
        var lagging: [String: String] = [:]
        for o in try ControlStore.observations(from: results[1]) {
            var view = views[o.region]?[o.observer] ?? (o.live, [:])
            view.components[o.component] = .init(
                state: o.state, since: o.since, evidence: o.evidence, upSince: o.upSince, failingSince: o.failingSince)
            views[o.region, default: [:]][o.observer] = view
            if o.live, let reason = o.lagReason { lagging[o.observer] = reason }
        }
        // Replication lag of each region's database, as its freshest live observer reports it.
        let lagByRegion = try ControlStore.replicationLags(from: results[2])
        let known = try ControlStore.observerCount(from: results[3])
        let regions = configuration.regions.map { region -> FailoverDecision.Region in
            let critical = region.critical.map(\.rawValue)
            let observations = (views[region.name] ?? [:]).sorted { $0.key < $1.key }.map { observer, view in
                FailoverDecision.observation(
                    observer: observer, live: view.live, components: view.components, critical: critical)
            }
            return .init(
                name: region.name, priority: region.priority, replicationLag: lagByRegion[region.name],
                observations: observations)
        }
        let recent = try ControlStore.recentFailoverStarts(from: results[4])
        let unreconciled = countingUnreconciled ? try results[5].first?["n"].require(Int.self) ?? 0 : 0
        let input = FailoverDecision.Input(
            now: cluster.now, activeRegion: cluster.activeRegion, regions: regions, knownObservers: known,
            quorum: failover.quorum, failureGrace: failover.failureGrace, cooldown: failover.cooldown,
            maxFailoversPerHour: failover.maxFailoversPerHour, recentFailovers: recent,
            paused: cluster.paused, automatic: failover.auto,
            evidenceGrace: min(failover.evidenceGrace, failover.failureGrace), laggingObservers: lagging,
            correlationWindow: configuration.controlPlane.probes.silenceCorrelationWindow)
        return (input, unreconciled)
    }

    /// The check an automatic failover makes inside the transaction that begins it: a fresh read of the
    /// observers' views must still decide a failover to `target`, or the failover is refused with why.
    public static func confirmation(target: String, configuration: Configuration)
        -> @Sendable (PostgresConnection) async throws -> String?
    {
        { c in
            let fresh = FailoverDecision.decide(try await read(c, configuration: configuration))
            guard case .failover(let again, _) = fresh, again == target else {
                return "not confirmed on a fresh read of the observers' views: \(fresh)"
            }
            return nil
        }
    }
}
