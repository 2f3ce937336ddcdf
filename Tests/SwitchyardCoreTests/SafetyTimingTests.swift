import Foundation
import SwitchyardCore
import Testing

@Suite("Safety timing")
struct SafetyTimingTests {
    let defaults = SafetyTiming(election: ElectionConfig(), failover: FailoverConfig())

    /// Any majority that confirms a failsafe lease shares at least one database with the ones a failover
    /// revoked in: confirm + revoke > regions, and neither needs more databases than exist.
    @Test(arguments: [(1, 1, 1), (2, 2, 1), (3, 2, 2), (4, 3, 2), (5, 3, 3), (6, 4, 3), (7, 4, 4)])
    func quorumsIntersect(regions: Int, confirm: Int, revoke: Int) {
        #expect(SafetyTiming.failsafeQuorum(regions: regions) == confirm)
        #expect(SafetyTiming.revocationQuorum(regions: regions) == revoke)
        #expect(confirm + revoke > regions)
        #expect(revoke <= regions)
    }

    @Test(
        arguments: [
            // lease left, since sent, pushed validity (ms; nil: nothing left)
            (3000, 0, 2750), (3000, 100, 2650), (260, 0, 10), (250, 0, nil), (100, 200, nil),
        ] as [(Int, Int, Int?)])
    func fenceValidityEndsBeforeTheLease(left: Int, since: Int, pushed: Int?) {
        let validity = defaults.fenceValidity(leaseLeft: .milliseconds(left), sinceSent: .milliseconds(since))
        #expect(validity == pushed.map { .milliseconds($0) })
    }

    @Test(
        arguments: [
            // validity left in the read (ms; nil: none), trusted for (ms) with lease_ttl 3s
            (2750, 2750), (900, 900), (0, 0), (-40, 0), (60_000, 3000), (nil, 1500),
        ] as [(Int?, Int)])
    func aWorkerTrustsAReadUntilItsValidityEndsAndNoLongerThanTheCap(validity: Int?, trusted: Int) {
        #expect(defaults.workerTrust(validityLeft: validity.map { .milliseconds($0) }) == .milliseconds(trusted))
    }

    @Test(arguments: [
        // kill grace is 2 s, guard slack 250 ms, drift 500 ms; exec grace (ms), time since the leases ended (ms), hold (ms)
        (1000, 0, 2750), (1000, 1000, 1750), (1000, 5000, 0), (30_000, 0, 30_750), (30_000, 29_000, 1750),
    ])
    func theHoldCoversTheLongestGraceAfterTheLeasesEnded(execGrace: Int, since: Int, hold: Int) {
        var election = ElectionConfig()
        election.execGrace = .milliseconds(execGrace)
        let timing = SafetyTiming(election: election, failover: FailoverConfig())
        #expect(timing.dispatchHold(sinceLeasesEnded: .milliseconds(since)) == .milliseconds(hold))
    }

    @Test(
        arguments: [
            // lease ttl, renew interval, tick (ms), problem field or nil
            (3000, 500, 500, nil), (10_000, 1000, 500, nil), (2000, 1000, 500, "lease_ttl"), (2600, 500, 500, nil),
            (2500, 500, 500, "lease_ttl"), (300, 100, 100, "lease_ttl"),
        ] as [(Int, Int, Int, String?)])
    func impossibleCombinationsAreProblems(ttl: Int, renew: Int, tick: Int, field: String?) {
        var election = ElectionConfig()
        election.heartbeatInterval = .milliseconds(tick)
        var failover = FailoverConfig()
        failover.leaseTTL = .milliseconds(ttl)
        failover.leaseRenewInterval = .milliseconds(renew)
        let problems = SafetyTiming(election: election, failover: failover).problems()
        #expect(problems.first?.field == field, "\(problems)")
    }

