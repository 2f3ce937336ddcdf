import Foundation
import Postgres
import SwitchyardCore
import SwitchyardRuntime

extension DrillRunner {
    /// Triggers the workload's runs in the active region and waits until workers execute all of them
    /// and the shadow copies hold them, so they are in flight when the fault hits.
    func startWorkload(active: String) async throws -> [String] {
        guard let workload = scenario.preconditions.workload, workload.runs > 0 else { return [] }
        if runsAirflow(active) {
            return try await startAirflowWorkload(
                active: active, dag: workload.dag, runs: workload.runs, task: workload.task,
                executing: workload.executing)
        }
        guard let db = await target.region(active) else {
            throw DrillError("precondition: \(active)'s database does not answer")
        }
        return try await db.closeAfter {
            guard
                try await db.query("SELECT 1 FROM switchyard.dags WHERE dag_id = $1", [.text(workload.dag)]).first
                    != nil
            else {
                throw DrillError(
                    "precondition: the workload DAG \"\(workload.dag)\" is not defined in \(active) (add it to dags.yaml and run init)"
                )
            }
            let runConf = self.runConf
            var runIds: [String] = []
            let now = Date()
            for i in 0..<workload.runs {
                runIds.append(
                    try await RegionStore.trigger(
                        db, dagId: workload.dag, conf: runConf,
                        at: now.addingTimeInterval(Double(i) / 1000)))
            }
            // Dispatched (running) and at least one executing: workers take one run at a time, so the rest
            // wait in the stream, in flight all the same.
            let deadline = ContinuousClock.now + .seconds(30)
            var dispatched = 0, executing = 0
            while ContinuousClock.now < deadline {
                let row = try await db.query(
                    """
                    SELECT count(*) FILTER (WHERE state = 'running') AS dispatched,
                           count(*) FILTER (WHERE state = 'running' AND worker IS NOT NULL) AS executing
                    FROM switchyard.dag_run WHERE run_id = ANY($1::text[])
                    """, [.array(runIds.map { .text($0) })]
                ).first
                dispatched = row?["dispatched"].int ?? 0
                executing = row?["executing"].int ?? 0
                if dispatched == runIds.count && executing > 0 { break }
                try await Task.sleep(for: .milliseconds(100))
            }
            guard dispatched == runIds.count && executing > 0 else {
                throw DrillError(
                    "precondition: \(dispatched) of \(runIds.count) workload runs dispatched and \(executing) executing in \(active) after 30 s"
                )
            }
            let shadowed = try await waitForShadows(active: active, activeDB: db, runIds: runIds)
            progress(
                "workload: \(runIds.count) runs of \(workload.dag) in flight in \(active), \(executing) executing"
                    + (shadowed ? ", in every standby's shadow" : ", NOT in every standby's shadow yet"))
            return runIds
        }
    }

    /// Waits, bounded, until every reachable standby's shadow holds the workload's runs, so a fault
    /// that kills the active database tests the shadow path rather than the shadow's lag (runs queued
    /// after its last copy come home when the old database answers again: `FailoverExecutor.reconcile`).
    /// (Runs that finished meanwhile are in no shadow, and need none.)
    func waitForShadows(active: String, activeDB: PostgresConnection, runIds: [String]) async throws -> Bool {
        let interval = target.configuration.controlPlane.failover.shadowInterval
        let deadline = ContinuousClock.now + max(interval * 10, .seconds(10))
        var standbys: [String: PostgresConnection] = [:]
        for name in target.configuration.regions.map(\.name) where name != active {
            if let db = await target.region(name) { standbys[name] = db }
        }
        defer { for db in standbys.values { Task { await db.close() } } }
        while ContinuousClock.now < deadline {
            let unfinished = try await activeDB.query(
                "SELECT run_id FROM switchyard.dag_run WHERE run_id = ANY($1::text[]) AND state IN ('queued', 'running')",
                [.array(runIds.map { .text($0) })]
            ).rows.compactMap { $0["run_id"].string }
            var all = true
            for db in standbys.values where !unfinished.isEmpty {
                let n =
                    try await db.query(
                        "SELECT count(*) AS n FROM switchyard.shadow_dag_run WHERE source_region = $1 AND run_id = ANY($2::text[])",
                        [.text(active), .array(unfinished.map { .text($0) })]
                    ).first?["n"].int ?? 0
                if n < unfinished.count { all = false }
            }
            if all { return true }
            try await Task.sleep(for: .milliseconds(100))
        }
        return false
    }

