import Foundation
import Postgres
import SwitchyardCore

extension ControlStore {
    // MARK: The failover journal

    /// The failover that is running, if any (at most one: a unique index says so).
    public static func runningFailoverId(_ c: PostgresConnection) async throws -> Int? {
        try await c.query("SELECT id FROM switchyard.failovers WHERE state = 'running'").first?["id"].optional(Int.self)
    }

    /// The newest failover's id, 0 before the first.
    public static func latestFailoverId(_ c: PostgresConnection) async throws -> Int {
        try await c.query("SELECT coalesce(max(id), 0) AS id FROM switchyard.failovers").first?["id"].require(Int.self)
            ?? 0
    }

    /// Failover `id`.
    public static func failover(_ c: PostgresConnection, id: Int) async throws -> FailoverRecord? {
        try await c.query("SELECT \(FailoverRecord.columns) FROM switchyard.failovers WHERE id = $1", [.int(id)]).rows
            .map(FailoverRecord.init).first
    }

    /// The failovers journaled after `id`, oldest first.
    public static func failovers(_ c: PostgresConnection, after id: Int) async throws -> [FailoverRecord] {
        try await c.query(
            "SELECT \(FailoverRecord.columns) FROM switchyard.failovers WHERE id > $1 ORDER BY id", [.int(id)]
        ).rows
            .map(FailoverRecord.init)
    }

    /// The newest `limit` failovers, newest first.
    public static func recentFailovers(_ c: PostgresConnection, limit: Int) async throws -> [FailoverRecord] {
        try await c.query(
            "SELECT \(FailoverRecord.columns) FROM switchyard.failovers ORDER BY id DESC LIMIT $1", [.int(limit)]
        ).rows
            .map(FailoverRecord.init)
    }

    /// The newest `limit` failovers with their steps, newest first (two queries, whatever `limit`).
    public static func history(_ c: PostgresConnection, limit: Int) async throws -> [FailoverHistory] {
        let failovers = try await recentFailovers(c, limit: limit)
        guard !failovers.isEmpty else { return [] }
        let rows = try await c.query(
            """
            SELECT failover_id, \(StepRecord.columns)
            FROM switchyard.failover_steps WHERE failover_id = ANY($1::bigint[]) ORDER BY started_at
            """, [.text("{" + failovers.map { String($0.id) }.joined(separator: ",") + "}")]
        ).rows
        var steps: [Int: [StepRecord]] = [:]
        for row in rows {
            if let step = try StepRecord(row) {
                steps[try row["failover_id"].require(Int.self), default: []].append(step)
            }
        }
        return failovers.map { FailoverHistory(failover: $0, steps: steps[$0.id] ?? []) }
    }

    /// The newest failover and the running one (the same row, or none, most of the time).
    static func latestAndRunningFailovers(_ c: PostgresConnection) async throws -> (
        latest: FailoverRecord?, running: FailoverRecord?
    ) {
        try latestAndRunningFailovers(from: try await c.query(latestAndRunningSQL))
    }

    static let latestAndRunningSQL = """
        (SELECT \(FailoverRecord.columns) FROM switchyard.failovers ORDER BY id DESC LIMIT 1)
        UNION
        (SELECT \(FailoverRecord.columns) FROM switchyard.failovers WHERE state = 'running')
        """

    static func latestAndRunningFailovers(from result: PostgresResult) throws -> (
        latest: FailoverRecord?, running: FailoverRecord?
    ) {
        let rows = try result.rows.map(FailoverRecord.init)
        return (rows.max { $0.id < $1.id }, rows.first { $0.state == .running })
    }

    /// When the failovers of the last hour began, and the newest failover's start in any case (the
    /// decision's cooldown and hourly cap).
    static let recentFailoverStartsSQL =
        "SELECT started_at FROM switchyard.failovers WHERE started_at > now() - interval '1 hour' OR id = (SELECT max(id) FROM switchyard.failovers)"

