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

    /// After a hand-off the new leader waits out the old command's grace, then Airflow registers within
    /// `start_timeout`: the active region is not down meanwhile (a false failover), but is once that window
    /// passed. (A CI run failed an Airflow region over at 53 s: the leader waited 22 s, then
    /// `airflow scheduler` was still importing at load 14, past the threshold of 30 s the window had.)
    /// The grace is a hand-off's only when Airflow ran until about the takeover: a leader that took over 60 s
    /// after Airflow last beat (leaders changing hands while Airflow never starts), or one where Airflow
    /// never ran, gets none, so a churning region is judged down rather than "starting" for ever.
    @Test(
        arguments: [
            (5.0, 8.0, true), (40.0, 45.0, true), (60.0, 70.0, true), (131.0, 140.0, true), (133.0, 140.0, false),
            (40.0, 100.0, false), (40.0, nil, false),
        ] as [(Double, Double?, Bool)])
    func aNewLeaderStartingAirflowIsNotDown(tenure: Double, lastBeatAge: Double?, ready: Bool) {
        let reading = R(
            aliveJobs: 0, jobAge: nil, leaderAge: 0.3, fenceAge: 900, fenceOpen: true, leaderTenure: tenure,
            lastBeatAge: lastBeatAge)
        let problem = AirflowSchedulerReadiness.problem(
            reading, active: true, staleAfter: .seconds(30), leaderStaleAfter: .seconds(5),
            startWindow: .seconds(12), startTimeout: .seconds(120))
        #expect((problem == nil) == ready, "\(String(describing: problem))")
    }

    /// A region just activated (a failover's target) starts `airflow scheduler` once its hold ends; it is
    /// starting, not down, for `start_timeout`, never less than Airflow's threshold. A leader gone stale or
    /// a closed fence is no start.
    @Test(
        arguments: [
            (60.0, 0.3, true, .seconds(90), true), (100.0, 0.3, true, .seconds(90), false),
            (25.0, 0.3, true, .seconds(10), true), (35.0, 0.3, true, .seconds(10), false),
            (60.0, 9.0, true, .seconds(90), false), (60.0, 0.3, false, .seconds(90), false),
        ] as [(Double, Double, Bool, Duration, Bool)])
    func aJustActivatedRegionStartingAirflowIsNotDown(
        fenceAge: Double, leaderAge: Double, fenceOpen: Bool, startTimeout: Duration, ready: Bool
    ) {
        let reading = R(
            aliveJobs: 0, jobAge: nil, leaderAge: leaderAge, fenceAge: fenceAge, fenceOpen: fenceOpen,
            leaderTenure: 900)
        let problem = AirflowSchedulerReadiness.problem(
            reading, active: true, staleAfter: .seconds(30), leaderStaleAfter: .seconds(5),
            startWindow: .seconds(12), startTimeout: startTimeout)
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
        #expect(region.schedulers.startTimeout == .seconds(120))
        let slow = try ConfigFixture([
            "us-east.yaml": ConfigFixture.region + "\nschedulers:\n  probe: airflow\n  start_timeout: 5m\n"
        ])
        #expect(
            try ConfigLoader.load(directory: slow.directory).regions.first?.schedulers.startTimeout == .seconds(300))
        // Only the airflow probe starts a command it waits for: elsewhere the field is an error, named.
        let misplaced = try ConfigFixture([
            "us-east.yaml": ConfigFixture.region + "\nschedulers:\n  probe: heartbeat\n  start_timeout: 5m\n"
        ])
        let error = #expect(throws: ConfigErrors.self) { try ConfigLoader.load(directory: misplaced.directory) }
        #expect("\(String(describing: error))".contains("start_timeout"), "\(String(describing: error))")
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
