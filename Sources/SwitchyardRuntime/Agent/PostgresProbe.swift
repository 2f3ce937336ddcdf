import Foundation
import Postgres
import SwitchyardCore

/// Probes a region's Postgres — and, with the `heartbeat` or `airflow` scheduler probe, its
/// schedulers — over one reused connection: a ping of the postmaster (a reused connection alone
/// keeps answering while a hung postmaster accepts nobody new), then one query for both components.
/// One connection and one thread per region keeps an agent probing hundreds of regions small.
///
/// The probe does not amplify a slow server: a ping that only timed out keeps the established
/// connection (the next probe needs no reconnect with SCRAM authentication on top), and a reconnect
/// and the query each get a deadline of their own instead of what the ping left over. Each failure
/// says whether it is positive evidence or silence (`EvidenceClass`).
actor PostgresProbe {
    /// The kept connection: unconnected until the first probe, replaced by each reconnect.
    private(set) var connection: PostgresConnection
    /// Makes the reconnects: an attempt that outlasts one probe's wait goes on and the next probe
    /// takes it up, so a connect that costs about the wait (a far region on a loaded host) still ends.
    let connector: PostgresConnector
    let schedulers: SchedulersConfig

    /// How long a new leader may wait before it starts an `--exec` command after a hand-off (Airflow probe).
    let execStartWindow: Duration

    /// The region's runs table, counted for the dashboard's runs in flight (nil: not counted).
    let runsTable: String?
    /// The last count of runs in flight (nil: unknown), and when a count was last tried: at most every
    /// `runsEvery`, whether it succeeded or not.
    /// Stops a reconnect in flight and closes the kept connection (the agent is stopping).
    func close() async {
        connector.cancel()
        await connection.close()
    }

    /// Reconnects of the kept connection so far: a probe round that made one may take a connect's budget
    /// longer (`ProbeConfig.connectTimeout`) without its observer counting it as lag.
    private(set) var reconnects = 0
    private var runs: (queued: Int, running: Int)?
    private var runsTriedAt: ContinuousClock.Instant?
    static let runsEvery: Duration = .seconds(5)

    init(
        dsn: String, region: String, schedulers: SchedulersConfig, execStartWindow: Duration = .zero,
        runsTable: String? = nil
    ) {
        let conninfo = ConnInfo.appending(dsn, [("application_name", "switchyard-probe")])
        connection = .unconnected(conninfo, name: "probe-pg-\(region)")
        connector = PostgresConnector(conninfo, name: "probe-pg-\(region)")
        self.schedulers = schedulers
        self.execStartWindow = execStartWindow
        self.runsTable = runsTable
    }

    /// Runs queued and running in the region's database: counted after a successful probe, outside its
    /// latency, at most every five seconds. The server bounds the count itself (`statement_timeout`
    /// below the client's deadline), so a slow or blocked count is cancelled server-side instead of
    /// leaving a backend behind a closed connection; a count that fails says "unknown" until the next try.
    func countRuns(timeout: Duration) async -> (queued: Int, running: Int)? {
        guard let runsTable else { return nil }
        let now = ContinuousClock.now
        if let tried = runsTriedAt, now - tried < Self.runsEvery { return runs }
        runsTriedAt = now
        let serverBound = max(1, timeout.wholeMilliseconds / 2)
        do {
            try await connection.query("SET statement_timeout = \(serverBound)", timeout: timeout)
            let row = try await connection.query(
                """
                SELECT count(*) FILTER (WHERE state = 'queued') AS queued, count(*) FILTER (WHERE state = 'running') AS running
                FROM \(runsTable) WHERE state IN ('queued', 'running')
                """, timeout: timeout
            ).first
            runs = (try row?["queued"].require(Int.self) ?? 0, try row?["running"].require(Int.self) ?? 0)
        } catch {
            runs = nil
        }
        _ = try? await connection.query("RESET statement_timeout", timeout: timeout)
        return runs
    }

    /// The database result, and the schedulers result unless schedulers are probed over HTTP.
    /// - Parameter mustBePrimary: the region is active, so a read-only (in recovery) database is down.
    /// - Parameter connectTimeout: the budget of a reconnect after the kept connection was lost
    ///   (`ProbeConfig.connectTimeout`).
    func probe(timeout: Duration, connectTimeout: Duration, mustBePrimary: Bool = false) async -> (
        database: ProbeResult, schedulers: ProbeResult?
    ) {
        let clock = ContinuousClock()
        let start = clock.now
        let probesSchedulers = schedulers.probe != .http
        func failed(_ why: String, _ verdict: EvidenceClass.Verdict, keepConnection: Bool = false) async -> (
            ProbeResult, ProbeResult?
        ) {
            if !keepConnection { await connection.close() }
            return (
                .failed(why, evidence: verdict.evidence, ambiguity: verdict.ambiguity),
                probesSchedulers
                    ? .failed("database unreachable: \(why)", evidence: verdict.evidence, ambiguity: verdict.ambiguity)
                    : nil
            )
        }
        switch await connection.ping(timeout: timeout) {
        case .accepting: break
        case .noResponse:
            return await failed(
                "server does not answer new connections within \(timeout)", .silence, keepConnection: true)
        case .unreachable(let why): return await failed(why, EvidenceClass.postgres(why))
        }
        do {
            // The ping said the server answers. A full connect (TCP, startup, the SCRAM exchange) costs about
            // four round trips, twice the ping's (`connectTimeout`): across a WAN the probe timeout
            // alone would never let the kept connection come back once lost (1.2 s at a 200 ms round trip).
            if await !connection.isOpen {
                reconnects += 1
                await connection.close()
                connection = try await connector.connect(waiting: connectTimeout)
            }
            let remaining = timeout
            let stale = schedulers.staleAfter.secondsDouble
            // Which lease the region's fence validity comes from (status: "failsafe active since …").
            let lease = """
                f.validity_source, f.failsafe_since, array_to_string(f.failsafe_regions, ',') AS failsafe_regions,
                coalesce(f.open AND f.open_until > now(), false) AS fence_valid
                """
            let sql: String
            switch schedulers.probe {
            case .heartbeat:
                sql = """
                    SELECT pg_is_in_recovery() AS r,
                           CASE WHEN pg_is_in_recovery()
                                THEN coalesce(extract(epoch FROM now() - pg_last_xact_replay_timestamp())::float8, 0) END AS lag,
                           l.epoch, l.leader_node, extract(epoch FROM now() - l.heartbeat_at)::float8 AS age,
                           (SELECT count(*) FROM switchyard.nodes WHERE kind = 'scheduler' AND role <> 'stopped'
                              AND last_heartbeat > now() - make_interval(secs => $1)) AS nodes, \(lease)
                    FROM (SELECT 1) one LEFT JOIN switchyard.leadership l ON l.id = 1 LEFT JOIN switchyard.fence f ON f.id = 1
                    """
            case .airflow:
                sql = """
                    SELECT pg_is_in_recovery() AS r,
                           CASE WHEN pg_is_in_recovery()
                                THEN coalesce(extract(epoch FROM now() - pg_last_xact_replay_timestamp())::float8, 0) END AS lag,
                           l.epoch, l.leader_node,
                           CASE WHEN l.leader_node IS NOT NULL THEN extract(epoch FROM now() - l.heartbeat_at)::float8 END AS leader_age,
                           extract(epoch FROM now() - l.since)::float8 AS leader_tenure,
                           -- Since the region could start its scheduler: its activation, or the end of its dispatch hold
                           -- (negative while the hold lasts: a failover's target holds `airflow scheduler` back).
                           extract(epoch FROM now() - greatest(f.updated_at, coalesce(f.hold_until, f.updated_at)))::float8
                             AS fence_age,
                           coalesce(f.open, false) AS fence_open,
                           (SELECT extract(epoch FROM now() - max(latest_heartbeat))::float8 FROM job
                             WHERE job_type = 'SchedulerJob' AND state = 'running') AS age,
                           -- Any SchedulerJob's last beat, whatever its state (one stopped by SIGTERM ends 'success').
                           (SELECT extract(epoch FROM now() - max(latest_heartbeat))::float8 FROM job
                             WHERE job_type = 'SchedulerJob') AS last_beat_age,
                           (SELECT count(*) FROM job WHERE job_type = 'SchedulerJob' AND state = 'running'
                              AND latest_heartbeat > now() - make_interval(secs => $1)) AS nodes, \(lease)
                    FROM (SELECT 1) one LEFT JOIN switchyard.leadership l ON l.id = 1 LEFT JOIN switchyard.fence f ON f.id = 1
                    """
            case .http:
                sql = """
                    SELECT pg_is_in_recovery() AS r,
                           CASE WHEN pg_is_in_recovery()
                                THEN coalesce(extract(epoch FROM now() - pg_last_xact_replay_timestamp())::float8, 0) END AS lag, $1::float8 AS unused,
                           \(lease)
                    FROM (SELECT 1) one LEFT JOIN switchyard.fence f ON f.id = 1
                    """
            }
            let row = try await connection.query(sql, [.double(stale)], timeout: remaining).first
            let latency = clock.now - start
            var database = ComponentDetail()
            database.inRecovery = try row?["r"].require(Bool.self)
            database.replicationLagSeconds = try row?["lag"].optional(Double.self)
            if database.inRecovery == false, row?["fence_valid"].bool == true {
                database.leaseSource = try row?["validity_source"].optional(String.self)
                if database.leaseSource == "failsafe" {
                    database.failsafeSince = try row?["failsafe_since"].optional(Date.self)
                    database.failsafeRegions = try row?["failsafe_regions"].optional(String.self)?.split(
                        separator: ","
                    ).map(String.init)
                }
            }
            if let counted = await countRuns(timeout: timeout / 2) {
                database.runsQueued = counted.queued
                database.runsRunning = counted.running
            }
            if mustBePrimary, database.inRecovery == true {
                let why = "database is read-only (in recovery) while its region is active"
                return (
                    .failed(why, evidence: .positive, latency: latency, database),
                    probesSchedulers ? .failed("database unusable: \(why)", evidence: .positive, latency: latency) : nil
                )
            }
            guard probesSchedulers, let row else { return (.ok(latency, database), nil) }
            var detail = ComponentDetail()
            detail.epoch = try row["epoch"].optional(Int.self)
            detail.leader = try row["leader_node"].optional(String.self)
            detail.nodes = try row["nodes"].optional(Int.self)
            detail.leaderHeartbeatAgeSeconds = try row["age"].optional(Double.self).map { ($0 * 10).rounded() / 10 }
            // What the database says about the schedulers is positive evidence: the rows are there (or
            // are not) and their heartbeats are as old as they are.
            let schedulersResult: ProbeResult
            if schedulers.probe == .airflow {
                // A standby has no Airflow scheduler by design (its leader starts one once active): its
                // readiness is its Switchyard leader; the active region needs Airflow's own heartbeat.
                let reading = AirflowSchedulerReadiness.Reading(
                    aliveJobs: detail.nodes ?? 0, jobAge: detail.leaderHeartbeatAgeSeconds,
                    leaderAge: try row["leader_age"].optional(Double.self),
                    fenceAge: try row["fence_age"].optional(Double.self),
                    fenceOpen: try row["fence_open"].optional(Bool.self) ?? false,
                    leaderTenure: try row["leader_tenure"].optional(Double.self),
                    lastBeatAge: try row["last_beat_age"].optional(Double.self))
                if let problem = AirflowSchedulerReadiness.problem(
                    reading, active: mustBePrimary, staleAfter: schedulers.staleAfter,
                    leaderStaleAfter: schedulers.leaderStaleAfter, startWindow: execStartWindow,
                    startTimeout: schedulers.startTimeout)
                {
                    schedulersResult = .failed(problem, evidence: .positive, latency: latency, detail)
                } else {
                    schedulersResult = .ok(latency, detail)
                }
            } else if detail.leader == nil || detail.leaderHeartbeatAgeSeconds == nil {
                schedulersResult = .failed("no scheduler leader", evidence: .positive, latency: latency, detail)
            } else if let age = detail.leaderHeartbeatAgeSeconds, age > stale {
                schedulersResult = .failed(
                    "leader heartbeat is \(Int(age)) s old (stale after \(schedulers.staleAfter))", evidence: .positive,
                    latency: latency, detail)
            } else {
                schedulersResult = .ok(latency, detail)
            }
            return (.ok(latency, database), schedulersResult)
        } catch {
            // A query that only timed out leaves libpq's connection closed; anything else says why.
            return await failed("\(error)", EvidenceClass.postgres(error))
        }
    }
}
