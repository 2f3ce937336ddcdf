import Foundation
import HTTP
import Postgres
import SwitchyardCore
import SwitchyardRuntime
import TestSupport
import Testing

@Suite("Automatic failover by the agents' quorum, real three-region deployment", .serialized)
struct AutomaticFailoverTests {
    func count(_ c: PostgresConnection, _ sql: String, _ parameters: [PostgresValue] = []) async throws -> Int {
        try await c.query(sql, parameters).first?["n"].require(Int.self) ?? -1
    }

    @Test func killedActiveDatabaseFailsOverOnceRunsMoveFromTheShadowAndPauseHolds() async throws {
        let server = try LoopbackHTTPServer { _ in .status(200) }
        defer { server.stop() }
        // Manual DAGs only, so the set of active runs holds still while the test looks at it.
        try await DevFixture.with(regions: 3, dags: "dags:\n  - id: slow\n    command: \"sleep 10\"\n    timeout: 1m\n")
        { f in
            let path = f.config + "/eu-west.yaml"
            try
                (try String(contentsOfFile: path, encoding: .utf8)
                + "routing:\n  hooks:\n    - name: dns\n      url: \"\(server.baseURL)/dns\"\n")
                .write(toFile: path, atomically: true, encoding: .utf8)
            for region in f.state.regions {
                try f.start("s-\(region)", ["scheduler", "--region", region, "--node-id", "s-\(region)"])
                try f.start("w-\(region)", ["worker", "--region", region, "--worker-id", "w-\(region)"])
            }
            var urls: [String: String] = [:]
            for region in f.state.regions { urls[region] = try await f.startAgent(region) }
            let control = try await f.connectControl()
            try #require(
                await f.waitUntil(timeout: .seconds(20)) {
                    let s = try await f.status(urls["eu-west"]!)
                    return s.regions.allSatisfy { $0.health == .healthy && $0.liveObservers == 3 }
                } != nil)
            try #require(
                await f.waitUntil(timeout: .seconds(10)) {
                    try await count(
                        control, "SELECT count(*) AS n FROM switchyard.events WHERE kind = 'failover-leader'") >= 1
                } != nil)

