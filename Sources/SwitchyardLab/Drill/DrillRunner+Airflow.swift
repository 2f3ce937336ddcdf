import Foundation
import Postgres
import SwitchyardCore
import SwitchyardRuntime

/// The workload and its accounting in a region running Apache Airflow (`runs.preset: airflow`): runs
/// are Airflow's `dag_run` rows, triggered through the local deployment's Airflow (`dev up --airflow`),
/// executed by Airflow, and accounted from Airflow's `dag_run` and `task_instance` in every region.
extension DrillRunner {
    /// True when the region's runs are Airflow's.
    func runsAirflow(_ region: String) -> Bool { target.configuration.region(named: region)?.runs.preset == .airflow }

    /// Triggers the workload's runs with `airflow dags trigger` in the active region and waits until each
    /// is running with a task executing (`task`, when given: the drill DAG's long `transform`), so all of
    /// them are in flight when the fault hits.
    func startAirflowWorkload(
        active: String, dag: String, runs: Int, task: String? = nil, executing wanted: Int? = nil
    ) async throws -> [String] {
        guard let state = try? target.dev(), let record = state.airflow?[active] else {
            throw DrillError(
                "precondition: an Airflow region's workload is triggered through the local deployment's Airflow (switchyard dev up --airflow)"
            )
        }
        let home = record.home(passfile: state.passfile)
        // Where each of the region's daemon logs ends now: a failure reports only what they said since.
        let regionDaemons = state.daemons.filter { $0.region == active && $0.kind != "agent" }
        let logStarts = Dictionary(
            regionDaemons.map { d in
                (d.logFile, ((try? FileManager.default.attributesOfItem(atPath: d.logFile))?[.size] as? Int) ?? 0)
            }, uniquingKeysWith: { a, _ in a })
        let stamp = Int(Date().timeIntervalSince1970)
        let runIds = (0..<runs).map { "drill__\(scenario.name)__\(stamp)_\($0)" }
        guard let db = await target.region(active) else {
            throw DrillError("precondition: \(active)'s database does not answer")
        }
        // The DAG paused while its runs are triggered (what `airflow dags pause` writes), then unpaused: each
        // trigger is a Python start-up of seconds, and on a loaded host the first runs would finish before the
        // last is triggered, so they would never all be in flight when the fault strikes.
        try await db.query("UPDATE public.dag SET is_paused = true WHERE dag_id = $1", [.text(dag)])
        do {
            // Two at a time: each `airflow` command is a Python start-up of a few seconds of CPU.
            for batch in stride(from: 0, to: runIds.count, by: 2) {
                try await withThrowingTaskGroup(of: Void.self) { group in
                    for runId in runIds[batch..<min(batch + 2, runIds.count)] {
                        group.addTask {
                            let outcome = try await home.run(
                                ["dags", "trigger", dag, "--run-id", runId, "--conf", self.runConf],
                                timeout: 120)
                            guard outcome.status == 0 else {
                                throw DrillError(
                                    "precondition: airflow dags trigger \(dag) failed in \(active): \(outcome.output.suffix(600))"
                                )
                            }
                        }
                    }
                    try await group.waitForAll()
                }
            }
        } catch {
            _ = try? await db.query("UPDATE public.dag SET is_paused = false WHERE dag_id = $1", [.text(dag)])
            await db.close()
            throw error
        }
        try await db.query("UPDATE public.dag SET is_paused = false WHERE dag_id = $1", [.text(dag)])
        return try await db.closeAfter {
            let deadline = ContinuousClock.now + .seconds(120)
            var running = 0, executing = 0
            while ContinuousClock.now < deadline {
                let row = try await db.query(
                    """
                    SELECT (SELECT count(*) FROM public.dag_run WHERE run_id = ANY($1::text[]) AND state = 'running') AS running,
                           (SELECT count(*) FROM public.task_instance WHERE run_id = ANY($1::text[]) AND state = 'running'
                              AND ($2::text IS NULL OR task_id = $2)) AS executing
                    """, [.array(runIds.map { .text($0) }), task.map { .text($0) } ?? .null]
                ).first
                running = row?["running"].int ?? 0
                executing = row?["executing"].int ?? 0
                if running == runIds.count && executing >= (wanted ?? runIds.count) { break }
                try await Task.sleep(for: .milliseconds(200))
            }
            guard running == runIds.count && executing > 0 else {
                // What Airflow says, for whoever reads the failure: the runs' states, the DAG's pause flag and
                // how long ago a scheduler of the region last beat.
                let seen = try? await db.query(
                    """
                    SELECT (SELECT string_agg(state || ' ' || n, ', ') FROM (SELECT state::text, count(*) AS n FROM public.dag_run
                              WHERE run_id = ANY($1::text[]) GROUP BY 1) s) AS runs,
                           (SELECT is_paused::text FROM public.dag WHERE dag_id = $2) AS paused,
                           (SELECT round(extract(epoch FROM now() - max(latest_heartbeat)))::text FROM public.job
                              WHERE job_type = 'SchedulerJob') AS beat_s
                    """, [.array(runIds.map { .text($0) }), .text(dag)]
                ).first
                progress(
                    "Airflow in \(active): runs \(seen?["runs"].string ?? "?"), \(dag) paused \(seen?["paused"].string ?? "?"), "
                        + "last SchedulerJob heartbeat \(seen?["beat_s"].string ?? "never") s ago")
                await reportFailedAttempts(db, home: home, runIds: runIds)
                reportAirflowErrors(regionDaemons, since: logStarts)
                throw DrillError(
                    "precondition: \(running) of \(runIds.count) Airflow runs running and \(executing) tasks\(task.map { " \($0)" } ?? "") executing in \(active) after 120 s"
                )
            }
            let shadowed = try await waitForAirflowShadows(active: active)
            progress(
                "workload: \(runIds.count) Airflow runs of \(dag) in flight in \(active), \(executing) tasks executing"
                    + (shadowed ? ", in every standby's shadow" : ", NOT in every standby's shadow yet"))
            return runIds
        }
    }

