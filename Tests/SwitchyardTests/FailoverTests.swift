import Crypto
import Foundation
import Postgres
import SwitchyardCore
import SwitchyardLab
import SwitchyardRuntime
import TestSupport
import Testing

@Suite("Failover executor through the binary, real regions and processes", .serialized)
struct FailoverTests {
    static let secret = "hook-secret-\(UInt32.random(in: 0...UInt32.max))"

    /// A two-region deployment whose eu-west and us-east route through hooks on `server`.
    func withFixture<T>(server: LoopbackHTTPServer, _ body: (DevFixture) async throws -> T) async throws -> T {
        // Manual DAGs only, so the set of active runs holds still while a test looks at it.
        try await DevFixture.with(regions: 2, dags: "dags:\n  - id: slow\n    command: \"sleep 4\"\n    timeout: 1m\n")
        { f in
            try patchHooks(f, server: server)
            return try await body(f)
        }
    }

    func patchHooks(_ f: DevFixture, server: LoopbackHTTPServer) throws {
        for region in ["us-east", "eu-west"] {
            let path = f.config + "/\(region).yaml"
            let hooks = """
                routing:
                  hooks:
                    - name: dns
                      url: "\(server.baseURL)/dns"
                      secret_env: SY_TEST_HOOK_SECRET
                      timeout: 1s
                      retries: 3
                      backoff: 50ms
                      max_backoff: 200ms

                """
            try (try String(contentsOfFile: path, encoding: .utf8) + hooks).write(
                toFile: path, atomically: true, encoding: .utf8)
        }
    }

    func failover(_ f: DevFixture, _ arguments: [String], stopAfter: String? = nil) async throws -> SwitchyardBinary.Run
    {
        var environment = ["SY_TEST_HOOK_SECRET": Self.secret]
        if let stopAfter { environment["SWITCHYARD_TEST_STOP_AFTER_STEP"] = stopAfter }
        return try await SwitchyardBinary.run(arguments + ["--config", f.config], environment: environment)
    }

    func count(_ c: PostgresConnection, _ sql: String, _ parameters: [PostgresValue] = []) async throws -> Int {
        try await c.query(sql, parameters).first?["n"].require(Int.self) ?? -1
    }

    @Test func forcedFailoverMovesEveryActiveRunOnceFencesTheOldRegionAndCallsSignedHooks() async throws {
        let server = try LoopbackHTTPServer(
            handler: LoopbackHTTPServer.sequence([.status(500), .status(500), .status(200)]))
        defer { server.stop() }
        try await withFixture(server: server) { f in
            for region in ["us-east", "eu-west"] {
                try f.start("s-\(region)", ["scheduler", "--region", region, "--node-id", "s-\(region)"])
                try f.start("w-\(region)", ["worker", "--region", region, "--worker-id", "w-\(region)"])
            }
            let east = try await f.connect("us-east")
            let west = try await f.connect("eu-west")
            for _ in 0..<4 {
                #expect(try await SwitchyardBinary.run(["trigger", "slow", "--config", f.config]).status == 0)
            }
            // One run executing in us-east, the others running-but-unclaimed or queued.
            try #require(
                await f.waitUntil(timeout: .seconds(10)) {
                    try await count(east, "SELECT count(*) AS n FROM switchyard.executions WHERE finished_at IS NULL")
                        == 1
                } != nil)

            let run = try await failover(f, ["failover", "--to", "eu-west", "--force", "--reason", "test", "--json"])
            #expect(run.status == 0, "\(run.output)\n\(run.errors)")
            let report = try WireJSON.decoder().decode(FailoverExecutor.Report.self, from: Data(run.output.utf8))
            #expect(report.state == .completed)
            // What was active in us-east when it was fenced: its rows stay as they were from then on (its
            // scheduler is idle and its worker records nothing for the command it stopped).
            let active = try await east.query(
                "SELECT dag_id, run_id FROM switchyard.dag_run WHERE state IN ('queued', 'running') ORDER BY run_id"
            ).rows.map { try $0["run_id"].require(String.self) }
            #expect(active.count >= 2)
            #expect(report.runsMoved == active.count)
            #expect(report.runsSource == "table")
            #expect(report.hooks.first?.attempts.map(\.status) == [500, 500, 200])

            // The old region is fenced at the new epoch; the target is open and active.
            let fence = try #require(try await east.query("SELECT open, cluster_epoch FROM switchyard.fence").first)
            #expect(fence["open"].bool == false && fence["cluster_epoch"].int == report.epoch)
            #expect(try await west.query("SELECT open FROM switchyard.fence").first?["open"].bool == true)
            let control = try await f.connectControl()
            #expect(
                try await control.query("SELECT active_region FROM switchyard.cluster_state").first?["active_region"]
                    .string == "eu-west")
            // The journal has each step once.
            let steps = try await control.query(
                "SELECT step FROM switchyard.failover_steps WHERE failover_id = $1 ORDER BY started_at",
                [.int(report.id)]
            )
            .rows.map { try $0["step"].require(String.self) }
            #expect(steps == ["begin", "fence", "migrate", "activate", "route", "complete"])

