import Foundation
import Postgres
import SwitchyardCore
import SwitchyardRuntime
import Synchronization

/// Runs a drill scenario against a deployment: preconditions, workload, fault, measurements from the
/// journals (failover steps, acting terms, executions), restore, report. A campaign runs many
/// randomized faults in a row and reports totals. Interrupted (Ctrl-C), it restores the deployment
/// before it returns.
public final class DrillRunner: Sendable {
    let scenario: DrillScenario
    let target: DrillTarget
    let restore: DrillScenario.Restore
    let progressLine: @Sendable (String) -> Void
    /// Campaign: each fault's report is appended here as one JSON line as it finishes.
    let roundsLog: String?
    /// What the current fault left that restoring must undo (read by the interrupt path too).
    let pending = Mutex(PendingRestore())
    let started = ContinuousClock.now

    /// What restoring must undo.
    struct PendingRestore: Sendable {
        var frozen: [Int32] = []
        /// A standby darkened before the fault (`dark_standby_then_hang`): dark through the whole fault, back
        /// only when restoring.
        var darkStandby: [Int32] = []
        var brownout: Brownout.Running?
        var partitioned: String?
        var routerChanged = false
        var controlStopped = false
        var promoteControlReplica = false
        /// A Patroni control database's crashed primary: its name, the marker event committed just before, and
        /// the watch for the member Patroni promotes (its name and when it first accepted writes).
        var patroniCrash: PatroniCrash?
        /// The WAN links as they were before a link fault (written back at its end).
        var links: WANLinks?
        /// A region's clock as it was before a clock step (written back at its end).
        var clock: (region: String, skew: ClockSkew)?
        var activeBefore: String?
    }

    /// Creates a runner; `restore` overrides the scenario's (from `--no-restore`).
    public init(
        scenario: DrillScenario, target: DrillTarget, restore: DrillScenario.Restore? = nil, roundsLog: String? = nil,
        progress: @escaping @Sendable (String) -> Void
    ) {
        self.roundsLog = roundsLog
        self.scenario = scenario
        self.target = target
        self.restore = restore ?? scenario.restore
        self.progressLine = progress
    }

    func progress(_ text: String) {
        let elapsed = (ContinuousClock.now - started).secondsDouble
        progressLine(String(format: "[%6.1fs] ", elapsed) + text)
    }

    /// Runs the scenario (or its campaign) and returns the report with its expectations checked.
    public func run() async throws -> DrillReport {
        do {
            var report: DrillReport
            if let campaign = scenario.campaign {
                report = try await runCampaign(campaign)
            } else {
                report = try await round(fault: scenario.fault, restore: restore)
            }
            report.evaluate(scenario.expectations)
            return report
        } catch {
            let interrupted = error is CancellationError || Task.isCancelled
            progress(
                interrupted
                    ? "interrupted: restoring the deployment" : "drill failed (\(error)): restoring the deployment")
            if restore != .none {
                // Detached: the restore must run to the end even though this task was cancelled.
                await Task.detached { [self] in await self.restoreAll(failback: self.restore == .failback) }.value
            }
            throw error
        }
    }

