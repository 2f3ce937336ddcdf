import Foundation
import SwitchyardCore
import SwitchyardLab
import Testing

@Suite("Drill scenarios, expectations and reports (pure)")
struct DrillScenarioTests {
    func write(_ text: String) throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("drill-\(UUID().uuidString).yaml").path
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    @Test func readsAFullScenario() throws {
        let path = try write(
            """
            scenario: kill-db
            description: crash the active database
            deployment: { kind: dev, directory: /tmp/dev }
            preconditions:
              all_healthy: true
              active_region: r1
              workload: { runs: 4, dag: drill }
            fault: { kind: hang_database, duration: 3s }
            restore: restart
            timeout: 45s
            expect:
              failovers: 1
              detect_ms: "<= 6s"
              rto_ms: "< 10000"
              runs_lost: 0
            """)
        let s = try DrillScenarioLoader.load(path: path)
        #expect(s.name == "kill-db")
        #expect(s.deployment == .dev(directory: "/tmp/dev"))
        #expect(s.preconditions.activeRegion == "r1" && s.preconditions.workload == .init(runs: 4, dag: "drill"))
        #expect(s.fault == .hangDatabase(duration: .seconds(3)))
        #expect(s.restore == .restart && s.timeout == .seconds(45))
        #expect(
            s.expectations == [
                DrillExpectation(.failovers, .equal, 1), DrillExpectation(.detectMs, .atMost, 6000),
                DrillExpectation(.rtoMs, .below, 10000), DrillExpectation(.runsLost, .equal, 0),
            ])
    }

    @Test func readsABrownoutThatMustCauseNoFailover() throws {
        let path = try write(
            """
            scenario: brownout
            fault: { kind: brownout, brownout: freeze_agents, duration: 3s }
            """)
        let s = try DrillScenarioLoader.load(path: path)
        #expect(s.fault == .brownout(kind: .freezeAgents, duration: .seconds(3)))
        #expect(!s.fault.kind.expectsFailover && s.fault.kind.needsLocalDeployment)
        let bad = try write(
            """
            scenario: brownout
            fault: { kind: brownout, brownout: earthquake }
            """)
        #expect(throws: ConfigErrors.self) { try DrillScenarioLoader.load(path: bad) }
        // The shipped scenario: all at once, and it expects no failover.
        let shipped = try DrillScenarioLoader.load(
            path: URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
                .deletingLastPathComponent()
                .appendingPathComponent("runbooks/drills/brownout.yaml").path)
        #expect(shipped.fault == .brownout(kind: .combined, duration: .seconds(4)))
        #expect(shipped.expectations.contains(DrillExpectation(.failovers, .equal, 0)))
    }

    @Test func readsControlDatabaseFaultsAndTheirFigures() throws {
        let stop = try DrillScenarioLoader.load(
            path: try write(
                """
                scenario: s
                fault: { kind: stop_control_database, duration: 30s }
                expect: { commands_stopped: 0, runs_started_during_fault: ">= 5", first_execution_ms: "<= 6s" }
                """))
        #expect(stop.fault == .stopControlDatabase(duration: .seconds(30)) && stop.fault.duration == .seconds(30))
        #expect(
            !stop.fault.kind.expectsFailover && stop.fault.kind.hitsControlDatabase
                && stop.fault.kind.needsLocalDeployment)
        #expect(stop.expectations.contains(DrillExpectation(.commandsStopped, .equal, 0)))
        #expect(stop.expectations.contains(DrillExpectation(.runsStartedDuringFault, .atLeast, 5)))
        #expect(stop.expectations.contains(DrillExpectation(.firstExecutionMs, .atMost, 6000)))
        let hang = try DrillScenarioLoader.load(path: try write("scenario: h\nfault: hang_control_database\n"))
        #expect(hang.fault == .hangControlDatabase(duration: .seconds(60)))
        let failover = try DrillScenarioLoader.load(
            path: try write("scenario: f\nfault: { kind: control_database_failover, after: 3s }\n"))
        #expect(
            failover.fault == .controlDatabaseFailover(after: .seconds(3)) && failover.fault.kind.hitsControlDatabase)
        #expect(!failover.fault.kind.expectsFailover)
        let partition = try DrillScenarioLoader.load(
            path: try write("scenario: p\nfault: { kind: partition, from: control, duration: 20s }\n"))
        #expect(partition.fault == .partition(duration: .seconds(20), from: .controlDatabase))
        #expect(
            try DrillScenarioLoader.load(path: try write("scenario: p\nfault: partition\n")).fault
                == .partition(duration: .seconds(8)))
        #expect(throws: ConfigErrors.self) {
            try DrillScenarioLoader.load(path: try write("scenario: p\nfault: { kind: partition, from: moon }\n"))
        }
        #expect(throws: ConfigErrors.self) {
            try DrillScenarioLoader.load(
                path: try write("scenario: p\nfault: { kind: stop_database, from: control }\n"))
        }
        // A report measures them; a metric not measured breaks its expectation.
        var report = DrillReport(scenario: "s", fault: "stop_control_database")
        report.commandsStopped = 2
        report.evaluate(stop.expectations)
        #expect(!report.passed && report.expectations.first { $0.name == "commands_stopped" }?.held == false)
        #expect(report.expectations.first { $0.name == "runs_started_during_fault" }?.measured == nil)
    }

    @Test func malformedScenariosNameFileLineAndField() throws {
        let path = try write(
            """
            scenario: broken
            fault:
              kind: kill_the_world
            expect:
              rto_ms: "soon"
              runs_gone: 0
            """)
        #expect {
            try DrillScenarioLoader.load(path: path)
        } throws: { error in
            let text = "\(error)"
            return text.contains("\(path):3: fault.kind: unknown value \"kill_the_world\"")
                && text.contains("\(path):5: expect.rto_ms: expected a bound")
                && text.contains("\(path):6: expect.runs_gone: unknown key")
        }
    }

    @Test func aConfiguredDeploymentAllowsOnlyShellAndSwitchover() throws {
        let path = try write(
            """
            scenario: prod
            deployment: configured
            fault: kill_database
            """)
        #expect {
            try DrillScenarioLoader.load(path: path)
        } throws: { "\($0)".contains("\(path):3: fault: kill_database signals processes of the local deployment") }
        let ok = try write(
            "scenario: prod\ndeployment: { kind: configured, config: /etc/switchyard }\nfault: { kind: switchover, to: r2 }\n"
        )
        let s = try DrillScenarioLoader.load(path: ok)
        #expect(s.fault == .switchover(to: "r2") && s.deployment == .configured(config: "/etc/switchyard"))
    }

    @Test func campaignsAreSeededAndReplayable() throws {
        let path = try write(
            """
            scenario: campaign
            campaign:
              count: 20
              seed: 7
              faults: [kill_database, stop_redis, kill_scheduler_leader]
            """)
        let s = try DrillScenarioLoader.load(path: path)
        let campaign = try #require(s.campaign)
        let a = CampaignPlan.faults(campaign), b = CampaignPlan.faults(campaign)
        #expect(a == b && a.count == 20)
        #expect(Set(a.map(\.kind)) == [.killDatabase, .stopRedis, .killSchedulerLeader])
        var other = campaign
        other.seed = 8
        #expect(CampaignPlan.faults(other) != a)
    }

    /// A campaign's item is a kind (its defaults) or a whole fault with parameters; standby faults and a
    /// latency spike call for no failover; a campaign of shell commands is refused with where.
    @Test func campaignItemsTakeParametersAndStandbyFaultsExpectNoFailover() throws {
        let path = try write(
            """
            scenario: campaign
            campaign:
              count: 30
              seed: 3
              faults:
                - dark_standby
                - { kind: hang_control_database, duration: 20s }
                - { kind: slow_link, delay: 80ms, duration: 10s }
                - kill_standby_database
            """)
        let campaign = try #require(try DrillScenarioLoader.load(path: path).campaign)
        #expect(
            campaign.faults == [
                .darkStandby(duration: .seconds(15)), .hangControlDatabase(duration: .seconds(20)),
                .slowLink(delayMs: 80, duration: .seconds(10)), .killStandbyDatabase,
            ])
        #expect(campaign.faults.allSatisfy { !$0.kind.expectsFailover })
        #expect(campaign.faults.filter(\.kind.hitsStandby).map(\.kind) == [.darkStandby, .killStandbyDatabase])
        let bad = try write(
            "scenario: c\ncampaign:\n  faults:\n    - kill_database\n    - { kind: shell, command: \"true\" }\n")
        do {
            _ = try DrillScenarioLoader.load(path: bad)
            Issue.record("a campaign of a shell command was accepted")
        } catch {
            #expect("\(error)".contains(":5: campaign.faults[1]") && "\(error)".contains("shell is not one"))
        }
    }

    /// A campaign fault that calls for no failover must also stop no command of the active region.
    @Test func faultsThatCallForNoFailoverMustStopNoCommand() {
        let quiet = DrillRunner.roundExpectations(.hangControlDatabase(duration: .seconds(20)))
        #expect(quiet.contains(DrillExpectation(.commandsStopped, .equal, 0)))
        #expect(quiet.contains(DrillExpectation(.failovers, .equal, 0)))
        let crash = DrillRunner.roundExpectations(.killDatabase)
        #expect(!crash.contains { $0.metric == .commandsStopped })
        #expect(crash.contains(DrillExpectation(.failovers, .equal, 1)))
    }

    /// A clock step parses with its sign; a zero step is refused.
    @Test func clockStepsParseSigned() throws {
        let path = try write(
            """
            scenario: step
            fault: { kind: clock_step, offset: -30s, duration: 10s }
            """)
        #expect(
            try DrillScenarioLoader.load(path: path).fault == .clockStep(offset: .seconds(-30), duration: .seconds(10)))
        let forward = try write("scenario: step\nfault: { kind: clock_step, offset: +2s }\n")
        #expect(
            try DrillScenarioLoader.load(path: forward).fault == .clockStep(offset: .seconds(2), duration: .seconds(15))
        )
        let bad = try write("scenario: step\nfault: { kind: clock_step, offset: -0s }\n")
        #expect(throws: (any Error).self) { try DrillScenarioLoader.load(path: bad) }
    }

    /// `--clock-skew` and the specification libfaketime reads; a clock behind the host's is refused with why.
    @Test func clockSkewsParseAndBecomeFaketimeSpecifications() throws {
        let clocks = try ClockSkew.parseList("eu-west=+1.5s, ap-south=250ms")
        #expect(clocks["eu-west"] == ClockSkew(offsetMs: 1500))
        #expect(clocks["ap-south"] == ClockSkew(offsetMs: 250))
        #expect(clocks["eu-west"]?.faketimeSpec == "+1.500")
        #expect(ClockSkew(offsetMs: 250).stepped(by: .seconds(30)).faketimeSpec == "+30.250")
        for bad in ["eu-west=1.5", "eu-west=+1s@50ppm", "=+1s", "eu-west"] {
            #expect(throws: (any Error).self, "\(bad)") { try ClockSkew.parseList(bad) }
        }
        #expect {
            try ClockSkew.parseList("eu-west=-2s")
        } throws: {
            "\($0)".contains("behind")
        }
    }

    /// A run the cut-off region finished after the shadow's last copy (the fault, when the copy's time is not
    /// known) and the target ran again is a rerun (the at-least-once the contract allows); one finished before
    /// it, twice in the target, or twice where the failover read the old region's table is executed twice.
    @Test func rerunsOfACutOffRegionAreCountedApartFromDoubles() {
        let fault = Date(timeIntervalSince1970: 1000)
        let after = fault.addingTimeInterval(2), later = fault.addingTimeInterval(30)
        let rerun = [("us-east", Optional(after)), ("eu-west", Optional(later))]
        let before = [("us-east", Optional(fault.addingTimeInterval(-1))), ("eu-west", Optional(later))]
        let inTarget = [("eu-west", Optional(after)), ("eu-west", Optional(later))]
        let once = [("eu-west", Optional(later))]
        let all = [rerun, before, inTarget, once].map { $0.map { (region: $0.0, at: $0.1) } }
        #expect(RunAccounting.doubles(all, cutOff: "us-east", fault: fault) == (twice: 2, rerun: 1))
        #expect(RunAccounting.doubles(all, cutOff: nil, fault: fault) == (twice: 3, rerun: 0))
        // Finished a second before the fault but after the shadow's last copy (two seconds before it): the copy
        // still listed it in flight, so the target's run is the at-least-once, not a double. Before the copy it
        // was not in it: a double.
        let copied = fault.addingTimeInterval(-2)
        #expect(
            RunAccounting.doubles(all, cutOff: "us-east", fault: fault, copiedAt: copied) == (twice: 1, rerun: 2))
        #expect(
            RunAccounting.doubles(all, cutOff: "us-east", fault: fault, copiedAt: fault.addingTimeInterval(-0.5))
                == (twice: 2, rerun: 1))
    }

    @Test func expectationsSayByHowMuchTheyBroke() {
        let rto = DrillExpectation(.rtoMs, .atMost, 10000)
        #expect(rto.check(9000).held)
        let broken = rto.check(12500)
        #expect(!broken.held && broken.by == 2500 && broken.explanation == "rto_ms 12500 breaks <= 10000 by 2500")
        let missing = rto.check(nil)
        #expect(!missing.held && missing.measured == nil)
        #expect(DrillExpectation(.runsLost, .equal, 0).check(0).held)
        #expect(!DrillExpectation(.hookFailures, .atLeast, 1).check(0).held)
    }

    @Test func overlappingActingIntervalsAreDualLeaders() {
        let t = Date(timeIntervalSince1970: 1_000_000)
        func at(_ ms: Double) -> Date { t.addingTimeInterval(ms / 1000) }
        // Clean hand-offs: one region's leaders one after the other, then a failover to r2.
        let clean = [
            ActingInterval(region: "r1", epoch: 4, clusterEpoch: 1, from: at(0), to: at(1000)),
            ActingInterval(region: "r1", epoch: 5, clusterEpoch: 1, from: at(1010), to: at(3000)),
            ActingInterval(region: "r2", epoch: 2, clusterEpoch: 2, from: at(5000), to: at(9000)),
            // r1's leader acting again after a failback under a newer cluster epoch is not an overlap.
            ActingInterval(region: "r1", epoch: 5, clusterEpoch: 3, from: at(9500), to: at(12000)),
        ]
        #expect(ActingOverlap.findings(clean).isEmpty)
        let split = clean + [ActingInterval(region: "r1", epoch: 6, clusterEpoch: 3, from: at(11000), to: at(11500))]
        let findings = ActingOverlap.findings(split)
        #expect(findings.count == 1 && findings[0].scope == "region" && abs(findings[0].milliseconds - 500) < 0.01)
        let twoActive = clean + [ActingInterval(region: "r3", epoch: 1, clusterEpoch: 2, from: at(8000), to: at(8200))]
        #expect(ActingOverlap.findings(twoActive).map(\.scope) == ["cluster"])
        #expect(abs(ActingOverlap.totalMilliseconds(twoActive) - 200) < 0.01)
    }

    @Test func campaignTotalsAndMarkdown() {
        var a = DrillReport(scenario: "c", fault: "kill_database")
        a.rtoMs = 3000; a.detectMs = 2500; a.failovers = 1; a.runsInFlight = 5
        var b = DrillReport(scenario: "c", fault: "stop_redis")
        b.rtoMs = 4000; b.detectMs = 2000; b.failovers = 1; b.runsInFlight = 5; b.runsLost = 1
        var c = DrillReport(scenario: "c", fault: "kill_scheduler_leader")
        c.rtoMs = 20; c.detectMs = 10
        var report = DrillReport.campaign(scenario: "c", rounds: [a, b, c])
        // The checker: a brown-out harms no region, so a failover after one is false; a dark active region
        // harms it, so no failover after one is missed.
        var brownout = DrillReport(scenario: "c", fault: "brownout")
        brownout.failovers = 1
        let dark = DrillReport(scenario: "c", fault: "dark")
        let judged = DrillReport.campaign(scenario: "c", rounds: [a, brownout, dark, c])
        #expect(judged.falseFailovers == 1 && judged.missedFailovers == 1)
        #expect(judged.totals?.falseFailovers == 1 && judged.totals?.missedFailovers == 1)
        #expect(report.falseFailovers == 0 && report.missedFailovers == 0)
        report.evaluate([DrillExpectation(.runsLost, .equal, 0), DrillExpectation(.rtoMs, .atMost, 10000)])
        #expect(report.totals?.faults == 3 && report.totals?.failovers == 2 && report.runsLost == 1)
        #expect(report.totals?.rtoMedianMs == 3000 && report.rtoMs == 4000)
        #expect(!report.passed && report.expectations.map(\.held) == [false, true])
        let md = report.markdown
        #expect(
            md.contains("**FAILED**") && md.contains("| runs_lost | == 0 | 1 | **no** (by 1) |")
                && md.contains("## Rounds"))
    }
}
