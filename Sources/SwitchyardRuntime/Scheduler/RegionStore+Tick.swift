import Foundation
import Postgres
import SwitchyardCore

extension RegionStore {
    /// What one scheduling tick did.
    public struct TickResult: Sendable {
        /// The leader's standing found at the start of the tick.
        public var standing: Standing
        /// Runs created from schedules.
        public var created: [String] = []
        /// Runs to publish to the stream, with their dispatch ids.
        public var dispatches: [DispatchMessage] = []
    }

    /// The lease a tick acts on.
    public struct Lease: Sendable {
        /// The cluster epoch it was granted for: the fence must carry the same.
        public var clusterEpoch: Int
        /// What is left of it, less the margin, evaluated inside the transaction (after its start).
        public var validity: @Sendable () -> Duration
        /// `control` or `failsafe`.
        public var source: String
        /// The regions confirming a failsafe lease.
        public var failsafeRegions: [String]?

        /// Describes the lease.
        public init(
            clusterEpoch: Int, validity: @escaping @Sendable () -> Duration, source: String, failsafeRegions: [String]?
        ) {
            self.clusterEpoch = clusterEpoch
            self.validity = validity
            self.source = source
            self.failsafeRegions = failsafeRegions
        }
    }

    /// One scheduling tick in one transaction on the lock session: check epoch and fence; create the
    /// due runs; move queued runs to running within each DAG's max_active_runs; re-dispatch running runs
    /// no worker has claimed (published under an older epoch, or not claimed within `redispatchAfter`).
    /// A superseded or fenced leader writes nothing. `validity` (what is left of the leader's
    /// active-region lease, or the failsafe lease) is pushed to the fence as `open_until`, counted from the
    /// transaction's start: the region's workers claim, and keep running commands, only while it has not
    /// lapsed. With a lease for another cluster epoch than the fence's, the tick does nothing. A fence under a dispatch hold (`hold_until`, set
    /// by a failover that could not fence the old region) counts as closed until the hold has passed.
    /// `source` says which lease the validity comes from (`control` or `failsafe`, with the regions that
    /// confirm it), for status.
    public static func tick(
        _ lock: LockSession, epoch: Int, region: String, now: Date, redispatchAfter: Duration, lease: Lease? = nil,
        schedule: Bool = true
    ) async throws -> TickResult {
        try await lock.connection.transaction { c in
            let standing = try await check(c, epoch: epoch, touch: true)
            var result = TickResult(standing: standing)
            guard case .leadingOpen(let clusterEpoch) = standing else { return result }
            // A lease for another cluster epoch than the fence's is not this activation's: act on nothing.
            if let lease, lease.clusterEpoch != clusterEpoch { return result }
            let validity = lease.map { $0.validity() }
            // The acting record (this tick passed the epoch and fence check, so its leader acts now) and,
            // with a lease, the fence's claim validity: one round trip.
            try await c.query(
                """
                WITH validity AS (
                    UPDATE switchyard.fence SET open_until = now() + make_interval(secs => $3::float8),
                        validity_source = $4::text,
                        failsafe_since = CASE WHEN $4::text = 'failsafe' THEN coalesce(failsafe_since, clock_timestamp()) END,
                        failsafe_regions = $5::text[]
                    WHERE id = 1 AND $3::float8 IS NOT NULL
                )
                INSERT INTO switchyard.acting_terms (epoch, cluster_epoch, node_id, first_acted_at, last_acted_at)
                SELECT $1, $2, leader_node, clock_timestamp(), clock_timestamp() FROM switchyard.leadership WHERE id = 1
                ON CONFLICT (epoch, cluster_epoch) DO UPDATE
                SET last_acted_at = clock_timestamp(), ticks = switchyard.acting_terms.ticks + 1
                """,
                [
                    .int(epoch), .int(clusterEpoch), validity.map { .double(max(0, $0.secondsDouble)) } ?? .null,
                    .optional(lease?.source), lease?.failsafeRegions.map { .array($0.map { .text($0) }) } ?? .null,
                ])
            // A region whose runs Airflow schedules (runs.dispatch false): the tick only holds the fence.
            guard schedule else { return result }
            // Schedules: the DAG rows are locked so two ticks never plan the same slot concurrently.
            let dags = try await c.query(
                "SELECT dag_id, schedule, next_run_after FROM switchyard.dags WHERE NOT is_paused AND schedule IS NOT NULL FOR UPDATE"
            )
            for dag in dags.rows {
                let dagId = try dag["dag_id"].require(String.self)
                guard let text = try dag["schedule"].optional(String.self), let schedule = try? DAGSchedule.parse(text)
                else { continue }
                let plan = SchedulePlanner.plan(
                    schedule: schedule, nextRunAfter: try dag["next_run_after"].optional(Date.self), now: now)
                if let due = plan.due {
                    let runId = SchedulePlanner.runId(for: due)
                    let inserted = try await c.query(
                        """
                        INSERT INTO switchyard.dag_run (dag_id, run_id, run_type, state, logical_date, run_after,
                            data_interval_start, data_interval_end, queued_at, triggered_by, created_epoch)
                        VALUES ($1, $2, 'scheduled', 'queued', $3, $3, $3, $3, now(), 'timetable', $4)
                        ON CONFLICT (dag_id, run_id) DO NOTHING
                        """, [.text(dagId), .text(runId), .date(due), .int(epoch)])
                    if inserted.affectedRows > 0 { result.created.append("\(dagId)/\(runId)") }
                }
                try await c.query(
                    "UPDATE switchyard.dags SET next_run_after = $2 WHERE dag_id = $1",
                    [.text(dagId), .optional(plan.next)])
            }
            let redispatched = try await c.query(
                """
                UPDATE switchyard.dag_run SET dispatch_id = gen_random_uuid()::text, dispatch_epoch = $1, updated_at = now()
                WHERE state = 'running' AND worker IS NULL
                  AND (dispatch_epoch IS NULL OR dispatch_epoch < $1 OR updated_at < now() - make_interval(secs => $2))
                RETURNING dag_id, run_id, dispatch_id
                """, [.int(epoch), .double(redispatchAfter.secondsDouble)])
            let started = try await c.query(
                """
                UPDATE switchyard.dag_run r
                SET state = 'running', dispatch_id = gen_random_uuid()::text, dispatch_epoch = $1,
                    start_date = coalesce(r.start_date, now()), updated_at = now(), last_scheduling_decision = now()
                FROM (
                    SELECT q.id FROM switchyard.dags d
                    CROSS JOIN LATERAL (
                        SELECT id FROM switchyard.dag_run q
                        WHERE q.dag_id = d.dag_id AND q.state = 'queued'
                        ORDER BY q.run_after, q.id
                        LIMIT greatest(0, d.max_active_runs
                            - (SELECT count(*) FROM switchyard.dag_run a WHERE a.dag_id = d.dag_id AND a.state = 'running'))
                    ) q
                ) pick
                WHERE r.id = pick.id
                RETURNING r.dag_id, r.run_id, r.dispatch_id
                """, [.int(epoch)])
            for row in redispatched.rows + started.rows {
                result.dispatches.append(
                    DispatchMessage(
                        region: region, epoch: epoch, dagId: try row["dag_id"].require(String.self),
                        runId: try row["run_id"].require(String.self),
                        dispatchId: try row["dispatch_id"].require(String.self)))
            }
            return result
        }
    }

    /// Inserts a manually triggered run as queued (any node or operator may; it is not a leader write).
    public static func trigger(_ c: PostgresConnection, dagId: String, conf: String?, at date: Date = Date())
        async throws -> String
    {
        let runId = SchedulePlanner.manualRunId(at: date)
        try await c.query(
            """
            INSERT INTO switchyard.dag_run (dag_id, run_id, run_type, state, logical_date, run_after, queued_at, conf, triggered_by)
            VALUES ($1, $2, 'manual', 'queued', $3, $3, now(), $4::jsonb, 'cli')
            """, [.text(dagId), .text(runId), .date(date), conf.map { .json($0) } ?? .null])
        return runId
    }
}
