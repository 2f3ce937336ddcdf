import Foundation
import SwitchyardCore
import Testing

@Suite("Airflow scheduler readiness by region role")
struct AirflowSchedulerReadinessTests {
    typealias R = AirflowSchedulerReadiness.Reading

    @Test(
        arguments: [
            // alive jobs, leader age, fence age, fence open, active → ready?
            (1, nil, nil, false, true, true),  // the active region's Airflow scheduler heartbeats
            (0, 0.4, 500.0, true, true, false),  // active, leader fine, but no Airflow scheduler for long: down
            (0, 0.4, 3.0, true, true, true),  // active, just activated: its leader is starting the command
            // Active and still under a failover's dispatch hold (the probe's fence age is negative until the hold
            // ends): its leader holds `airflow scheduler` back by design, however long since activation.
            (0, 0.4, -25.0, true, true, true),
            (0, nil, 3.0, true, true, false),  // just activated but nothing leads it
            (0, 0.4, 3.0, false, true, false),  // the fence is closed (fenced away): not starting
            (0, 0.4, nil, false, false, true),  // a standby whose Switchyard leader is ready
            (1, nil, nil, false, false, true),  // a standby running Airflow everywhere
            (0, nil, nil, false, false, false),  // a standby with nothing
            (0, 9.0, nil, false, false, false),  // a standby whose leader's heartbeat is stale
            // Active, its Switchyard leader gone: the guard stopped Airflow, whatever the job row says
            (1, 9.0, 500.0, true, true, false),
            (1, 0.4, 500.0, true, true, true),  // active, leader and Airflow both fine
        ] as [(Int, Double?, Double?, Bool, Bool, Bool)])
    func readiness(alive: Int, leaderAge: Double?, fenceAge: Double?, fenceOpen: Bool, active: Bool, ready: Bool) {
        let reading = R(
            aliveJobs: alive, jobAge: alive > 0 ? 4 : nil, leaderAge: leaderAge, fenceAge: fenceAge,
            fenceOpen: fenceOpen)
        let problem = AirflowSchedulerReadiness.problem(
            reading, active: active, staleAfter: .seconds(30), leaderStaleAfter: .seconds(5))
        #expect((problem == nil) == ready, "\(String(describing: problem))")
    }

    /// After a hand-off the new leader waits out the old command's grace, then Airflow registers within its
    /// threshold: the active region is not down meanwhile (a false failover), but is once that window passed.
    @Test(arguments: [(5.0, true), (40.0, true), (60.0, false)])
    func aNewLeaderStartingAirflowIsNotDown(tenure: Double, ready: Bool) {
        let reading = R(aliveJobs: 0, jobAge: nil, leaderAge: 0.3, fenceAge: 900, fenceOpen: true, leaderTenure: tenure)
        let problem = AirflowSchedulerReadiness.problem(
            reading, active: true, staleAfter: .seconds(30), leaderStaleAfter: .seconds(5),
            startWindow: .seconds(12))
        #expect((problem == nil) == ready, "\(String(describing: problem))")
    }

    @Test func theAirflowProbeFollowsAirflowsThresholdUnlessSet() throws {
        let fixture = try ConfigFixture(["us-east.yaml": ConfigFixture.region + "\nschedulers:\n  probe: airflow\n"])
        let region = try #require(try ConfigLoader.load(directory: fixture.directory).regions.first)
        #expect(region.schedulers.staleAfter == .seconds(30))
        #expect(region.schedulers.leaderStaleAfter == ProbeConfig().schedulerStaleAfter)
        let set = try ConfigFixture([
            "us-east.yaml": ConfigFixture.region + "\nschedulers:\n  probe: airflow\n  stale_after: 45s\n"
        ])
        #expect(try ConfigLoader.load(directory: set.directory).regions.first?.schedulers.staleAfter == .seconds(45))
    }
}

@Suite("Switchyard's own dispatch is optional")
struct RunsDispatchConfigTests {
    @Test(arguments: [
        ("", true), ("\nruns:\n  preset: airflow\n", false), ("\nruns:\n  preset: builtin\n  dispatch: false\n", false),
        ("\nruns:\n  preset: airflow\n  dispatch: true\n", true),
    ])
    func dispatchFollowsThePresetUnlessSet(extra: String, dispatch: Bool) throws {
        let fixture = try ConfigFixture(["us-east.yaml": ConfigFixture.region + extra])
        #expect(try ConfigLoader.load(directory: fixture.directory).regions.first?.runs.dispatch == dispatch)
    }
}
