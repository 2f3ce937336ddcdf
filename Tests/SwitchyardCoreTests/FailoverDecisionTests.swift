import Foundation
import SwitchyardCore
import Testing

@Suite("Failover decision")
struct FailoverDecisionTests {
    static let now = Date(timeIntervalSince1970: 1_700_000_000)
    typealias O = FailoverDecision.Observation

    static func down(_ observer: String, for seconds: Double, live: Bool = true, evidence: Evidence = .silence) -> O {
        O(
            observer: observer, live: live, health: .down, downSince: now.addingTimeInterval(-seconds),
            evidence: evidence)
    }
    static func refused(_ observer: String, for seconds: Double) -> O {
        down(observer, for: seconds, evidence: .positive)
    }
    static func suspect(_ observer: String, evidence: Evidence = .silence, failingFor seconds: Double = 9) -> O {
        O(
            observer: observer, live: true, health: .suspect, evidence: evidence,
            failingSince: now.addingTimeInterval(-seconds))
    }
    static func healthy(_ observer: String, live: Bool = true, for seconds: Double = 3600) -> O {
        O(observer: observer, live: live, health: .healthy, upSince: now.addingTimeInterval(-seconds))
    }
    static func allHealthy() -> [O] { ["a", "b", "c"].map { healthy($0) } }

    static func input(
        active: [O],
        standbys: [(String, Int, Double?, [O])] = [
            ("eu-west", 90, 0.1, allHealthy()), ("ap-south", 80, 0.1, allHealthy()),
        ],
        quorum: Quorum = .majority, known: Int = 3, recent: [Date] = [], paused: Bool = false, automatic: Bool = true,
        lagging: [String: String] = [:]
    ) -> FailoverDecision.Input {
        .init(
            now: now, activeRegion: "us-east",
            regions: [.init(name: "us-east", priority: 100, observations: active)]
                + standbys.map { .init(name: $0.0, priority: $0.1, replicationLag: $0.2, observations: $0.3) },
            knownObservers: known, quorum: quorum, failureGrace: .seconds(2), cooldown: .seconds(300),
            maxFailoversPerHour: 3,
            recentFailovers: recent, paused: paused, automatic: automatic, evidenceGrace: .milliseconds(500),
            laggingObservers: lagging)
    }

    struct Case: Sendable, CustomTestStringConvertible {
        var name: String
        var input: FailoverDecision.Input
        var expected: String  // "stay", "blocked", or the target
        var testDescription: String { name }
    }

