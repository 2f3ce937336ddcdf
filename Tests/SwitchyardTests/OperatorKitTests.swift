import Foundation
import SwitchyardRuntime
import TestSupport
import Testing

/// The files an operator installs beside the binary: alert rules, the Grafana dashboard, systemd units.
enum OperatorKit {
    /// The repository, found from this file's path.
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().path
    static let rules = root + "/deploy/prometheus/switchyard-rules.yml"
    static let ruleTests = root + "/deploy/prometheus/switchyard-rules.test.yml"
    static let dashboard = root + "/deploy/grafana/switchyard-dashboard.json"

    /// Every `switchyard_…` metric the alert rules and the Grafana dashboard query.
    static func metricNames() throws -> [String] {
        var names = Set<String>()
        for path in [rules, dashboard] {
            let text = try String(contentsOfFile: path, encoding: .utf8)
            let pattern = try Regex("switchyard_[a-z_]+[a-z]")
            for match in text.matches(of: pattern) { names.insert(String(text[match.range])) }
        }
        return names.sorted()
    }

    /// Runs a shell command line; its exit status and everything it printed (stdout and stderr).
    static func shell(_ line: String) async throws -> (status: Int32, output: String) {
        let run = try await Subprocess.run("/bin/sh", ["-c", line + " 2>&1"], check: false)
        return (run.status, run.output)
    }

    /// A tool the kit's checks need, or a failure naming the package that has it.
    static func require(_ tool: String, package: String) async throws {
        let found = try await shell("command -v \(tool)")
        try #require(
            found.status == 0, "\(tool) is missing: apt-get install \(package) (scripts/install-deps.sh does, as root)")
    }
}

@Suite("The operator's kit: alert rules, dashboard and systemd units", .serialized)
struct OperatorKitTests {
    @Test func alertRulesPassPromtoolsCheckAndTheirUnitTests() async throws {
        try await OperatorKit.require("promtool", package: "prometheus")
        let check = try await OperatorKit.shell("promtool check rules '\(OperatorKit.rules)'")
        #expect(check.status == 0, "\(check.output)")
        #expect(check.output.contains("SUCCESS"), "\(check.output)")
        let unit = try await OperatorKit.shell(
            "cd '\(OperatorKit.root)' && promtool test rules '\(OperatorKit.ruleTests)'")
        #expect(unit.status == 0, "\(unit.output)")
        // The unit tests can fail: a rule that never fires is caught.
        let broken = NSTemporaryDirectory() + "switchyard-rules-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: broken, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: broken) }
        let rules = try String(contentsOfFile: OperatorKit.rules, encoding: .utf8)
        try rules.replacingOccurrences(of: "switchyard_failsafe_active", with: "switchyard_failsafe_never")
            .write(toFile: broken + "/switchyard-rules.yml", atomically: true, encoding: .utf8)
        try String(contentsOfFile: OperatorKit.ruleTests, encoding: .utf8)
            .write(toFile: broken + "/switchyard-rules.test.yml", atomically: true, encoding: .utf8)
        let caught = try await OperatorKit.shell(
            "cd '\(broken)' && promtool test rules switchyard-rules.test.yml")
        #expect(caught.status != 0, "a rule that cannot fire passed the rule tests")
    }

    @Test func theGrafanaDashboardIsImportableJSONOverOurMetrics() throws {
        let data = try Data(contentsOf: URL(fileURLWithPath: OperatorKit.dashboard))
        let dashboard = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        #expect(dashboard["uid"] as? String == "switchyard")
        let panels = try #require(dashboard["panels"] as? [[String: Any]])
        #expect(panels.count >= 10)
        #expect(!String(decoding: data, as: UTF8.self).contains("http://"), "no external addresses")
        // Which names the agent really exports is checked against a live agent in FailoverOutcomeTests.
        #expect(try OperatorKit.metricNames().contains("switchyard_region_healthy"))
    }