    /// Prints, for whoever reads a workload that never got in flight, every task instance of `runIds` that
    /// failed or waits for a retry, with the end of its attempt's log from the Airflow home (where Airflow 3
    /// writes `dag_id=…/run_id=…/task_id=…/attempt=N.log`): the reason is in there, not in the run's state.
    func reportFailedAttempts(_ db: PostgresConnection, home: AirflowHome, runIds: [String]) async {
        guard
            let rows = try? await db.query(
                """
                SELECT dag_id, run_id, task_id, try_number, state::text AS state,
                       round(extract(epoch FROM end_date - start_date)::numeric, 1)::text AS seconds
                  FROM public.task_instance
                 WHERE run_id = ANY($1::text[]) AND state IN ('failed', 'up_for_retry', 'upstream_failed')
                 ORDER BY state = 'upstream_failed', run_id, task_id LIMIT 6
                """, [.array(runIds.map { .text($0) })])
        else { return }
        for row in rows.rows {
            let (dag, run, task) = (row["dag_id"].string ?? "", row["run_id"].string ?? "", row["task_id"].string ?? "")
            let attempt = max(1, row["try_number"].int ?? 1)
            let path = home.directory + "/logs/dag_id=\(dag)/run_id=\(run)/task_id=\(task)/attempt=\(attempt).log"
            let log = (try? String(contentsOfFile: path, encoding: .utf8)).map { String($0.suffix(2000)) }
            progress(
                "Airflow task \(run) \(task) try \(attempt): \(row["state"].string ?? "?") after \(row["seconds"].string ?? "?") s; "
                    + (log.map { "its log ends:\n\($0)" } ?? "no log at \(path)"))
        }
    }

    /// Prints the last error lines the region's scheduler and worker logs gained since `since` (each log's
    /// size then): where Airflow's scheduler says why it failed a task it never ran (a publish to the broker
    /// that timed out, an executor's report) and Switchyard why it stopped a command.
    func reportAirflowErrors(_ daemons: [DaemonRecord], since: [String: Int]) {
        let markers = [
            "ERROR", "[error", "Timeout Error", "Error sending", "reported that", "Marking", "failed to",
            "warning switchyard", "exec command stopped", "stopping the gated command",
        ]
        for daemon in daemons {
            guard let data = FileManager.default.contents(atPath: daemon.logFile) else { continue }
            let text = String(decoding: data.dropFirst(min(since[daemon.logFile] ?? 0, data.count)), as: UTF8.self)
            let lines = text.split(separator: "\n").filter { line in markers.contains { line.contains($0) } }
            guard !lines.isEmpty else { continue }
            progress(
                "\(daemon.name)'s log, its last \(min(8, lines.count)) of \(lines.count) error lines:\n"
                    + lines.suffix(8).map { String($0.prefix(600)) }.joined(separator: "\n"))
        }
    }

    /// Waits, bounded, until every reachable standby's shadow of `active` holds a copy taken after the
    /// workload was seen in flight (two copies after it: the first may have read before), so a fault
    /// that kills the active database tests the shadow path rather than the shadow's lag.
    func waitForAirflowShadows(active: String) async throws -> Bool {
        let interval = target.configuration.controlPlane.failover.shadowInterval
        let deadline = ContinuousClock.now + max(interval * 10, .seconds(10))
        var all = true
        for name in target.configuration.regions.map(\.name) where name != active {
            guard let db = await target.region(name) else { continue }
            let done = try await db.closeAfter {
                let since = try await db.query("SELECT now()::text AS t").first?["t"].string ?? ""
                var seen = Set<String>()
                while ContinuousClock.now < deadline {
                    if let at = try await db.query(
                        "SELECT synced_at::text AS t FROM switchyard.shadow_sync WHERE source_region = $1 AND synced_at > $2::timestamptz",
                        [.text(active), .text(since)]
                    ).first?["t"].string {
                        seen.insert(at)
                    }
                    if seen.count >= 2 { return true }
                    try await Task.sleep(for: .milliseconds(100))
                }
                return false
            }
            all = all && done
        }
        return all
    }