            // Every moved run finishes in eu-west, executed there once; the one that was executing in us-east
            // was stopped there before eu-west could start it.
            let done = await f.waitUntil(timeout: .seconds(40)) {
                (try? await count(west, "SELECT count(*) AS n FROM switchyard.dag_run WHERE state = 'success'"))
                    == active.count
            }
            #expect(done != nil)
            #expect(
                try await count(
                    west,
                    "SELECT count(*) AS n FROM (SELECT run_id FROM switchyard.executions GROUP BY run_id HAVING count(*) > 1) x"
                ) == 0)
            let stoppedEast = try await east.query(
                "SELECT run_id, finished_at FROM switchyard.executions WHERE outcome = 'fenced'"
            ).rows
            #expect(stoppedEast.count <= 1)  // the one executing at the fence, unless it had just finished
            for row in stoppedEast {
                let runId: String = try row["run_id"].require()
                let stoppedAt: Date = try row["finished_at"].require()
                let startedWest = try await west.query(
                    "SELECT min(started_at) AS t FROM switchyard.executions WHERE run_id = $1", [.text(runId)]
                )
                .first?["t"].optional(Date.self)
                #expect(startedWest.map { $0 >= stoppedAt } ?? false, "\(runId) ran in two regions at once")
            }
            #expect(
                try await count(
                    east,
                    "SELECT count(*) AS n FROM switchyard.dag_run WHERE created_epoch IS NOT NULL AND queued_at > now() - interval '1 second'"
                ) == 0)

            // The hook calls were signed with the secret.
            for request in server.requests {
                let timestamp = try #require(request.header(HookCaller.timestampHeader))
                let mac = HMAC<SHA256>.authenticationCode(
                    for: Array((timestamp + "." + request.bodyText).utf8),
                    using: SymmetricKey(data: Array(Self.secret.utf8)))
                #expect(
                    request.header(HookCaller.signatureHeader) == "sha256="
                        + mac.map { String(format: "%02x", $0) }.joined())
                #expect(request.bodyText.contains("\"region\":\"eu-west\""))
            }
            #expect(!run.output.contains(Self.secret) && !run.errors.contains(Self.secret))
            let history = try await SwitchyardBinary.run(["history", "--config", f.config])
            #expect(history.output.contains("forced us-east -> eu-west completed"))

            // Failback: us-east's stale copies of the moved runs (finished in eu-west since) are superseded,
            // never executed again.
            let moved = PostgresValue.array(active.map { .text($0) })
            let executionsBefore = try await count(
                east, "SELECT count(*) AS n FROM switchyard.executions WHERE run_id = ANY($1::text[])", [moved])
            let back = try await failover(f, ["failover", "--to", "us-east", "--force", "--json"])
            #expect(back.status == 0, "\(back.errors)")
            try await Task.sleep(for: .seconds(3))
            #expect(
                try await count(
                    east,
                    "SELECT count(*) AS n FROM switchyard.dag_run WHERE run_id = ANY($1::text[]) AND state IN ('queued', 'running')",
                    [.array(active.map { .text($0) })]) == 0)
            #expect(
                try await count(east, "SELECT count(*) AS n FROM switchyard.dag_run WHERE note LIKE 'superseded%'")
                    == active.count)
            #expect(
                try await count(
                    east, "SELECT count(*) AS n FROM switchyard.executions WHERE run_id = ANY($1::text[])", [moved])
                    == executionsBefore)
        }
    }

    @Test func aFailoverInterruptedAfterAnyStepIsFinishedExactlyOnce() async throws {
        let server = try LoopbackHTTPServer { _ in .status(200) }
        defer { server.stop() }
        try await withFixture(server: server) { f in
            let control = try await f.connectControl()
            var from = "us-east", to = "eu-west"
            for step in ["begin", "fence", "migrate", "activate", "route"] {
                let source = try await f.connect(from)
                try await source.query(
                    "INSERT INTO switchyard.dag_run (dag_id, run_id, state) VALUES ('slow', $1, 'queued')",
                    [.text("before-\(step)")])
                let interrupted = try await failover(f, ["failover", "--to", to, "--force"], stopAfter: step)
                #expect(interrupted.status == 99, "stop after \(step): \(interrupted.errors)")
                let running = try await control.query("SELECT id FROM switchyard.failovers WHERE state = 'running'")
                    .first?["id"].int
                let id = try #require(running, "no running failover after stopping at \(step)")
                let busy = try await failover(f, ["failover", "--to", to, "--force"])
                #expect(busy.status == 1 && busy.errors.contains("failover \(id) is in progress"))
                let resumed = try await failover(f, ["failover", "--resume"])
                #expect(resumed.status == 0, "resume after \(step): \(resumed.errors)")
                let steps = try await control.query(
                    "SELECT step, finished_at IS NOT NULL AS done FROM switchyard.failover_steps WHERE failover_id = $1",
                    [.int(id)]
                ).rows
                #expect(steps.count == 6 && steps.allSatisfy { $0["done"].bool == true }, "journal after \(step)")
                #expect(
                    try await control.query("SELECT state FROM switchyard.failovers WHERE id = $1", [.int(id)]).first?[
                        "state"
                    ].string == "completed")
                let target = try await f.connect(to)
                #expect(
                    try await count(
                        target, "SELECT count(*) AS n FROM switchyard.dag_run WHERE run_id = $1",
                        [.text("before-\(step)")]) == 1)
                #expect(
                    try await control.query("SELECT active_region FROM switchyard.cluster_state").first?[
                        "active_region"
                    ].string == to)
                swap(&from, &to)
            }
        }
    }

    /// A migrate resumed after an interrupted attempt, its old database now gone, copies from the shadow but
    /// fails none of the target's active runs: the first attempt may have copied them from the old database,
    /// and the shadow, older, would not list them.
    @Test func aResumedMigrateFromTheShadowFailsNoRunOfTheTarget() async throws {
        let server = try LoopbackHTTPServer { _ in .status(200) }
        defer { server.stop() }
        try await withFixture(server: server) { f in
            let interrupted = try await failover(f, ["failover", "--to", "eu-west", "--force"], stopAfter: "fence")
            #expect(interrupted.status == 99, "\(interrupted.errors)")
            // What the interrupted migrate had copied from us-east, as it would have (queued, marked).
            let west = try await f.connect("eu-west")
            try await west.query(
                "INSERT INTO switchyard.dag_run (dag_id, run_id, state, migrated_from) VALUES ('slow', 'copied-first', 'queued', 'us-east')"
            )
            await f.state.postgres["us-east"]!.stop()
            let resumed = try await failover(f, ["failover", "--resume"])
            #expect(resumed.status == 0, "\(resumed.errors)")
            #expect(
                try await west.query("SELECT state FROM switchyard.dag_run WHERE run_id = 'copied-first'").first?[
                    "state"
                ].string == "queued")
            let control = try await f.connectControl()
            let warned = try await control.query(
                "SELECT count(*) AS n FROM switchyard.events WHERE kind = 'warning' AND message LIKE '%resumed migrate%'"
            ).first?["n"].int
            #expect(warned == 1)
            let source = try await control.query("SELECT runs_source FROM switchyard.failovers").first?["runs_source"]
            #expect(source?.string == "shadow")
        }
    }

    @Test func switchoverDrainsWithoutReexecutingAndRefusesBadTargets() async throws {
        let server = try LoopbackHTTPServer { _ in .status(200) }
        defer { server.stop() }
        try await withFixture(server: server) { f in
            for region in ["us-east", "eu-west"] {
                try f.start("s-\(region)", ["scheduler", "--region", region, "--node-id", "s-\(region)"])
                try f.start("w-\(region)", ["worker", "--region", region, "--worker-id", "w-\(region)"])
            }
            let east = try await f.connect("us-east")
            let west = try await f.connect("eu-west")
            let control = try await f.connectControl()
            let unknown = try await failover(f, ["switchover", "--to", "atlantis"])
            #expect(unknown.status == 1 && unknown.errors.contains("no region named atlantis"))
            #expect(try await SwitchyardBinary.run(["trigger", "slow", "--config", f.config]).status == 0)
            try #require(
                await f.waitUntil(timeout: .seconds(10)) {
                    try await count(east, "SELECT count(*) AS n FROM switchyard.executions WHERE finished_at IS NULL")
                        == 1
                } != nil)
            let run = try await failover(f, ["switchover", "--to", "eu-west", "--json"])
            #expect(run.status == 0, "\(run.errors)")
            let report = try WireJSON.decoder().decode(FailoverExecutor.Report.self, from: Data(run.output.utf8))
            #expect(report.kind == .switchover && report.state == .completed)
            // The running command finished in us-east; nothing ran twice.
            #expect(
                try await count(
                    east, "SELECT count(*) AS n FROM switchyard.dag_run WHERE dag_id = 'slow' AND state = 'success'")
                    == 1)
            #expect(try await count(west, "SELECT count(*) AS n FROM switchyard.dag_run WHERE dag_id = 'slow'") == 0)
            #expect(
                try await count(east, "SELECT count(*) AS n FROM switchyard.executions WHERE outcome = 'fenced'") == 0)
            // us-east was drained; switched back to, it is open again and its drain flag is gone (a
            // flag left behind once excused its workers from ever checking the fence validity).
            #expect(try await east.query("SELECT drain FROM switchyard.fence").first?["drain"].bool == true)
            let back = try await failover(f, ["switchover", "--to", "us-east"])
            #expect(back.status == 0, "\(back.errors)")
            let fence = try await east.query("SELECT open, drain FROM switchyard.fence").first
            #expect(fence?["open"].bool == true && fence?["drain"].bool == false)
            // A switchover to a region whose database is down is refused, and nothing changes.
            let epoch = try await control.query("SELECT epoch FROM switchyard.cluster_state").first?["epoch"].int
            await west.close()
            await f.state.postgres["eu-west"]!.stop()
            let refused = try await failover(f, ["switchover", "--to", "eu-west"])
            #expect(refused.status == 1 && refused.errors.contains("eu-west's database does not answer"))
            #expect(
                try await control.query("SELECT epoch, active_region FROM switchyard.cluster_state").first.map {
                    ($0["epoch"].int, $0["active_region"].string)
                }! == (epoch, "us-east"))
        }
    }
}

