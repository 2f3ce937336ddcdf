import Foundation
import SwitchyardCore
import Testing

/// Whether a loss of the active region would fail over by itself (the status's failover capacity).
@Suite("Failover capacity")
struct FailoverCapacityTests {
    typealias F = FailoverDecisionTests

    /// Two regions, us-east active and eu-west standby, seen by `observers` (each healthy everywhere unless
    /// listed in `dead`, whose heartbeats are stale).
    static func input(
        observers: [String], dead: Set<String> = [], standbyDown: Bool = false, paused: Bool = false,
        lagging: [String: String] = [:]
    ) -> FailoverDecision.Input {
        let view = { (name: String) in F.healthy(name, live: !dead.contains(name)) }
        let standby = observers.map { name in
            standbyDown ? F.down(name, for: 30, live: !dead.contains(name)) : view(name)
        }
        return .init(
            now: F.now, activeRegion: "us-east",
            regions: [
                .init(name: "us-east", priority: 100, observations: observers.map(view)),
                .init(name: "eu-west", priority: 90, observations: standby),
            ],
            knownObservers: observers.count, quorum: .majority, failureGrace: .seconds(2), cooldown: .seconds(300),
            maxFailoversPerHour: 3, recentFailovers: [], paused: paused, automatic: true, laggingObservers: lagging)
    }

    @Test func twoRegionsAloneCannotFailOverByThemselves() {
        let c = FailoverCapacity.assess(Self.input(observers: ["us-east", "eu-west"]))
        #expect(!c.ready && c.needed == 2 && c.remainingIfActiveLost == ["eu-west"] && c.witnesses.isEmpty)
        #expect(c.reason.contains("1 of 2 observers would remain, 2 needed") && c.reason.contains("add a witness"))
        #expect(c.targets == ["eu-west"])
    }

    @Test func aWitnessMakesItTwoOfThree() {
        let c = FailoverCapacity.assess(Self.input(observers: ["us-east", "eu-west", "witness"]))
        #expect(c.ready, "\(c.reason)")
        #expect(c.witnesses == ["witness"] && c.remainingIfActiveLost == ["eu-west", "witness"])
        #expect(c.reason == "a loss of us-east would fail over to eu-west: 2 of 3 observers would remain, 2 needed")
    }

    @Test func aWitnessCutOffOrLaggingTakesTheCapacityAway() {
        let cut = FailoverCapacity.assess(Self.input(observers: ["us-east", "eu-west", "witness"], dead: ["witness"]))
        #expect(!cut.ready && cut.remainingIfActiveLost == ["eu-west"], "\(cut)")
        #expect(cut.reason.contains("would not fail over by itself: 1 of 3 observers would remain, 2 needed"))
        #expect(!cut.reason.contains("add a witness"))
        let lagging = FailoverCapacity.assess(
            Self.input(observers: ["us-east", "eu-west", "witness"], lagging: ["witness": "a 2 s pause"]))
        #expect(!lagging.ready && lagging.liveObservers == ["eu-west", "us-east"])
    }

    @Test func noHealthyStandbyOrAPauseIsNoCapacity() {
        let down = FailoverCapacity.assess(
            Self.input(observers: ["us-east", "eu-west", "witness"], standbyDown: true))
        #expect(!down.ready && down.targets.isEmpty && down.reason.contains("no standby is healthy"), "\(down)")
        let paused = FailoverCapacity.assess(Self.input(observers: ["us-east", "eu-west", "witness"], paused: true))
        #expect(!paused.ready && paused.reason == "automatic failover is paused")
        var none = Self.input(observers: ["us-east", "eu-west", "witness"])
        none.activeRegion = nil
        #expect(FailoverCapacity.assess(none).reason == "no active region")
    }
}
