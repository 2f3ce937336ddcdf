import Foundation
import Testing

@testable import SwitchyardCore

@Suite struct ShippedConfigTests {
    /// The repository's `regions/` directory, found from this file's path.
    static let regionsDirectory = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("regions").path

    static let environment = [
        "SWITCHYARD_CONTROL_PASSWORD": "ctl-S3cret!",
        "US_EAST_DB_PASSWORD": "usE-db-pw",
        "US_EAST_REDIS_PASSWORD": "usE-redis-pw",
        "EU_WEST_DB_PASSWORD": "euW-db-pw",
        "AP_SOUTH_DB_PASSWORD": "ap s0uth pw",
        "AP_SOUTH_REDIS_PASSWORD": "apRedisPw",
    ]

    @Test func shippedDirectoryLoads() throws {
        let config = try ConfigLoader.load(directory: Self.regionsDirectory, environment: Self.environment)
        #expect(config.regions.map(\.name) == ["us-east", "eu-west", "ap-south"])
        #expect(
            config.dags.map(\.id) == ["etl_hourly", "heartbeat_check", "nightly_report", "weekday_sync", "backfill"])
        #expect(config.controlPlane.election == ElectionConfig())
        #expect(config.controlPlane.failover == FailoverConfig())
        #expect(config.controlPlane.probes == ProbeConfig())
        #expect(config.controlPlane.api == APIConfig())

        let usEast = try #require(config.region(named: "us-east"))
        #expect(usEast.routing.hooks.map(\.name) == ["dns", "load-balancer"])
        #expect(usEast.routing.hooks[0].secretEnv == "DNS_HOOK_SECRET")
        #expect(usEast.routing.hooks[0].successStatuses == [200, 201, 202, 204])
        #expect(usEast.routing.hooks[1].method == .put)
        #expect(usEast.routing.hooks[1].successStatuses == nil)
        #expect(usEast.routing.notify.first?.required == false)
        guard case .url(let redis)? = usEast.redis?.connection else {
            Issue.record("us-east should use a Redis URL")
            return
        }
        #expect(redis.endpoint == .tcp(host: "127.0.0.1", port: 6391))
        #expect(redis.password == "usE-redis-pw")

        let euWest = try #require(config.region(named: "eu-west"))
        #expect(euWest.schedulers.staleAfter == .seconds(5))
        guard case .sentinel(let sentinel)? = euWest.redis?.connection else {
            Issue.record("eu-west should use Sentinel")
            return
        }
        #expect(
            sentinel.addresses == [HostPort(host: "127.0.0.1", port: 26392), HostPort(host: "127.0.0.1", port: 26393)])

        let apSouth = try #require(config.region(named: "ap-south"))
        #expect(apSouth.runs == RunsConfig(preset: .airflow, table: "public.dag_run"))
        #expect(apSouth.critical == [.database, .schedulers])
        #expect(apSouth.schedulers.probe == .airflow && apSouth.schedulers.staleAfter == .seconds(30))
        #expect(ConnInfo.parse(apSouth.databaseDSN)?.first { $0.key == "password" }?.value == "ap s0uth pw")
        #expect(config.dags[1].schedule == .every(.seconds(30)))
        #expect(config.dags[4].schedule == .manual)
    }

    @Test func everyRegionFileIsValidUsingOnlyLoopback() throws {
        for name in try FileManager.default.contentsOfDirectory(atPath: Self.regionsDirectory) {
            let text = try String(contentsOfFile: "\(Self.regionsDirectory)/\(name)", encoding: .utf8)
            #expect(!text.contains("localhost"), "\(name) should use 127.0.0.1")
            for match in text.matches(of: /(\d+\.\d+\.\d+\.\d+)/) {
                #expect(match.1 == "127.0.0.1", "\(name) uses \(match.1)")
            }
        }
    }

    @Test func redactedYAMLHidesEveryPassword() throws {
        let config = try ConfigLoader.load(directory: Self.regionsDirectory, environment: Self.environment)
        let yaml = config.redactedYAML()
        for secret in Self.environment.values {
            #expect(!yaml.contains(secret), "\(secret) leaked")
        }
        #expect(yaml.contains("password=***"))
        #expect(yaml.contains("redis://:***@127.0.0.1:6391/0"))
        #expect(yaml.contains("postgresql://switchyard:***@127.0.0.1:5452/switchyard"))
        // Defaults are filled in even where the files leave them out.
        #expect(yaml.contains("exec_grace: 1s"))
        #expect(yaml.contains("stale_after: 5s"))
    }

    @Test func redactedYAMLHidesAPasswordFromTheEnvironment() throws {
        let fixture = try ConfigFixture([
            "controlplane.yaml": "control:\n  dsn: \"postgres://app:${CONTROL_PW}@127.0.0.1/control\"",
            "us-east.yaml": ConfigFixture.region.replacingOccurrences(
                of: "dbname=app", with: "dbname=app password='${DB_PW}'"),
        ])
        defer { fixture.remove() }
        let environment = ["CONTROL_PW": "s3cr3t-control", "DB_PW": "very secret"]
        let config = try ConfigLoader.load(directory: fixture.directory, environment: environment)
        #expect(config.controlPlane.control.dsn.contains("s3cr3t-control"))
        let yaml = config.redactedYAML()
        #expect(!yaml.contains("s3cr3t-control"))
        #expect(!yaml.contains("very secret"))
        #expect(yaml.contains("postgres://app:***@127.0.0.1/control"))
        #expect(yaml.contains("listen: \"127.0.0.1:8080\""))
    }
}
