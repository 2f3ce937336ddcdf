import Foundation
import SwitchyardCore
import SwitchyardRuntime

/// Reads drill scenario files; every problem is reported with file, line and field (exit code 2),
/// before the drill touches the deployment.
public enum DrillScenarioLoader {
    static let topKeys = [
        "scenario", "description", "deployment", "preconditions", "fault", "restore", "timeout", "expect", "campaign",
    ]

    /// Loads and validates one scenario file.
    public static func load(
        path: String, environment: [String: String] = ProcessInfo.processInfo.environment
    ) throws(ConfigErrors) -> DrillScenario {
        let (root, diagnostics) = ConfigLoader.readDocument(path: path, environment: environment)
        var scenario: DrillScenario?
        if let root { scenario = read(root) }
        let errors = diagnostics.errors.enumerated()
            .sorted { ($0.element.line, $0.offset) < ($1.element.line, $1.offset) }.map(\.element)
        guard errors.isEmpty, let scenario else {
            throw ConfigErrors(
                errors: errors.isEmpty
                    ? [ConfigError(file: path, line: 1, field: "scenario", reason: "cannot be read")] : errors)
        }
        return scenario
    }

    static func read(_ root: MappingReader) -> DrillScenario? {
        root.allow(topKeys)
        let name = root.requiredString("scenario")
        let deployment = readDeployment(root)
        let preconditions = readPreconditions(root.section("preconditions"))
        let restore = root.choice("restore", default: DrillScenario.Restore.failback)
        let timeout = root.duration("timeout", default: .seconds(90))
        var campaign: DrillScenario.Campaign?
        if let value = root.child("campaign"), let section = value.mapping() {
            campaign = readCampaign(section)
        }
        var fault: DrillFault?
        if let value = root.child("fault") {
            fault = readFault(value)
        } else if campaign == nil {
            root.fail("fault", "required key is missing (or give a campaign)")
        }
        if let fault, let deployment, !deployment.isLocal, fault.kind.needsLocalDeployment {
            root.fail(
                "fault",
                "\(fault.kind.rawValue) signals processes of the local deployment; a configured deployment allows shell or switchover"
            )
        }
        if let campaign, let deployment, !deployment.isLocal,
            campaign.faults.contains(where: { $0.kind.needsLocalDeployment })
        {
            root.fail("campaign", "a campaign of local faults needs the local dev deployment")
        }
        let expectations = readExpectations(root.section("expect"))
        guard let name, let deployment, let fault = fault ?? campaign?.faults.first else { return nil }
        return DrillScenario(
            name: name, description: root.string("description", default: ""), deployment: deployment,
            preconditions: preconditions, fault: fault, restore: restore, timeout: timeout,
            expectations: expectations, campaign: campaign)
    }

    static func readDeployment(_ root: MappingReader) -> DrillScenario.Deployment? {
        guard let value = root.child("deployment") else { return .dev(directory: nil) }
        if case .scalar = value.node {
            switch value.string() {
            case "dev": return .dev(directory: nil)
            case "configured": return .configured(config: nil)
            case let other?:
                value.fail("unknown value \"\(other.prefix(40))\" (expected one of: dev, configured)")
                return nil
            case nil: return nil
            }
        }
        guard let section = value.mapping() else { return nil }
        section.allow(["kind", "directory", "config"])
        switch section.requiredString("kind") {
        case "dev":
            if section.has("config") { section.fail("config", "only a configured deployment takes config") }
            return .dev(directory: section.optionalString("directory"))
        case "configured":
            if section.has("directory") { section.fail("directory", "only the dev deployment takes directory") }
            return .configured(config: section.optionalString("config"))
        case let other?:
            section.fail("kind", "unknown value \"\(other.prefix(40))\" (expected one of: dev, configured)")
            return nil
        case nil:
            return nil
        }
    }

    static func readPreconditions(_ section: MappingReader) -> DrillScenario.Preconditions {
        section.allow([
            "all_healthy", "active_region", "workload", "failover_leader_in_active", "control_patroni", "wait",
        ])
        var workload: DrillScenario.Workload?
        if let value = section.child("workload"), let w = value.mapping() {
            w.allow(["runs", "dag", "task", "executing"])
            let runs = w.int("runs", default: 6, min: 0, max: 1000)
            workload = .init(
                runs: runs, dag: w.string("dag", default: "drill"), task: w.optionalString("task"),
                executing: w.has("executing") ? w.int("executing", default: runs, min: 1, max: max(1, runs)) : nil)
        }
        return .init(
            allHealthy: section.bool("all_healthy", default: true),
            activeRegion: section.optionalString("active_region"),
            workload: workload, failoverLeaderInActive: section.bool("failover_leader_in_active", default: false),
            controlPatroni: section.bool("control_patroni", default: false),
            wait: section.duration("wait", default: .seconds(60)))
    }

