import Foundation
import Postgres
import SwitchyardCore

/// Builds the failover decision's input from the control database: every observer's component
/// states (with since-when), observer liveness, cluster state and recent failovers.
public enum DecisionInputReader {
    /// Reads the input now.
    public static func read(_ control: PostgresConnection, configuration: Configuration) async throws -> FailoverDecision.Input {
        let failover = configuration.controlPlane.failover
        let liveWithin = max(configuration.controlPlane.probes.interval * 3, .seconds(2))
        let cluster = try await control.query(
            "SELECT active_region, paused, now() AS now FROM switchyard.cluster_state WHERE id = 1").first
        let now: Date = try cluster?["now"].require() ?? Date()
        let rows = try await control.query(
            """
            SELECT o.observer, o.region, o.component, o.state, o.since, o.evidence, o.up_since,
                   coalesce(a.last_seen > now() - make_interval(secs => $1), false) AS live
            FROM switchyard.observations o JOIN switchyard.agents a USING (observer)
            WHERE a.last_seen > now() - interval '1 day'
            """, [.double(liveWithin.secondsDouble)]).rows
        var views: [String: [String: (live: Bool, components: [String: (HealthState, Date, Evidence?, Date?)])]] = [:]
        for row in rows {
            let observer: String = try row["observer"].require()
            let region: String = try row["region"].require()
            let live: Bool = try row["live"].require()
            let component: String = try row["component"].require()
            let state = HealthState(rawValue: try row["state"].require()) ?? .unknown
            let since: Date = try row["since"].require()
            let evidence = try row["evidence"].optional(String.self).flatMap(Evidence.init(rawValue:))
            let upSince = try row["up_since"].optional(Date.self)
            var view = views[region]?[observer] ?? (live, [:])
            view.components[component] = (state, since, evidence, upSince)
            views[region, default: [:]][observer] = view
        }
        // Observers in self-declared lag: they cast no down vote and choose no target.
        var lagging: [String: String] = [:]
        for row in try await control.query(
            """
            SELECT observer, coalesce(lag_reason, 'lagging') AS reason FROM switchyard.agents
            WHERE lagging AND last_seen > now() - make_interval(secs => $1)
            """, [.double(liveWithin.secondsDouble)]).rows {
            lagging[try row["observer"].require()] = try row["reason"].require()
        }
        // Replication lag of each region's database, as its freshest live observer reports it.
        let lags = try await control.query(
            """
            SELECT o.region, min((o.detail ->> 'replication_lag_seconds')::float8) AS lag
            FROM switchyard.observations o JOIN switchyard.agents a USING (observer)
            WHERE o.component = 'database' AND a.last_seen > now() - make_interval(secs => $1)
            GROUP BY o.region
            """, [.double(liveWithin.secondsDouble)]).rows
        var lagByRegion: [String: Double] = [:]
        for row in lags { if let lag = try row["lag"].optional(Double.self) { lagByRegion[try row["region"].require()] = lag } }
        let known = try await control.query(
            "SELECT count(*) AS n FROM switchyard.agents WHERE last_seen > now() - interval '1 day'").first?["n"].require(Int.self) ?? 0
        let regions = configuration.regions.map { region -> FailoverDecision.Region in
            let critical = region.critical.map(\.rawValue)
            let observations = (views[region.name] ?? [:]).sorted { $0.key < $1.key }.map { observer, view -> FailoverDecision.Observation in
                let states = view.components.mapValues(\.0)
                let health = ComponentHealth.region(states, critical: critical)
                let downSince = critical.compactMap { name -> Date? in
                    guard let (state, since, _, _) = view.components[name], state == .down else { return nil }
                    return since
                }.min()
                // Up since the last of its critical components came back from down (nil if any never did).
                let ups = critical.compactMap { view.components[$0] }.map(\.3)
                let upSince: Date? = ups.isEmpty || ups.contains { $0 == nil } ? nil : ups.compactMap { $0 }.max()
                let evidence = FailoverDecision.regionEvidence(view.components.compactMapValues(\.2), states: states, critical: critical)
                return .init(observer: observer, live: view.live, health: health, downSince: health == .down ? downSince : nil,
                             evidence: evidence, upSince: health == .healthy ? (upSince ?? Date.distantFuture) : nil)
            }
            return .init(name: region.name, priority: region.priority, replicationLag: lagByRegion[region.name], observations: observations)
        }
        let recent = try await control.query(
            "SELECT started_at FROM switchyard.failovers WHERE started_at > now() - interval '1 hour' OR id = (SELECT max(id) FROM switchyard.failovers)"
        ).rows.map { try $0["started_at"].require(Date.self) }
        return .init(now: now, activeRegion: try cluster?["active_region"].optional(), regions: regions, knownObservers: known,
                     quorum: failover.quorum, failureGrace: failover.failureGrace, cooldown: failover.cooldown,
                     maxFailoversPerHour: failover.maxFailoversPerHour, recentFailovers: recent,
                     paused: try cluster?["paused"].require() ?? false, automatic: failover.auto,
                     evidenceGrace: min(failover.evidenceGrace, failover.failureGrace), laggingObservers: lagging)
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
