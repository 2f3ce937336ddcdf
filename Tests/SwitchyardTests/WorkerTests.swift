import Foundation
import Postgres
import Redis
import SwitchyardCore
import SwitchyardLab
import SwitchyardRuntime
import TestSupport
import Testing

@Suite("Workers with real processes", .serialized)
struct WorkerTests {
    func runState(_ db: PostgresConnection, _ dag: String) async throws -> (
        state: String, worker: String?, attempt: Int, note: String?
    )? {
        guard
            let row = try await db.query(
                "SELECT state, worker, attempt, note FROM switchyard.dag_run WHERE dag_id = $1 ORDER BY id DESC LIMIT 1",
                [.text(dag)]
            ).first
        else { return nil }
        return (
            try row["state"].require(), try row["worker"].optional(), try row["attempt"].require(),
            try row["note"].optional()
        )
    }

    @Test func workerKilledMidRunLeavesNoRunStuck() async throws {
        try await DevFixture.with(regions: 1, dags: fastDAGs) { f in
            try f.start("leader", ["scheduler", "--region", "us-east", "--node-id", "leader"])
            try f.start("w1", ["worker", "--region", "us-east", "--worker-id", "w1", "--stale-after", "2s"])
            let db = try await f.connect("us-east")
            let trigger = try await SwitchyardBinary.run(["trigger", "orphan_check", "--config", f.config, "--json"])
            #expect(trigger.status == 0, "\(trigger.errors)")
            try #require(
                await f.waitUntil(timeout: .seconds(10)) { try await runState(db, "orphan_check")?.worker == "w1" }
                    != nil)
            let started = await f.waitUntil(timeout: .seconds(5)) { pgrepCount("sleep 4.25") >= 1 }
            #expect(started != nil)
            kill(try #require(f.pid("w1")), SIGKILL)
            // The dead worker's command dies with it (its exec-guard sees EOF), so it cannot run twice at once.
            let orphanGone = await f.waitUntil(timeout: .seconds(3)) { pgrepCount("sleep 4.25") == 0 }
            try #require(orphanGone != nil, "orphaned command still running")
            try f.start("w2", ["worker", "--region", "us-east", "--worker-id", "w2", "--stale-after", "2s"])
            let done = try await f.waitUntil(timeout: .seconds(20)) {
                try await runState(db, "orphan_check")?.state == "success"
            }
            #expect(done != nil)
            let final = try #require(try await runState(db, "orphan_check"))
            #expect(final.worker == "w2")
            #expect(final.attempt == 2)
            let executions = try await db.query(
                "SELECT worker FROM switchyard.executions WHERE dag_id = 'orphan_check' ORDER BY id"
            ).rows.map { try $0["worker"].require(String.self) }
            #expect(executions == ["w1", "w2"])
        }
    }