    static let cases: [Case] = [
        Case(name: "all healthy", input: input(active: allHealthy()), expected: "stay"),
        Case(
            name: "quorum down past the grace",
            input: input(active: [down("a", for: 3), down("b", for: 5), healthy("c")]), expected: "eu-west"),
        Case(
            name: "quorum down but inside the grace",
            input: input(active: [down("a", for: 1), down("b", for: 5), healthy("c")]), expected: "stay"),
        Case(
            name: "one observer cut off alone", input: input(active: [down("a", for: 60), healthy("b"), healthy("c")]),
            expected: "stay"),
        Case(
            name: "one live observer left, the others dead",
            input: input(active: [down("a", for: 60), down("b", for: 60, live: false), healthy("c", live: false)]),
            expected: "stay"),
        Case(
            name: "dead observers' votes do not count",
            input: input(active: [down("a", for: 9), down("b", for: 9, live: false), down("c", for: 9, live: false)]),
            expected: "stay"),
        Case(
            name: "all three see it down",
            input: input(active: [down("a", for: 9), down("b", for: 9), down("c", for: 9)]), expected: "eu-west"),
        Case(
            name: "paused", input: input(active: [down("a", for: 9), down("b", for: 9)], paused: true),
            expected: "blocked"),
        Case(
            name: "automatic failover off",
            input: input(active: [down("a", for: 9), down("b", for: 9)], automatic: false), expected: "blocked"),
        Case(
            name: "inside the cooldown",
            input: input(active: [down("a", for: 9), down("b", for: 9)], recent: [now.addingTimeInterval(-100)]),
            expected: "blocked"),
        Case(
            name: "after the cooldown",
            input: input(active: [down("a", for: 9), down("b", for: 9)], recent: [now.addingTimeInterval(-400)]),
            expected: "eu-west"),
        Case(
            name: "too many in the last hour",
            input: .init(
                now: now, activeRegion: "us-east",
                regions: [
                    .init(name: "us-east", priority: 100, observations: [down("a", for: 9), down("b", for: 9)]),
                    .init(name: "eu-west", priority: 90, observations: allHealthy()),
                ],
                knownObservers: 3, quorum: .majority, failureGrace: .seconds(2), cooldown: .zero,
                maxFailoversPerHour: 3,
                recentFailovers: [
                    now.addingTimeInterval(-3000), now.addingTimeInterval(-2000), now.addingTimeInterval(-1000),
                ],
                paused: false, automatic: true),
            expected: "blocked"),
        Case(
            name: "unhealthy standby skipped for the next",
            input: input(
                active: [refused("a", for: 9), refused("b", for: 9)],
                standbys: [
                    ("eu-west", 90, 0.1, [down("a", for: 9), down("b", for: 9), healthy("c")]),
                    ("ap-south", 80, 0.1, allHealthy()),
                ]),
            expected: "ap-south"),
        Case(
            name: "no healthy standby",
            input: input(
                active: [refused("a", for: 9), refused("b", for: 9)],
                standbys: [("eu-west", 90, 0.1, [down("a", for: 9), down("b", for: 9), healthy("c")])]),
            expected: "blocked"),
        Case(
            name: "priority tie goes to the lower lag",
            input: input(
                active: [down("a", for: 9), down("b", for: 9)],
                standbys: [("eu-west", 90, 5, allHealthy()), ("ap-south", 90, 0.5, allHealthy())]),
            expected: "ap-south"),
        Case(
            name: "priority and lag tie goes to the name",
            input: input(
                active: [down("a", for: 9), down("b", for: 9)],
                standbys: [("eu-west", 90, 1, allHealthy()), ("ap-south", 90, 1, allHealthy())]),
            expected: "ap-south"),
        Case(
            name: "explicit quorum of one",
            input: input(active: [down("a", for: 9), healthy("b"), healthy("c")], quorum: .count(1)),
            expected: "eu-west"),
        Case(
            name: "explicit quorum of three",
            input: input(active: [down("a", for: 9), down("b", for: 9), healthy("c")], quorum: .count(3)),
            expected: "stay"),

        // Evidence classes: a refusal needs only the evidence grace, silence the whole failure grace.
        Case(
            name: "positive evidence past its grace, inside the failure grace",
            input: input(active: [refused("a", for: 0.6), refused("b", for: 0.7), healthy("c")]), expected: "eu-west"),
        Case(
            name: "positive evidence inside its grace",
            input: input(active: [refused("a", for: 0.3), refused("b", for: 0.7), healthy("c")]), expected: "stay"),
        Case(
            name: "silence inside the failure grace",
            input: input(active: [down("a", for: 1.5), down("b", for: 1.5), healthy("c")]), expected: "stay"),
        Case(
            name: "one refusal and one silence, each past its grace",
            input: input(active: [refused("a", for: 0.6), down("b", for: 2.5), healthy("c")]), expected: "eu-west"),

        // Observer self-health: an observer in self-declared lag casts no down vote.
        Case(
            name: "a lagging observer's vote does not count",
            input: input(
                active: [down("a", for: 9), down("b", for: 9), healthy("c")], lagging: ["a": "timer overshot 900 ms"]),
            expected: "stay"),
        Case(
            name: "a lagging observer's refusal does not count either",
            input: input(
                active: [refused("a", for: 9), refused("b", for: 9), healthy("c")],
                lagging: ["b": "timer overshot 900 ms"]), expected: "stay"),
        Case(
            name: "a lagging observer does not block the others' quorum",
            input: input(
                active: [down("a", for: 9), down("b", for: 9), down("c", for: 9)],
                lagging: ["c": "timer overshot 900 ms"]), expected: "eu-west"),

        // Correlated silence: an observer that finds most regions silent at once votes none of them down.
        Case(
            name: "observers silent towards the active and a standby at once",
            input: input(
                active: [down("a", for: 9), down("b", for: 9), healthy("c")],
                standbys: [
                    ("eu-west", 90, 0.1, [down("a", for: 9), suspect("b"), healthy("c")]),
                    ("ap-south", 80, 0.1, allHealthy()),
                ]),
            expected: "stay"),
        // A standby dark for a minute, then a separate hang of the active region: the silences did not
        // begin together, so the live observers' votes count and the healthy standby takes over.
        Case(
            name: "a long-dark standby, then silence towards the active region",
            input: input(
                active: [down("a", for: 9), down("b", for: 9), healthy("c")],
                standbys: [
                    ("eu-west", 90, 0.1, [down("a", for: 60), down("b", for: 60), down("c", for: 60)]),
                    ("ap-south", 80, 0.1, allHealthy()),
                ]),
            expected: "ap-south"),
        Case(
            name: "a long-dark standby, then one observer cut off from the other two regions at once",
            input: input(
                active: [down("a", for: 9), down("b", for: 9), healthy("c")],
                standbys: [
                    ("eu-west", 90, 0.1, [down("a", for: 60), down("b", for: 60), down("c", for: 60)]),
                    ("ap-south", 80, 0.1, [suspect("a", failingFor: 8.5), healthy("b"), healthy("c")]),
                ]),
            expected: "stay"),
        // The simulator's first finding: the active region hangs while a standby goes dark, a probe round
        // apart. Both silences began together for every live observer, but each is confirmed by the other
        // live observers: facts about those regions, so the votes count and the healthy third takes over.
        // (Before, every vote was discounted for as long as both faults lasted.)
        Case(
            name: "the active region hung while a standby went dark, a probe round apart",
            input: input(
                active: [down("a", for: 9), down("b", for: 9, live: false), down("c", for: 9)],
                standbys: [
                    ("eu-west", 90, 0.1, [down("a", for: 9.5), down("b", for: 9.5, live: false), down("c", for: 9.5)]),
                    ("ap-south", 80, 0.1, allHealthy()),
                ]),
            expected: "ap-south"),
        Case(
            name: "silences that began a window apart are separate faults",
            input: input(
                active: [down("a", for: 9), down("b", for: 9), healthy("c")],
                standbys: [
                    ("eu-west", 90, 0.1, [down("a", for: 12.5), down("b", for: 12.5), healthy("c")]),
                    ("ap-south", 80, 0.1, allHealthy()),
                ]),
            expected: "ap-south"),
        Case(
            name: "correlated silence does not discount positive evidence",
            input: input(
                active: [refused("a", for: 9), refused("b", for: 9), healthy("c")],
                standbys: [
                    ("eu-west", 90, 0.1, [down("a", for: 9), suspect("b"), healthy("c")]),
                    ("ap-south", 80, 0.1, allHealthy()),
                ]),
            expected: "ap-south"),
        Case(
            name: "silence towards the active region alone is a vote",
            input: input(
                active: [down("a", for: 9), down("b", for: 9), healthy("c")],
                standbys: [("eu-west", 90, 0.1, allHealthy()), ("ap-south", 80, 0.1, allHealthy())]),
            expected: "eu-west"),
        Case(
            name: "two regions: silence towards the active one alone is a vote",
            input: input(
                active: [down("a", for: 9), down("b", for: 9), healthy("c")],
                standbys: [("eu-west", 90, 0.1, allHealthy())]),
            expected: "eu-west"),
        Case(
            name: "two regions: silence towards both is the observers' problem",
            input: input(
                active: [down("a", for: 9), down("b", for: 9), healthy("c")],
                standbys: [("eu-west", 90, 0.1, [suspect("a"), suspect("b"), healthy("c")])]),
            expected: "stay"),

        // Target stability: a standby must have been healthy for a majority for the failure grace.
        Case(
            name: "a standby that only just came back from down is no target",
            input: input(
                active: [refused("a", for: 9), refused("b", for: 9)],
                standbys: [
                    ("eu-west", 90, 0.1, [healthy("a", for: 0.05), healthy("b", for: 0.05), healthy("c")]),
                    ("ap-south", 80, 0.1, allHealthy()),
                ]),
            expected: "ap-south"),
        Case(
            name: "no standby healthy long enough",
            input: input(
                active: [refused("a", for: 9), refused("b", for: 9)],
                standbys: [("eu-west", 90, 0.1, [healthy("a", for: 1), healthy("b", for: 1), healthy("c", for: 1)])]),
            expected: "blocked"),
        Case(
            name: "lagging observers do not choose the target",
            input: input(
                active: [refused("a", for: 9), refused("b", for: 9), refused("c", for: 9)],
                standbys: [
                    ("eu-west", 90, 0.1, [healthy("a"), healthy("b"), healthy("c", for: 0.1)]),
                    ("ap-south", 80, 0.1, allHealthy()),
                ],
                lagging: ["a": "control round trip 900 ms"]),
            expected: "ap-south"),
    ]

