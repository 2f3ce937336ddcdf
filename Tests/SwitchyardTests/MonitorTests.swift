import Foundation
import HTTP
import Postgres
import SwitchyardCore
import SwitchyardLab
import SwitchyardRuntime
import TestSupport
import Testing

@Suite("Health monitor and status API with real servers", .serialized)
struct MonitorTests {
    func component(_ f: DevFixture, _ url: String, _ region: String, _ name: String) async throws -> HealthState? {
        try await f.status(url).regions.first { $0.name == region }?.components[name]?.state
    }

    @Test func stoppedPostgresGoesSuspectThenDownAndRecovers() async throws {
        try await DevFixture.with(regions: 2, dags: fastDAGs) { f in
            for r in ["us-east", "eu-west"] {
                try f.start("s-\(r)", ["scheduler", "--region", r, "--node-id", "s-\(r)"])
            }
            let url = try await f.startAgent("us-east")
            try #require(
                await f.waitUntil(timeout: .seconds(15)) {
                    try await f.status(url).regions.allSatisfy { $0.health == .healthy }
                } != nil)
            // Dev timings: interval 500ms, timeout 400ms, failures_to_down 3, down_after 1.5s.
            let cluster = try #require(f.state.postgres["eu-west"])
            await cluster.stop()
            let clock = ContinuousClock()
            let start = clock.now
            var sawSuspect = false
            var downAfter: Duration?
            while clock.now - start < .seconds(30) {
                let state = try await component(f, url, "eu-west", "database")
                if state == .suspect { sawSuspect = true }
                if state == .down { downAfter = clock.now - start; break }
                try await Task.sleep(for: .milliseconds(50))
            }
            // The transition through suspect is an event even when it was too brief for polling to catch.
            let events = try await f.get(url, "/events?since=0").bodyText
            #expect(sawSuspect || events.contains("us-east sees eu-west database suspect"))
            let down = try #require(downAfter, "database never went down")
            // The configured bound is 3 failures x 500 ms plus a refresh; bench status measures it (about 1.4 s).
            // On a loaded 2-core CI machine probe loops slip, so the test only bounds the wait (above).
            print("database down after \(down)")
            let status = try await f.status(url)
            let west = try #require(status.regions.first { $0.name == "eu-west" })
            #expect(west.health == .down)
            #expect(west.components["database"]?.lastError?.isEmpty == false)
            // A stopped server refuses connections: positive evidence, for the database and the schedulers
            // probe that rides on it, in this observer's own view and as the control database records it.
            #expect(west.components["database"]?.evidence == .positive)
            let recorded = await f.waitUntil(timeout: .seconds(5)) {
                (try? await f.status(url).regions.first { $0.name == "eu-west" }?.observers.first {
                    $0.observer == "us-east"
                }?.evidence) == .positive
            }
            #expect(recorded != nil)
            #expect(status.regions.first { $0.name == "us-east" }?.health == .healthy)
            try await cluster.start()
            let recovered = await f.waitUntil(timeout: .seconds(10)) {
                (try? await component(f, url, "eu-west", "database")) == .healthy
            }
            #expect(recovered != nil)
            // The transitions are events.
            #expect(try await f.get(url, "/events?since=0").bodyText.contains("us-east sees eu-west database down"))
        }
    }

    @Test func stoppedRedisAndKilledLeaderAreSeen() async throws {
        try await DevFixture.with(regions: 1, dags: fastDAGs) { f in
            try f.start("leader", ["scheduler", "--region", "us-east", "--node-id", "leader"])
            let url = try await f.startAgent("us-east")
            try #require(
                await f.waitUntil(timeout: .seconds(15)) { try await f.status(url).regions[0].health == .healthy }
                    != nil)
            #expect(try await f.status(url).regions[0].schedulerLeader == "leader")
            await f.state.redis["us-east"]!.stop()
            #expect(
                await f.waitUntil(timeout: .seconds(8)) { (try? await component(f, url, "us-east", "redis")) == .down }
                    != nil)
            #expect(try await f.status(url).regions[0].components["redis"]?.evidence == .positive)  // refused
            kill(try #require(f.pid("leader")), SIGKILL)
            // No leader heartbeat for scheduler_stale_after (5 s in dev), then the failure hysteresis.
            let down = await f.waitUntil(timeout: .seconds(20)) {
                (try? await component(f, url, "us-east", "schedulers")) == .down
            }
            #expect(down != nil)
            #expect(
                try await f.status(url).regions[0].components["schedulers"]?.lastError?.contains("heartbeat") == true)
            // The leader's row is there and its heartbeat is old: positive evidence.
            #expect(try await f.status(url).regions[0].components["schedulers"]?.evidence == .positive)
            try await f.state.redis["us-east"]!.start()
            #expect(
                await f.waitUntil(timeout: .seconds(8)) {
                    (try? await component(f, url, "us-east", "redis")) == .healthy
                } != nil)
        }
    }

    @Test func hungPostgresDoesNotSlowTheOtherRegionsOrTheAPI() async throws {
        try await DevFixture.with(regions: 2, dags: fastDAGs) { f in
            let url = try await f.startAgent("us-east")
            try #require(
                await f.waitUntil(timeout: .seconds(15)) {
                    try await f.status(url).regions.allSatisfy { $0.components["database"]?.state == .healthy }
                } != nil)
            let postmaster = try #require(f.state.postgres["eu-west"]?.pid)
            kill(postmaster, SIGSTOP)
            defer { kill(postmaster, SIGCONT) }
            #expect(
                await f.waitUntil(timeout: .seconds(8)) {
                    (try? await component(f, url, "eu-west", "database")) == .down
                } != nil)
            // A hung postmaster answers nothing: silence, which needs down_after to be down.
            #expect(
                try await f.status(url).regions.first { $0.name == "eu-west" }?.components["database"]?.evidence
                    == .silence)
            // While eu-west hangs: every /status answers fast, the snapshot keeps refreshing, and us-east stays healthy.
            var worst = Duration.zero
            var generated: Set<Date> = []
            let clock = ContinuousClock()
            var healthy = 0
            var latencies: [Double] = []
            for _ in 0..<30 {
                let start = clock.now
                let status = try await f.status(url)
                worst = max(worst, clock.now - start)
                generated.insert(status.generatedAt)
                let east = try #require(status.regions.first { $0.name == "us-east" })
                #expect(east.components["database"]?.state != .down)
                if east.components["database"]?.state == .healthy { healthy += 1 }
                latencies.append(east.components["database"]?.latencyMs ?? 1000)
                try await Task.sleep(for: .milliseconds(100))
            }
            print("worst /status latency while a region hangs: \(worst); us-east healthy in \(healthy) of 30 samples")
            // A loaded 2-core CI machine may slow one probe past its timeout (a passing suspect); the hung
            // region must never take us-east down, and its probes stay fast.
            #expect(healthy >= 25)
            #expect(latencies.sorted()[latencies.count / 2] < 300)
            #expect(worst < .seconds(2))  // measured around 3 ms; the API never waits for a probe
            #expect(generated.count >= 3)  // 3 s of 500 ms refreshes
        }
    }

    @Test func twoObserversWithDifferentViewsAreBothReported() async throws {
        try await DevFixture.with(regions: 2, dags: fastDAGs) { f in
            // The second observer's eu-west DSN points at a loopback port with nothing listening.
            let blind = f.state.directory + "/blind-regions"
            try FileManager.default.copyItem(atPath: f.config, toPath: blind)
            let westFile = blind + "/eu-west.yaml"
            let dead = try Ports.freeLoopbackPort()
            let text = try String(contentsOfFile: westFile, encoding: .utf8)
                .replacingOccurrences(of: "port=\(f.state.postgres["eu-west"]!.port)", with: "port=\(dead)")
            try text.write(toFile: westFile, atomically: true, encoding: .utf8)
            for r in ["us-east", "eu-west"] {
                try f.start("s-\(r)", ["scheduler", "--region", r, "--node-id", "s-\(r)"])
            }
            let url = try await f.startAgent("us-east")
            _ = try await f.startAgent("cut-off", config: blind)
            let reported = await f.waitUntil(timeout: .seconds(15)) {
                guard let west = try? await f.status(url).regions.first(where: { $0.name == "eu-west" }) else {
                    return false
                }
                let views = Dictionary(
                    west.observers.map { ($0.observer, $0.components["database"]) }, uniquingKeysWith: { a, _ in a })
                return views["us-east"] == .healthy && views["cut-off"] == .down && west.liveObservers == 2
                    && west.observersSeeingDown == 1
            }
            #expect(reported != nil)
            // us-east is seen healthy by both (bounded: an agent that starts before the schedulers have
            // elected sees "no scheduler leader", positive evidence, until they have).
            let eastHealthy = await f.waitUntil(timeout: .seconds(15)) {
                guard let east = try? await f.status(url).regions.first(where: { $0.name == "us-east" }) else {
                    return false
                }
                return east.liveObservers == 2 && east.observersSeeingDown == 0
            }
            #expect(eastHealthy != nil)
        }
    }

    @Test func loadBalancerEndpointFollowsTheActiveRegion() async throws {
        try await DevFixture.with(regions: 2, dags: fastDAGs) { f in
            for r in ["us-east", "eu-west"] {
                try f.start("s-\(r)", ["scheduler", "--region", r, "--node-id", "s-\(r)"])
            }
            let url = try await f.startAgent("us-east")
            try #require(
                await f.waitUntil(timeout: .seconds(15)) {
                    try await f.get(url, "/regions/us-east/active").status == 200
                } != nil)
            #expect(try await f.get(url, "/regions/eu-west/active").status == 503)
            #expect(try await f.get(url, "/regions/eu-west/active", method: "HEAD").status == 503)
            #expect(try await f.get(url, "/regions/atlantis/active").status == 404)
            let control = try await f.connectControl()
            try await control.query("UPDATE switchyard.cluster_state SET active_region = 'eu-west', epoch = epoch + 1")
            #expect(
                await f.waitUntil(timeout: .seconds(5)) {
                    (try? await f.get(url, "/regions/eu-west/active").status) == 200
                } != nil)
            #expect(try await f.get(url, "/regions/us-east/active").status == 503)
            #expect(try await f.get(url, "/regions/eu-west/active", method: "HEAD").status == 200)
            let status = try await f.status(url)
            #expect(status.activeRegion == "eu-west")
            #expect(status.regions.first { $0.name == "eu-west" }?.role == "active")
            let metrics = try await f.get(url, "/metrics").bodyText
            #expect(metrics.contains("switchyard_active_region{region=\"eu-west\"} 1"))
            #expect(metrics.contains("switchyard_component_up"))
            #expect(metrics.contains("switchyard_probe_latency_seconds_bucket"))
        }
    }

    @Test func noPasswordInStatusEventsOrMetricsAndErrorsAreJSON() async throws {
        try await DevFixture.with(regions: 2, dags: fastDAGs) { f in
            let password = try #require(
                try String(contentsOfFile: f.state.passfile, encoding: .utf8).split(separator: ":").last
            )
            .trimmingCharacters(in: .whitespacesAndNewlines)
            // A configuration with passwords inline; eu-west's is wrong, so its probe fails with an authentication error.
            let inline = f.state.directory + "/inline-regions"
            try FileManager.default.copyItem(atPath: f.config, toPath: inline)
            for file in ["controlplane.yaml", "us-east.yaml", "eu-west.yaml"] {
                let path = inline + "/" + file
                let secret = file == "eu-west.yaml" ? "Wrong-\(password)" : password
                let text = try String(contentsOfFile: path, encoding: .utf8).replacingOccurrences(
                    of: "passfile=\(f.state.passfile)", with: "password=\(secret)")
                try text.write(toFile: path, atomically: true, encoding: .utf8)
            }
            let url = try await f.startAgent("us-east", config: inline)
            try #require(
                await f.waitUntil(timeout: .seconds(15)) {
                    (try? await component(f, url, "eu-west", "database")) == .down
                } != nil)
            let status = try await f.get(url, "/status").bodyText
            #expect(status.contains("password authentication failed"))
            for body in [
                status, try await f.get(url, "/events?since=0").bodyText, try await f.get(url, "/metrics").bodyText,
                f.log("agent-us-east"),
            ] {
                #expect(!body.contains(password), "a password leaked")
            }
            for (path, method, code) in [
                ("/nowhere", "GET", 404), ("/events?since=-1", "GET", 400), ("/events?limit=0", "GET", 400),
                ("/regions/x/active", "GET", 404), ("/status", "DELETE", 405),
            ] {
                let response = try await f.get(url, path, method: method)
                #expect(response.status == code, "\(method) \(path)")
                #expect(response.header("content-type") == "application/json")
                #expect(response.bodyText.hasPrefix("{\"error\":{\"code\":"), "\(response.bodyText)")
            }
            #expect(try await f.get(url, "/healthz").status == 200)
            #expect(try await f.get(url, "/readyz").status == 200)
            let page = try await f.get(url, "/")
            #expect(page.header("content-type")?.hasPrefix("text/html") == true)
            #expect(!page.bodyText.contains("http://") && !page.bodyText.contains("https://"))  // self-contained
        }
    }

    /// A fresh agent on a long-lived control database serves the newest events, not the first ever.
    @Test func aFreshAgentStartsAtTheNewestEvents() async throws {
        try await DevFixture.with(regions: 1, dags: fastDAGs) { f in
            let control = try await f.connectControl()
            try await control.query(
                "INSERT INTO switchyard.events (kind, message) SELECT 'health', 'old ' || g FROM generate_series(1, 3000) g"
            )
            let newest =
                try await control.query("SELECT max(id) AS id FROM switchyard.events").first?["id"]
                .require(Int.self) ?? 0
            let url = try await f.startAgent("us-east")
            let body = try await f.get(url, "/events?since=0&limit=1").bodyText
            let first = try #require(
                body.firstRange(of: "\"id\":").map { Int(body[$0.upperBound...].prefix { $0.isNumber }) } ?? nil,
                "\(body)")
            // The store keeps the newest 1,000: the first one served is within them, not event 1.
            #expect(first > newest - 1000 && first <= newest, "first \(first), newest \(newest)")
        }
    }

    @Test func statusCommandPrintsTheTableAndTheJSON() async throws {
        try await DevFixture.with(regions: 2, dags: fastDAGs) { f in
            let url = try await f.startAgent("us-east")
            try #require(
                await f.waitUntil(timeout: .seconds(15)) { try await f.status(url).controlDbReachable } != nil)
            try await Task.sleep(for: .seconds(1))
            let table = try await SwitchyardBinary.run(["status", "--config", f.config])
            #expect(table.status == 0, "\(table.errors)")
            #expect(table.output.contains("active region: us-east"))
            #expect(table.output.contains("eu-west") && table.output.contains("standby"))
            let json = try await SwitchyardBinary.run(["status", "--config", f.config, "--json"])
            let document = try StatusDocument.decoder().decode(StatusDocument.self, from: Data(json.output.utf8))
            #expect(document.regions.map(\.name) == ["us-east", "eu-west"])
            let none = try await SwitchyardBinary.run([
                "status", "--config", f.config, "--agent", "http://127.0.0.1:\(try Ports.freeLoopbackPort())",
            ])
            #expect(none.status == 1)
        }
    }
}
