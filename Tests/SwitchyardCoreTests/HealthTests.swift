import Foundation
import SwitchyardCore
import Testing

@Suite("Component hysteresis")
struct ComponentHealthTests {
    let thresholds = ComponentHealth.Thresholds(
        failuresToSuspect: 1, failuresToDown: 3, downAfter: .seconds(10), successesToRecover: 2)
    let t0 = ContinuousClock.now
    let wall = Date(timeIntervalSince1970: 1_700_000_000)

    @Test func positiveEvidenceGoesSuspectThenDownAndRecoversAfterSuccesses() {
        var h = ComponentHealth(thresholds: thresholds, now: wall)
        #expect(h.state == .unknown)
        #expect(h.record(success: true, latency: .milliseconds(1), at: t0, wallClock: wall) == .healthy)
        #expect(
            h.record(
                success: false, latency: nil, error: "refused", evidence: .positive, at: t0 + .seconds(1),
                wallClock: wall) == .suspect)
        #expect(h.evidence == .positive)
        #expect(
            h.record(
                success: false, latency: nil, error: "refused", evidence: .positive, at: t0 + .seconds(2),
                wallClock: wall.addingTimeInterval(2)) == .down)
        #expect(h.since == wall.addingTimeInterval(2))
        #expect(h.lastError == "refused")
        #expect(h.evidence == .positive)
        // A silent failure after positive evidence keeps it down, for the positive reason.
        #expect(
            h.record(
                success: false, latency: nil, error: "timeout", evidence: .silence, at: t0 + .seconds(3),
                wallClock: wall) == nil)
        #expect(h.evidence == .positive)
        // One success is not enough to come back; two are.
        #expect(h.record(success: true, latency: .milliseconds(1), at: t0 + .seconds(4), wallClock: wall) == nil)
        #expect(h.state == .down)
        #expect(h.record(success: true, latency: .milliseconds(1), at: t0 + .seconds(5), wallClock: wall) == .healthy)
        #expect(h.evidence == nil)
    }

    @Test func silenceIsDownOnlyAfterFailingForDownAfter() {
        var h = ComponentHealth(thresholds: thresholds, now: wall)
        h.record(success: true, latency: nil, at: t0, wallClock: wall)
        // Many silent failures inside down_after: suspect, never down.
        for i in 1...9 {
            h.record(
                success: false, latency: nil, error: "timeout", evidence: .silence, at: t0 + .seconds(i),
                wallClock: wall)
            #expect(h.state == .suspect)
            #expect(h.evidence == .silence)
        }
        #expect(
            h.record(success: false, latency: nil, evidence: .silence, at: t0 + .seconds(11), wallClock: wall) == .down)
        #expect(h.evidence == .silence)
        // Positive evidence met later while down makes it the reason.
        h.record(success: false, latency: nil, evidence: .positive, at: t0 + .seconds(12), wallClock: wall)
        h.record(success: false, latency: nil, evidence: .positive, at: t0 + .seconds(13), wallClock: wall)
        #expect(h.evidence == .positive)
    }

    @Test func aSilentFailureBetweenTwoRefusalsIsNotTwoInARow() {
        var h = ComponentHealth(thresholds: thresholds, now: wall)
        h.record(success: true, latency: nil, at: t0, wallClock: wall)
        h.record(success: false, latency: nil, evidence: .positive, at: t0 + .seconds(1), wallClock: wall)
        h.record(success: false, latency: nil, evidence: .silence, at: t0 + .seconds(2), wallClock: wall)
        #expect(
            h.record(success: false, latency: nil, evidence: .positive, at: t0 + .seconds(3), wallClock: wall) == nil)
        #expect(h.state == .suspect)
        #expect(
            h.record(success: false, latency: nil, evidence: .positive, at: t0 + .seconds(4), wallClock: wall) == .down)
    }

    @Test func upSinceSurvivesAPassingSuspectButNotADown() {
        var h = ComponentHealth(thresholds: thresholds, now: wall)
        h.record(success: true, latency: nil, at: t0, wallClock: wall)
        #expect(h.upSince == wall)
        // A slow probe (silence) makes it suspect for a moment: still up since the start.
        h.record(
            success: false, latency: nil, evidence: .silence, at: t0 + .seconds(1),
            wallClock: wall.addingTimeInterval(1))
        h.record(success: true, latency: nil, at: t0 + .seconds(2), wallClock: wall.addingTimeInterval(2))
        h.record(success: true, latency: nil, at: t0 + .seconds(3), wallClock: wall.addingTimeInterval(3))
        #expect(h.state == .healthy && h.upSince == wall)
        // Down, then back: up only since it came back.
        h.record(
            success: false, latency: nil, evidence: .positive, at: t0 + .seconds(4),
            wallClock: wall.addingTimeInterval(4))
        h.record(
            success: false, latency: nil, evidence: .positive, at: t0 + .seconds(5),
            wallClock: wall.addingTimeInterval(5))
        #expect(h.state == .down && h.upSince == nil)
        h.record(success: true, latency: nil, at: t0 + .seconds(6), wallClock: wall.addingTimeInterval(6))
        h.record(success: true, latency: nil, at: t0 + .seconds(7), wallClock: wall.addingTimeInterval(7))
        #expect(h.state == .healthy && h.upSince == wall.addingTimeInterval(7))
    }

    @Test func failingLongEnoughIsDownEvenWithFewProbes() {
        var h = ComponentHealth(
            thresholds: .init(failuresToSuspect: 1, failuresToDown: 100, downAfter: .seconds(3), successesToRecover: 1),
            now: wall)
        h.record(success: true, latency: nil, at: t0, wallClock: wall)
        #expect(h.record(success: false, latency: nil, at: t0 + .seconds(1), wallClock: wall) == .suspect)
        #expect(h.record(success: false, latency: nil, at: t0 + .milliseconds(3999), wallClock: wall) == nil)
        #expect(h.record(success: false, latency: nil, at: t0 + .seconds(4), wallClock: wall) == .down)
    }

    @Test func inconclusiveProbesCountNeitherWay() {
        var h = ComponentHealth(thresholds: thresholds, now: wall)
        h.record(success: true, latency: nil, at: t0, wallClock: wall)
        for _ in 0..<20 { h.recordInconclusive() }
        #expect(h.state == .healthy)
        #expect(h.consecutiveFailures == 0)
        #expect(h.inconclusiveProbes == 20)
        h.record(success: false, latency: nil, evidence: .positive, at: t0 + .seconds(1), wallClock: wall)
        h.recordInconclusive()
        // The inconclusive probe neither broke nor extended the run of refusals.
        #expect(
            h.record(success: false, latency: nil, evidence: .positive, at: t0 + .seconds(2), wallClock: wall) == .down)
    }

    @Test func aFlappingComponentDoesNotBounceToHealthy() {
        var h = ComponentHealth(thresholds: thresholds, now: wall)
        h.record(success: true, latency: nil, at: t0, wallClock: wall)
        for i in 0..<10 {
            h.record(success: i % 2 == 0, latency: nil, evidence: .positive, at: t0 + .seconds(i + 1), wallClock: wall)
            if i > 0 { #expect(h.state != .healthy) }
        }
    }

    @Test func regionHealthIsTheWorstCriticalComponent() {
        let components: [String: HealthState] = ["database": .healthy, "redis": .down, "schedulers": .suspect]
        #expect(ComponentHealth.region(components, critical: ["database", "redis", "schedulers"]) == .down)
        #expect(ComponentHealth.region(components, critical: ["database", "schedulers"]) == .suspect)
        #expect(ComponentHealth.region(components, critical: ["database"]) == .healthy)
        #expect(ComponentHealth.region([:], critical: ["database"]) == .unknown)
    }
}

