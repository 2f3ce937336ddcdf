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
        // kill grace is 2 s; exec grace (ms), time since the leases ended (ms), hold (ms)
        (1000, 0, 2250), (1000, 1000, 1250), (1000, 5000, 0), (30_000, 0, 30_250), (30_000, 29_000, 1250),
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
}