    @Test func badRunsFailWithAReasonAndForeignMessagesAreAcknowledged() async throws {
        // This run's too_long command is unique to it, so a process count cannot see another test's.
        let sleeper = "sleep 30.\(UInt32.random(in: 100_000...999_999))"
        try await DevFixture.with(
            regions: 1,
            dags: fastDAGs.replacingOccurrences(of: "command: \"sleep 30\"", with: "command: \"\(sleeper)\"")
        ) { f in
            try f.start("leader", ["scheduler", "--region", "us-east", "--node-id", "leader"])
            try f.start("w1", ["worker", "--region", "us-east", "--worker-id", "w1"])
            let redis = try await f.redis("us-east")
            try await redis.command(["XADD", "switchyard:runs", "*", "hello", "world"])
            try await redis.command([
                "XADD", "switchyard:runs", "*", "region", "elsewhere", "epoch", "1", "dag_id", "a", "run_id", "b",
                "dispatch_id", "c",
            ])
            for dag in ["missing_command", "too_long"] {
                #expect(try await SwitchyardBinary.run(["trigger", dag, "--config", f.config]).status == 0)
            }
            let db = try await f.connect("us-east")
            // Bounded generously: a loaded fresh-clone run (13) had not failed both within 15 s.
            let bothFailed =
                try await f.waitUntil(timeout: .seconds(60)) {
                    let a = try await runState(db, "missing_command")?.state
                    let b = try await runState(db, "too_long")?.state
                    return a == "failed" && b == "failed"
                } != nil
            if !bothFailed {
                let a = try? await runState(db, "missing_command"), b = try? await runState(db, "too_long")
                Issue.record("missing_command \(String(describing: a)), too_long \(String(describing: b))")
            }
            try #require(bothFailed)
            #expect(try await runState(db, "missing_command")?.note == "command not found (exit 127)")
            #expect(try await runState(db, "too_long")?.note?.hasPrefix("timed out") == true)
            #expect(f.log("w1").contains("not a dispatch of this region"))
            // Everything was acknowledged: nothing stays pending in the group.
            try #require(
                await f.waitUntil(timeout: .seconds(30)) {
                    try await redis.command(["XPENDING", "switchyard:runs", "switchyard-workers"]).array?.first?.int
                        == 0
                } != nil)
            #expect(Processes.isAlive(try #require(f.pid("w1"))))
            // The timed-out command is gone (its group got SIGTERM, then SIGKILL; on a loaded machine the
            // kernel may take a moment to finish it after the guard returned).
            let gone = await f.waitUntil(timeout: .seconds(10)) { pgrepCount(sleeper) == 0 }
            #expect(gone != nil, "\(sleeper) still running: \(processes(sleeper))")
        }
    }

    @Test func unknownDAGAtTriggerAndBadConfigForTheScheduler() async throws {
        try await DevFixture.with(regions: 1, dags: fastDAGs) { f in
            let unknown = try await SwitchyardBinary.run(["trigger", "no_such_dag", "--config", f.config])
            #expect(unknown.status == 2)
            let badConf = try await SwitchyardBinary.run(["trigger", "slow", "--config", f.config, "--conf", "[1, 2]"])
            #expect(badConf.status == 2)
            try (fastDAGs + "  - id: broken\n    schedule: \"61 * * * *\"\n    command: \"true\"\n")
                .write(toFile: f.config + "/dags.yaml", atomically: true, encoding: .utf8)
            let run = try await SwitchyardBinary.run(["scheduler", "--config", f.config, "--region", "us-east"])
            #expect(run.status == 2)
            #expect(run.errors.contains("dags.yaml:18: dags[5].schedule:"), "\(run.errors)")
            let region = try await SwitchyardBinary.run(["scheduler", "--config", f.config, "--region", "nowhere"])
            #expect(region.status == 2)
        }
    }

    /// PID, parent, process group and parent's command line of each process whose command starts with `pattern`.
    func processes(_ pattern: String) -> [String] {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        return entries.compactMap(Int32.init).compactMap { pid in
            guard let cmd = Processes.readProcFile("/proc/\(pid)/cmdline")?.replacingOccurrences(of: "\0", with: " "),
                cmd.hasPrefix(pattern),
                let stat = Processes.readProcFile("/proc/\(pid)/stat")
            else { return nil }
            let fields = stat.split(separator: " ")
            let ppid = fields.count > 4 ? String(fields[3]) : "?"
            let parent =
                Processes.readProcFile("/proc/\(ppid)/cmdline")?.replacingOccurrences(of: "\0", with: " ") ?? "?"
            return
                "pid \(pid) ppid \(ppid) pgid \(fields.count > 4 ? String(fields[4]) : "?") state \(fields.count > 2 ? String(fields[2]) : "?") parent [\(parent)]"
        }
    }

    /// One run `r1` of `dag` claimed-ready in us-east under a fence valid for a minute, dispatched, and
    /// worker `w1` started to take it; returns the region's database and the worker's pid.
    func dispatchOneRun(
        _ f: DevFixture, dag: String, workerArguments: [String] = [], environment: [String: String] = [:]
    ) async throws -> (PostgresConnection, pid_t) {
        let db = try await f.connect("us-east")
        let redis = try await f.redis("us-east")
        try await db.query("UPDATE switchyard.fence SET open_until = now() + interval '1 minute'")
        try await db.query(
            "INSERT INTO switchyard.dag_run (dag_id, run_id, state, dispatch_id, dispatch_epoch) VALUES ($1, 'r1', 'running', 'd1', 1)",
            [.text(dag)])
        try await redis.command([
            "XADD", "switchyard:runs", "*", "region", "us-east", "epoch", "1", "dag_id", dag, "run_id", "r1",
            "dispatch_id", "d1",
        ])
        return (
            db,
            try f.start(
                "w1", ["worker", "--region", "us-east", "--worker-id", "w1"] + workerArguments, environment: environment
            )
        )
    }

    /// A DAG command gets an environment of its own: what a program needs, the run's SWITCHYARD_* details and
    /// what the operator lists, never the worker's secrets or anything unlisted.
    @Test func aDAGCommandGetsACleanEnvironmentNeverTheWorkersSecrets() async throws {
        let directory = try await TestServers.shared.scratchDirectory("worker-environment")
        let file = directory + "/environment"
        try await DevFixture.with(
            regions: 1, dags: "dags:\n  - id: show_env\n    command: \"env > \(file).tmp && mv \(file).tmp \(file)\"\n"
        ) { f in
            let (db, _) = try await dispatchOneRun(
                f, dag: "show_env", workerArguments: ["--command-env", "DATA_BUCKET"],
                environment: [
                    "SWITCHYARD_API_TOKEN": "api-secret-1", "PGPASSFILE": "/nonexistent/pg-secret-2",
                    "DATA_BUCKET": "s3://data", "UNLISTED": "not-for-the-command",
                ])
            let written = await f.waitUntil(timeout: .seconds(20)) { FileManager.default.fileExists(atPath: file) }
            try #require(written != nil, "the command never ran: \(f.log("w1").suffix(2000))")
            let text = try String(contentsOfFile: file, encoding: .utf8)
            let names = Set(text.split(separator: "\n").map { String($0.prefix { $0 != "=" }) })
            #expect(text.contains("\nDATA_BUCKET=s3://data\n") || text.hasPrefix("DATA_BUCKET=s3://data\n"))
            #expect(text.contains("SWITCHYARD_RUN_ID=r1"))
            #expect(text.contains("SWITCHYARD_REGION=us-east"))
            #expect(names.contains("PATH"))
            #expect(
                !names.contains("SWITCHYARD_API_TOKEN") && !names.contains("PGPASSFILE") && !names.contains("UNLISTED"))
            #expect(!text.contains("secret"), "\(text)")
            await db.close()
        }
    }

    func pgrepCount(_ pattern: String) -> Int {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        return entries.compactMap(Int32.init).filter { pid in
            guard Processes.isAlive(pid), let cmd = Processes.readProcFile("/proc/\(pid)/cmdline") else { return false }
            return cmd.replacingOccurrences(of: "\0", with: " ").hasPrefix(pattern)
        }.count
    }
}