    /// Finished failovers that took their runs from a shadow and are not reconciled yet (`FailoverExecutor.reconcile`).
    static let unreconciledFailoversSQL = """
        SELECT count(*) AS n FROM switchyard.failovers
        WHERE runs_source = 'shadow' AND reconciled_at IS NULL AND from_region IS NOT NULL AND state <> 'running'
        """

    static func recentFailoverStarts(from result: PostgresResult) throws -> [Date] {
        try result.rows.map { try $0["started_at"].require(Date.self) }
    }

    /// How many failovers began within `within`.
    public static func failoversStarted(_ c: PostgresConnection, within: Duration) async throws -> Int {
        try await c.query(
            "SELECT count(*) AS n FROM switchyard.failovers WHERE started_at > now() - make_interval(secs => $1)",
            [.double(within.secondsDouble)]
        ).first?["n"].require(Int.self) ?? 0
    }

    /// Whether a failover runs, and the time since the newest one began (nil before the first).
    public static func failoverActivity(_ c: PostgresConnection) async throws -> (
        running: Bool, sinceLastStart: Duration?
    ) {
        let row = try await c.query(
            """
            SELECT coalesce(bool_or(state = 'running'), false) AS running, extract(epoch FROM now() - max(started_at))::float8 AS since
            FROM switchyard.failovers
            """
        ).first
        return (
            try row?["running"].require(Bool.self) ?? false,
            try row?["since"].optional(Double.self).map { .milliseconds(Int64($0 * 1000)) }
        )
    }

    /// Journals a new failover inside the caller's transaction, after `lockCluster` returned `locked`: the
    /// failover row, the epoch bumped with the active region cleared, the `begin` step finished, the
    /// `fence` step started (begin spans its transaction up to this write, from `now()` to
    /// `clock_timestamp()`; fence starts after it) and an event, in one round trip (the cluster row is locked, so the new epoch
    /// is the locked one plus one; the statements check it). Returns its id and new epoch. The new epoch
    /// is made durable whatever the server-wide synchronous_commit.
    static func beginFailover(
        _ c: PostgresConnection, locked: ClusterState, kind: FailoverKind, from: String?, to target: String,
        reason: String, leader: String, requestId: Int?
    ) async throws -> (id: Int, epoch: Int) {
        let epoch = locked.epoch + 1
        let id = "currval(pg_get_serial_sequence('switchyard.failovers', 'id'))"
        let results = try await c.pipeline([
            .init("SET LOCAL synchronous_commit = on"),
            .init(
                """
                INSERT INTO switchyard.failovers (kind, from_region, to_region, reason, leader, step, request_id, epoch)
                VALUES ($1, $2, $3, $4, $5, 'fence', $6, $7) RETURNING id
                """,
                [
                    .text(kind.rawValue), .optional(from), .text(target), .text(reason), .text(leader),
                    .optional(requestId), .int(epoch),
                ]),
            .init(
                """
                UPDATE switchyard.cluster_state SET epoch = epoch + 1, active_region = NULL, failover_id = \(id), updated_at = now()
                WHERE id = 1 RETURNING epoch
                """),
            .init(
                """
                INSERT INTO switchyard.failover_steps (failover_id, step, started_at, finished_at, result)
                VALUES (\(id), 'begin', now(), clock_timestamp(), $1::jsonb), (\(id), 'fence', clock_timestamp(), NULL, NULL)
                """, [.json(try StepResult.begin(.init(epoch: epoch, from: from, to: target)).json())]),
            .init(
                """
                INSERT INTO switchyard.events (kind, region, message)
                VALUES ('failover', $1, format('%s %s begins: %s -> %s at epoch %s (%s)', $2::text, \(id), $3::text, $1::text, $4::int, $5::text))
                """, [.text(target), .text(kind.rawValue), .text(from ?? "none"), .int(epoch), .text(reason)]),
        ])
        let newId = try results[1].first?["id"].require(Int.self) ?? 0
        let bumped = try results[2].first?["epoch"].require(Int.self) ?? 0
        // The caller's transaction rolls all of it back.
        guard bumped == epoch else { throw missing("cluster_state at epoch \(locked.epoch) (found \(bumped - 1))") }
        return (newId, epoch)
    }

