import Foundation
import Postgres
import SwitchyardCore
import SwitchyardLab
import SwitchyardRuntime
import TestSupport
import Testing

/// One DAG with one Python task of a few seconds: long enough to be in flight, short enough for a test.
let airflowTestDAG = AirflowHome.sleepingDAG(id: "switchyard_e2e", seconds: 2)

/// End-to-end against a pip-installed Apache Airflow 3.3.2 (`scripts/install-airflow.sh`, run by `make
/// test`): skipped, with the reason, when it could not be installed.
@Suite(
    "against a real Apache Airflow 3.3.2", .serialized,
    .enabled(if: AirflowInstall.available, Comment(rawValue: AirflowInstall.skipReason)))
struct AirflowTests {
    /// Airflow needs about a second to stop on SIGTERM on an idle machine, and over 8 s with the whole suite
    /// running on 2 cores: give it a grace it never runs out of (the runbook suggests 30 s).
    static let execGrace = Duration.seconds(20)

    /// Switches regions to Airflow's scheduler probe and run table.
    func useAirflow(_ f: DevFixture, _ regions: Set<String>, execGrace: Duration? = nil) throws {
        try f.reconfigure(DevSettings(execGrace: execGrace, airflowRegions: regions))
    }

    /// The `airflow scheduler` processes of a home: those whose parent is not itself an Airflow process
    /// (LocalExecutor's workers and the task processes are its children).
    func schedulers(_ airflow: AirflowHome) -> [pid_t] {
        let all = Set(airflow.processes)
        return all.filter { pid in
            let stat = Processes.readProcFile("/proc/\(pid)/stat") ?? ""
            // Field 4 (after the parenthesised name) is the parent PID.
            guard let close = stat.lastIndex(of: ")") else { return false }
            let fields = stat[stat.index(after: close)...].split(separator: " ")
            guard fields.count > 1, let parent = pid_t(fields[1]) else { return false }
            let cmdline = (Processes.readProcFile("/proc/\(pid)/cmdline") ?? "").replacingOccurrences(
                of: "\0", with: " ")
            return !all.contains(parent) && cmdline.contains("airflow scheduler")
        }.sorted()
    }

    /// The SchedulerJob rows: id → state.
    func schedulerJobs(_ db: PostgresConnection) async throws -> [(id: Int, state: String)] {
        try await db.query("SELECT id, state FROM public.job WHERE job_type = 'SchedulerJob' ORDER BY id").rows.map {
            (try $0["id"].require(Int.self), try $0["state"].optional(String.self) ?? "")
        }
    }

