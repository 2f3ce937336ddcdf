import Foundation
import Testing

@testable import SwitchyardCore

@Suite struct ConfigLoaderErrorTests {
    struct Case: CustomTestStringConvertible, Sendable {
        let name: String
        let files: [String: String?]
        var environment: [String: String] = [:]
        /// `file:line: field`, with the file relative to the fixture directory.
        let expected: String
        var testDescription: String { name }
    }

    static let cases: [Case] = [
        Case(
            name: "unknown top-level key",
            files: ["controlplane.yaml": ConfigFixture.controlPlane + "\nbogus: 1"],
            expected: "controlplane.yaml:3: bogus"),
        Case(
            name: "unknown nested key",
            files: ["controlplane.yaml": ConfigFixture.controlPlane + "\nelection:\n  step_down: 1s"],
            expected: "controlplane.yaml:4: election.step_down"),
        Case(
            name: "missing name",
            files: ["us-east.yaml": "priority: 100\ndatabase: { dsn: \"host=h\" }\nredis: { url: \"redis://h:1\" }"],
            expected: "us-east.yaml:1: name"),
        Case(
            name: "missing database.dsn",
            files: ["us-east.yaml": "name: us-east\npriority: 1\ndatabase: {}\nredis: { url: \"redis://h:1\" }"],
            expected: "us-east.yaml:3: database.dsn"),
        Case(
            name: "missing database.dsn in a block mapping points at the key",
            files: ["us-east.yaml": "name: us-east\npriority: 1\ndatabase:\n  dns: x\nredis: { url: \"redis://h:1\" }"],
            expected: "us-east.yaml:3: database.dsn"),
        Case(
            name: "duplicate region names",
            files: ["z-copy.yaml": ConfigFixture.region],
            expected: "z-copy.yaml:1: name: duplicate region name \"us-east\" (also defined in DIR/us-east.yaml:1)"),
        Case(
            name: "bad duration",
            files: ["controlplane.yaml": ConfigFixture.controlPlane + "\nprobes:\n  interval: 3"],
            expected: "controlplane.yaml:4: probes.interval: invalid duration \"3\""),
        Case(
            name: "bad DSN",
            files: ["us-east.yaml": ConfigFixture.region.replacingOccurrences(of: "dbname=app", with: "dbnme=app")],
            expected:
                "us-east.yaml:4: database.dsn: invalid connection string: unknown keyword (did you mean \"dbname\"?)"
        ),
        Case(
            name: "bad Redis URL",
            files: ["us-east.yaml": ConfigFixture.region.replacingOccurrences(of: "redis://127", with: "http://127")],
            expected: "us-east.yaml:6: redis.url: invalid Redis URL"),
        Case(
            name: "a TLS Redis URL, which the client cannot connect to",
            files: ["us-east.yaml": ConfigFixture.region.replacingOccurrences(of: "redis://127", with: "rediss://127")],
            expected: "us-east.yaml:6: redis.url: invalid Redis URL: rediss:// (TLS) is not supported"),
        Case(
            name: "both url and sentinel",
            files: ["us-east.yaml": ConfigFixture.region + "\n  sentinel:\n    addresses: [\"h:1\"]\n    master: m"],
            expected: "us-east.yaml:7: redis.sentinel: give either url or sentinel"),
        Case(
            name: "hook with an ftp URL",
            files: [
                "us-east.yaml": ConfigFixture.region
                    + "\nrouting:\n  hooks:\n    - name: dns\n      url: \"http://h/dns\"\n    - name: lb\n      url: ftp://h/x"
            ],
            expected: "us-east.yaml:12: routing.hooks[1].url: URL scheme must be http or https"),
        Case(
            name: "unknown placeholder in a hook body",
            files: [
                "us-east.yaml": ConfigFixture.region
                    + "\nrouting:\n  notify:\n    - name: chat\n      url: http://h/\n      body: '{\"r\":\"{{regoin}}\"}'"
            ],
            expected: "us-east.yaml:11: routing.notify[0].body: unknown placeholder {{regoin}}"),
        Case(
            name: "bad cron",
            files: ["dags.yaml": "dags:\n  - id: a\n    schedule: \"61 * * * *\"\n    command: x"],
            expected: "dags.yaml:3: dags[0].schedule: minute: 61 is outside 0-59"),
        Case(
            name: "duplicate DAG id",
            files: ["dags.yaml": "dags:\n  - id: a\n    command: x\n  - id: a\n    command: y"],
            expected: "dags.yaml:4: dags[1].id: duplicate DAG id \"a\""),
        Case(
            name: "unset environment variable",
            files: [
                "us-east.yaml": ConfigFixture.region.replacingOccurrences(of: "dbname=app", with: "password=${NOPE}")
            ],
            expected: "us-east.yaml:4: database.dsn: environment variable NOPE is not set"),
        Case(
            name: "YAML syntax error",
            files: ["controlplane.yaml": ConfigFixture.controlPlane + "\n   api: 1"],
            expected: "controlplane.yaml:3: yaml: syntax error"),
        Case(
            name: "election timing rule",
            files: ["controlplane.yaml": ConfigFixture.controlPlane + "\nelection:\n  step_down_after: 3s"],
            expected:
                "controlplane.yaml:4: election.step_down_after: election.step_down_after (3s) must be shorter than election.idle_session_timeout"
        ),
        Case(
            name: "lease renewal rule",
            files: [
                "controlplane.yaml": ConfigFixture.controlPlane
                    + "\nfailover:\n  lease_ttl: 3s\n  lease_renew_interval: 2s"
            ],
            expected: "controlplane.yaml:5: failover.lease_renew_interval: twice"),
        Case(
            name: "safety chain: workers would stop commands between two renewals",
            files: [
                "controlplane.yaml": ConfigFixture.controlPlane
                    + "\nfailover:\n  lease_ttl: 2s\n  lease_renew_interval: 1s"
            ],
            expected:
                "controlplane.yaml:4: failover.lease_ttl: failover.lease_ttl (2s) must exceed failover.lease_renew_interval"
        ),
        Case(
            name: "missing control section",
            files: ["controlplane.yaml": "api: { listen: \"127.0.0.1:0\" }"],
            expected: "controlplane.yaml:1: control: required key is missing"),
        Case(
            name: "listen port out of range",
            files: ["controlplane.yaml": ConfigFixture.controlPlane + "\napi: { listen: \"127.0.0.1:70000\" }"],
            expected: "controlplane.yaml:3: api.listen"),
        Case(
            name: "http scheduler probe without url",
            files: ["us-east.yaml": ConfigFixture.region + "\nschedulers:\n  probe: http"],
            expected: "us-east.yaml:7: schedulers.url: required when probe is http"),
        Case(
            name: "no redis section while Switchyard dispatches runs",
            files: ["us-east.yaml": "name: us-east\npriority: 1\ndatabase: { dsn: \"host=h\" }"],
            expected: "us-east.yaml:1: redis: required while runs are dispatched through Redis"),
        Case(
            name: "dispatch asked for without a redis section",
            files: [
                "us-east.yaml":
                    "name: us-east\npriority: 1\ndatabase: { dsn: \"host=h\" }\nruns: { preset: airflow, dispatch: true }"
            ],
            expected: "us-east.yaml:4: runs.dispatch: Switchyard dispatches runs through Redis"),
        Case(
            name: "redis critical without a redis section",
            files: [
                "us-east.yaml":
                    "name: us-east\npriority: 1\ndatabase: { dsn: \"host=h\" }\nruns: { preset: airflow }\ncritical: [database, redis]"
            ],
            expected: "us-east.yaml:5: critical[1]: redis is critical, but the region has no redis section"),
    ]

