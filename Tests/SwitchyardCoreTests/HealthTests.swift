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