/// An observer judges its own lag against its own baseline for things whose normal duration depends on
/// where it stands: a control database 120 ms away is its normal, a sudden doubling is lag.
@Suite("Observer self-health baseline")
struct ObserverBaselineTests {
    @Test func aFarControlDatabaseIsTheNormalAndASuddenOvershootIsLag() {
        var health = ObserverSelfHealth(threshold: .milliseconds(400), holdoff: .seconds(2))
        var now = ContinuousClock.now
        // Ten statements across a 120 ms round trip, with jitter: 1.2–1.3 s every interval, a budget of 800 ms.
        var lagged = 0
        for i in 0..<60 {
            now += .seconds(1)
            let took = Duration.milliseconds(1200 + (i * 37) % 100)
            if health.measuredAgainstBaseline(
                "control", key: "control", budget: .milliseconds(800), actual: took, endedAt: now)
            {
                lagged += 1
            }
        }
        // Only the very first samples, before a baseline exists, can count against the bare budget.
        #expect(lagged <= 1)
        #expect(health.baseline("control").map { $0 >= .milliseconds(1200) && $0 <= .milliseconds(1300) } == true)
        now += .seconds(1)
        #expect(health.lagging(at: now) == nil)
        // A 3 s round trip against that baseline is lag.
        let overshot = health.measuredAgainstBaseline(
            "control", key: "control", budget: .milliseconds(800), actual: .seconds(3), endedAt: now)
        #expect(overshot)
        #expect(health.lagging(at: now) != nil)
        // A few outliers do not move the median.
        #expect(health.baseline("control").map { $0 <= .milliseconds(1300) } == true)
    }