    /// Every bound the failover waits out exceeds what the thing it waits for can take, by the drift margin,
    /// whatever the lease, graces and step-down: a cut-off worker trusts its last fence read (sent before the
    /// fence) for at most the capped validity, then SIGTERM, SIGKILL a kill grace later; a leader acts
    /// step_down_after past its last confirmation, then its command gets exec_grace.
    @Test(arguments: [(3000, 1000, 2000), (10_000, 1000, 2000), (30_000, 30_000, 9000), (1500, 500, 500)])
    func waitsCoverWhatTheyWaitForWithTheDriftMargin(ttl: Int, execGrace: Int, stepDown: Int) {
        var election = ElectionConfig()
        election.execGrace = .milliseconds(execGrace)
        election.stepDownAfter = .milliseconds(stepDown)
        var failover = FailoverConfig()
        failover.leaseTTL = .milliseconds(ttl)
        let timing = SafetyTiming(election: election, failover: failover)
        let longestTrust = timing.workerTrust(validityLeft: .seconds(3600))
        let workerRuns = longestTrust + timing.killGrace + timing.guardSlack
        #expect(timing.workerStopBound - workerRuns == failover.maxClockDrift)
        let commandRuns = election.stepDownAfter + election.execGrace + timing.guardSlack
        #expect(timing.execStopBound - commandRuns == failover.maxClockDrift)
        #expect(
            timing.stopBound - (max(timing.killGrace, election.execGrace) + timing.guardSlack) == failover.maxClockDrift
        )
        // The old fixed wait (a 5 s heartbeat window) fell short of a 10 s lease's worker: never again.
        #expect(timing.workerStopBound > .milliseconds(ttl) + timing.killGrace)
    }

    @Test(
        arguments: [
            // executions still running, leader's command recorded stopped, ms since the fence, hold (ms; nil none)
            // defaults: worker bound 3000+2000+250+500 = 5750; exec bound 2000+1000+250+500 = 3750
            (false, true, 0, nil), (true, true, 0, 5750), (false, false, 0, 3750), (true, false, 0, 5750),
            (false, false, 3000, 750), (true, true, 6000, nil), (false, false, 4000, nil),
        ] as [(Bool, Bool, Int, Int?)])
    func theFencedPathHoldsForWhatMayStillRunThere(running: Bool, stopped: Bool, since: Int, hold: Int?) {
        let got = defaults.fencedHold(
            executionsRunning: running, leaderCommandStopped: stopped, sinceFenced: .milliseconds(since))
        #expect(got == hold.map { .milliseconds($0) })
    }

    @Test(
        arguments: [
            // a gated command (a Celery worker) may still run; leader's command stopped; ms since the fence; hold
            // defaults: gated bound 3000 (its trust) + 1000 (exec grace) + 250 + 500 = 4750
            (true, true, 0, 4750), (true, true, 4000, 750), (true, true, 4750, nil), (false, true, 0, nil),
            (true, false, 0, 4750),
        ] as [(Bool, Bool, Int, Int?)])
    func aGatedCommandHoldsTheTargetForItsTrustAndGrace(gated: Bool, stopped: Bool, since: Int, hold: Int?) {
        let got = defaults.fencedHold(
            executionsRunning: false, leaderCommandStopped: stopped, gatedCommandsRunning: gated,
            sinceFenced: .milliseconds(since))
        #expect(got == hold.map { .milliseconds($0) })
        // A Celery worker's warm shutdown gets the exec grace, after a trust as long as a worker's.
        #expect(defaults.gatedStopBound == defaults.workerStopBound - defaults.killGrace + defaults.execGrace)
    }

    @Test(
        arguments: [
            (500, 3000, nil), (1400, 3000, nil), (1500, 3000, "max_clock_drift"), (5000, 10_000, "max_clock_drift"),
        ] as [(Int, Int, String?)])
    func aDriftAsLongAsHalfALeaseIsRefused(drift: Int, ttl: Int, field: String?) {
        var failover = FailoverConfig()
        failover.maxClockDrift = .milliseconds(drift)
        failover.leaseTTL = .milliseconds(ttl)
        let problems = SafetyTiming(election: ElectionConfig(), failover: failover).problems()
        #expect(problems.first?.field == field, "\(problems)")
        if field != nil {
            #expect(problems.first?.message.contains("\(Duration.milliseconds(drift).configText)") == true)
        }
    }
}