    static func readFault(_ value: ValueNode) -> DrillFault? {
        let section: MappingReader
        if case .scalar = value.node {
            guard let kind = value.choice(DrillFault.Kind.self) else { return nil }
            return kind.defaultFault
        }
        guard let mapping = value.mapping() else { return nil }
        section = mapping
        guard let kind = section.require("kind")?.choice(DrillFault.Kind.self) else { return nil }
        var allowed = ["kind"]
        let fault: DrillFault?
        switch kind {
        case .freezeSchedulerLeader, .hangDatabase, .partition:
            allowed.append("duration")
            if kind == .partition { allowed.append("from") }
            let duration = section.duration(
                "duration", default: kind == .freezeSchedulerLeader ? .seconds(5) : .seconds(8))
            fault =
                kind == .freezeSchedulerLeader
                ? .freezeSchedulerLeader(duration: duration)
                : kind == .hangDatabase
                    ? .hangDatabase(duration: duration)
                    : .partition(duration: duration, from: section.choice("from", default: PartitionScope.everything))
        case .killFailoverLeader:
            allowed.append("step")
            let step = section.choice("step", default: FailoverStep.fence)
            if step == .begin || step == .complete {
                section.fail("step", "must be fence, migrate, activate or route (a step the failover passes through)")
            }
            fault = .killFailoverLeader(step: step)
        case .shell:
            allowed.append("command")
            fault = section.requiredString("command").map { .shell(command: $0) }
        case .switchover:
            allowed.append("to")
            fault = .switchover(to: section.optionalString("to"))
        case .controlDatabaseFailover:
            allowed.append("after")
            fault = .controlDatabaseFailover(after: section.duration("after", default: .seconds(10), allowZero: true))
        case .stopControlDatabase, .hangControlDatabase:
            allowed.append("duration")
            let duration = section.duration("duration", default: .seconds(60))
            fault =
                kind == .stopControlDatabase
                ? .stopControlDatabase(duration: duration) : .hangControlDatabase(duration: duration)
        case .dark, .link, .darkStandby:
            allowed.append("duration")
            let duration = section.duration("duration", default: .seconds(15))
            fault =
                kind == .dark
                ? .dark(duration: duration)
                : kind == .link ? .link(duration: duration) : .darkStandby(duration: duration)
        case .slowLink:
            allowed += ["delay", "duration"]
            let delay = section.duration("delay", default: .milliseconds(60))
            fault = .slowLink(
                delayMs: delay.secondsDouble * 1000, duration: section.duration("duration", default: .seconds(15)))
        case .clockStep:
            allowed += ["offset", "duration"]
            fault = .clockStep(
                offset: section.signedDuration("offset", default: .seconds(30)),
                duration: section.duration("duration", default: .seconds(15)))
        case .darkStandbyThenHang:
            allowed += ["after", "duration"]
            fault = .darkStandbyThenHang(
                after: section.duration("after", default: .seconds(15)),
                duration: section.duration("duration", default: .seconds(15)))
        case .freezeAgent:
            allowed += ["observer", "duration"]
            fault = .freezeAgent(
                observer: section.optionalString("observer") ?? "witness",
                duration: section.duration("duration", default: .seconds(20)))
        case .brownout:
            allowed += ["brownout", "duration"]
            fault = .brownout(
                kind: section.choice("brownout", default: BrownoutKind.combined),
                duration: section.duration("duration", default: .seconds(4)))
        default:
            fault = kind.defaultFault
        }
        section.allow(allowed)
        return fault
    }

    static func readCampaign(_ section: MappingReader) -> DrillScenario.Campaign? {
        section.allow(["count", "seed", "faults"])
        let count = section.int("count", default: 50, min: 1, max: 10_000)
        let seed = section.int("seed", default: 1, min: 0)
        var faults: [DrillFault] = []
        if let list = section.require("faults")?.sequence() {
            // Each item a kind (its default parameters) or a fault as `fault:` takes it
            // (`{ kind: hang_control_database, duration: 20s }`).
            for item in list {
                guard let fault = readFault(item) else { continue }
                if fault.kind == .shell || fault.kind == .switchover {
                    item.fail("a campaign draws local faults; \(fault.kind.rawValue) is not one")
                    continue
                }
                faults.append(fault)
            }
            if list.isEmpty { section.fail("faults", "must list at least one fault kind") }
        }
        guard !faults.isEmpty else { return nil }
        return .init(count: count, seed: UInt64(seed), faults: faults)
    }

    static func readExpectations(_ section: MappingReader) -> [DrillExpectation] {
        section.allow(DrillMetric.allCases.map(\.rawValue))
        var expectations: [DrillExpectation] = []
        for metric in DrillMetric.allCases {
            guard let value = section.child(metric.rawValue), let text = value.string() else { continue }
            if let expectation = parseBound(text, metric: metric) {
                expectations.append(expectation)
            } else {
                value.fail(
                    "expected a bound such as \"<= \(metric.isDuration ? "10s" : "0")\" or a number (operators: <=, <, >=, >, ==)"
                )
            }
        }
        return expectations
    }

    /// `"<= 10s"`, `"< 500"`, `0` (meaning `== 0`).
    public static func parseBound(_ text: String, metric: DrillMetric) -> DrillExpectation? {
        var rest = text.trimmingCharacters(in: .whitespaces)
        var comparison = DrillExpectation.Comparison.equal
        for candidate in [DrillExpectation.Comparison.atMost, .atLeast, .equal, .below, .above]
        where rest.hasPrefix(candidate.rawValue) {
            comparison = candidate
            rest = String(rest.dropFirst(candidate.rawValue.count)).trimmingCharacters(in: .whitespaces)
            break
        }
        if let number = Double(rest), number.isFinite { return DrillExpectation(metric, comparison, number) }
        if metric.isDuration, let duration = Duration.parse(rest) {
            return DrillExpectation(metric, comparison, duration.secondsDouble * 1000)
        }
        return nil
    }
}
