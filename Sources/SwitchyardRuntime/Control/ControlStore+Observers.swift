import Foundation
import Postgres
import SwitchyardCore

extension ControlStore {
    // MARK: Observers

    /// The statements that write one observer's interval (run in one pipeline, one transaction, by `refresh`): its view of every component, its own row
    /// (liveness, API address, self-declared lag) and its health transitions as events. Every time in it
    /// is stamped by the control database (`now()` less the age the observer measured on its monotonic
    /// clock): observers' wall clocks differ, and none of them reaches a decision. A time stamped this
    /// way is late by the write's transit, which only makes a region look down, or up, for less long.
    static func observationStatements(
        agent: AgentWrite, observations: [ObservationWrite], transitions: [HealthEvent],
        warnings: [(region: String, message: String)]
    ) throws -> [PostgresConnection.Statement] {
        var regions: [PostgresValue] = [], components: [PostgresValue] = [], states: [PostgresValue] = []
        var since: [PostgresValue] = [], latency: [PostgresValue] = [], errors: [PostgresValue] = [],
            details: [PostgresValue] = []
        var evidence: [PostgresValue] = [], inconclusive: [PostgresValue] = [], upSince: [PostgresValue] = []
        var failing: [PostgresValue] = []
        let seconds = { (d: Duration?) -> PostgresValue in d.map { .double(max(0, $0.secondsDouble)) } ?? .null }
        for o in observations {
            regions.append(.text(o.region))
            components.append(.text(o.component))
            states.append(.text(o.state.rawValue))
            since.append(seconds(o.sinceAge))
            latency.append(o.latencyMs.map(PostgresValue.double) ?? .null)
            errors.append(.optional(o.lastError))
            details.append(o.detail.map { .json(String(decoding: $0, as: UTF8.self)) } ?? .null)
            evidence.append(.optional(o.evidence?.rawValue))
            inconclusive.append(.int(o.inconclusive))
            upSince.append(seconds(o.upAge))
            failing.append(seconds(o.failingAge))
        }
        let parameters: [PostgresValue] = [
            .text(agent.observer), .array(regions), .array(components), .array(states), .array(since), .array(latency),
            .array(errors), .array(details), .array(evidence), .array(inconclusive), .array(upSince), .array(failing),
        ]
        var kinds: [PostgresValue] = [], eventRegions: [PostgresValue] = [], messages: [PostgresValue] = []
        var eventDetails: [PostgresValue] = []
        for t in transitions {
            kinds.append(.text("health"))
            eventRegions.append(.text(t.region))
            messages.append(.text(t.message))
            eventDetails.append(.json(String(decoding: try WireJSON.encoder().encode(t), as: UTF8.self)))
        }
        for w in warnings {
            kinds.append(.text("warning"))
            eventRegions.append(.text(w.region))
            messages.append(.text(w.message))
            eventDetails.append(.null)
        }
        return [
            .init(
                """
                INSERT INTO switchyard.observations (observer, region, component, state, since, latency_ms, last_error, detail, evidence,
                                                     inconclusive, up_since, failing_since, observed_at)
                SELECT $1, r, comp, s, now() - make_interval(secs => si), l, e, d, ev, inc,
                       now() - make_interval(secs => up), now() - make_interval(secs => fa), now()
                FROM unnest($2::text[], $3::text[], $4::text[], $5::float8[], $6::float8[], $7::text[], $8::jsonb[], $9::text[],
                            $10::int8[], $11::float8[], $12::float8[])
                    AS t(r, comp, s, si, l, e, d, ev, inc, up, fa)
                ON CONFLICT (observer, region, component) DO UPDATE SET state = excluded.state, since = excluded.since,
                    latency_ms = excluded.latency_ms, last_error = excluded.last_error, detail = excluded.detail,
                    evidence = excluded.evidence, inconclusive = excluded.inconclusive, up_since = excluded.up_since,
                    failing_since = excluded.failing_since,
                    observed_at = now()
                """, parameters),
            .init(
                """
                INSERT INTO switchyard.agents (observer, host, pid, api_url, last_seen, lagging, lag_reason, lag_ms)
                VALUES ($1, $2, $3, $4, now(), $5, $6, $7)
                ON CONFLICT (observer) DO UPDATE SET host = excluded.host, pid = excluded.pid, api_url = excluded.api_url, last_seen = now(),
                    lagging = excluded.lagging, lag_reason = excluded.lag_reason, lag_ms = excluded.lag_ms
                """,
                [
                    .text(agent.observer), .text(ProcessInfo.processInfo.hostName), .int(Int(getpid())),
                    .optional(agent.apiURL),
                    .bool(agent.lag != nil), .optional(agent.lag?.reason), agent.lag.map { .double($0.ms) } ?? .null,
                ]),
            .init(
                """
                INSERT INTO switchyard.events (kind, region, message, detail)
                SELECT k, r, m, d FROM unnest($1::text[], $2::text[], $3::text[], $4::jsonb[]) WITH ORDINALITY AS t(k, r, m, d, n)
                ORDER BY n
                """, [.array(kinds), .array(eventRegions), .array(messages), .array(eventDetails)]),
        ]
    }