    /// Workload runs not finished yet.
    func countUnfinished(_ region: String, runIds: [String]) async throws -> Int {
        if runsAirflow(region) { return try await countUnfinishedAirflow(region, runIds: runIds) }
        guard !runIds.isEmpty, let db = await target.region(region) else { return 0 }
        return try await db.closeAfter {
            return try await db.query(
                "SELECT count(*) AS n FROM switchyard.dag_run WHERE run_id = ANY($1::text[]) AND state IN ('queued', 'running')",
                [.array(runIds.map { .text($0) })]
            ).first?["n"].require(Int.self) ?? 0
        }
    }

    /// Runs lost (never succeeded in any region), executed twice (succeeded more than once across every
    /// region's execution log), and executing in two regions at once. A run that first succeeded in the
    /// fault's region `cutOff` after the shadow's last copy, while a failover moved its runs from the target's
    /// shadow (that region cut off, still running out its lease), and ran again in the target is a rerun: the
    /// at-least-once the contract allows, counted apart from `twice`.
    func accountRuns(
        _ runIds: [String], finishIn region: String, t0: Date, cutOff: String?, timeline: inout Timeline
    ) async throws
        -> (lost: Int, twice: Int, overlapping: Int, rerun: Int)
    {
        guard !runIds.isEmpty else { return (0, 0, 0, 0) }
        let ids: PostgresValue = .array(runIds.map { .text($0) })
        // A run counts once it succeeded anywhere: in the region active afterwards, or (a drained
        // switchover, a leader fault) where it was.
        var succeeded = 0
        var connections: [String: PostgresConnection] = [:]
        let deadline = ContinuousClock.now + max(scenario.timeout, .seconds(60))
        while ContinuousClock.now < deadline {
            try Task.checkCancellation()
            var done = Set<String>()
            for name in target.configuration.regions.map(\.name) {
                if connections[name] == nil { connections[name] = await target.region(name, timeout: .seconds(1)) }
                guard let db = connections[name] else { continue }
                do {
                    for row in try await db.query(
                        "SELECT run_id FROM switchyard.dag_run WHERE run_id = ANY($1::text[]) AND state = 'success'",
                        [ids]
                    ).rows {
                        if let id = row["run_id"].string { done.insert(id) }
                    }
                } catch {
                    await db.close()
                    connections[name] = nil  // reconnect on the next poll
                }
            }
            succeeded = done.count
            if succeeded == runIds.count { break }
            try await Task.sleep(for: .milliseconds(250))
        }
        for db in connections.values { await db.close() }
        timeline.add(
            Date(), t0, "\(succeeded) of \(runIds.count) workload runs succeeded (active region now \(region))")
        var successes: [String: [(region: String, at: Date?)]] = [:]
        var intervals: [(region: String, run: String, from: Date, to: Date)] = []
        var stops: [(region: String, at: Date)] = []
        var firstStarts: [String: Date] = [:]
        for name in target.configuration.regions.map(\.name) {
            guard let db = await target.region(name) else {
                progress("\(name)'s database does not answer: its executions are not counted")
                continue
            }
            let rows = try await db.closeAfter {
                try await db.query(
                    "SELECT run_id, outcome, started_at, finished_at FROM switchyard.executions WHERE run_id = ANY($1::text[])",
                    [ids]
                ).rows
            }
            for row in rows {
                let run = try row["run_id"].require(String.self)
                if row["outcome"].string == "success" {
                    successes[run, default: []].append((name, try row["finished_at"].optional(Date.self)))
                }
                // An execution whose end was never recorded (its database died under it) has no known end;
                // the worker's fence rule killed it within half the lease.
                if let from: Date = try row["started_at"].optional(), let to: Date = try row["finished_at"].optional() {
                    intervals.append((name, run, from, to))
                    if row["outcome"].string == "fenced" { stops.append((name, to)) }
                }
                if let from: Date = try row["started_at"].optional(), from > t0 {
                    firstStarts[name] = min(firstStarts[name] ?? from, from)
                }
            }
        }
        // When the fault's region stopped its commands, and when executions started again elsewhere.
        for (name, stopped) in Dictionary(grouping: stops, by: \.region) {
            timeline.add(
                stopped.map(\.at).max()!, t0,
                "\(name): workers stopped \(stopped.count) running command(s) (fenced or fence no longer confirmed)")
        }
        for (name, first) in firstStarts {
            timeline.add(first, t0, "\(name): first workload execution started after the fault")
        }
        var overlapping = Set<String>()
        for (i, a) in intervals.enumerated() {
            for b in intervals[(i + 1)...]
            where a.run == b.run && a.region != b.region && a.from < b.to && b.from < a.to {
                overlapping.insert(a.run)
            }
        }
        // The shadow's last copy of the cut-off region, as the target holds it: a run finished after it was
        // still in flight in the copy the failover moved.
        var copiedAt: Date? = nil
        if let cutOff, let db = await target.region(region) {
            copiedAt = try? await db.closeAfter {
                try await db.query(
                    "SELECT synced_at FROM switchyard.shadow_sync WHERE source_region = $1", [.text(cutOff)]
                ).first?["synced_at"].optional(Date.self)
            }
        }
        let (twice, rerun) = RunAccounting.doubles(
            Array(successes.values), cutOff: cutOff, fault: t0, copiedAt: copiedAt)
        return (runIds.count - succeeded, twice, overlapping.count, rerun)
    }