    /// The probe's verdict (as `/status` serves it) and `airflow jobs check` agree while a scheduler runs and
    /// after it stopped; the stop through `switchyard scheduler --exec` is Airflow's own graceful one.
    @Test func theProbeAgreesWithAirflowJobsCheck() async throws {
        try await DevFixture.with(regions: 1, dags: fastDAGs, settings: DevSettings(execGrace: Self.execGrace)) { f in
            let airflow = try await f.airflow("us-east", dags: [:])
            try useAirflow(f, ["us-east"], execGrace: Self.execGrace)
            try f.start(
                "a",
                [
                    "scheduler", "--region", "us-east", "--node-id", "a",
                    "--exec", airflow.exec(["scheduler", "--skip-serve-logs"]),
                ])
            let url = try await f.startAgent("us-east")
            func probe() async -> StatusDocument.Component? {
                try? await f.status(url).regions.first { $0.name == "us-east" }?.components["schedulers"]
            }
            func probeSaysAlive(_ c: StatusDocument.Component?) -> Bool {
                c?.state == .healthy && (c?.detail.nodes ?? 0) > 0
            }
            /// Airflow's verdict: true (exit 0), false ("No alive jobs found."), or nil when the check itself did
            /// not finish or failed otherwise (a loaded fresh-clone run had a check say neither), with its output.
            func jobsCheck() async throws -> (alive: Bool?, output: String) {
                let run = try await airflow.run(["jobs", "check", "--job-type", "SchedulerJob"], timeout: 90)
                if run.status == 0 { return (true, run.output) }
                return (run.output.contains("No alive jobs found") ? false : nil, "exit \(run.status): \(run.output)")
            }
            let registered = await f.waitUntil(timeout: .seconds(120)) { probeSaysAlive(await probe()) }
            try #require(registered != nil, "no SchedulerJob: \(f.log("a").suffix(3000))")

            // Airflow heartbeats every 5-11 s; with Airflow's threshold both say alive at every sample. A sample
            // counts where the probe said the same before and after the check (not mid-transition) and the check
            // gave a verdict.
            var agreeing = 0
            var inconclusive: [String] = []
            var disagreeing: [String] = []
            for _ in 0..<8 where agreeing < 3 {
                let before = probeSaysAlive(await probe())
                let check = try await jobsCheck()
                let after = await probe()
                guard before == probeSaysAlive(after) else { continue }
                guard let alive = check.alive else {
                    inconclusive.append(String(check.output.suffix(1500)))
                    continue
                }
                if before && alive {
                    agreeing += 1
                } else {
                    disagreeing.append(
                        "probe \(before), jobs check \(alive): \(String(describing: after)) \(check.output.suffix(1500))"
                    )
                }
            }
            #expect(disagreeing.isEmpty, "\(disagreeing) \(f.log("a").suffix(6000))")
            #expect(agreeing >= 3, "inconclusive checks: \(inconclusive)")

            // SIGTERM of the Switchyard node: it gives `airflow scheduler` its grace, which marks its job done.
            kill(try #require(f.pid("a")), SIGTERM)
            let down = await f.waitUntil(timeout: .seconds(60)) { await probe()?.state == .down }
            let seen = await probe()
            #expect(down != nil, "\(String(describing: seen))")
            let noSchedulers = await f.waitUntil(timeout: .seconds(30)) { schedulers(airflow).isEmpty }
            #expect(noSchedulers != nil)
            let afterStop = try await jobsCheck()
            #expect(afterStop.alive == false, "\(afterStop.output.suffix(1500))")
            let stillDown = await probe()
            #expect(
                stillDown?.state == .down && (stillDown?.detail.nodes ?? 0) == 0, "\(String(describing: stillDown))")
            let jobs = try await schedulerJobs(try await f.connect("us-east"))
            #expect(jobs.count == 1 && jobs.allSatisfy { $0.state == "success" }, "graceful stop: \(jobs)")
        }
    }