    @Test(arguments: cases)
    func decides(_ c: Case) {
        let outcome = FailoverDecision.decide(c.input)
        switch outcome {
        case .stay: #expect(c.expected == "stay", "\(outcome)")
        case .blocked: #expect(c.expected == "blocked", "\(outcome)")
        case .failover(let target, _): #expect(c.expected == target, "\(outcome)")
        }
    }

    @Test func reasonsNameTheObservers() {
        let outcome = FailoverDecision.decide(Self.input(active: [Self.down("b", for: 9), Self.down("a", for: 9)]))
        #expect(outcome == .failover(target: "eu-west", reason: "us-east down for 2 of 3 observers (a, b) on silence"))
        let refusedOutcome = FailoverDecision.decide(
            Self.input(active: [Self.refused("b", for: 9), Self.refused("a", for: 9)]))
        #expect(
            refusedOutcome
                == .failover(target: "eu-west", reason: "us-east down for 2 of 3 observers (a, b) on positive evidence")
        )
    }

    @Test func aStayNamesTheVotesItDidNotCount() {
        let outcome = FailoverDecision.decide(
            Self.input(
                active: [Self.down("a", for: 9), Self.down("b", for: 9), Self.healthy("c")],
                standbys: [
                    ("eu-west", 90, 0.1, [Self.down("b", for: 9), Self.healthy("a"), Self.healthy("c")]),
                    ("ap-south", 80, 0.1, Self.allHealthy()),
                ],
                lagging: ["a": "timer overshot 900 ms"]))
        guard case .stay(let why) = outcome else { Issue.record("\(outcome)"); return }
        #expect(why.contains("a lagging: timer overshot 900 ms"))
        #expect(why.contains("b finds 2 of 3 regions silent since the same moment"))
    }

    @Test func majorityIsOfKnownObservers() {
        #expect(FailoverDecision.needed(.majority, knownObservers: 1) == 1)
        #expect(FailoverDecision.needed(.majority, knownObservers: 2) == 2)
        #expect(FailoverDecision.needed(.majority, knownObservers: 3) == 2)
        #expect(FailoverDecision.needed(.majority, knownObservers: 5) == 3)
        #expect(FailoverDecision.needed(.count(4), knownObservers: 5) == 4)
    }
}