@Suite("A failover leader's reach")
struct LeaderReachTests {
    func input(_ views: [String: [String: HealthState]], lagging: [String: String] = [:]) -> FailoverDecision.Input {
        let regions = ["us-east", "eu-west", "ap-south"].map { name in
            FailoverDecision.Region(
                name: name, priority: 0,
                observations: views.keys.sorted().map { observer in
                    FailoverDecision.Observation(observer: observer, live: true, health: views[observer]![name]!)
                })
        }
        return FailoverDecision.Input(
            now: Date(), activeRegion: "us-east", regions: regions, knownObservers: views.count, quorum: .majority,
            failureGrace: .seconds(2), cooldown: .seconds(5), maxFailoversPerHour: 10, recentFailovers: [],
            paused: false, automatic: true, laggingObservers: lagging)
    }

    /// A leader in a region cut off from the others (it still reaches the control database) finds the
    /// other regions' databases down: it cannot revoke failsafe leases in a quorum nor reach the target,
    /// and the other observers, which see only its region down, are better placed.
    @Test func aLeaderCutOffFromTheOtherRegionsHandsOverToAnObserverThatReachesThem() {
        let cut = LeaderReach(databases: ["us-east": .healthy, "eu-west": .down, "ap-south": .down])
        #expect(!cut.canFinish(target: "eu-west"))
        #expect(cut.reachable == ["us-east"] && cut.unreachable == ["ap-south", "eu-west"] && cut.needed == 2)
        let views = input([
            "us-east": ["us-east": .healthy, "eu-west": .down, "ap-south": .down],
            "eu-west": ["us-east": .down, "eu-west": .healthy, "ap-south": .healthy],
            "ap-south": ["us-east": .down, "eu-west": .healthy, "ap-south": .healthy],
        ])
        #expect(LeaderReach.betterPlaced(than: "us-east", target: "eu-west", in: views) == "ap-south")
        #expect(cut.handOffReason(target: "eu-west", to: "ap-south").contains("1 of 3"))
        // A lagging observer is no better placed.
        let lagging = input(
            [
                "us-east": ["us-east": .healthy, "eu-west": .down, "ap-south": .down],
                "eu-west": ["us-east": .down, "eu-west": .healthy, "ap-south": .healthy],
            ], lagging: ["eu-west": "the control database round trip took too long"])
        #expect(LeaderReach.betterPlaced(than: "us-east", target: "eu-west", in: lagging) == nil)
    }

    /// A standby dark and the active database hung: every observer finds two regions down, so none is
    /// better placed and the leader stays (its held sessions to the hung database still answer).
    @Test func whenEveryObserverSeesAsLittleTheLeaderStays() {
        let reach = LeaderReach(databases: ["us-east": .down, "eu-west": .healthy, "ap-south": .down])
        #expect(!reach.canFinish(target: "eu-west"))
        let views = input([
            "us-east": ["us-east": .down, "eu-west": .healthy, "ap-south": .down],
            "eu-west": ["us-east": .down, "eu-west": .healthy, "ap-south": .down],
        ])
        #expect(LeaderReach.betterPlaced(than: "eu-west", target: "eu-west", in: views) == nil)
    }

    /// The leader's own region's database crashed: it still reaches the other two, and finishes.
    @Test func aLeaderBesideACrashedDatabaseStillFinishes() {
        #expect(
            LeaderReach(databases: ["us-east": .down, "eu-west": .healthy, "ap-south": .healthy])
                .canFinish(target: "eu-west"))
    }

    /// A blip (suspect) or a database not probed yet is not a cut. Two regions need one database, and
    /// the target's: a leader cut off with the active region reaches its own database only.
    @Test func suspectAndUnprobedCountAsUpAndTheTargetMustBeReached() {
        #expect(
            LeaderReach(databases: ["us-east": .healthy, "eu-west": .suspect, "ap-south": .unknown])
                .canFinish(target: "eu-west"))
        #expect(!LeaderReach(databases: ["us-east": .healthy, "eu-west": .down]).canFinish(target: "eu-west"))
        #expect(LeaderReach(databases: ["us-east": .down, "eu-west": .healthy]).canFinish(target: "eu-west"))
    }
}
