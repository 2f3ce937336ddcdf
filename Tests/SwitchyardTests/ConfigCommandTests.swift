import Foundation
import TestSupport
import Testing

@Suite("switchyard config and usage errors, through the binary")
struct ConfigCommandTests {
    func writeConfig(_ files: [String: String]) async throws -> String {
        let dir = try await TestServers.shared.scratchDirectory("config")
        for (name, text) in files { try text.write(toFile: dir + "/" + name, atomically: true, encoding: .utf8) }
        return dir
    }

    static let controlplane = """
        control:
          dsn: "host=127.0.0.1 port=5432 dbname=switchyard user=switchyard password=${SY_TEST_CONTROL_PW}"

        """
    static func region(_ name: String, priority: Int = 10, extra: String = "") -> String {
        """
        name: \(name)
        priority: \(priority)
        database:
          dsn: "postgresql://switchyard:${SY_TEST_REGION_PW}@127.0.0.1:5433/switchyard"
        redis:
          url: "redis://:${SY_TEST_REDIS_PW}@127.0.0.1:6379/0"
        \(extra)
        """
    }

    @Test func badConfigExitsTwoNamingFileLineAndField() async throws {
        let dir = try await writeConfig([
            "controlplane.yaml": Self.controlplane,
            "one.yaml": Self.region("one", extra: "colour: blue\n"),
            "two.yaml": Self.region("two").replacingOccurrences(of: "priority: 10", with: "priority: high"),
        ])
        let run = try await SwitchyardBinary.run(
            ["config", "check", "--config", dir],
            environment: [
                "SY_TEST_CONTROL_PW": "a", "SY_TEST_REGION_PW": "b", "SY_TEST_REDIS_PW": "c",
            ])
        #expect(run.status == 2)
        #expect(run.errors.contains("\(dir)/one.yaml:7: colour:"), "\(run.errors)")
        #expect(run.errors.contains("\(dir)/two.yaml:2: priority:"), "\(run.errors)")
    }

    @Test func missingEnvironmentVariableIsAConfigError() async throws {
        let dir = try await writeConfig(["controlplane.yaml": Self.controlplane, "one.yaml": Self.region("one")])
        let run = try await SwitchyardBinary.run(
            ["config", "check", "--config", dir],
            environment: [
                "SY_TEST_REGION_PW": "b", "SY_TEST_REDIS_PW": "c",
            ])
        #expect(run.status == 2)
        #expect(run.errors.contains("controlplane.yaml:2: control.dsn:"), "\(run.errors)")
        #expect(run.errors.contains("SY_TEST_CONTROL_PW"))
    }

    @Test func configShowRedactsEverySecret() async throws {
        // A notification hook whose body carries a PagerDuty routing key from the environment.
        let notify = """
            routing:
              notify:
                - name: pager
                  url: "http://127.0.0.1:9/v2/enqueue"
                  body: '{"routing_key": "${SY_TEST_ROUTING_KEY}", "dedup_key": "{{incident_key}}"}'
            """
        let dir = try await writeConfig([
            "controlplane.yaml": Self.controlplane, "one.yaml": Self.region("one", extra: notify),
        ])
        let secrets = [
            "SY_TEST_CONTROL_PW": "ctl-Secret-91", "SY_TEST_REGION_PW": "region-Secret-92",
            "SY_TEST_REDIS_PW": "redis-Secret-93", "SY_TEST_ROUTING_KEY": "routing-Secret-94",
        ]
        let run = try await SwitchyardBinary.run(["config", "show", "--config", dir], environment: secrets)
        #expect(run.status == 0, "\(run.errors)")
        #expect(run.output.contains("name: one"))
        #expect(run.output.contains("***"))
        #expect(run.output.contains("{{incident_key}}"), "a placeholder is not a secret: \(run.output)")
        for secret in secrets.values { #expect(!run.output.contains(secret) && !run.errors.contains(secret)) }
    }

    @Test func badUsageExitsTwo() async throws {
        let unknown = try await SwitchyardBinary.run(["dev", "up", "--regions", "many"])
        #expect(unknown.status == 2)
        let noSuch = try await SwitchyardBinary.run(["frobnicate"])
        #expect(noSuch.status == 2)
        let help = try await SwitchyardBinary.run(["--help"])
        #expect(help.status == 0)
        #expect(help.output.contains("dev"))
    }

    @Test func missingConfigDirectoryExitsTwo() async throws {
        let run = try await SwitchyardBinary.run(["config", "check", "--config", "/nonexistent/switchyard-config"])
        #expect(run.status == 2)
        #expect(run.errors.contains("/nonexistent/switchyard-config"))
    }
}