@Suite("Failover journal steps")
struct FailoverStepTests {
    @Test func stepsRunInOrderAndResumeWhereTheJournalStopped() {
        #expect(
            FailoverStep.allCases.map(\.rawValue) == ["begin", "fence", "migrate", "activate", "route", "complete"])
        #expect(FailoverStep.begin.next == .fence)
        #expect(FailoverStep.complete.next == nil)
        #expect(
            FailoverStep.remaining(recorded: .migrate, finished: false) == [.migrate, .activate, .route, .complete])
        #expect(FailoverStep.remaining(recorded: .migrate, finished: true) == [.activate, .route, .complete])
        #expect(FailoverStep.remaining(recorded: .complete, finished: true).isEmpty)
        #expect(FailoverStep.fence < .route)
    }

    /// The one reduction of an observer's components to a region view, which the decision input and
    /// the status document both use.
    @Test func anObserversComponentsReduceToOneRegionView() {
        typealias C = FailoverDecision.ComponentView
        let t = Date(timeIntervalSince1970: 1_700_000_000)
        let critical = ["database", "redis", "schedulers"]
        // Down since the longest-down critical component; evidence positive when a worst component has it.
        let down = FailoverDecision.observation(
            observer: "a", live: true,
            components: [
                "database": C(state: .down, since: t.addingTimeInterval(-10), evidence: .silence),
                "schedulers": C(state: .down, since: t.addingTimeInterval(-4), evidence: .positive),
                "redis": C(state: .healthy, since: t.addingTimeInterval(-3600), upSince: t.addingTimeInterval(-3600)),
            ], critical: critical)
        #expect(down.health == .down && down.downSince == t.addingTimeInterval(-10) && down.evidence == .positive)
        #expect(down.upSince == nil)
        // Up since the last critical component came back; a component that never came back: never up.
        let up = FailoverDecision.observation(
            observer: "b", live: false,
            components: [
                "database": C(state: .healthy, since: t, upSince: t.addingTimeInterval(-5)),
                "redis": C(state: .healthy, since: t, upSince: t.addingTimeInterval(-60)),
                "schedulers": C(state: .healthy, since: t, upSince: t.addingTimeInterval(-1)),
            ], critical: critical)
        #expect(up.health == .healthy && up.upSince == t.addingTimeInterval(-1) && up.evidence == nil && !up.live)
        let neverBack = FailoverDecision.observation(
            observer: "c", live: true,
            components: ["database": C(state: .healthy, since: t), "redis": C(state: .healthy, since: t)],
            critical: ["database", "redis"])
        #expect(neverBack.upSince == Date.distantFuture)
        // A non-critical component does not make the region fail.
        let nonCritical = FailoverDecision.observation(
            observer: "d", live: true,
            components: [
                "database": C(state: .healthy, since: t, upSince: t),
                "redis": C(state: .down, since: t, evidence: .silence),
            ], critical: ["database"])
        #expect(nonCritical.health == .healthy && nonCritical.evidence == nil)
        // Silence in most regions at once is the observer's own problem.
        let silentA = FailoverDecision.Observation(
            observer: "a", live: true, health: .down, downSince: t, evidence: .silence)
        let regions = ["r1", "r2", "r3"].map { FailoverDecision.Region(name: $0, priority: 1, observations: [silentA]) }
        let window = Duration.seconds(3)
        #expect(FailoverDecision.correlatedSilence(regions, window: window) == ["a": ["r1": 3, "r2": 3, "r3": 3]])
        #expect(
            FailoverDecision.correlatedSilence(
                Array(regions.prefix(1)) + [.init(name: "r2", priority: 1, observations: [])], window: window) == [:])
        // Silences that began further apart than the window are not correlated; the region's failure began
        // when its earliest failing critical component began failing.
        var late = silentA
        late.failingSince = t.addingTimeInterval(10)
        let apart = [regions[0], .init(name: "r2", priority: 1, observations: [late]), regions[2]]
        #expect(FailoverDecision.correlatedSilence(apart, window: window) == ["a": ["r1": 2, "r3": 2]])
        let began = FailoverDecision.observation(
            observer: "a", live: true,
            components: [
                "database": C(state: .down, since: t.addingTimeInterval(3), evidence: .silence, failingSince: t),
                "schedulers": C(state: .suspect, since: t.addingTimeInterval(1), evidence: .silence),
            ], critical: ["database", "schedulers"])
        #expect(began.failingSince == t)
    }
}