    /// A campaign: every fault restarts what it broke before the next; the failback comes at the end.
    func runCampaign(_ campaign: DrillScenario.Campaign) async throws -> DrillReport {
        let faults = CampaignPlan.faults(campaign)
        // What a drawn fault needs of the deployment, checked before the first fault: a campaign stopped
        // at its hundredth fault for want of a clock file has wasted an hour.
        if let dev = try? target.dev() {
            let kinds = Set(faults.map(\.kind))
            if kinds.contains(.clockStep), dev.clocks == nil {
                throw DrillError(
                    "the campaign draws clock_step but the local deployment's regions run on the host's clock: start it with `switchyard dev up --clock-skew REGION=OFFSET,…` (for example us-east=0, which runs every region on a clock of its own at the host's) or a --wan profile with skews"
                )
            }
            if kinds.contains(.darkStandbyThenHang), dev.regions.count < 3 {
                throw DrillError(
                    "the campaign draws dark_standby_then_hang, which needs three regions (dev up --regions 3)")
            }
            if !kinds.isDisjoint(with: [.darkStandby, .killStandbyDatabase]), dev.regions.count < 2 {
                throw DrillError("the campaign draws a standby fault but the deployment has no standby")
            }
            if !kinds.isDisjoint(with: [.link, .slowLink]), (try? WANLinks.load(directory: dev.directory)) == nil {
                throw DrillError(
                    "the campaign draws link faults but the local deployment has no WAN: start it with `switchyard dev up --wan PROFILE`"
                )
            }
        }
        progress(
            "campaign of \(faults.count) faults (seed \(campaign.seed)): \(Dictionary(faults.map { ($0.kind.rawValue, 1) }, uniquingKeysWith: +).sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", "))"
        )
        var rounds: [DrillReport] = []
        for (index, fault) in faults.enumerated() {
            progress("fault \(index + 1)/\(faults.count): \(fault.kind.rawValue)")
            var report = try await round(fault: fault, restore: restore == .none ? .none : .restart)
            report.evaluate(Self.roundExpectations(fault))
            progress(
                "fault \(index + 1)/\(faults.count): \(report.passed ? "held" : "BROKEN: " + report.expectations.filter { !$0.held }.map(\.explanation).joined(separator: "; "))"
                    + (report.rtoMs.map { ", RTO \(Int($0)) ms" } ?? ""))
            rounds.append(report)
            if let roundsLog { appendLine(report, to: roundsLog) }
        }
        if restore == .failback { await failback() }
        var report = DrillReport.campaign(scenario: scenario.name, rounds: rounds)
        report.activeAfter = try? await activeRegion()
        return report
    }

    /// Appends `report` as one JSON line (a campaign's per-fault log); a failure to write says so and goes on.
    func appendLine(_ report: DrillReport, to path: String) {
        do {
            var line = try WireJSON.encoder().encode(report)
            line.removeAll { $0 == 10 }
            line.append(10)
            if !FileManager.default.fileExists(atPath: path) {
                FileManager.default.createFile(atPath: path, contents: nil)
            }
            let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
            defer { try? handle.close() }
            try handle.seekToEnd()
            try handle.write(contentsOf: line)
        } catch {
            progress("could not append this fault's report to \(path): \(error)")
        }
    }

    /// What every campaign fault must show: nothing lost or doubled, one leader, recovered, a failover
    /// exactly when the fault calls for one, and no command stopped by one that calls for none (a
    /// control-database outage, a clock step, a standby's fault, a brown-out or a latency spike must
    /// not stop the active region's work).
    public static func roundExpectations(_ fault: DrillFault) -> [DrillExpectation] {
        [
            DrillExpectation(.failovers, .equal, fault.kind.expectsFailover ? 1 : 0),
            DrillExpectation(.runsLost, .equal, 0),
            DrillExpectation(.runsTwice, .equal, 0), DrillExpectation(.runsOverlapping, .equal, 0),
            DrillExpectation(.dualLeaderMs, .equal, 0), DrillExpectation(.unrecovered, .equal, 0),
        ] + (fault.kind.expectsFailover ? [] : [DrillExpectation(.commandsStopped, .equal, 0)])
    }

    func activeRegion() async throws -> String? {
        let control = try await target.control()
        return try await control.closeAfter {
            return try await target.cluster(control).active
        }
    }
}

/// A Patroni control database's primary the drill crashed, and the watch for its successor.
struct PatroniCrash: Sendable {
    /// The crashed member.
    var crashed: String
    /// The event committed on it just before the crash.
    var marker: Int?
    /// When it was SIGKILLed.
    var crashedAt: Date
    /// The multi-host conninfo to read the marker back through.
    var conninfo: String
    /// Ends with the promoted member and when it first accepted writes (nil after 120 s).
    var watch: Task<(name: String, at: Date)?, Never>
    /// The member was hung (its Postgres SIGSTOPped), not killed: resumed, it answers as a primary until its
    /// Patroni demotes it.
    var hung = false
}