    /// Every observation of every observer, with its liveness (written within `liveWithin`) and lag.
    /// With `seenWithin`, only observers that wrote within it; without, also observations whose
    /// observer has no row (they count as not live).
    public static func observations(_ c: PostgresConnection, liveWithin: Duration, seenWithin: Duration? = nil)
        async throws -> [ObservationRecord]
    {
        let statement = observationsStatement(liveWithin: liveWithin, seenWithin: seenWithin)
        return try observations(from: try await c.query(statement.sql, statement.parameters))
    }

    static func observationsStatement(liveWithin: Duration, seenWithin: Duration? = nil) -> PostgresConnection.Statement
    {
        .init(
            """
            SELECT o.observer, o.region, o.component, o.state, o.since, o.evidence, o.up_since, o.failing_since, a.last_seen,
                   CASE WHEN coalesce(a.lagging, false) THEN coalesce(a.lag_reason, 'lagging') END AS lag_reason,
                   coalesce(a.last_seen > now() - make_interval(secs => $1), false) AS live
            FROM switchyard.observations o LEFT JOIN switchyard.agents a USING (observer)
            WHERE $2::float8 IS NULL OR a.last_seen > now() - make_interval(secs => $2::float8)
            """, [.double(liveWithin.secondsDouble), seenWithin.map { .double($0.secondsDouble) } ?? .null])
    }

    static func observations(from result: PostgresResult) throws -> [ObservationRecord] {
        try result.rows.map { row in
            ObservationRecord(
                observer: try row["observer"].require(), region: try row["region"].require(),
                component: try row["component"].require(),
                state: HealthState(rawValue: try row["state"].require()) ?? .unknown, since: try row["since"].require(),
                evidence: try row["evidence"].optional(String.self).flatMap(Evidence.init(rawValue:)),
                upSince: try row["up_since"].optional(), failingSince: try row["failing_since"].optional(),
                live: try row["live"].require(), lastSeen: try row["last_seen"].optional() ?? .distantPast,
                lagReason: try row["lag_reason"].optional())
        }
    }

    /// The replication lag of each region's database, as its freshest live observer reports it.
    static func replicationLagsStatement(liveWithin: Duration) -> PostgresConnection.Statement {
        .init(
            """
            SELECT o.region, min((o.detail ->> 'replication_lag_seconds')::float8) AS lag
            FROM switchyard.observations o JOIN switchyard.agents a USING (observer)
            WHERE o.component = 'database' AND a.last_seen > now() - make_interval(secs => $1)
            GROUP BY o.region
            """, [.double(liveWithin.secondsDouble)])
    }

    static func replicationLags(from result: PostgresResult) throws -> [String: Double] {
        var lags: [String: Double] = [:]
        for row in result.rows {
            if let lag = try row["lag"].optional(Double.self) { lags[try row["region"].require()] = lag }
        }
        return lags
    }

    /// How many observers wrote within `within`.
    static func observerCount(_ c: PostgresConnection, seenWithin within: Duration) async throws -> Int {
        let statement = observerCountStatement(seenWithin: within)
        return try observerCount(from: try await c.query(statement.sql, statement.parameters))
    }

    static func observerCountStatement(seenWithin within: Duration) -> PostgresConnection.Statement {
        .init(
            "SELECT count(*) AS n FROM switchyard.agents WHERE last_seen > now() - make_interval(secs => $1)",
            [.double(within.secondsDouble)])
    }

    static func observerCount(from result: PostgresResult) throws -> Int {
        try result.first?["n"].require(Int.self) ?? 0
    }

    /// The API address of the observer that wrote last, if it wrote within 10 s.
    public static func freshestAgentURL(_ c: PostgresConnection) async throws -> String? {
        try await c.query(
            "SELECT api_url FROM switchyard.agents WHERE api_url IS NOT NULL AND last_seen > now() - interval '10 seconds' ORDER BY last_seen DESC LIMIT 1"
        ).first?["api_url"].optional(String.self)
    }

    /// Probes the observers did not count because they overlapped their own lag, all observers together.
    public static func inconclusiveProbes(_ c: PostgresConnection) async throws -> Int {
        try await c.query("SELECT coalesce(sum(inconclusive), 0)::bigint AS n FROM switchyard.observations").first?["n"]
            .require(Int.self) ?? 0
    }
}