            // Pause first: the failure must not cause a failover.
            #expect(try await SwitchyardBinary.run(["pause", "--config", f.config]).status == 0)
            let east = try await f.connect("us-east")
            for _ in 0..<3 {
                #expect(try await SwitchyardBinary.run(["trigger", "slow", "--config", f.config]).status == 0)
            }
            try #require(
                await f.waitUntil(timeout: .seconds(10)) {
                    try await count(east, "SELECT count(*) AS n FROM switchyard.executions WHERE finished_at IS NULL")
                        == 1
                } != nil)
            let active = try await east.query(
                "SELECT run_id FROM switchyard.dag_run WHERE state IN ('queued', 'running') ORDER BY run_id"
            )
            .rows.map { try $0["run_id"].require(String.self) }
            let west = try await f.connect("eu-west")
            // One shadow sync (every shadow_interval; later on a loaded machine).
            let shadowed = await f.waitUntil(timeout: .seconds(10)) {
                (try? await count(
                    west, "SELECT count(*) AS n FROM switchyard.shadow_dag_run WHERE source_region = 'us-east'"))
                    == active.count
            }
            #expect(shadowed != nil)
            // A run queued after eu-west's last shadow copy: eu-west's copies are held back (a lock that lets
            // reads through), while ap-south's shadow shows a copy ran after it. The failover cannot move it;
            // it comes home when us-east's database answers again.
            let lock = try await f.connect("eu-west")
            try await lock.query("BEGIN")
            try await lock.query("LOCK TABLE switchyard.shadow_dag_run IN EXCLUSIVE MODE")
            #expect(try await SwitchyardBinary.run(["trigger", "slow", "--config", f.config]).status == 0)
            let late = try #require(
                try await east.query(
                    "SELECT run_id FROM switchyard.dag_run WHERE state IN ('queued', 'running') AND NOT (run_id = ANY($1::text[]))",
                    [.array(active.map { .text($0) })]
                ).first?["run_id"].string)
            let south = try await f.connect("ap-south")
            try #require(
                await f.waitUntil(timeout: .seconds(10)) {
                    (try? await count(
                        south, "SELECT count(*) AS n FROM switchyard.shadow_dag_run WHERE run_id = $1", [.text(late)]))
                        == 1
                } != nil)
            await south.close()
            await east.close()
            let killedAt = ContinuousClock.now
            await f.state.postgres["us-east"]!.stop()
            try #require(
                await f.waitUntil(timeout: .seconds(10)) {
                    (try? await f.status(urls["eu-west"]!).regions.first { $0.name == "us-east" }?.observersSeeingDown)
                        == 3
                } != nil)
            try await Task.sleep(for: .seconds(3))  // well past failure_grace
            #expect(try await count(control, "SELECT count(*) AS n FROM switchyard.failovers") == 0)

            // Resume: the leader fails over to the highest-priority healthy standby.
            #expect(try await SwitchyardBinary.run(["resume", "--config", f.config]).status == 0)
            let done = await f.waitUntil(timeout: .seconds(30)) {
                (try? await control.query("SELECT state FROM switchyard.failovers").first?["state"].string)
                    == "completed"
            }
            #expect(done != nil)
            print("automatic failover finished \(ContinuousClock.now - killedAt) after the kill (including the pause)")
            let failover = try #require(
                try await control.query("SELECT id, to_region, runs_source, runs_moved, kind FROM switchyard.failovers")
                    .first)
            #expect(failover["to_region"].string == "eu-west")
            #expect(failover["kind"].string == "failover")
            #expect(failover["runs_source"].string == "shadow")
            #expect(failover["runs_moved"].int == active.count)
            #expect(try await count(control, "SELECT count(*) AS n FROM switchyard.failovers") == 1)
            #expect(
                try await count(
                    west, "SELECT count(*) AS n FROM switchyard.dag_run WHERE run_id = $1", [.text(late)]) == 0)
            // The shadow's age is reported: it was older than the run.
            #expect(
                try await count(
                    control,
                    "SELECT count(*) AS n FROM switchyard.events WHERE kind = 'warning' AND message LIKE '%shadow of us-east''s runs%'"
                ) == 1)
            try await lock.query("ROLLBACK")
            await lock.close()
            // us-east's database answers again: the run queued after the shadow's copy is copied to eu-west
            // (once), and runs there.
            try await f.state.postgres["us-east"]!.start()
            var reconciled = "never reconciled"
            _ = await f.waitUntil(timeout: .seconds(30)) {
                guard
                    let r = try? await control.query(
                        "SELECT reconciliation::text AS r FROM switchyard.failovers WHERE reconciled_at IS NOT NULL"
                    ).first?["r"].string
                else { return false }
                reconciled = r
                return true
            }
            #expect(reconciled.contains("\"copied\": 1"), "\(reconciled)")
            #expect(try await count(control, "SELECT runs_moved AS n FROM switchyard.failovers") == active.count + 1)
            let lateRan = await f.waitUntil(timeout: .seconds(60)) {
                (try? await count(
                    west, "SELECT count(*) AS n FROM switchyard.dag_run WHERE run_id = $1 AND state = 'success'",
                    [.text(late)])) == 1
            }
            #expect(lateRan != nil)
            #expect(
                try await control.query("SELECT active_region FROM switchyard.cluster_state").first?["active_region"]
                    .string == "eu-west")
            #expect(server.requests.count == 1)
            // Every active run finishes in eu-west, each executed there once.
            let finished = await f.waitUntil(timeout: .seconds(60)) {
                (try? await count(
                    west,
                    "SELECT count(*) AS n FROM switchyard.dag_run WHERE run_id = ANY($1::text[]) AND state = 'success'",
                    [.array(active.map { .text($0) })])) == active.count
            }
            #expect(finished != nil)
            #expect(
                try await count(
                    west,
                    "SELECT count(*) AS n FROM (SELECT run_id FROM switchyard.executions GROUP BY run_id HAVING count(*) > 1) x"
                ) == 0)
            // The us-east worker stopped the command it was running once it could no longer confirm its fence.
            #expect(f.log("w-us-east").contains("stopped a run"), "\(f.log("w-us-east"))")

            // The failover leader dies: another agent leads within a second or so.
            let before = try await count(
                control, "SELECT count(*) AS n FROM switchyard.events WHERE kind = 'failover-leader'")
            let leaderEvent =
                try await control.query(
                    "SELECT message FROM switchyard.events WHERE kind = 'failover-leader' ORDER BY id DESC LIMIT 1"
                )
                .first?["message"].string ?? ""
            let leader = String(leaderEvent.split(separator: " ").first ?? "")
            kill(try #require(f.pid("agent-\(leader)")), SIGKILL)
            // Measured by bench failover; here the wait is only bounded (a loaded CI machine slips every loop).
            let takeover = await f.waitUntil(timeout: .seconds(20)) {
                (try? await count(control, "SELECT count(*) AS n FROM switchyard.events WHERE kind = 'failover-leader'"))
                    == before + 1
            }
            #expect(takeover != nil)
            print("failover leadership moved after \(takeover.map { "\($0)" } ?? "never")")
        }
    }

    @Test func operatorEndpointsNeedTheTokenAndRefuseWhileAFailoverRuns() async throws {
        try await DevFixture.with(regions: 2, dags: fastDAGs) { f in
            let token = "api-token-\(UInt32.random(in: 0...UInt32.max))"
            let logs = f.state.directory + "/logs"
            try FileManager.default.createDirectory(atPath: logs, withIntermediateDirectories: true)
            setenv("SWITCHYARD_API_TOKEN", token, 1)
            defer { unsetenv("SWITCHYARD_API_TOKEN") }
            let url = try await f.startAgent("us-east")
            let client = HTTPClient()
            func post(_ path: String, token: String?, body: String) async throws -> HTTPResponse {
                var headers = [HTTPHeader("Content-Type", "application/json")]
                if let token { headers.append(HTTPHeader("Authorization", "Bearer " + token)) }
                return try await client.send(
                    HTTPRequest(method: "POST", url: url + path, headers: headers, body: Array(body.utf8)))
            }
            #expect(try await post("/pause", token: nil, body: "{}").status == 401)
            #expect(try await post("/pause", token: "wrong", body: "{}").status == 401)
            let paused = try await post("/pause", token: token, body: "{\"reason\":\"test\"}")
            #expect(paused.status == 200)
            let sawPaused = try await f.waitUntil(timeout: .seconds(3)) { try await f.status(url).paused }
            #expect(sawPaused != nil)
            #expect(try await post("/resume", token: token, body: "").status == 200)
            // The scheme name in any case (RFC 9110), as the OpenAPI document says; methods and HEAD as it says.
            for scheme in ["bearer", "BEARER"] {
                let response = try await client.send(
                    HTTPRequest(
                        method: "POST", url: url + "/resume",
                        headers: [HTTPHeader("Authorization", "\(scheme) \(token)")]))
                #expect(response.status == 200, "\(scheme): \(response.bodyText)")
            }
            try await Self.theDocumentSaysWhatTheServerDoes(f, url)
            #expect(try await post("/switchover", token: token, body: "{\"to\":\"atlantis\"}").status == 400)
            #expect(try await post("/switchover", token: token, body: "not json").status == 400)
            let control = try await f.connectControl()
            try await control.query(
                "INSERT INTO switchyard.failovers (kind, from_region, to_region, reason) VALUES ('forced', 'us-east', 'eu-west', 'held')"
            )
            let conflict = try await post("/failover", token: token, body: "{\"to\":\"eu-west\"}")
            #expect(conflict.status == 409)
            #expect(conflict.bodyText.contains("\"failover_id\":"))
            #expect(!f.log("agent-us-east").contains(token))
        }
    }

    /// What the OpenAPI document says of wrong methods, HEAD and the Bearer scheme is what the server does:
    /// every method a documented path does not list is 405 with an Allow header of exactly the listed ones,
    /// every GET path is documented with HEAD, and the scheme is documented case-insensitive.
    static func theDocumentSaysWhatTheServerDoes(_ f: DevFixture, _ url: String) async throws {
        let document = try #require(
            try JSONSerialization.jsonObject(with: Data(try await f.get(url, "/openapi.json").body)) as? [String: Any])
        let info = try #require(document["info"] as? [String: Any])
        let description = try #require(info["description"] as? String)
        #expect(description.contains("405") && !description.contains("never 405"), "\(description)")
        let paths = try #require(document["paths"] as? [String: [String: Any]])
        let methods = ["get", "head", "post", "put", "delete", "patch"]
        for (template, item) in paths.sorted(by: { $0.key < $1.key }) {
            let path = template.replacingOccurrences(of: "{name}", with: "us-east")
            let documented = Set(item.keys.filter { methods.contains($0) }.map { $0.uppercased() })
            if documented.contains("GET") { #expect(documented.contains("HEAD"), "\(template): GET without HEAD") }
            // Documented POSTs are left out: without a token they only answer 401 (checked above).
            for method in methods.map({ $0.uppercased() }) where method != "POST" || !documented.contains("POST") {
                let response = try await f.get(url, path, method: method)
                if documented.contains(method) {
                    #expect(
                        response.status != 405 && response.status != 404, "\(method) \(template): \(response.status)")
                } else {
                    #expect(response.status == 405, "\(method) \(template): \(response.status)")
                    let allow = Set(
                        (response.header("allow") ?? "").split(separator: ",").map {
                            $0.trimmingCharacters(in: .whitespaces)
                        })
                    #expect(allow == documented, "\(method) \(template): Allow \(allow), documented \(documented)")
                }
            }
        }
        let schemes = try #require(
            (document["components"] as? [String: Any])?["securitySchemes"] as? [String: [String: Any]])
        let bearer = try #require(schemes["bearerAuth"]?["description"] as? String)
        #expect(bearer.contains("case-insensitive") && !bearer.contains("case-sensitive."), "\(bearer)")
    }

    /// The API admits a request exactly as the CLI does (`OperatorRequests`): the target must not be active,
    /// must be healthy for the observers, and an unforced failover needs the decision's agreement. Pause is
    /// idempotent through both doors: one event, whatever the repeats.
    @Test func theAPIAndTheCLIAdmitRequestsByOneRule() async throws {
        try await DevFixture.with(regions: 2, dags: fastDAGs) { f in
            let token = "api-token-\(UInt32.random(in: 0...UInt32.max))"
            setenv("SWITCHYARD_API_TOKEN", token, 1)
            defer { unsetenv("SWITCHYARD_API_TOKEN") }
            try f.start("s-us-east", ["scheduler", "--region", "us-east", "--node-id", "s-us-east"])
            let url = try await f.startAgent("us-east")
            let client = HTTPClient()
            func post(_ path: String, _ body: String) async throws -> HTTPResponse {
                try await client.send(
                    HTTPRequest(
                        method: "POST", url: url + path,
                        headers: [
                            HTTPHeader("Content-Type", "application/json"),
                            HTTPHeader("Authorization", "Bearer " + token),
                        ], body: Array(body.utf8)))
            }
            let control = try await f.connectControl()
            func requests() async throws -> Int {
                try await control.query("SELECT count(*) AS n FROM switchyard.failover_requests").first?["n"].require(
                    Int.self) ?? -1
            }

            // Pause twice through the API and once through the CLI: one change, one event.
            #expect(try await post("/pause", "{}").bodyText.contains("\"changed\":true"))
            #expect(try await post("/pause", "{}").bodyText.contains("\"changed\":false"))
            let cliPause = try await SwitchyardBinary.run(["pause", "--config", f.config])
            #expect(cliPause.output.contains("already paused"), "\(cliPause.output)")
            let events = try await control.query("SELECT count(*) AS n FROM switchyard.events WHERE kind = 'paused'")
                .first?["n"].int
            #expect(events == 1)
            #expect(try await post("/resume", "{}").bodyText.contains("\"changed\":true"))

            // The active region is no target; eu-west, which no scheduler leads, is not healthy.
            let active = try await post("/switchover", "{\"to\":\"us-east\"}")
            #expect(active.status == 409 && active.bodyText.contains("already_active"), "\(active.bodyText)")
            // (Once the observer's view of eu-west is in the control database: a forced request is admitted on
            // the target's health alone.)
            let observed = await f.waitUntil(timeout: .seconds(20)) {
                (try? await control.query(
                    "SELECT 1 FROM switchyard.observations WHERE region = 'eu-west' AND state <> 'healthy'"
                ).rows.isEmpty) == false
            }
            try #require(observed != nil)
            let unhealthy = try await post("/failover", "{\"to\":\"eu-west\",\"force\":true}")
            #expect(unhealthy.status == 409 && unhealthy.bodyText.contains("target_unhealthy"), "\(unhealthy.bodyText)")
            let cliUnhealthy = try await SwitchyardBinary.run(["switchover", "--config", f.config, "--to", "eu-west"])
            #expect(
                cliUnhealthy.status == 1 && cliUnhealthy.errors.contains("not healthy in the observers' view"),
                "\(cliUnhealthy.errors)")

            // eu-west healthy: an unforced failover still needs the decision (us-east is not down), by both doors.
            try f.start("s-eu-west", ["scheduler", "--region", "eu-west", "--node-id", "s-eu-west"])
            let refused = await f.waitUntil(timeout: .seconds(30)) {
                let r = try? await post("/failover", "{\"to\":\"eu-west\"}")
                return r?.status == 409 && r?.bodyText.contains("decision_refuses") == true
            }
            #expect(refused != nil)
            let cli = try await SwitchyardBinary.run(["failover", "--config", f.config, "--to", "eu-west"])
            #expect(cli.status == 1 && cli.errors.contains("the decision says no"), "\(cli.errors)")
            #expect(try await requests() == 0)  // nothing refused was queued
            let cluster = try await control.query("SELECT active_region, epoch FROM switchyard.cluster_state").first
            #expect(cluster?["active_region"].string == "us-east" && cluster?["epoch"].int == 1)
        }
    }
}