    @Test(arguments: cases)
    func reportsFileLineAndField(testCase: Case) throws {
        let fixture = try ConfigFixture(testCase.files)
        defer { fixture.remove() }
        let error = try #require(throws: ConfigErrors.self) {
            try ConfigLoader.load(directory: fixture.directory, environment: testCase.environment)
        }
        let expected =
            "\(fixture.directory)/" + testCase.expected.replacingOccurrences(of: "DIR", with: fixture.directory)
        #expect(
            error.errors.contains { $0.description.hasPrefix(expected) },
            "expected a line starting with \(expected), got:\n\(error.description)")
    }

    @Test func collectsEveryErrorAtOnce() throws {
        let fixture = try ConfigFixture([
            "controlplane.yaml": ConfigFixture.controlPlane + "\nprobes: { interval: soon, timeout: later }",
            "us-east.yaml": "name: US\npriority: high\n",
        ])
        defer { fixture.remove() }
        let error = try #require(throws: ConfigErrors.self) {
            try ConfigLoader.load(directory: fixture.directory, environment: [:])
        }
        let fields = error.errors.map(\.field)
        #expect(fields == ["probes.interval", "probes.timeout", "name", "database", "redis", "priority"])
        #expect(error.description.split(separator: "\n").count == 6)
    }

    @Test func anAirflowRegionNeedsNoRedis() throws {
        let fixture = try ConfigFixture([
            "us-east.yaml":
                "name: us-east\npriority: 1\ndatabase: { dsn: \"host=h\" }\nschedulers: { probe: airflow }\nruns: { preset: airflow }"
        ])
        defer { fixture.remove() }
        let region = try #require(
            try ConfigLoader.load(directory: fixture.directory, environment: [:]).region(named: "us-east"))
        #expect(region.redis == nil && !region.runs.dispatch)
        #expect(region.components == [.database, .schedulers] && region.critical == [.database, .schedulers])
    }

    @Test func secretsNeverAppearInErrors() throws {
        let fixture = try ConfigFixture([
            "us-east.yaml": ConfigFixture.region.replacingOccurrences(
                of: "dbname=app", with: "password=${PW} bogus")
        ])
        defer { fixture.remove() }
        let error = try #require(throws: ConfigErrors.self) {
            try ConfigLoader.load(directory: fixture.directory, environment: ["PW": "hunter2 more"])
        }
        #expect(!error.errors.isEmpty)
        #expect(!error.description.contains("hunter2"))
        #expect(!error.description.contains("more"))
    }
}