@Suite("Failover outcomes with failing hooks and other failed components", .serialized)
struct FailoverOutcomeTests {
    /// The journaled results of the fence and activate steps, as JSON text by step.
    func fenceAndActivateResults(_ control: PostgresConnection) async throws -> [String: String] {
        try await control.query(
            "SELECT step, result::text AS r FROM switchyard.failover_steps WHERE step IN ('fence', 'activate')"
        ).rows.reduce(into: [String: String]()) { $0[$1["step"].string ?? ""] = $1["r"].string }
    }

    @Test func aRequiredHookThatNeverSucceedsEndsCompletedWithErrors() async throws {
        let server = try LoopbackHTTPServer { _ in .status(503) }
        defer { server.stop() }
        try await DevFixture.with(regions: 2, dags: "dags:\n  - id: slow\n    command: \"sleep 4\"\n") { f in
            let path = f.config + "/eu-west.yaml"
            try
                (try String(contentsOfFile: path, encoding: .utf8)
                + "routing:\n  hooks:\n    - name: lb\n      url: \"\(server.baseURL)/lb\"\n      retries: 1\n      backoff: 10ms\n      max_backoff: 10ms\n")
                .write(toFile: path, atomically: true, encoding: .utf8)
            // An agent that saw the cluster before the failover counts its failed hook; the target must be
            // healthy in its view (schedulers running) for the forced failover to be admitted.
            for r in ["us-east", "eu-west"] {
                try f.start("s-\(r)", ["scheduler", "--region", r, "--node-id", "s-\(r)"])
            }
            let agent = try await f.startAgent("us-east")
            try #require(await f.waitSteady(try await f.connectControl(), observers: 1))
            try #require(
                await f.waitUntil(timeout: .seconds(20)) {
                    (try? await f.get(agent, "/metrics").bodyText.contains("switchyard_failover_running 0")) == true
                } != nil)
            let run = try await SwitchyardBinary.run([
                "failover", "--to", "eu-west", "--force", "--config", f.config, "--json",
            ])
            #expect(run.status == 1, "\(run.output) \(run.errors)")
            // The agent counts from the journal on its refresh: bounded generously, for a loaded host.
            let counted = await f.waitUntil(timeout: .seconds(60)) {
                (try? await f.get(agent, "/metrics").bodyText.contains("switchyard_hook_failures_total{hook=\"lb\"} 1"))
                    == true
            }
            let seen = (try? await f.get(agent, "/metrics").bodyText)?.split(separator: "\n")
                .filter { $0.contains("hook_failures") || $0.contains("failover_running") }.joined(separator: "; ")
            try #require(counted != nil, "the agent never counted the failed hook once: \(seen ?? "no metrics")")
            let metrics = try await f.get(agent, "/metrics").bodyText
            #expect(metrics.contains("switchyard_active_region{region=\"eu-west\"} 1"))
            // /history, served without a token, shows a hook's origin, not its path (a webhook's secret).
            let history = try await f.get(agent, "/history").bodyText
            #expect(history.contains("\"url\":\"\(server.baseURL)\""), "\(history)")
            #expect(!history.contains("\(server.baseURL)/lb"), "\(history)")
            #expect(metrics.contains("switchyard_failover_step_age_seconds{step=\"route\"} 0"))
            // Every metric the shipped alert rules and Grafana dashboard name is one a live agent exports.
            for name in try OperatorKit.metricNames() {
                #expect(metrics.contains(name), "deploy/ names \(name), which the agent does not export")
            }
            let report = try WireJSON.decoder().decode(FailoverExecutor.Report.self, from: Data(run.output.utf8))
            #expect(report.state == .completedWithErrors)
            #expect(report.hooks.first?.attempts.map(\.status) == [503, 503])
            let control = try await f.connectControl()
            #expect(
                try await control.query("SELECT error FROM switchyard.failovers").first?["error"].string
                    == "required hooks failed: lb")
            // The failover itself happened: the target is active.
            #expect(
                try await control.query("SELECT active_region FROM switchyard.cluster_state").first?["active_region"]
                    .string == "eu-west")
        }
    }

    @Test func theFenceStepDoesNotWaitForExecutionsAWorkerAbandoned() async throws {
        // A worker that lost track of an execution in a crash marks it abandoned with its end unknown; a
        // live worker's abandoned execution is not running, so a later failover must not wait for it.
        try await DevFixture.with(regions: 2, dags: "dags:\n  - id: slow\n    command: \"sleep 4\"\n") { f in
            let east = try await f.connect("us-east")
            try await east.query(
                "INSERT INTO switchyard.nodes (node_id, host, pid, role) VALUES ('w1', 'here', 1, 'follower')")
            try await east.query(
                "INSERT INTO switchyard.executions (dag_id, run_id, attempt, epoch, worker, outcome) VALUES ('slow', 'r1', 1, 1, 'w1', 'abandoned')"
            )
            let run = try await SwitchyardBinary.run([
                "failover", "--to", "eu-west", "--force", "--config", f.config, "--json",
            ])
            #expect(run.status == 0, "\(run.errors)")
            let control = try await f.connectControl()
            let fence = try await control.query(
                "SELECT result::text AS r FROM switchyard.failover_steps WHERE step = 'fence'"
            ).first?["r"].string
            #expect(fence?.contains("\"executions_still_running\": 0") == true, "\(fence ?? "no fence step")")
        }
    }

    /// The fenced path's census counts what may still run in the old region whatever its workers'
    /// heartbeats say: an unfinished execution of a worker whose heartbeat is an hour stale (a worker cut
    /// off from its database keeps trusting its last fence read, heartbeat or not) and a claim whose
    /// execution row is not written yet. Both keep the target's dispatches on hold.
    @Test func theFenceStepCountsStaleAndUnwrittenWorkAndTheTargetHoldsForIt() async throws {
        try await DevFixture.with(regions: 2, dags: "dags:\n  - id: slow\n    command: \"sleep 4\"\n") { f in
            let east = try await f.connect("us-east")
            try await east.simpleQuery(
                """
                INSERT INTO switchyard.nodes (node_id, host, pid, role, last_heartbeat)
                VALUES ('w-stale', 'gone', 1, 'follower', now() - interval '1 hour');
                INSERT INTO switchyard.executions (dag_id, run_id, attempt, epoch, worker)
                VALUES ('slow', 'stale-heartbeat', 1, 1, 'w-stale');
                INSERT INTO switchyard.dag_run (dag_id, run_id, state, worker, attempt)
                VALUES ('slow', 'claimed-unwritten', 'running', 'w-claim', 1);
                -- No leader-gated command runs there: only the census decides whether the target holds.
                UPDATE switchyard.leadership SET exec_stopped_epoch = epoch WHERE id = 1;
                """)
            let run = try await SwitchyardBinary.run([
                "failover", "--to", "eu-west", "--force", "--config", f.config, "--json",
            ])
            #expect(run.status == 0, "\(run.errors)")
            let control = try await f.connectControl()
            let steps = try await fenceAndActivateResults(control)
            let fence = try #require(steps["fence"])
            #expect(fence.contains("\"executions_still_running\": 2"), "\(fence)")
            #expect(fence.contains("\"leader_command_stopped\": true"), "\(fence)")
            let activate = try #require(steps["activate"])
            #expect(activate.contains("\"dispatch_hold_ms\""), "the target did not hold: \(activate)")
            let west = try await f.connect("eu-west")
            #expect(
                try await west.query("SELECT hold_until IS NOT NULL AS held FROM switchyard.fence").first?["held"].bool
                    == true)
        }
    }

    /// A switchover whose quiesce runs out with a command still running closes the drain: the old
    /// region's worker stops it (as on a failover), the target holds its dispatches for it, and the run
    /// starts in the target only after it stopped in the old region.
    @Test func aSwitchoverWhoseQuiesceRunsOutStopsTheCommandAndTheTargetHolds() async throws {
        try await DevFixture.with(
            regions: 2, dags: "dags:\n  - id: long\n    command: \"sleep 120\"\n    timeout: 5m\n"
        ) { f in
            let path = f.config + "/controlplane.yaml"
            let text = try String(contentsOfFile: path, encoding: .utf8)
            #expect(text.contains("switchover_quiesce_timeout: 30s"))
            try text.replacingOccurrences(of: "switchover_quiesce_timeout: 30s", with: "switchover_quiesce_timeout: 3s")
                .write(toFile: path, atomically: true, encoding: .utf8)
            for region in ["us-east", "eu-west"] {
                try f.start("s-\(region)", ["scheduler", "--region", region, "--node-id", "s-\(region)"])
                try f.start("w-\(region)", ["worker", "--region", region, "--worker-id", "w-\(region)"])
            }
            let east = try await f.connect("us-east")
            let west = try await f.connect("eu-west")
            #expect(try await SwitchyardBinary.run(["trigger", "long", "--config", f.config]).status == 0)
            try #require(
                await f.waitUntil(timeout: .seconds(15)) {
                    try await east.query("SELECT 1 FROM switchyard.executions WHERE finished_at IS NULL").rows.count
                        == 1
                } != nil)
            let run = try await SwitchyardBinary.run(["switchover", "--to", "eu-west", "--json", "--config", f.config])
            #expect(run.status == 0, "\(run.errors)")
            let control = try await f.connectControl()
            let steps = try await fenceAndActivateResults(control)
            #expect(steps["fence"]?.contains("\"executions_still_running\": 1") == true, "\(steps)")
            #expect(steps["activate"]?.contains("\"dispatch_hold_ms\"") == true, "\(steps)")
            // The drain closed: us-east's worker stops the command.
            let fence = try await east.query("SELECT open, drain FROM switchyard.fence").first
            #expect(fence?["open"].bool == false && fence?["drain"].bool == false)
            let stopped = try await f.waitUntil(timeout: .seconds(30)) {
                try await east.query(
                    "SELECT 1 FROM switchyard.executions WHERE dag_id = 'long' AND finished_at IS NOT NULL AND outcome = 'fenced'"
                ).rows.count == 1
            }
            #expect(stopped != nil, "us-east's command was not stopped once the quiesce ran out")
            // The run moved, and starts in eu-west only after it stopped in us-east.
            let started = try await f.waitUntil(timeout: .seconds(40)) {
                try await west.query("SELECT 1 FROM switchyard.executions WHERE dag_id = 'long'").rows.count == 1
            }
            #expect(started != nil, "the run never started in eu-west")
            let ended = try await east.query(
                "SELECT finished_at FROM switchyard.executions WHERE dag_id = 'long'"
            ).first?["finished_at"].optional(Date.self)
            let began = try await west.query(
                "SELECT started_at FROM switchyard.executions WHERE dag_id = 'long'"
            ).first?["started_at"].optional(Date.self)
            let (end, start) = (try #require(ended), try #require(began))
            #expect(start >= end, "eu-west started the run at \(start), before us-east's stopped at \(end)")
        }
    }

    @Test func stoppedRedisOfTheActiveRegionFailsOverOnceAndTheCooldownHolds() async throws {
        try await DevFixture.with(
            regions: 3, dags: "dags:\n  - id: slow\n    command: \"sleep 4\"\n",
            settings: DevSettings(cooldown: .seconds(30))
        ) { f in
            for region in f.state.regions {
                try f.start("s-\(region)", ["scheduler", "--region", region, "--node-id", "s-\(region)"])
            }
            var url = ""
            for region in f.state.regions { url = try await f.startAgent(region) }
            let control = try await f.connectControl()
            try #require(
                await f.waitUntil(timeout: .seconds(20)) {
                    try await f.status(url).regions.allSatisfy { $0.health == .healthy && $0.liveObservers == 3 }
                } != nil)
            try #require(await f.waitSteady(control, observers: 3))
            await f.state.redis["us-east"]!.stop()
            let first = await f.waitUntil(timeout: .seconds(20)) {
                (try? await control.query("SELECT state, to_region FROM switchyard.failovers").first?["state"].string)
                    == "completed"
            }
            #expect(first != nil)
            #expect(
                try await control.query("SELECT to_region FROM switchyard.failovers").first?["to_region"].string
                    == "eu-west")
            // Inside the cooldown (30 s here), the new active region failing too causes no second failover.
            await f.state.redis["eu-west"]!.stop()
            try #require(
                await f.waitUntil(timeout: .seconds(10)) {
                    (try? await f.status(url).regions.first { $0.name == "eu-west" }?.observersSeeingDown) == 3
                } != nil)
            let refused = await f.waitUntil(timeout: .seconds(15)) {
                f.log("agent-us-east").contains("cooldown") || f.log("agent-eu-west").contains("cooldown")
                    || f.log("agent-ap-south").contains("cooldown")
            }
            #expect(refused != nil)
            #expect(try await control.query("SELECT count(*) AS n FROM switchyard.failovers").first?["n"].int == 1)
        }
    }
}