    /// The leading node's SIGTERM and SIGKILL, with the Airflow scheduler processes sampled every 50 ms:
    /// never two at once, each stopped gracefully (its job row `success`), and the gaps measured.
    @Test func theHandOffNeverRunsTwoAirflowSchedulersAndStopsEachGracefully() async throws {
        try await DevFixture.with(regions: 1, dags: fastDAGs, settings: DevSettings(execGrace: Self.execGrace)) { f in
            let airflow = try await f.airflow("us-east", dags: [:])
            try useAirflow(f, ["us-east"], execGrace: Self.execGrace)
            let db = try await f.connect("us-east")
            let exec = ["--exec", airflow.exec(["scheduler", "--skip-serve-logs"])]
            let samples = SampleLog()
            let sampler = Task {
                while !Task.isCancelled {
                    samples.append(ContinuousClock.now, schedulers(airflow))
                    try? await Task.sleep(for: .milliseconds(50))
                }
            }
            defer { sampler.cancel() }
            func follows(_ node: String) async -> Duration? {
                await f.waitUntil(timeout: .seconds(30)) {
                    (try? await db.query(
                        "SELECT 1 FROM switchyard.nodes WHERE node_id = $1 AND role = 'follower' AND last_heartbeat > now() - interval '2 seconds'",
                        [.text(node)]
                    ).rows.count) == 1
                }
            }
            /// True once the `n`th SchedulerJob runs and has heartbeat since it registered (the previous ones may
            /// still be stopping). Airflow inserts its job row before it installs its signal handlers: a SIGTERM
            /// in between kills it outright, leaving the row `running`, so a hand-off is tested on a started one.
            func nthRunning(_ n: Int) async -> Bool {
                let jobs = (try? await schedulerJobs(db)) ?? []
                guard jobs.count == n, jobs.last?.state == "running", let id = jobs.last?.id else { return false }
                let beat = try? await db.query(
                    "SELECT latest_heartbeat > start_date + interval '1 second' AS beat FROM public.job WHERE id = $1",
                    [.int(id)]
                ).first?["beat"].bool
                return beat == true
            }

            try f.start("a", ["scheduler", "--region", "us-east", "--node-id", "a"] + exec)
            let first = await f.waitUntil(timeout: .seconds(120)) { await nthRunning(1) }
            try #require(first != nil, "a's airflow scheduler never registered: \(f.log("a").suffix(3000))")
            try f.start("b", ["scheduler", "--region", "us-east", "--node-id", "b"] + exec)
            try #require(await follows("b") != nil)

            // SIGTERM: a stops its Airflow scheduler (full grace), records it, lets go; b starts its own.
            kill(try #require(f.pid("a")), SIGTERM)
            let second = await f.waitUntil(timeout: .seconds(180)) {
                await nthRunning(2)
            }
            try #require(second != nil, "b's airflow scheduler never registered: \(f.log("b").suffix(3000))")

            // SIGKILL of the leading node b (c following): b's guard gives Airflow its grace; c waits until b's
            // scheduler can no longer be running, then starts its own.
            try f.start("c", ["scheduler", "--region", "us-east", "--node-id", "c"] + exec)
            try #require(await follows("c") != nil)
            kill(try #require(f.pid("b")), SIGKILL)
            let third = await f.waitUntil(timeout: .seconds(180)) {
                await nthRunning(3)
            }
            try #require(third != nil, "c's airflow scheduler never registered: \(f.log("c").suffix(3000))")
            sampler.cancel()
            _ = await sampler.value

            let all = samples.entries
            let overlapping = all.filter { $0.pids.count > 1 }
            #expect(overlapping.isEmpty, "two Airflow schedulers at once: \(overlapping.prefix(5).map(\.pids))")
            let order = all.flatMap(\.pids).reduce(into: [pid_t]()) { if !$0.contains($1) { $0.append($1) } }
            #expect(order.count == 3, "scheduler PIDs in order: \(order)")
            // The gap of each hand-off: from the last sample with the old scheduler to the first with the new one.
            var gaps: [Double] = []
            for (old, new) in zip(order, order.dropFirst()) {
                if let last = all.last(where: { $0.pids.contains(old) })?.at,
                    let next = all.first(where: { $0.pids.contains(new) })?.at
                {
                    gaps.append((next - last).secondsDouble)
                }
            }
            print(
                "airflow hand-off: SIGTERM gap \(gaps.first ?? -1) s, SIGKILL gap \(gaps.dropFirst().first ?? -1) s, overlap samples \(overlapping.count) of \(all.count)"
            )
            #expect(gaps.count == 2 && gaps[0] < 5, "the SIGTERM hand-off does not wait out the grace: \(gaps)")
            // Both stopped schedulers shut down gracefully: Airflow marked their jobs `success`.
            let jobs = try await schedulerJobs(db)
            #expect(
                jobs.count == 3 && jobs.prefix(2).allSatisfy { $0.state == "success" } && jobs.last?.state == "running",
                "\(jobs)")
            #expect(
                f.log("c").contains("waits until the previous leader's command can no longer be running"),
                "\(f.log("c").suffix(2000))")
        }
    }
}

/// Airflow's work across regions: scheduled DAGs carried over, and the drills with their ledger. A suite of
/// its own, so it runs beside the hand-off tests above rather than after them (the suite's longest path).
@Suite(
    "Airflow's work across regions, against a real Apache Airflow 3.3.2", .serialized,
    .enabled(if: AirflowInstall.available, Comment(rawValue: AirflowInstall.skipReason)))
struct AirflowAcrossRegionsTests {
    /// Switches regions to Airflow's scheduler probe and run table.
    func useAirflow(_ f: DevFixture, _ regions: Set<String>) throws {
        try f.reconfigure(DevSettings(airflowRegions: regions))
    }

    /// Two DAGs every 6 s from `start` (one with catchup, one without), each of one short task.
    static func scheduledDAGs(start: Date) -> String {
        let iso = ISO8601DateFormatter().string(from: start)
        return """
            from datetime import datetime, timedelta
            from airflow.sdk import dag, task

            START = datetime.fromisoformat("\(iso.replacingOccurrences(of: "Z", with: "+00:00"))")

            @dag(dag_id="every6s_catchup", schedule=timedelta(seconds=6), start_date=START, catchup=True, max_active_runs=16)
            def every6s_catchup():
                @task
                def tick():
                    return 1
                tick()

            @dag(dag_id="every6s", schedule=timedelta(seconds=6), start_date=START, catchup=False, max_active_runs=16)
            def every6s():
                @task
                def tick():
                    return 1
                tick()

            every6s_catchup()
            every6s()

            """
    }