    @Test func makeInstallWritesUnitsThatSystemdAnalyzeVerifies() async throws {
        try await OperatorKit.require("systemd-analyze", package: "systemd")
        let stage = NSTemporaryDirectory() + "switchyard-install-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: stage) }
        let prefix = stage + "/opt/switchyard"
        let install = try await OperatorKit.shell(
            "make --no-print-directory -C '\(OperatorKit.root)' install-files INSTALL_BIN='\(SwitchyardBinary.path)'"
                + " PREFIX='\(prefix)' SYSCONFDIR='\(stage)/etc/switchyard' UNITDIR='\(stage)/units'")
        try #require(install.status == 0, "\(install.output)")
        #expect(FileManager.default.isExecutableFile(atPath: prefix + "/bin/switchyard"))
        #expect(FileManager.default.fileExists(atPath: stage + "/etc/switchyard/switchyard.env.example"))
        for daemon in ["agent", "scheduler", "worker"] {
            let unit = stage + "/units/switchyard-\(daemon)@.service"
            let text = try String(contentsOfFile: unit, encoding: .utf8)
            #expect(
                text.contains("ExecStart=\(prefix)/bin/switchyard \(daemon) --config \(stage)/etc/switchyard/regions"))
            #expect(!text.contains("/usr/local/bin/switchyard"))
            for required in ["User=switchyard", "NoNewPrivileges=yes", "ProtectSystem=strict", "Restart=on-failure"] {
                #expect(text.contains(required), "\(daemon): \(required)")
            }
            // systemd-analyze reports a bad unit on its output with status 0: the check is no output at all.
            for name in ["switchyard-\(daemon)@.service", "switchyard-\(daemon)@us-east.service"] {
                let copy = stage + "/units/" + name
                if name.contains("us-east") { try text.write(toFile: copy, atomically: true, encoding: .utf8) }
                let verify = try await OperatorKit.shell("systemd-analyze verify '\(copy)'")
                #expect(verify.status == 0 && verify.output.isEmpty, "\(name): \(verify.output)")
            }
        }
        // The witness: an agent with a name of its own and --witness.
        let witness = try String(contentsOfFile: stage + "/units/switchyard-witness@.service", encoding: .utf8)
        #expect(
            witness.contains(
                "ExecStart=\(prefix)/bin/switchyard agent --config \(stage)/etc/switchyard/regions --witness --observer %i"
            ))
        let witnessCopy = stage + "/units/switchyard-witness@witness.service"
        try witness.write(toFile: witnessCopy, atomically: true, encoding: .utf8)
        for path in [stage + "/units/switchyard-witness@.service", witnessCopy] {
            let verify = try await OperatorKit.shell("systemd-analyze verify '\(path)'")
            #expect(verify.status == 0 && verify.output.isEmpty, "\(path): \(verify.output)")
        }
        // Airflow's own units (deploy/airflow), which every region runs beside Switchyard: never installed by
        // Switchyard's install, and well-formed (verified with the program and user replaced by ones this
        // machine has).
        for name in ["airflow-api-server", "airflow-dag-processor", "airflow-triggerer"] {
            let copy = stage + "/units/\(name).service"
            #expect(!FileManager.default.fileExists(atPath: copy), "make install wrote \(name)")
            let text = try String(contentsOfFile: OperatorKit.root + "/deploy/airflow/\(name).service", encoding: .utf8)
            #expect(text.contains("ExecStart=/opt/airflow/venv/bin/airflow "), "\(name)")
            try text.replacingOccurrences(of: "/opt/airflow/venv/bin/airflow", with: "/bin/true")
                .replacingOccurrences(of: "User=airflow", with: "User=root")
                .replacingOccurrences(of: "Group=airflow", with: "Group=root")
                .write(toFile: copy, atomically: true, encoding: .utf8)
            let verify = try await OperatorKit.shell("systemd-analyze verify '\(copy)'")
            #expect(verify.status == 0 && verify.output.isEmpty, "\(name): \(verify.output)")
        }
        // The scheduler hands leadership off itself: systemd's SIGTERM must reach the node alone.
        let scheduler = try String(contentsOfFile: stage + "/units/switchyard-scheduler@.service", encoding: .utf8)
        #expect(scheduler.contains("KillMode=mixed"))
        // The check can fail: a misspelt value is reported.
        let broken = stage + "/units/switchyard-broken@.service"
        try scheduler.replacingOccurrences(of: "KillMode=mixed", with: "KillMode=mixd")
            .write(toFile: broken, atomically: true, encoding: .utf8)
        let caught = try await OperatorKit.shell("systemd-analyze verify '\(broken)'")
        #expect(caught.output.contains("mixd"), "\(caught.output)")
    }
}