@Suite("What does and does not cause an automatic failover", .serialized)
struct FailoverTriggerTests {
    @Test func killedSchedulerLeadersFailOver() async throws {
        try await DevFixture.with(regions: 2, dags: "dags:\n  - id: slow\n    command: \"sleep 4\"\n") { f in
            for region in f.state.regions {
                for i in 1...2 {
                    try f.start("s\(i)-\(region)", ["scheduler", "--region", region, "--node-id", "s\(i)-\(region)"])
                }
            }
            var url = ""
            for region in f.state.regions { url = try await f.startAgent(region) }
            let control = try await f.connectControl()
            try #require(
                await f.waitUntil(timeout: .seconds(20)) {
                    try await f.status(url).regions.allSatisfy { $0.health == .healthy && $0.liveObservers == 2 }
                } != nil)
            try #require(await f.waitSteady(control, observers: 2))
            for i in 1...2 { kill(try #require(f.pid("s\(i)-us-east")), SIGKILL) }
            let done = await f.waitUntil(timeout: .seconds(25)) {
                (try? await control.query("SELECT state FROM switchyard.failovers").first?["state"].string)
                    == "completed"
            }
            #expect(done != nil)
            #expect(
                try await control.query("SELECT to_region, reason FROM switchyard.failovers").first?["to_region"].string
                    == "eu-west")
        }
    }