    /// Scheduled DAGs carry on across a migration: us-east's scheduler runs two every-6-s DAGs (catchup on and
    /// off) for a while and stops; two runs are triggered by hand there meanwhile (queued, no task instance
    /// yet); `migrate-runs` moves its runs to eu-west, whose scheduler then runs on and runs the two to
    /// `success`.
    /// No interval is executed in both regions (a copied task instance is the same execution, counted once),
    /// and with catchup none between the first and the last is skipped. Before the schedule was carried,
    /// eu-west scheduled from its own empty history: with catchup it ran every interval since the start again.
    @Test func scheduledDAGsCarryOnInTheTargetWithNoIntervalRunTwiceOrSkipped() async throws {
        try await DevFixture.with(regions: 2, dags: fastDAGs) { f in
            let now = Date().timeIntervalSince1970
            let start = Date(timeIntervalSince1970: (now / 6).rounded(.down) * 6 - 12)
            let dags = ["scheduled": Self.scheduledDAGs(start: start)]
            async let east = f.airflow("us-east", dags: dags)
            async let west = f.airflow("eu-west", dags: dags)
            let (source, target) = try await (east, west)
            try useAirflow(f, ["us-east", "eu-west"])
            let sourceDB = try await f.connect("us-east"), targetDB = try await f.connect("eu-west")

            /// Per DAG: logical date (seconds) → the ids and start times of the task instances that ran it (with
            /// `finished`, only those that succeeded: an attempt cut off by the stop may run again in the target).
            func executed(_ db: PostgresConnection, finished: Bool = false) async throws -> [String: [Double: Set<
                String
            >]] {
                let rows = try await db.query(
                    """
                    SELECT r.dag_id, extract(epoch FROM r.logical_date)::float8 AS at, t.id::text || '@' || t.start_date::text AS ti
                    FROM public.dag_run r JOIN public.task_instance t ON t.dag_id = r.dag_id AND t.run_id = r.run_id
                    WHERE r.dag_id IN ('every6s_catchup', 'every6s') AND r.run_type = 'scheduled' AND t.start_date IS NOT NULL
                      AND ($1 = false OR t.state = 'success')
                    """, [.bool(finished)]
                ).rows
                var result: [String: [Double: Set<String>]] = [:]
                for row in rows {
                    let dag = try row["dag_id"].require(String.self), at = try row["at"].require(Double.self)
                    result[dag, default: [:]][at, default: []].insert(try row["ti"].require(String.self))
                }
                return result
            }
            func count(_ e: [String: [Double: Set<String>]], _ dag: String) -> Int { e[dag]?.count ?? 0 }

            try await source.startExecutionAPI()
            try source.start("scheduler", ["scheduler", "--skip-serve-logs"])
            // Runs until each DAG has run at least three intervals in us-east.
            let ranEast = await f.waitUntil(timeout: .seconds(120)) {
                guard let e = try? await executed(sourceDB) else { return false }
                return count(e, "every6s_catchup") >= 4 && count(e, "every6s") >= 3
            }
            try #require(ranEast != nil, "us-east did not run its schedule: \(source.log("scheduler").suffix(2000))")
            await source.stopAll()
            // Two runs triggered while no scheduler runs there (as after its region failed): queued, no task yet.
            var manual: [String] = []
            for n in 0..<2 {
                let id = "manual_\(n)"
                let trigger = try await source.run(["dags", "trigger", "every6s", "--run-id", id], timeout: 120)
                try #require(trigger.status == 0, "\(trigger.output.suffix(1500))")
                manual.append(id)
            }

            // As the agent's role with `init --grants` (Airflow's tables exist by now): the migration's Airflow
            // statements need nothing more than what is granted.
            try await LeastPrivilegeTests.createRoles(f)
            let granted = try await SwitchyardBinary.run(["init", "--grants", "--config", f.config])
            try #require(granted.status == 0, "\(granted.output)\(granted.errors)")
            #expect(granted.output.contains("us-east (airflow)"), "\(granted.output)")
            let agent = try LeastPrivilegeTests.configuration(f, as: LeastPrivilegeTests.roles.agent)
            let migrate = try await SwitchyardBinary.run([
                "migrate-runs", "--config", agent, "--from", "us-east", "--to", "eu-west", "--json",
            ])
            try #require(migrate.status == 0, "\(migrate.output)\(migrate.errors)")
            #expect(migrate.output.contains("\"schedule_dags\""), "\(migrate.output)")
            let eastRan = try await executed(sourceDB)
            let eastFinished = try await executed(sourceDB, finished: true)

            try await target.startExecutionAPI()
            try target.start("scheduler", ["scheduler", "--skip-serve-logs"])
            // Bounded by what a loaded host gives Airflow: a fresh-clone run at load 40 had eu-west still running its
            // first catch-up tries 120 s after its scheduler started (Airflow imports alone take half a minute).
            var seen = "nothing read"
            let ranWest = await f.waitUntil(timeout: .seconds(240)) {
                guard let w = try? await executed(targetDB) else { return false }
                let own = { (dag: String) in
                    (w[dag] ?? [:]).filter { at, tis in !(eastRan[dag]?[at].map { !$0.isDisjoint(with: tis) } ?? false)
                    }
                    .count
                }
                let done = try? await targetDB.query(
                    "SELECT count(*) AS n FROM public.dag_run WHERE dag_id = 'every6s' AND run_id = ANY($1::text[]) AND state = 'success'",
                    [.array(manual.map { .text($0) })]
                ).first?["n"].int
                seen =
                    "own intervals every6s_catchup \(own("every6s_catchup")), every6s \(own("every6s")); manual runs done \(done ?? -1) of \(manual.count)"
                return own("every6s_catchup") >= 3 && own("every6s") >= 3 && done == manual.count
            }
            try #require(
                ranWest != nil, "eu-west did not go on (\(seen)): \(target.log("scheduler").suffix(2000))")
            await target.stopAll()

            let westRan = try await executed(targetDB)
            /// Per DAG, the logical dates (seconds) of the scheduled runs a region holds, in any state.
            func created(_ db: PostgresConnection) async throws -> [String: Set<Double>] {
                var result: [String: Set<Double>] = [:]
                for row in try await db.query(
                    """
                    SELECT dag_id, extract(epoch FROM logical_date)::float8 AS at FROM public.dag_run
                    WHERE dag_id IN ('every6s_catchup', 'every6s') AND run_type = 'scheduled'
                    """
                ).rows {
                    result[try row["dag_id"].require(String.self), default: []].insert(
                        try row["at"].require(Double.self))
                }
                return result
            }
            let runs = try await created(sourceDB).merging(try await created(targetDB)) { $0.union($1) }
            for dag in ["every6s_catchup", "every6s"] {
                let eastDates = Set(eastRan[dag]?.keys.map { $0 } ?? [])
                let eastDone = Set(eastFinished[dag]?.keys.map { $0 } ?? [])
                // An interval of eu-west's own: one whose task instances are not us-east's copied over.
                let westDates = Set(
                    (westRan[dag] ?? [:]).filter { at, tis in
                        !(eastRan[dag]?[at].map { !$0.isDisjoint(with: tis) } ?? false)
                    }.keys)
                // Run again after it had finished in us-east (a cut-off attempt running again is allowed).
                let twice = eastDone.intersection(westDates).sorted()
                #expect(
                    twice.isEmpty,
                    "\(dag): intervals finished in us-east and run again in eu-west: \(twice.map { Date(timeIntervalSince1970: $0) })"
                )
                // Skipped: an interval between the first and the last for which neither region created a run.
                if dag == "every6s_catchup", let all = runs[dag], let first = all.min(), let last = all.max() {
                    let skipped = stride(from: first, through: last, by: 6).filter { !all.contains($0) }
                    #expect(first == start.timeIntervalSince1970, "\(dag) did not start at its start date")
                    #expect(
                        skipped.isEmpty, "\(dag): intervals skipped: \(skipped.map { Date(timeIntervalSince1970: $0) })"
                    )
                }
            }
            await sourceDB.close()
            await targetDB.close()
        }
    }

    /// The Airflow drills on one two-region `dev up --airflow --daemons`, whose drill DAG writes every task
    /// attempt to a ledger outside both regions: `airflow-switchover.yaml` (the old region's scheduler
    /// finishes its running tasks before the final copy, which carries their task instances and XComs
    /// over) and `airflow-kill-schedulers.yaml` (the active region's scheduler hosts die and it fails over).
    /// Each time every run finishes in the target, no task instance runs in two regions at once, none runs
    /// again after finishing and none is left unfinished.
    @Test func theAirflowDrillsMoveEveryTaskOnceAndFinishItInTheTarget() async throws {
        try await Self.runDrills(executor: "local", ["airflow-switchover", "airflow-kill-schedulers"])
    }

    /// Runs `drills` on a new two-region Airflow deployment with `executor`, and checks each report and ledger.
    static func runDrills(executor: String, _ drills: [String]) async throws {
        try await DeploymentSlots.shared.withSlot {
            let dir = try await TestServers.shared.scratchDirectory("airflow-drill-\(executor)")
            func register() {
                guard let state = try? DevState.load(directory: dir) else { return }
                TestServers.registerDeployment(state)
                for daemon in state.daemons { TestServers.registerDaemon(daemon.pid) }
                for airflow in (state.airflow ?? [:]).values { TestServers.registerAirflowHome(airflow.home) }
            }
            do {
                let up = try await SwitchyardBinary.run([
                    "dev", "up", "--regions", "2", "--airflow", "--executor", executor, "--daemons", "--dir", dir,
                ])
                register()
                try #require(up.status == 0, "\(up.output)\(up.errors)")
                for drill in drills {
                    let run = try await SwitchyardBinary.run([
                        "drill", drillsDirectory + "/\(drill).yaml", "--dir", dir, "--json",
                    ])
                    register()
                    /// What the regions' Airflow daemons said, for whoever reads the failure.
                    func printLogs() {
                        let logs = (try? FileManager.default.contentsOfDirectory(atPath: dir + "/logs")) ?? []
                        for name in logs.sorted()
                        where name.contains("celery") || name.contains("scheduler-")
                            || name.contains("airflow-api") || name.hasPrefix("agent-")
                        {
                            let text = (try? String(contentsOfFile: dir + "/logs/" + name, encoding: .utf8)) ?? ""
                            print("--- \(name) (last 3000 characters)\n\(text.suffix(3000))")
                        }
                    }
                    guard let report = try? WireJSON.decoder().decode(DrillReport.self, from: Data(run.output.utf8))
                    else {
                        Issue.record("\(drill) printed no report (exit \(run.status)): \(run.errors.suffix(4000))")
                        printLogs()
                        throw DevError("no drill report")
                    }
                    print(
                        "\(executor) \(drill): detect \(report.detectMs ?? -1) ms, RTO \(report.rtoMs ?? -1) ms, first task in the "
                            + "target \(report.firstExecutionMs ?? -1) ms, last task finished \(report.lastTaskFinishedMs ?? -1) ms, "
                            + "\(report.runsFinishedInTarget ?? -1) of \(report.runsInFlight) runs finished there, "
                            + "\(report.taskAttempts ?? -1) task attempts"
                    )
                    #expect(
                        run.status == 0 && report.passed,
                        "\(drill): \(report.expectations.filter { !$0.held }) \(run.errors.suffix(3000))")
                    if run.status != 0 || !report.passed { printLogs() }
                    let runs = ["airflow-kill-hosts", "airflow-kill-region"].contains(drill) ? 6 : 4
                    #expect(
                        report.runsInFlight == runs && report.runsFinishedInTarget == runs && report.runsLost == 0
                            && report.runsTwice == 0, "\(drill)")
                    #expect(report.failover?.runsMoved == runs, "\(drill): \(String(describing: report.failover))")
                    // The ledger: runs of 3 tasks, each attempt recorded; nothing twice, again or left over.
                    #expect(
                        (report.taskAttempts ?? 0) >= 3 * runs, "\(drill): \(String(describing: report.taskAttempts))")
                    let ledger =
                        "overlapping \(String(describing: report.attemptsOverlapping)), rerun "
                        + "\(String(describing: report.tasksRerunAfterFinishing)), unfinished "
                        + "\(String(describing: report.tasksUnfinished))"
                    #expect(
                        report.attemptsOverlapping == 0 && report.tasksRerunAfterFinishing == 0
                            && report.tasksUnfinished == 0,
                        "\(drill): \(ledger): \(run.errors.suffix(3000))")
                }
            } catch {
                _ = try? await SwitchyardBinary.run(["dev", "down", "--dir", dir, "--purge"])
                throw error
            }
            _ = try? await SwitchyardBinary.run(["dev", "down", "--dir", dir, "--purge"])
        }
    }
}