    /// Overlapping acting intervals of every region since `since`, from the regions' acting records.
    func actingOverlaps(since: Date) async throws -> [ActingOverlap.Finding] {
        var intervals: [ActingInterval] = []
        for name in target.configuration.regions.map(\.name) {
            guard let db = await target.region(name) else { continue }
            try await db.closeAfter {
                for row in try await db.query(
                    "SELECT epoch, cluster_epoch, node_id, first_acted_at, last_acted_at FROM switchyard.acting_terms WHERE last_acted_at > $1",
                    [.date(since)]
                ).rows {
                    intervals.append(
                        ActingInterval(
                            region: name, epoch: try row["epoch"].require(),
                            clusterEpoch: try row["cluster_epoch"].require(),
                            node: row["node_id"].string, from: try row["first_acted_at"].require(),
                            to: try row["last_acted_at"].require()))
                }
            }
        }
        return ActingOverlap.findings(intervals)
    }

    /// The `conf` every run a drill triggers carries: `{"drill": "<scenario>"}`.
    var runConf: String {
        String(decoding: (try? JSONEncoder().encode(["drill": scenario.name])) ?? Data("{}".utf8), as: UTF8.self)
    }
}

/// How a drill counts runs that succeeded more than once.
public enum RunAccounting {
    /// From each run's successes (region, when it finished): runs executed twice, and reruns, the runs
    /// that first succeeded in `cutOff` after the shadow's last copy (`copiedAt`; the fault when unknown) and
    /// then once more in the target: a region cut off but alive, running out its lease, while a failover moved
    /// its runs from the shadow, which still listed them in flight. That is the at-least-once the contract
    /// allows; a run finished before the copy was not in it, so running it again is a double.
    public static func doubles(
        _ successes: [[(region: String, at: Date?)]], cutOff: String?, fault: Date, copiedAt: Date? = nil
    ) -> (twice: Int, rerun: Int) {
        let since = min(copiedAt ?? fault, fault)
        var twice = 0, rerun = 0
        for records in successes where records.count > 1 {
            let first = records.min { ($0.at ?? .distantFuture) < ($1.at ?? .distantFuture) }
            if records.count == 2, let cutOff, first?.region == cutOff, let at = first?.at, at > since {
                rerun += 1
            } else {
                twice += 1
            }
        }
        return (twice, rerun)
    }
}
