import Foundation
import Postgres
import SwitchyardCore
import SwitchyardRuntime
import TestSupport
import Testing

@Suite("Scheduler probes over Airflow's job table and over HTTP", .serialized)
struct SchedulerProbeKindsTests {
    @Test func airflowJobTableAndHTTPHealthURL() async throws {
        try await DevFixture.with(regions: 2, dags: fastDAGs) { f in
            // us-east runs "Airflow": a job table with a SchedulerJob heartbeat the test controls.
            let east = try await f.connect("us-east")
            try await east.query(
                """
                CREATE TABLE job (id serial PRIMARY KEY, job_type text, state text, latest_heartbeat timestamptz)
                """)
            try await east.query(
                "INSERT INTO job (job_type, state, latest_heartbeat) VALUES ('SchedulerJob', 'running', now())")
            // eu-west's schedulers answer on an HTTP health URL: 200 until the test flips it to 503.
            let healthy = SharedFlag(true)
            let server = try LoopbackHTTPServer { _ in
                healthy.value ? .status(200, body: "ok") : .status(503, body: "no")
            }
            defer { server.stop() }
            for (file, replacement) in [
                ("us-east.yaml", "probe: airflow\n  stale_after: 10s"),
                ("eu-west.yaml", "probe: http\n  url: \"\(server.baseURL)/health\""),
            ] {
                let path = f.config + "/" + file
                let text = try String(contentsOfFile: path, encoding: .utf8).replacingOccurrences(
                    of: "probe: heartbeat", with: replacement)
                try text.write(toFile: path, atomically: true, encoding: .utf8)
            }
            let url = try await f.startAgent("us-east")
            func schedulers(_ region: String) async -> StatusDocument.Component? {
                try? await f.status(url).regions.first { $0.name == region }?.components["schedulers"]
            }
            try #require(
                await f.waitUntil(timeout: .seconds(10)) {
                    let a = await schedulers("us-east")?.state
                    let b = await schedulers("eu-west")?.state
                    return a == .healthy && b == .healthy
                } != nil)
            #expect(await schedulers("us-east")?.detail.nodes == 1)
            #expect(await schedulers("eu-west")?.detail.httpStatus == 200)
            // The Airflow scheduler's heartbeat goes stale; the health URL starts failing.
            try await east.query("UPDATE job SET latest_heartbeat = now() - interval '1 hour'")
            healthy.value = false
            let down = await f.waitUntil(timeout: .seconds(10)) {
                let a = await schedulers("us-east")?.state
                let b = await schedulers("eu-west")?.state
                return a == .down && b == .down
            }
            #expect(down != nil)
            #expect(await schedulers("eu-west")?.lastError == "health URL answered 503")
            #expect(await schedulers("us-east")?.lastError?.contains("SchedulerJob") == true)
            #expect(server.requests.allSatisfy { $0.path == "/health" })
        }
    }
}

extension SchedulerProbeKindsTests {
    @Test func anAirflowStandbyIsReadyWhenItsSwitchyardLeaderIs() async throws {
        try await DevFixture.with(regions: 2, dags: fastDAGs) { f in
            // Both regions run "Airflow" (a job table); only the active one's leader would run `airflow scheduler`.
            for region in ["us-east", "eu-west"] {
                let db = try await f.connect(region)
                try await db.query(
                    "CREATE TABLE job (id serial PRIMARY KEY, job_type text, state text, latest_heartbeat timestamptz)")
                let path = f.config + "/" + region + ".yaml"
                let text = try String(contentsOfFile: path, encoding: .utf8).replacingOccurrences(
                    of: "probe: heartbeat", with: "probe: airflow")
                try text.write(toFile: path, atomically: true, encoding: .utf8)
            }
            let east = try await f.connect("us-east")
            try await east.query(
                "INSERT INTO job (job_type, state, latest_heartbeat) VALUES ('SchedulerJob', 'running', now())")
            // eu-west, a standby, has no Airflow scheduler: ready only while its Switchyard scheduler leads it.
            try f.start("w", ["scheduler", "--region", "eu-west", "--node-id", "w"])
            let url = try await f.startAgent("us-east")
            func schedulers(_ region: String) async -> StatusDocument.Component? {
                try? await f.status(url).regions.first { $0.name == region }?.components["schedulers"]
            }
            let ready = await f.waitUntil(timeout: .seconds(15)) {
                let a = await schedulers("us-east")?.state
                let b = await schedulers("eu-west")?.state
                return a == .healthy && b == .healthy
            }
            let standby = await schedulers("eu-west")
            #expect(ready != nil, "\(String(describing: standby))")
            #expect(await schedulers("eu-west")?.detail.leader == "w")
            // Its Switchyard scheduler stops: nothing could start Airflow there, so it is not a failover target.
            kill(try #require(f.pid("w")), SIGKILL)
            let down = await f.waitUntil(timeout: .seconds(20)) { await schedulers("eu-west")?.state == .down }
            #expect(down != nil)
            let error = await schedulers("eu-west")?.lastError
            #expect(error?.contains("Switchyard scheduler leader") == true, "\(String(describing: error))")
            try await east.query("UPDATE job SET latest_heartbeat = now()")
            #expect(await f.waitUntil(timeout: .seconds(10)) { await schedulers("us-east")?.state == .healthy } != nil)
        }
    }
}

/// A flag shared with a server handler.
final class SharedFlag: @unchecked Sendable {
    private let lock = NSLock()
    private var stored: Bool
    init(_ value: Bool) { stored = value }
    var value: Bool {
        get { lock.withLock { stored } }
        set { lock.withLock { stored = newValue } }
    }
}
