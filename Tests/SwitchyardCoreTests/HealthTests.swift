import Foundation
import SwitchyardCore
import Testing

@Suite("Component hysteresis")
struct ComponentHealthTests {
    let thresholds = ComponentHealth.Thresholds(failuresToSuspect: 1, failuresToDown: 3, downAfter: .seconds(10), successesToRecover: 2)
    let t0 = ContinuousClock.now
    let wall = Date(timeIntervalSince1970: 1_700_000_000)

    @Test func failuresGoSuspectThenDownAndRecoverAfterSuccesses() {
        var h = ComponentHealth(thresholds: thresholds, now: wall)
        #expect(h.state == .unknown)
        #expect(h.record(success: true, latency: .milliseconds(1), at: t0, wallClock: wall) == .healthy)
        #expect(h.record(success: false, latency: nil, error: "refused", at: t0 + .seconds(1), wallClock: wall.addingTimeInterval(1)) == .suspect)
        #expect(h.record(success: false, latency: nil, error: "refused", at: t0 + .seconds(2), wallClock: wall) == nil)
        #expect(h.record(success: false, latency: nil, error: "refused", at: t0 + .seconds(3), wallClock: wall.addingTimeInterval(3)) == .down)
        #expect(h.since == wall.addingTimeInterval(3))
        #expect(h.lastError == "refused")
        // One success is not enough to come back; two are.
        #expect(h.record(success: true, latency: .milliseconds(1), at: t0 + .seconds(4), wallClock: wall) == nil)
        #expect(h.state == .down)
        #expect(h.record(success: true, latency: .milliseconds(1), at: t0 + .seconds(5), wallClock: wall) == .healthy)
    }

    @Test func failingLongEnoughIsDownEvenWithFewProbes() {
        var h = ComponentHealth(thresholds: .init(failuresToSuspect: 1, failuresToDown: 100, downAfter: .seconds(3), successesToRecover: 1), now: wall)
        h.record(success: true, latency: nil, at: t0, wallClock: wall)
        #expect(h.record(success: false, latency: nil, at: t0 + .seconds(1), wallClock: wall) == .suspect)
        #expect(h.record(success: false, latency: nil, at: t0 + .milliseconds(3999), wallClock: wall) == nil)
        #expect(h.record(success: false, latency: nil, at: t0 + .seconds(4), wallClock: wall) == .down)
    }

    @Test func aFlappingComponentDoesNotBounceToHealthy() {
        var h = ComponentHealth(thresholds: thresholds, now: wall)
        h.record(success: true, latency: nil, at: t0, wallClock: wall)
        for i in 0..<10 {
            h.record(success: i % 2 == 0, latency: nil, at: t0 + .seconds(i + 1), wallClock: wall)
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