    @Test func theFixedBudgetStillHoldsOnALoopbackControlDatabase() {
        var health = ObserverSelfHealth(threshold: .milliseconds(400), holdoff: .seconds(2))
        var now = ContinuousClock.now
        for _ in 0..<30 {
            now += .seconds(1)
            health.measuredAgainstBaseline(
                "control", key: "control", budget: .milliseconds(800), actual: .milliseconds(5), endedAt: now)
        }
        // The baseline is 5 ms, but nothing under the budget plus the threshold is lag.
        let withinBudget = health.measuredAgainstBaseline(
            "control", key: "control", budget: .milliseconds(800), actual: .milliseconds(1100), endedAt: now)
        #expect(!withinBudget)
        let pastBudget = health.measuredAgainstBaseline(
            "control", key: "control", budget: .milliseconds(800), actual: .milliseconds(1300), endedAt: now)
        #expect(pastBudget)
    }
}

/// What an observer reports as the start of a component's trouble survives a lone success (a lossy
/// link) and ends only when the component is healthy again.
@Suite("Component trouble start")
struct ComponentTroubleTests {
    @Test func aLoneSuccessDoesNotMoveTheStartOfTrouble() {
        var h = ComponentHealth(
            thresholds: .init(failuresToSuspect: 1, failuresToDown: 3, downAfter: .seconds(3), successesToRecover: 2))
        let t0 = ContinuousClock.now
        h.record(success: true, latency: .milliseconds(1), at: t0, wallClock: .now)
        #expect(h.troubleSince == nil)
        h.record(success: false, latency: nil, at: t0 + .seconds(1), wallClock: .now)
        h.record(success: true, latency: .milliseconds(1), at: t0 + .seconds(2), wallClock: .now)
        #expect(h.state == .suspect && h.failingSince == nil)
        h.record(success: false, latency: nil, at: t0 + .seconds(3), wallClock: .now)
        #expect(h.troubleSince == t0 + .seconds(1))
        h.record(success: true, latency: .milliseconds(1), at: t0 + .seconds(4), wallClock: .now)
        h.record(success: true, latency: .milliseconds(1), at: t0 + .seconds(5), wallClock: .now)
        #expect(h.state == .healthy && h.troubleSince == nil)
    }
}