    /// The drill DAG's ledger of `runIds` (nil when the deployment has none: the workload's DAG is not
    /// the drill DAG, or no attempt wrote to it).
    func airflowLedger(_ runIds: [String]) -> AirflowLedger? {
        guard let state = try? target.dev(), state.airflow != nil,
            let contents = try? String(contentsOfFile: state.airflowLedger, encoding: .utf8)
        else { return nil }
        let ledger = AirflowLedger(contents: contents, runs: Set(runIds))
        return ledger.attempts.isEmpty ? nil : ledger
    }

    /// Airflow runs not finished yet in `region`.
    func countUnfinishedAirflow(_ region: String, runIds: [String]) async throws -> Int {
        guard !runIds.isEmpty, let db = await target.region(region) else { return 0 }
        return try await db.closeAfter {
            try await db.query(
                "SELECT count(*) AS n FROM public.dag_run WHERE run_id = ANY($1::text[]) AND state IN ('queued', 'running')",
                [.array(runIds.map { .text($0) })]
            ).first?["n"].require(Int.self) ?? 0
        }
    }

    /// Waits (bounded by the scenario's timeout, at least 120 s: Airflow starts tasks in seconds) until every
    /// run succeeded somewhere. Lost: never succeeded; twice: succeeded in two regions; overlapping: a task
    /// of one run executing in two regions at once (`task_instance` intervals); finished in the target:
    /// succeeded in `target`. Also when the first task started in `target` after `t0`.
    func accountAirflowRuns(_ runIds: [String], finishIn target: String, t0: Date, timeline: inout Timeline)
        async throws
        -> (lost: Int, twice: Int, overlapping: Int, finishedInTarget: Int, firstInTarget: Date?)
    {
        guard !runIds.isEmpty else { return (0, 0, 0, 0, nil) }
        let ids: PostgresValue = .array(runIds.map { .text($0) })
        let regions = self.target.configuration.regions.map(\.name)
        var succeeded: [String: Set<String>] = [:]
        let deadline = ContinuousClock.now + max(scenario.timeout, .seconds(120))
        while ContinuousClock.now < deadline {
            try Task.checkCancellation()
            for name in regions {
                guard let db = await self.target.region(name, timeout: .seconds(1)) else { continue }
                let done =
                    (try? await db.closeAfter {
                        try await db.query(
                            "SELECT run_id FROM public.dag_run WHERE run_id = ANY($1::text[]) AND state = 'success'",
                            [ids]
                        )
                        .rows.compactMap { $0["run_id"].string }
                    }) ?? []
                succeeded[name] = Set(done)
            }
            if succeeded.values.reduce(Set<String>(), { $0.union($1) }).count == runIds.count { break }
            try await Task.sleep(for: .milliseconds(500))
        }
        let anywhere = succeeded.values.reduce(Set<String>()) { $0.union($1) }
        let finished = succeeded[target]?.count ?? 0
        timeline.add(
            Date(), t0,
            "\(anywhere.count) of \(runIds.count) Airflow runs succeeded, \(finished) of them in \(target) (active now)"
        )
        var twice = 0
        for run in runIds where regions.filter({ succeeded[$0]?.contains(run) == true }).count > 1 { twice += 1 }

        // Task executions per region: [start, end] (a task whose end was never recorded ends at its row's last
        // update). A migration copies a finished task instance with its id and times: the same execution, once.
        var intervals: [(region: String, run: String, from: Date, to: Date)] = []
        var seen: [String: String] = [:]  // "id start" → the region it was first read in
        var firstInTarget: Date?
        // The target last: a copied execution counts where it ran, the region it was copied from.
        for name in regions.filter({ $0 != target }) + regions.filter({ $0 == target }) {
            guard let db = await self.target.region(name) else {
                progress("\(name)'s database does not answer: its task executions are not counted")
                continue
            }
            let rows = try await db.closeAfter {
                try await db.query(
                    """
                    SELECT id::text AS id, start_date::text AS started, run_id, start_date,
                           coalesce(end_date, updated_at, now()) AS end_at
                    FROM public.task_instance WHERE run_id = ANY($1::text[]) AND start_date IS NOT NULL
                    """, [ids]
                ).rows
            }
            for row in rows {
                guard let run = row["run_id"].string, let from: Date = try row["start_date"].optional(),
                    let to: Date = try row["end_at"].optional()
                else { continue }
                let key = "\(row["id"].string ?? "") \(row["started"].string ?? "")"
                if let first = seen[key], first != name { continue }  // a copy of an execution counted already
                seen[key] = name
                intervals.append((name, run, from, to))
            }
        }
        // The first execution in the target: one that started there after the fault and is no copy.
        for interval in intervals where interval.region == target && interval.from > t0 {
            firstInTarget = min(firstInTarget ?? interval.from, interval.from)
        }
        var overlapping = Set<String>()
        for (i, a) in intervals.enumerated() {
            for b in intervals[(i + 1)...]
            where a.run == b.run && a.region != b.region && a.from < b.to && b.from < a.to {
                overlapping.insert(a.run)
            }
        }
        return (runIds.count - anywhere.count, twice, overlapping.count, finished, firstInTarget)
    }
}