@Suite("Workers drop dispatches below the region's fence", .serialized)
struct StaleDispatchTests {
    @Test func aDispatchFromAStaleEpochIsDroppedAndACurrentOneRuns() async throws {
        try await DevFixture.with(regions: 1, dags: fastDAGs) { f in
            let db = try await f.connect("us-east")
            let redis = try await f.redis("us-east")
            // A run dispatched by some leader, and a region fence raised since by a newer one.
            try await db.query(
                "INSERT INTO switchyard.dag_run (dag_id, run_id, state, dispatch_id, dispatch_epoch) VALUES ('missing_command', 'r1', 'running', 'd1', 3)"
            )
            let dispatcher = RunDispatcher(region: "us-east", stream: "switchyard:runs")
            try await dispatcher.raiseFence(redis, epoch: 5)
            try await redis.command([
                "XADD", "switchyard:runs", "*", "region", "us-east", "epoch", "3", "dag_id", "missing_command",
                "run_id", "r1", "dispatch_id", "d1",
            ])
            try f.start("w1", ["worker", "--region", "us-east", "--worker-id", "w1"])
            let dropped = await f.waitUntil(timeout: .seconds(10)) {
                f.log("w1").contains("dropping a dispatch from a stale epoch")
            }
            #expect(dropped != nil)
            try await Task.sleep(for: .milliseconds(500))
            #expect(
                try await db.query("SELECT worker FROM switchyard.dag_run WHERE run_id = 'r1'").first?["worker"].isNull
                    == true)
            #expect(try await db.query("SELECT count(*) AS n FROM switchyard.executions").first?["n"].int == 0)
            // The current leader's dispatch of the same run (at the fence's epoch) is claimed and run.
            try await redis.command([
                "XADD", "switchyard:runs", "*", "region", "us-east", "epoch", "5", "dag_id", "missing_command",
                "run_id", "r1", "dispatch_id", "d1",
            ])
            let ran = await f.waitUntil(timeout: .seconds(10)) {
                (try? await db.query("SELECT state FROM switchyard.dag_run WHERE run_id = 'r1'").first?["state"].string)
                    == "failed"
            }
            #expect(ran != nil)
            #expect(
                try await db.query("SELECT count(*) AS n FROM switchyard.executions WHERE epoch = 5").first?["n"].int
                    == 1)
            // The worker acknowledges the entry right after recording the outcome: wait for that, then check.
            _ = await f.waitUntil(timeout: .seconds(10)) {
                (try? await redis.command(["XPENDING", "switchyard:runs", "switchyard-workers"]).array?.first?.int) == 0
            }
            let pending = try await redis.command(["XPENDING", "switchyard:runs", "switchyard-workers"]).array?.first?
                .int
            #expect(pending == 0)
        }
    }

    @Test func aRunningCommandStopsWhenTheFenceValidityLapses() async throws {
        // A region cut off from the control database keeps its own database and Redis: its fence stays
        // open, but nobody pushes its validity any more. Its workers must stop what they run by themselves,
        // since the failover that could not reach the region dispatches the same runs elsewhere.
        try await DevFixture.with(
            regions: 1, dags: "dags:\n  - id: long\n    command: \"sleep 25.5\"\n    timeout: 1m\n"
        ) { f in
            let db = try await f.connect("us-east")
            let redis = try await f.redis("us-east")
            // The drain flag an earlier switchover away from this region left behind must not excuse an
            // open fence whose validity lapsed (it once did: the region's workers then never stopped).
            try await db.query("UPDATE switchyard.fence SET open_until = now() + interval '1 minute', drain = true")
            try await db.query(
                "INSERT INTO switchyard.dag_run (dag_id, run_id, state, dispatch_id, dispatch_epoch) VALUES ('long', 'r1', 'running', 'd1', 1)"
            )
            try await redis.command([
                "XADD", "switchyard:runs", "*", "region", "us-east", "epoch", "1", "dag_id", "long", "run_id", "r1",
                "dispatch_id", "d1",
            ])
            try f.start("w1", ["worker", "--region", "us-east", "--worker-id", "w1"])
            let started = await f.waitUntil(timeout: .seconds(10)) { WorkerTests().pgrepCount("sleep 25.5") == 1 }
            try #require(started != nil)
            try await db.query("UPDATE switchyard.fence SET open_until = now() - interval '1 second'")
            let stopped = await f.waitUntil(timeout: .seconds(10)) {
                (try? await db.query("SELECT outcome FROM switchyard.executions WHERE run_id = 'r1'").first?["outcome"]
                    .string) == "fenced"
            }
            #expect(stopped != nil, "the command outlived its fence validity")
            let gone = await f.waitUntil(timeout: .seconds(5)) { WorkerTests().pgrepCount("sleep 25.5") == 0 }
            #expect(gone != nil)
            // Whichever sees the lapse first stops it: the worker at its next fence read, or its guard when
            // the validity it was handed runs out (under load the worker's read can come later).
            let log = f.log("w1")
            #expect(log.contains("fence validity lapsed") || log.contains("fence validity ran out"), "\(log)")
            // Not recorded as finished, and the claim is given back: the run continues in the region that
            // takes over, or here, dispatched again by this region's next leader if no failover follows.
            let row = try await db.query("SELECT state, worker FROM switchyard.dag_run WHERE run_id = 'r1'").first
            #expect(row?["state"].string == "running" && row?["worker"].isNull == true)
        }
    }

    @Test func aRunningCommandSurvivesItsWorkerLosingTheDatabaseConnectionForAMoment() async throws {
        // The worker's connection is cut (its backends terminated) while a command runs with a valid fence:
        // the worker reconnects and confirms the fence again. It used to fail every later check on the
        // closed connection and kill the command half a lease TTL later.
        try await DevFixture.with(
            regions: 1, dags: "dags:\n  - id: four\n    command: \"sleep 4.5\"\n    timeout: 1m\n"
        ) { f in
            let db = try await f.connect("us-east")
            let redis = try await f.redis("us-east")
            try await db.query("UPDATE switchyard.fence SET open_until = now() + interval '1 minute'")
            try await db.query(
                "INSERT INTO switchyard.dag_run (dag_id, run_id, state, dispatch_id, dispatch_epoch) VALUES ('four', 'r1', 'running', 'd1', 1)"
            )
            try await redis.command([
                "XADD", "switchyard:runs", "*", "region", "us-east", "epoch", "1", "dag_id", "four", "run_id", "r1",
                "dispatch_id", "d1",
            ])
            try f.start("w1", ["worker", "--region", "us-east", "--worker-id", "w1"])
            let started = await f.waitUntil(timeout: .seconds(10)) {
                (try? await db.query("SELECT count(*) AS n FROM switchyard.executions WHERE run_id = 'r1'").first?["n"]
                    .int) == 1
            }
            try #require(started != nil)
            let mine = await db.backendPID
            try await db.query(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND pid <> $1 AND backend_type = 'client backend'",
                [.int(Int(mine))])
            let finished = await f.waitUntil(timeout: .seconds(20)) {
                (try? await db.query("SELECT outcome FROM switchyard.executions WHERE run_id = 'r1'").first?["outcome"]
                    .string) != nil
            }
            #expect(finished != nil)
            let outcome = try await db.query("SELECT outcome FROM switchyard.executions WHERE run_id = 'r1'").first?[
                "outcome"
            ].string
            #expect(outcome == "success", "\(f.log("w1").suffix(2000))")
        }
    }

    @Test func aFrozenWorkersCommandIsStoppedByItsGuard() async throws {
        // A frozen worker (SIGSTOP, a paused VM) keeps its guard's stdin open and confirms nothing: the
        // guard stops the command by itself when the validity the worker renews runs out, or the run
        // would go on here while the region that took over runs it too.
        try await DevFixture.with(
            regions: 1, dags: "dags:\n  - id: frozen\n    command: \"sleep 27.25\"\n    timeout: 1m\n"
        ) { f in
            let (db, worker) = try await WorkerTests().dispatchOneRun(f, dag: "frozen")
            let started = await f.waitUntil(timeout: .seconds(10)) { WorkerTests().pgrepCount("sleep 27.25") == 1 }
            try #require(started != nil)
            kill(worker, SIGSTOP)
            let gone = await f.waitUntil(timeout: .seconds(15)) { WorkerTests().pgrepCount("sleep 27.25") == 0 }
            kill(worker, SIGCONT)
            #expect(gone != nil, "the frozen worker's command kept running")
            // Resumed, the worker records the execution as stopped (fenced, or abandoned when its own
            // connection did not survive the freeze) and gives its claim back.
            let recorded = await f.waitUntil(timeout: .seconds(20)) {
                (try? await db.query(
                    "SELECT count(*) AS n FROM switchyard.executions WHERE run_id = 'r1' AND outcome IN ('fenced', 'abandoned')"
                ).first?["n"].int) == 1
            }
            let executions = try await db.query(
                "SELECT outcome, finished_at::text AS note FROM switchyard.executions WHERE run_id = 'r1'"
            ).rows
                .map { "\($0["outcome"].string ?? "-"): \($0["note"].string ?? "")" }
            #expect(recorded != nil, "\(executions) \(f.log("w1").suffix(2000))")
        }
    }

    /// A command that ends while its worker is frozen is recorded, once the worker resumes, as ended by the
    /// time its guard would have stopped it at the latest, not at the resume: the record of when a region ran
    /// a run must not outlast what it can have run (a drill judges overlap with the region that took over
    /// by it), nor say it ended before it may have.
    @Test func aCommandThatEndsWhileItsWorkerIsFrozenIsRecordedByItsTrustDeadline() async throws {
        try await DevFixture.with(
            regions: 1, dags: "dags:\n  - id: quick\n    command: \"sleep 1.25\"\n    timeout: 1m\n"
        ) { f in
            let (db, worker) = try await WorkerTests().dispatchOneRun(f, dag: "quick")
            let started = await f.waitUntil(timeout: .seconds(10)) { WorkerTests().pgrepCount("sleep 1.25") == 1 }
            try #require(started != nil)
            kill(worker, SIGSTOP)
            let ended = await f.waitUntil(timeout: .seconds(15)) { WorkerTests().pgrepCount("sleep 1.25") == 0 }
            // Frozen well past its trust in the last fence read (a lease TTL, 3 s here) and the guard's grace.
            try await Task.sleep(for: .seconds(9))
            let resumedAt = try await db.query("SELECT now() AS t").first?["t"].require(Date.self)
            kill(worker, SIGCONT)
            #expect(ended != nil, "the command did not end while its worker was frozen")
            let recorded = await f.waitUntil(timeout: .seconds(20)) {
                (try? await db.query(
                    "SELECT count(*) AS n FROM switchyard.executions WHERE run_id = 'r1' AND outcome = 'success'"
                ).first?["n"].int) == 1
            }
            try #require(recorded != nil, "\(f.log("w1").suffix(2000))")
            let row = try #require(
                try await db.query("SELECT started_at, finished_at FROM switchyard.executions WHERE run_id = 'r1'")
                    .first)
            let (from, to) = (try row["started_at"].require(Date.self), try row["finished_at"].require(Date.self))
            let resumed = try #require(resumedAt)
            #expect(to < resumed.addingTimeInterval(-3), "recorded as ended at \(to), the worker resumed at \(resumed)")
            #expect(to.timeIntervalSince(from) >= 1.25, "recorded as ended before the command can have")
        }
    }

    /// A worker hands its guard the validity (a leader its lease) as an instant of the host's boot clock:
    /// the guard's own start-up counts against it. Given one already past, the guard stops the command at once (before it
    /// can get to its second step); given one ahead, it lets the command finish.
    @Test func aGuardGivenAValidityInstantAlreadyPastStopsTheCommandAtOnce() async throws {
        let directory = try await TestServers.shared.scratchDirectory("guard")
        func guarded(
            validFor: Duration, option: String = "--valid-until-ns", clockFile: String? = nil, _ script: String
        ) async throws -> Int32 {
            var ts = timespec()
            clock_gettime(CLOCK_BOOTTIME, &ts)
            let (seconds, attoseconds) = validFor.components
            let until =
                Int64(ts.tv_sec) * 1_000_000_000 + Int64(ts.tv_nsec) + seconds * 1_000_000_000 + attoseconds
                / 1_000_000_000
            let arguments = [
                "exec-guard", "--grace-ms", "200", "--lease-ms", "60000", option, String(until), "--", "/bin/sh",
                "-c", script,
            ]
            let (program, argv) =
                clockFile.map { LabClocks.command(SwitchyardBinary.path, arguments, clockFile: $0) }
                ?? (SwitchyardBinary.path, arguments)
            let process = Process()
            process.executableURL = URL(fileURLWithPath: program)
            process.arguments = argv
            let input = Pipe()  // held open: the guard's node is alive
            process.standardInput = input
            try process.run()
            let deadline = ContinuousClock.now + .seconds(30)
            while process.isRunning && ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(50)) }
            if process.isRunning { process.terminate() }
            try? input.fileHandleForWriting.close()
            return process.terminationStatus
        }
        let marker = directory + "/second-step"
        let past = try await guarded(validFor: .seconds(-1), "sleep 2; touch \(marker); sleep 30")
        #expect(past == ExecGuard.unconfirmedExitCode)
        #expect(!FileManager.default.fileExists(atPath: marker), "the command ran past a validity already over")
        #expect(try await guarded(validFor: .seconds(60), "sleep 0.2") == 0)
        // A leader's guard takes the end of its leadership the same way.
        let lapsedLeader = directory + "/leader-second-step"
        let lease = try await guarded(
            validFor: .seconds(-1), option: "--lease-until-ns", "sleep 2; touch \(lapsedLeader); sleep 30")
        #expect(lease == ExecGuard.timedOutExitCode)
        #expect(!FileManager.default.fileExists(atPath: lapsedLeader))
        // On a lab clock (libfaketime) whose wall clock steps 30 s ahead while the command runs, the instant
        // still means the same moment: the boot clock is not faked, so the step neither ends the validity
        // early nor stretches it.
        if LabClocks.available {
            let clockFile = directory + "/stepped.faketime"
            try "+0.000\n".write(toFile: clockFile, atomically: true, encoding: .utf8)
            let finished = directory + "/stepped-finished"
            async let stepped = guarded(
                validFor: .seconds(4), clockFile: clockFile, "sleep 2; touch \(finished)")
            try await Task.sleep(for: .milliseconds(500))
            try "+30.000\n".write(toFile: clockFile, atomically: true, encoding: .utf8)
            #expect(try await stepped == 0)
            #expect(FileManager.default.fileExists(atPath: finished))
            let cut = directory + "/stepped-cut"
            try "+30.000\n".write(toFile: clockFile, atomically: true, encoding: .utf8)
            #expect(
                try await guarded(validFor: .seconds(1), clockFile: clockFile, "sleep 3; touch \(cut); sleep 30")
                    == ExecGuard.unconfirmedExitCode)
            #expect(!FileManager.default.fileExists(atPath: cut))
        }
    }

    /// What a command started in a session of its own (Airflow's task runner moves each task into a group
    /// of its own) is still the guard's: when the guard stops the command, or the command exits, the guard
    /// kills every descendant it left, wherever it moved. Without the guard as its subreaper, the orphan
    /// would be init's and run on: a task in the old region beside its next try in the new one.
    @Test func aGuardKillsWhatItsCommandLeftInAnotherSession() async throws {
        for (name, script, lease) in [
            ("stopped", "setsid sleep 4243.\(UInt32.random(in: 100_000...999_999)) & sleep 600", "1000"),
            ("exited", "setsid sleep 4244.\(UInt32.random(in: 100_000...999_999)) & sleep 0.5", "60000"),
        ] {
            let sleeper = String(script.split(separator: "&")[0].dropFirst("setsid ".count)).trimmingCharacters(
                in: .whitespaces)
            let process = Process()
            process.executableURL = URL(fileURLWithPath: SwitchyardBinary.path)
            process.arguments = ["exec-guard", "--grace-ms", "200", "--lease-ms", lease, "--", "/bin/sh", "-c", script]
            let input = Pipe()  // held open: the guard's node is alive
            process.standardInput = input
            try process.run()
            var started = false
            let until = ContinuousClock.now + .seconds(10)
            while !started && ContinuousClock.now < until {
                started = WorkerTests().pgrepCount(sleeper) == 1
                if !started { try await Task.sleep(for: .milliseconds(50)) }
            }
            #expect(started, "\(name): the command's detached child never started")
            let deadline = ContinuousClock.now + .seconds(30)
            while process.isRunning && ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(50)) }
            #expect(!process.isRunning, "\(name): the guard did not exit")
            try? input.fileHandleForWriting.close()
            // Gone by the time the guard has exited (it reaps what it kills).
            #expect(WorkerTests().pgrepCount(sleeper) == 0, "\(name): \(sleeper) outlived its guard")
            _ = try? await Subprocess.run("/usr/bin/pkill", ["-f", sleeper], check: false)
        }
    }

    /// A guard that was not scheduled for a while (a starved host) takes the renewals already written to it
    /// before it judges its deadline: the validity it started with has passed, but a renewal waits in its
    /// input, so the command runs on; a renewal that is itself past keeps nothing running.
    @Test func aGuardTakesTheRenewalsWaitingInItsInputBeforeJudgingItsDeadline() async throws {
        let directory = try await TestServers.shared.scratchDirectory("guard-renewal")
        func boot(_ offset: Duration) -> Int64 {
            var ts = timespec()
            clock_gettime(CLOCK_BOOTTIME, &ts)
            let (seconds, attoseconds) = offset.components
            return Int64(ts.tv_sec) * 1_000_000_000 + Int64(ts.tv_nsec) + seconds * 1_000_000_000 + attoseconds
                / 1_000_000_000
        }
        func guarded(renewal: Duration, _ script: String) async throws -> Int32 {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: SwitchyardBinary.path)
            process.arguments = [
                "exec-guard", "--grace-ms", "200", "--lease-ms", "60000", "--valid-until-ns",
                String(boot(.seconds(-1))),
                "--", "/bin/sh", "-c", script,
            ]
            let input = Pipe()  // held open: the guard's worker is alive
            process.standardInput = input
            // Written before the guard runs: it is in the guard's input from its first instant.
            input.fileHandleForWriting.write(Data("valid-until \(boot(renewal))\n".utf8))
            try process.run()
            let deadline = ContinuousClock.now + .seconds(30)
            while process.isRunning && ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(50)) }
            if process.isRunning { process.terminate() }
            try? input.fileHandleForWriting.close()
            return process.terminationStatus
        }
        let finished = directory + "/finished"
        #expect(try await guarded(renewal: .seconds(60), "sleep 0.5; touch \(finished)") == 0)
        #expect(FileManager.default.fileExists(atPath: finished), "a renewal waiting in the input was not taken")
        let cut = directory + "/cut"
        #expect(
            try await guarded(renewal: .seconds(-1), "sleep 2; touch \(cut); sleep 30") == ExecGuard.unconfirmedExitCode
        )
        #expect(!FileManager.default.fileExists(atPath: cut))
    }

    @Test func aFenceWhoseValidityLapsedIsNotClaimedThrough() async throws {
        try await DevFixture.with(regions: 1, dags: fastDAGs) { f in
            let db = try await f.connect("us-east")
            let redis = try await f.redis("us-east")
            // The fence is open, but the last leased tick was long ago (as after the region's database
            // died in a failover and came back): its workers must not claim their old runs again.
            try await db.query("UPDATE switchyard.fence SET open_until = now() - interval '10 seconds'")
            try await db.query(
                "INSERT INTO switchyard.dag_run (dag_id, run_id, state, dispatch_id, dispatch_epoch) VALUES ('missing_command', 'r1', 'running', 'd1', 1)"
            )
            try await redis.command([
                "XADD", "switchyard:runs", "*", "region", "us-east", "epoch", "1", "dag_id", "missing_command",
                "run_id", "r1", "dispatch_id", "d1",
            ])
            try f.start("w1", ["worker", "--region", "us-east", "--worker-id", "w1"])
            try await Task.sleep(for: .seconds(2))
            #expect(
                try await db.query("SELECT worker FROM switchyard.dag_run WHERE run_id = 'r1'").first?["worker"].isNull
                    == true)
            #expect(try await db.query("SELECT count(*) AS n FROM switchyard.executions").first?["n"].int == 0)
            // A leased tick pushes the validity forward: the same dispatch is claimed and run.
            try await db.query("UPDATE switchyard.fence SET open_until = now() + interval '1 minute'")
            try await redis.command([
                "XADD", "switchyard:runs", "*", "region", "us-east", "epoch", "1", "dag_id", "missing_command",
                "run_id", "r1", "dispatch_id", "d1",
            ])
            let ran = await f.waitUntil(timeout: .seconds(10)) {
                (try? await db.query("SELECT state FROM switchyard.dag_run WHERE run_id = 'r1'").first?["state"].string)
                    == "failed"
            }
            #expect(ran != nil)
        }
    }

    @Test func aRunTheWorkerStoppedWithoutRecordingIsReleasedWhenItReconnects() async throws {
        try await DevFixture.with(regions: 1, dags: fastDAGs) { f in
            let db = try await f.connect("us-east")
            // As after the region's database died under a running command: claimed by w1, executing
            // nowhere, the stop never recorded.
            try await db.query(
                "INSERT INTO switchyard.dag_run (dag_id, run_id, state, dispatch_id, dispatch_epoch, worker) VALUES ('slow', 'r1', 'running', 'd1', 1, 'w1')"
            )
            try await db.query(
                "INSERT INTO switchyard.executions (dag_id, run_id, attempt, epoch, worker) VALUES ('slow', 'r1', 1, 1, 'w1')"
            )
            try f.start("w1", ["worker", "--region", "us-east", "--worker-id", "w1"])
            let released = await f.waitUntil(timeout: .seconds(10)) {
                (try? await db.query("SELECT worker FROM switchyard.dag_run WHERE run_id = 'r1'").first?["worker"]
                    .isNull) == true
            }
            #expect(released != nil, "\(f.log("w1"))")
            let execution = try await db.query(
                "SELECT outcome, finished_at FROM switchyard.executions WHERE run_id = 'r1'"
            ).first
            #expect(execution?["outcome"].string == "abandoned" && execution?["finished_at"].isNull == true)
            // Another worker's claim is not touched.
            try await db.query(
                "INSERT INTO switchyard.dag_run (dag_id, run_id, state, dispatch_id, dispatch_epoch, worker) VALUES ('slow', 'r2', 'running', 'd2', 1, 'w2')"
            )
            try f.start("w1b", ["worker", "--region", "us-east", "--worker-id", "w1"])
            try await Task.sleep(for: .seconds(2))
            #expect(
                try await db.query("SELECT worker FROM switchyard.dag_run WHERE run_id = 'r2'").first?["worker"].string
                    == "w2")
        }
    }
}