    @Test func oneObserverCutOffFromTheActiveRegionDoesNotFailItOver() async throws {
        try await DevFixture.with(regions: 3, dags: "dags:\n  - id: slow\n    command: \"sleep 4\"\n") { f in
            for region in f.state.regions {
                try f.start("s-\(region)", ["scheduler", "--region", region, "--node-id", "s-\(region)"])
            }
            // ap-south's observer is cut off from us-east: its view of us-east points at loopback ports where
            // nothing answers (the same view a partition gives it), while it still reaches the control database.
            let cut = f.state.directory + "/cut-regions"
            try FileManager.default.copyItem(atPath: f.config, toPath: cut)
            let east = cut + "/us-east.yaml"
            let silent = try SilentPort()
            defer { silent.close() }
            let text = try String(contentsOfFile: east, encoding: .utf8)
                .replacingOccurrences(of: "port=\(f.state.postgres["us-east"]!.port)", with: "port=\(silent.port)")
                .replacingOccurrences(
                    of: "127.0.0.1:\(f.state.redis["us-east"]!.port)", with: "127.0.0.1:\(silent.port)")
            try text.write(toFile: east, atomically: true, encoding: .utf8)
            let url = try await f.startAgent("us-east")
            _ = try await f.startAgent("eu-west")
            _ = try await f.startAgent("ap-south", config: cut)
            let control = try await f.connectControl()
            try #require(
                await f.waitUntil(timeout: .seconds(20)) {
                    let east = try await f.status(url).regions.first { $0.name == "us-east" }
                    return east?.liveObservers == 3 && east?.observersSeeingDown == 1
                } != nil)
            try await Task.sleep(for: .seconds(4))  // far past failure_grace
            #expect(try await control.query("SELECT count(*) AS n FROM switchyard.failovers").first?["n"].int == 0)
            #expect(
                try await control.query("SELECT active_region FROM switchyard.cluster_state").first?["active_region"]
                    .string == "us-east")
        }
    }
}