    /// Whether `step` of failover `id` finished.
    static func stepFinished(_ c: PostgresConnection, id: Int, step: FailoverStep) async throws -> Bool {
        try await c.query(
            "SELECT finished_at IS NOT NULL AS done FROM switchyard.failover_steps WHERE failover_id = $1 AND step = $2",
            [.int(id), .text(step.rawValue)]
        ).first?["done"].optional(Bool.self) ?? false
    }

    /// Journals that `step` started (a second start of the same step keeps the first).
    /// Returns false when it had started before (an attempt of it was interrupted).
    @discardableResult
    static func startStep(_ c: PostgresConnection, id: Int, step: FailoverStep) async throws -> Bool {
        try await c.query(
            "INSERT INTO switchyard.failover_steps (failover_id, step) VALUES ($1, $2) ON CONFLICT DO NOTHING",
            [.int(id), .text(step.rawValue)]
        ).affectedRows == 1
    }

    /// Journals a step's result, moves the failover to the next step and starts that one, in one round trip
    /// (one implicit transaction: all of it or none).
    static func finishStep(_ c: PostgresConnection, id: Int, result: StepResult) async throws {
        var statements: [PostgresConnection.Statement] = [
            .init(
                "UPDATE switchyard.failover_steps SET finished_at = now(), result = $3::jsonb WHERE failover_id = $1 AND step = $2",
                [.int(id), .text(result.step.rawValue), .json(try result.json())])
        ]
        if let next = result.step.next {
            statements += [
                .init("UPDATE switchyard.failovers SET step = $2 WHERE id = $1", [.int(id), .text(next.rawValue)]),
                .init(
                    "INSERT INTO switchyard.failover_steps (failover_id, step) VALUES ($1, $2) ON CONFLICT DO NOTHING",
                    [.int(id), .text(next.rawValue)]),
            ]
        }
        _ = try await c.pipeline(statements)
    }

    /// Records why the running failover `id` did not finish a step (it stays running, to be resumed).
    static func recordStepError(_ c: PostgresConnection, id: Int, _ message: String) async throws {
        try await c.query(
            "UPDATE switchyard.failovers SET error = $2 WHERE id = $1 AND state = 'running'",
            [.int(id), .text(message)])
    }

    /// The steps of failover `id` in the order they started, with their typed results.
    public static func steps(_ c: PostgresConnection, failover id: Int, finishedOnly: Bool = false) async throws
        -> [StepRecord]
    {
        try await c.query(
            """
            SELECT \(StepRecord.columns)
            FROM switchyard.failover_steps WHERE failover_id = $1 AND ($2 = false OR finished_at IS NOT NULL) ORDER BY started_at
            """, [.int(id), .bool(finishedOnly)]
        ).rows.compactMap(StepRecord.init)
    }

    /// The fence step's result, and how long ago it finished.
    static func fenceResult(_ c: PostgresConnection, failover id: Int) async throws -> (FenceResult?, since: Duration) {
        try fenceResult(from: try await c.pipeline([fenceResultStatement(failover: id)])[0])
    }

    static func fenceResultStatement(failover id: Int) -> PostgresConnection.Statement {
        .init(
            """
            SELECT result::text AS r, extract(epoch FROM now() - finished_at)::float8 * 1000 AS since_ms
            FROM switchyard.failover_steps WHERE failover_id = $1 AND step = 'fence'
            """, [.int(id)])
    }

    static func fenceResult(from result: PostgresResult) throws -> (FenceResult?, since: Duration) {
        let row = result.first
        guard case .fence(let fence) = StepResult.decode(.fence, json: try row?["r"].optional(String.self)) else {
            return (nil, .zero)
        }
        return (fence, .milliseconds(Int64(max(0, try row?["since_ms"].optional(Double.self) ?? 0))))
    }