/// Airflow with the CeleryExecutor: a suite of its own, so it runs beside the LocalExecutor's drills.
@Suite(
    "Airflow's CeleryExecutor across regions, against a real Apache Airflow 3.3.2",
    .enabled(if: AirflowInstall.celeryAvailable, Comment(rawValue: AirflowInstall.celerySkipReason)))
struct AirflowCeleryTests {
    /// The same with the CeleryExecutor (`dev up --executor celery`): each region's Redis is its broker and
    /// its Celery worker runs under `switchyard worker --exec`. `airflow-kill-hosts.yaml` kills every host of
    /// the active region but its database, the broker with two tasks queued in it included: those and the
    /// four cut off run in the target as their next try, once the old workers cannot run.
    /// (A switchover's drain of gated workers is tested with real processes in `GatedWorkerTests`; the shadow
    /// that carries task instances when the old database is lost too, in `MigrationTests` against real
    /// Postgres. The Celery switchover and `airflow-kill-region.yaml` drills' figures are in BENCHMARKS.md:
    /// with them here, a fresh-clone `make test` took 19.3 of its 20 minutes, and on a slower machine the
    /// kill-region drill's precondition, six runs in flight after kill-hosts, timed out.)
    @Test func theCeleryDrillMovesEveryTaskOnceQueuedOrRunningAndFinishesItInTheTarget() async throws {
        try await AirflowAcrossRegionsTests.runDrills(executor: "celery", ["airflow-kill-hosts"])
    }

}