    /// How many live observers see `region`'s database healthy, of how many live ones report it.
    static func databaseSeenStatement(region: String, liveWithin: Duration) -> PostgresConnection.Statement {
        .init(
            """
            SELECT count(*) FILTER (WHERE o.state = 'healthy') AS healthy, count(*) AS live
            FROM switchyard.observations o JOIN switchyard.agents a USING (observer)
            WHERE o.region = $1 AND o.component = 'database' AND a.last_seen > now() - make_interval(secs => $2)
            """, [.text(region), .double(liveWithin.secondsDouble)])
    }

    /// True when a majority of the live observers reporting it see the database healthy.
    static func databaseSeenHealthy(from result: PostgresResult) throws -> Bool {
        let row = result.first
        let healthy = try row?["healthy"].require(Int.self) ?? 0, live = try row?["live"].require(Int.self) ?? 0
        return healthy * 2 > live
    }

    /// A finished step's typed result (nil when it has not finished or recorded none).
    static func stepResult(_ c: PostgresConnection, failover id: Int, step: FailoverStep) async throws -> StepResult? {
        let text = try await c.query(
            "SELECT result::text AS r FROM switchyard.failover_steps WHERE failover_id = $1 AND step = $2",
            [.int(id), .text(step.rawValue)]
        ).first?["r"].optional(String.self)
        return StepResult.decode(step, json: text)
    }

    /// The route step's hook outcomes (none when it has not finished).
    static func routedHooks(_ c: PostgresConnection, failover id: Int) async throws -> [HookCaller.Result] {
        let text = try await c.query(
            "SELECT result::text AS r FROM switchyard.failover_steps WHERE failover_id = $1 AND step = 'route'",
            [.int(id)]
        ).first?["r"].optional(String.self)
        guard case .route(let route) = StepResult.decode(.route, json: text) else { return [] }
        return route.hooks
    }

    /// Adds runs a migrate step copied to failover `id`'s count.
    static func addRunsMovedStatement(failover id: Int, count: Int, source: String) -> PostgresConnection.Statement {
        .init(
            "UPDATE switchyard.failovers SET runs_moved = coalesce(runs_moved, 0) + $2, runs_source = $3 WHERE id = $1",
            [.int(id), .int(count), .text(source)])
    }

    /// The cluster epoch `region` became active at before failover `id`: that of the latest earlier
    /// failover that activated it, else 1 (the region `init` made active).
    static func activationEpoch(_ c: PostgresConnection, region: String, before id: Int) async throws -> Int {
        try activationEpoch(from: try await c.pipeline([activationEpochStatement(region: region, before: id)])[0])
    }

    static func activationEpochStatement(region: String, before id: Int) -> PostgresConnection.Statement {
        .init(
            """
            SELECT coalesce(max(f.epoch), 1) AS e FROM switchyard.failovers f
            WHERE f.to_region = $1 AND f.id < $2 AND EXISTS (
                SELECT 1 FROM switchyard.failover_steps s
                WHERE s.failover_id = f.id AND s.step = 'activate' AND s.finished_at IS NOT NULL)
            """, [.text(region), .int(id)])
    }

    static func activationEpoch(from result: PostgresResult) throws -> Int {
        try result.first?["e"].require(Int.self) ?? 1
    }

    /// Makes `region` the active region if the cluster is still at `epoch`, with its event, in one round
    /// trip; false when another failover moved it on.
    static func activate(_ c: PostgresConnection, region: String, epoch: Int, failover id: Int) async throws -> Bool {
        let results = try await c.pipeline([
            .init(
                "UPDATE switchyard.cluster_state SET active_region = $1, updated_at = now() WHERE id = 1 AND epoch = $2",
                [.text(region), .int(epoch)]),
            .init(
                """
                INSERT INTO switchyard.events (kind, region, message)
                SELECT 'activated', $1::text, $3::text FROM switchyard.cluster_state WHERE id = 1 AND epoch = $2
                """, [.text(region), .int(epoch), .text("\(region) active at epoch \(epoch) (failover \(id))")]),
        ])
        return results[0].affectedRows == 1
    }

    /// Closes the journal of failover `id` in one transaction: its final state and error, the error on
    /// the request that asked for it, and an event.
    static func completeFailover(
        _ c: PostgresConnection, id: Int, kind: FailoverKind, from: String?, to: String,
        state: FailoverState, error: String?
    ) async throws {
        try await c.transaction { c in
            try await c.query(
                "UPDATE switchyard.failovers SET state = $2, step = 'complete', error = $3, finished_at = now() WHERE id = $1 AND state = 'running'",
                [.int(id), .text(state.rawValue), .optional(error)])
            try await c.query(
                "UPDATE switchyard.failover_requests SET error = $2::text WHERE failover_id = $1 AND $2::text IS NOT NULL",
                [.int(id), .optional(error)])
            try await ControlStore.recordEvent(
                c, kind: "failover", region: to,
                message: "\(kind.rawValue) \(id) \(state.rawValue): \(from ?? "none") -> \(to)"
                    + (error.map { "; \($0)" } ?? ""))
        }
    }

    // MARK: Operators' requests

    /// Queues an admitted request for the failover leader; returns its id.
    static func enqueueRequest(_ c: PostgresConnection, kind: FailoverKind, to target: String, reason: String)
        async throws -> Int
    {
        try await c.query(
            "INSERT INTO switchyard.failover_requests (kind, to_region, reason) VALUES ($1, $2, $3) RETURNING id",
            [.text(kind.rawValue), .text(target), .text(reason)]
        ).first?["id"].require(Int.self) ?? 0
    }

    /// Requests not yet picked up, oldest first.
    static func pendingRequests(_ c: PostgresConnection) async throws -> [RequestRecord] {
        try await requests(c, where: "r.picked_at IS NULL", [])
    }

    /// Request `id`, with the state of the failover it started.
    public static func request(_ c: PostgresConnection, id: Int) async throws -> RequestRecord? {
        try await requests(c, where: "r.id = $1", [.int(id)]).first
    }

    private static func requests(_ c: PostgresConnection, where condition: String, _ parameters: [PostgresValue])
        async throws -> [RequestRecord]
    {
        try await c.query(
            """
            SELECT r.id, r.kind, r.to_region, r.reason, r.picked_at IS NOT NULL AS picked, r.failover_id, r.error, f.state
            FROM switchyard.failover_requests r LEFT JOIN switchyard.failovers f ON f.id = r.failover_id
            WHERE \(condition) ORDER BY r.id
            """, parameters
        ).rows.map { row in
            RequestRecord(
                id: try row["id"].require(), kind: FailoverKind(rawValue: try row["kind"].require()) ?? .forced,
                toRegion: try row["to_region"].require(), reason: try row["reason"].require(),
                picked: try row["picked"].require(),
                failoverId: try row["failover_id"].optional(), error: try row["error"].optional(),
                failoverState: try row["state"].optional(String.self).flatMap(FailoverState.init(rawValue:)))
        }
    }

    /// Marks request `id` picked up by the failover leader.
    static func pickRequest(_ c: PostgresConnection, id: Int) async throws {
        try await c.query("UPDATE switchyard.failover_requests SET picked_at = now() WHERE id = $1", [.int(id)])
    }

    /// Links request `id` to the failover it began.
    static func linkRequest(_ c: PostgresConnection, id: Int, failover: Int) async throws {
        try await c.query(
            "UPDATE switchyard.failover_requests SET failover_id = $2 WHERE id = $1", [.int(id), .int(failover)])
    }

    /// Records why request `id` was not carried out.
    static func failRequest(_ c: PostgresConnection, id: Int, _ error: String) async throws {
        try await c.query("UPDATE switchyard.failover_requests SET error = $2 WHERE id = $1", [.int(id), .text(error)])
    }
}