/// Timestamped samples of the running schedulers.
final class SampleLog: @unchecked Sendable {
    struct Entry { var at: ContinuousClock.Instant; var pids: [pid_t] }
    private let lock = NSLock()
    private var stored: [Entry] = []
    func append(_ at: ContinuousClock.Instant, _ pids: [pid_t]) {
        lock.withLock { stored.append(Entry(at: at, pids: pids)) }
    }
    var entries: [Entry] { lock.withLock { stored } }
}

/// The agents compare the Airflow regions' Variables, Connections, Pools and Fernet key: set with
/// Airflow's own CLI in two real Airflow 3.3.2 regions, the drift shows in `/status` (digests, never a
/// value), the failover leader writes one warning event for it, and when the regions agree again the
/// status says so and an `airflow` event records it.
@Suite(
    "Airflow settings compared between regions, against a real Apache Airflow 3.3.2",
    .enabled(if: AirflowInstall.available, Comment(rawValue: AirflowInstall.skipReason)))
struct AirflowSettingsTests {
    @Test func theAgentsShowWhereAirflowSettingsDifferAndTheLeaderWarnsOnce() async throws {
        try await DevFixture.with(regions: 2, dags: fastDAGs) { f in
            async let eastHome = f.airflow("us-east", dags: [:])
            async let westHome = f.airflow("eu-west", dags: [:])
            let (east, west) = try await (eastHome, westHome)
            try f.reconfigure(DevSettings(airflowRegions: ["us-east", "eu-west"]))
            let path = f.config + "/controlplane.yaml"
            let text = try String(contentsOfFile: path, encoding: .utf8)
            try #require(text.contains("probes:\n"))
            try text.replacingOccurrences(of: "probes:\n", with: "probes:\n  airflow_check_interval: 2s\n")
                .write(toFile: path, atomically: true, encoding: .utf8)
            // The agent runs as its own role with the shipped grants (Airflow's tables exist by now).
            try await LeastPrivilegeTests.createRoles(f)
            let granted = try await SwitchyardBinary.run(["init", "--grants", "--config", f.config])
            try #require(granted.status == 0, "\(granted.output)\(granted.errors)")
            let agentConfig = try LeastPrivilegeTests.configuration(f, as: LeastPrivilegeTests.roles.agent)
            func airflow(_ home: AirflowHome, _ arguments: [String]) async throws {
                let outcome = try await home.run(arguments)
                try #require(outcome.status == 0, "airflow \(arguments.prefix(2)): \(outcome.output.suffix(1500))")
            }
            // A Variable with different values, a Connection (with a password) in one region only, a Pool
            // with different slots; and the scheduler nodes give Airflow different Fernet keys.
            async let e1: Void = airflow(east, ["variables", "set", "landing_bucket", "s3://east-landing"])
            async let w1: Void = airflow(west, ["variables", "set", "landing_bucket", "s3://west-landing"])
            _ = try await (e1, w1)
            async let e2: Void = airflow(
                east,
                ["connections", "add", "warehouse", "--conn-uri", "postgresql://etl:hunter2pass@127.0.0.1:5999/dw"])
            async let w2: Void = airflow(west, ["pools", "set", "etl", "8", "etl pool"])
            _ = try await (e2, w2)
            try await airflow(east, ["pools", "set", "etl", "4", "etl pool"])
            let keyA = "ZmDfcTF7_60GrrY167zsiPd67pEvs0aGOv2oasOM1Pg="
            let keyB = "Y2VsZXJ5LWRyaWZ0LXRlc3Qta2V5LTAxMjM0NTY3ODk="
            try f.start(
                "s-east", ["scheduler", "--region", "us-east", "--node-id", "s-east", "--exec", "sleep 600"],
                environment: ["AIRFLOW__CORE__FERNET_KEY": keyA])
            try f.start(
                "s-west", ["scheduler", "--region", "eu-west", "--node-id", "s-west", "--exec", "sleep 600"],
                environment: ["AIRFLOW__CORE__FERNET_KEY": keyB])
            // Both nodes have recorded their keys' fingerprints before the agent first looks.
            for region in ["us-east", "eu-west"] {
                let db = try await f.connect(region)
                let recorded = try await f.waitUntil(timeout: .seconds(30)) {
                    try await db.query("SELECT 1 FROM switchyard.nodes WHERE airflow_fernet IS NOT NULL").rows.count
                        == 1
                }
                try #require(recorded != nil, "\(region)'s node recorded no Fernet fingerprint")
                await db.close()
            }
            let agent = try await f.startAgent("us-east", config: agentConfig)
            let control = try await f.connectControl()
            func drift() async -> [String]? {
                guard let status = try? await f.status(agent), let c = status.airflowConsistency else { return nil }
                return c.regions.values.contains { $0.error != nil } ? nil : c.drift.map(\.summary)
            }
            let expected = [
                "connection warehouse missing in eu-west", "fernet key differs: eu-west vs us-east",
                "pool etl differs: eu-west vs us-east", "variable landing_bucket differs: eu-west vs us-east",
            ]
            let seen = await f.waitUntil(timeout: .seconds(60)) { await drift() == expected }
            let seenDrift = await drift()
            let seenStatus = try? await f.status(agent).airflowConsistency
            #expect(seen != nil, "drift: \(String(describing: seenDrift)) \(String(describing: seenStatus))")
            // Digests only: neither the password nor a Variable's value nor a Fernet key reaches the status.
            let body = String(decoding: try await f.get(agent, "/status").body, as: UTF8.self)
            for secret in ["hunter2pass", "east-landing", "west-landing", keyA, keyB] {
                #expect(!body.contains(secret), "\(secret) in /status")
            }
            #expect(body.contains("\"airflow_consistency\""))
            // The failover leader warns once.
            func events(_ kind: String) async throws -> [String] {
                try await control.query(
                    "SELECT message FROM switchyard.events WHERE kind = $1 AND detail ? 'airflow_drift' ORDER BY id",
                    [.text(kind)]
                ).rows.map { try $0["message"].require(String.self) }
            }
            let warned = try await f.waitUntil(timeout: .seconds(60)) { try await !events("warning").isEmpty }
            #expect(warned != nil)
            #expect(try await events("warning").first?.contains("connection warehouse missing in eu-west") == true)

            // Made equal again (the node restarted with the other region's key): consistent, and said once.
            async let e3: Void = airflow(east, ["connections", "delete", "warehouse"])
            async let w3: Void = airflow(west, ["variables", "set", "landing_bucket", "s3://east-landing"])
            _ = try await (e3, w3)
            try await airflow(west, ["pools", "set", "etl", "4", "etl pool"])
            kill(try #require(f.pid("s-west")), SIGKILL)
            try f.start(
                "s-west", ["scheduler", "--region", "eu-west", "--node-id", "s-west", "--exec", "sleep 600"],
                environment: ["AIRFLOW__CORE__FERNET_KEY": keyA])
            let agreed = await f.waitUntil(timeout: .seconds(60)) {
                (try? await f.status(agent).airflowConsistency?.consistent) == true
            }
            let agreedDrift = await drift()
            #expect(agreed != nil, "drift: \(String(describing: agreedDrift))")
            let resolved = try await f.waitUntil(timeout: .seconds(30)) { try await !events("airflow").isEmpty }
            #expect(resolved != nil)
            let warnings = try await events("warning")
            #expect(warnings.count == 1, "\(warnings)")
            await control.close()
        }
    }
}
