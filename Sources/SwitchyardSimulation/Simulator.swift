import Foundation
import SwitchyardCore

/// Runs one schedule through the product's own detection and decision code under virtual time: each
/// observer's probe loops feed `ComponentHealth` (through the agent's rule for probes made while it
/// lagged) and `ObserverSelfHealth`; every probe interval it writes ages to a simulated control
/// database that stamps them on its clock; the failover leader reduces the rows with
/// `FailoverDecision.observation` and calls `FailoverDecision.decide` on its cadence. Nothing here
/// models the decision: it only moves time, messages and faults.
public struct Simulator {
    /// A change to the inputs, to show that the checker catches a known bug.
    public enum Mutant: String, Sendable, CaseIterable, Codable {
        /// The correlated-silence rule as it was before issue 22: no time window and no confirmation by the
        /// other observers, so a standby dark for an hour discounts every later silence of the active region.
        case noCorrelationWindow = "no-correlation-window"
        /// The rule as it was before the simulator's first finding: a time window but no confirmation, so
        /// the active region hung while a standby went dark a probe round apart discounts every vote.
        case unconfirmedSilences = "unconfirmed-silences"
        /// A quorum one vote short of a majority of every known observer.
        case quorumOffByOne = "quorum-off-by-one"
        /// Observers never declare lag: a probe made while one stalled counts.
        case noSelfHealth = "no-self-health"
    }

    /// The world it runs.
    public let schedule: Schedule
    /// The probe settings (the shipped defaults unless given).
    public let probes: ProbeConfig
    /// The failover settings.
    public let failover: FailoverConfig
    /// The election settings.
    public let election: ElectionConfig
    /// The assumptions the schedule stays within.
    public let assumptions: ProtocolAssumptions
    /// The known bug re-introduced, if any.
    public let mutant: Mutant?
    /// Record a trace of what happened (slower; for a failing seed).
    public let tracing: Bool

    /// Creates it.
    public init(
        schedule: Schedule, probes: ProbeConfig = .init(), failover: FailoverConfig = .init(),
        election: ElectionConfig = .init(), assumptions: ProtocolAssumptions? = nil, mutant: Mutant? = nil,
        tracing: Bool = false
    ) {
        self.schedule = schedule
        self.probes = probes
        self.failover = failover
        self.election = election
        self.assumptions = assumptions ?? ProtocolAssumptions(probes: probes, election: election)
        self.mutant = mutant
        self.tracing = tracing
    }

    /// What a run found.
    public struct Result: Sendable, Codable {
        /// The seed (it reproduces the schedule exactly).
        public var seed: UInt64
        /// When the first failover began (µs), to which region, and why.
        public var failoverAt: SimTime?
        /// The failover's target.
        public var target: String?
        /// The decision's reason for it.
        public var reason: String?
        /// Each outcome kind, how many times the leader's decision returned it.
        public var outcomes: [FailoverDecision.Outcome.Kind: Int]
        /// The invariants broken (empty when none).
        public var violations: [String]
        /// What happened, in order (with `tracing`).
        public var trace: [String]
    }

    // MARK: The world

    let base = ContinuousClock.now
    let epoch = Date(timeIntervalSince1970: 1_800_000_000)
    let component = "database"

    func date(_ t: SimTime) -> Date { epoch.addingTimeInterval(Double(t) / 1e6) }
    /// Observer `o`'s monotonic clock at true time `t`.
    func instant(_ o: Int, _ t: SimTime) -> ContinuousClock.Instant {
        base + .microseconds(Int64((Double(t) * (1 + schedule.drift[o])).rounded()))
    }

    func regionFault(_ g: Int, at t: SimTime) -> RegionFault.Kind? {
        schedule.regionFaults.first { $0.region == g && $0.covers(t) }?.kind
    }
    func observerFault(_ o: Int, _ kind: ObserverFault.Kind, at t: SimTime) -> Bool {
        schedule.observerFaults.contains { $0.observer == o && $0.kind == kind && $0.covers(t) }
    }
    /// The observer's process runs (its region is not dark).
    func runs(_ o: Int, at t: SimTime) -> Bool { regionFault(o, at: t) != .dark }
    /// The end of a pause of `o` covering `t`, if any.
    func pauseEnd(_ o: Int, at t: SimTime) -> SimTime? {
        schedule.observerFaults.first { $0.observer == o && $0.kind == .pause && $0.covers(t) }?.end
    }
    /// Observer `o` reaches the control database.
    func reachesControl(_ o: Int, at t: SimTime) -> Bool {
        runs(o, at: t) && regionFault(o, at: t) != .partition
    }
    /// What a probe from `o` to region `g` sent at `t` meets: nil when it gets through.
    func blocked(_ o: Int, _ g: Int, at t: SimTime) -> Evidence? {
        if o != g {
            if regionFault(g, at: t) == .partition || regionFault(o, at: t) == .partition { return .silence }
            if observerFault(o, .cutOff, at: t) { return .silence }
            if g == 0 && observerFault(o, .cutOffFromActive, at: t) { return .silence }
        }
        switch regionFault(g, at: t) {
        case .crash: return .positive
        case .hang, .dark: return .silence
        default: return nil
        }
    }

    // MARK: Events

    enum Event {
        case probe(observer: Int, region: Int)
        case refresh(observer: Int)
        case decide
        case lagCheck(observer: Int, pausedAt: SimTime)
    }

    struct Queue {
        var items: [(t: SimTime, seq: Int, event: Event)] = []
        var seq = 0
        mutating func push(_ t: SimTime, _ e: Event) {
            seq += 1
            items.append((t, seq, e))
            var i = items.count - 1
            while i > 0 {
                let p = (i - 1) / 2
                if less(items[i], items[p]) { items.swapAt(i, p); i = p } else { break }
            }
        }
        mutating func pop() -> (t: SimTime, event: Event)? {
            guard !items.isEmpty else { return nil }
            let top = items[0]
            items[0] = items[items.count - 1]
            items.removeLast()
            var i = 0
            while true {
                let l = 2 * i + 1, r = l + 1
                var m = i
                if l < items.count && less(items[l], items[m]) { m = l }
                if r < items.count && less(items[r], items[m]) { m = r }
                if m == i { break }
                items.swapAt(i, m)
                i = m
            }
            return (top.t, top.event)
        }
        func less(_ a: (t: SimTime, seq: Int, event: Event), _ b: (t: SimTime, seq: Int, event: Event)) -> Bool {
            a.t != b.t ? a.t < b.t : a.seq < b.seq
        }
    }

    /// One observer's row in the control database.
    struct Row {
        var lastSeen: Date
        var lagging: String?
        var views: [FailoverDecision.ComponentView]
    }

    // MARK: Running

    /// Runs the schedule to its horizon or its first failover.
    public func run() -> Result {
        let n = schedule.regions
        let m = schedule.observers
        let names = schedule.observerNames
        let thresholds = ComponentHealth.Thresholds(
            failuresToSuspect: probes.failuresToSuspect, failuresToDown: probes.failuresToDown,
            downAfter: probes.downAfter, successesToRecover: probes.successesToRecover)
        var health = (0..<m).map { o in
            (0..<n).map { _ in ComponentHealth(thresholds: thresholds, now: date(0), instant: instant(o, 0)) }
        }
        var selfHealth = (0..<m).map { _ in ObserverSelfHealth(probes: probes) }
        var rows: [Row?] = Array(repeating: nil, count: m)
        var queue = Queue()
        var result = Result(
            seed: schedule.seed, failoverAt: nil, target: nil, reason: nil, outcomes: [:], violations: [], trace: [])
        func trace(_ t: SimTime, _ s: @autoclosure () -> String) {
            if tracing { result.trace.append(String(format: "%9.3f s  ", Double(t) / 1e6) + s()) }
        }
        if tracing {
            for f in schedule.regionFaults { result.trace.append("fault: \(f) (\(names[f.region]))") }
            for f in schedule.observerFaults { result.trace.append("fault: \(f) (\(names[f.observer]))") }
        }
        var r = SimRandom(seed: schedule.seed ^ 0x5EED)
        let interval = SimTime.of(probes.interval)
        let timeout = SimTime.of(probes.timeout)
        let confirm = SimTime.of(max(probes.interval / 4, .milliseconds(50)))
        for o in 0..<m {
            for g in 0..<n { queue.push(r.int(0...interval), .probe(observer: o, region: g)) }
            queue.push(r.int(0...interval), .refresh(observer: o))
        }
        for f in schedule.observerFaults where f.kind == .pause {
            queue.push(f.end, .lagCheck(observer: f.observer, pausedAt: f.start))
        }
        queue.push(SimTime.ms(100), .decide)
        let liveWithin = probes.liveWithin.secondsDouble
        let window = mutant == .noCorrelationWindow ? Duration.seconds(1_000_000_000) : probes.silenceCorrelationWindow
        let leaderHandover = SimTime.of(assumptions.leaderHandover)
        var leader = 0
        var leaderSince: SimTime = 0
        // Rows written so far, and how many there were at the last decision, and its outcome.
        var rowsWritten = 0
        var decidedAt = -1
        var lastKind: FailoverDecision.Outcome.Kind?
        let recent: [Date] =
            (schedule.recentFailoverAgo.map { [date(-$0)] } ?? [])
            + (schedule.hourlyLimitReached
                ? (0..<failover.maxFailoversPerHour).map { date(-SimTime.ms(Int64(400_000 + $0 * 60_000))) } : [])

        while let next = queue.pop(), next.t <= schedule.horizon, result.failoverAt == nil {
            let t = next.t
            switch next.event {
            case .probe(let o, let g):
                guard runs(o, at: t) else {
                    queue.push(t + interval, .probe(observer: o, region: g))
                    continue
                }
                if let resume = pauseEnd(o, at: t) {
                    queue.push(resume, .probe(observer: o, region: g))
                    continue
                }
                // The round's outcome and end; a pause that begins during it stretches it (and the reply,
                // read after the pause, is late: a timeout).
                var success = false
                var evidence = Evidence.silence
                var end = t + timeout
                if let met = blocked(o, g, at: t) {
                    evidence = met
                    if met == .positive { end = t + schedule.roundTrip[o][g] }
                } else if !r.chance(schedule.loss[o][g]) {
                    success = true
                    end = t + schedule.roundTrip[o][g]
                }
                if let pause = schedule.observerFaults.first(where: {
                    $0.observer == o && $0.kind == .pause && $0.start > t && $0.start < end
                }) {
                    end = pause.end
                    success = false
                    evidence = .silence
                }
                let now = instant(o, end)
                let started = instant(o, t)
                var lag = selfHealth[o]
                lag.measured("probe round", expected: probes.timeout * 3, actual: now - started, endedAt: now)
                selfHealth[o] = lag
                let inconclusive = mutant != .noSelfHealth && lag.taints(start: started, end: now)
                // The agent's rule (`MonitorState.record`): a failure seen while lagging counts neither way,
                // unless the target said it is dead.
                if inconclusive && !success && evidence != .positive {
                    health[o][g].recordInconclusive()
                } else if let changed = health[o][g].record(
                    success: success, latency: nil, evidence: evidence, at: now, wallClock: date(end))
                {
                    trace(end, "\(names[o]) sees \(names[g]) \(changed.rawValue)")
                }
                let next = success ? t + interval : t + confirm
                queue.push(max(next, end), .probe(observer: o, region: g))

            case .refresh(let o):
                queue.push(t + interval, .refresh(observer: o))
                guard reachesControl(o, at: t), pauseEnd(o, at: t) == nil else { continue }
                // Ages on the observer's clock (`Agent.exchange`); the control database stamps them with its own.
                let now = instant(o, t)
                let arrival = t + schedule.controlTransit[o]
                let at = date(arrival)
                func ago(_ d: Duration) -> Date { at.addingTimeInterval(-d.secondsDouble) }
                let views = (0..<n).map { g -> FailoverDecision.ComponentView in
                    let h = health[o][g]
                    let failing = h.state == .down || h.state == .suspect
                    return FailoverDecision.ComponentView(
                        state: h.state, since: ago(now - h.changedAt), evidence: h.evidence,
                        upSince: h.upAt.map { ago(now - $0) },
                        failingSince: failing ? h.troubleSince.map { ago(now - $0) } : nil)
                }
                rows[o] = Row(
                    lastSeen: at, lagging: mutant == .noSelfHealth ? nil : selfHealth[o].lagging(at: now),
                    views: views)
                rowsWritten += 1

            case .lagCheck(let o, let pausedAt):
                // The agent's 100 ms timer, asleep through the pause, overshoots by it.
                let now = instant(o, t)
                selfHealth[o].measured(
                    "a 100 ms timer", expected: .milliseconds(100),
                    actual: .microseconds(t - pausedAt) + .milliseconds(100), endedAt: now)
                trace(t, "\(names[o]) lagged \(Double(t - pausedAt) / 1e6) s")

            case .decide:
                // The failover leader: an agent that reaches the control database; when the one leading is
                // lost, another takes over after the hand-over.
                let available = { (o: Int) in self.reachesControl(o, at: t) && self.pauseEnd(o, at: t) == nil }
                if !available(leader) {
                    if let next = (0..<m).first(where: available) {
                        leader = next
                        leaderSince = t + leaderHandover
                        trace(
                            t, "\(names[next]) takes the failover lead (deciding from \(Double(leaderSince) / 1e6) s)")
                    }
                }
                let anyFailing = rows.contains { row in
                    guard let row, row.lastSeen.timeIntervalSince(date(t)) > -liveWithin else { return false }
                    return row.views[0].state == .down || row.views[0].state == .suspect
                }
                queue.push(
                    t + (anyFailing ? .ms(100) : SimTime.of(min(probes.interval, election.heartbeatInterval))), .decide)
                guard available(leader), t >= leaderSince else { continue }
                // Nothing written since a decision that stayed, and no row finds the active region down: time
                // alone cannot change that outcome (it only ages rows out of the quorum), so the leader's
                // decision is the same and is not computed again.
                let activeDown = rows.contains { $0?.views[0].state == .down }
                if rowsWritten == decidedAt, !activeDown, lastKind == .notDown { continue }
                decidedAt = rowsWritten
                let now = date(t)
                var lagging: [String: String] = [:]
                let regions = (0..<n).map { g -> FailoverDecision.Region in
                    FailoverDecision.Region(
                        name: names[g], priority: 100 - 10 * g,
                        observations: (0..<m).compactMap { o in
                            guard let row = rows[o] else { return nil }
                            let live = row.lastSeen > now.addingTimeInterval(-liveWithin)
                            if live, let why = row.lagging { lagging[names[o]] = why }
                            return FailoverDecision.observation(
                                observer: names[o], live: live, components: [component: row.views[g]],
                                critical: [component])
                        })
                }
                let known = rows.compactMap { $0 }.count
                let needed = FailoverDecision.needed(.majority, knownObservers: known)
                let input = FailoverDecision.Input(
                    now: now, activeRegion: names[0], regions: regions, knownObservers: known,
                    quorum: mutant == .quorumOffByOne ? .count(max(1, needed - 1)) : .majority,
                    failureGrace: failover.failureGrace, cooldown: failover.cooldown,
                    maxFailoversPerHour: failover.maxFailoversPerHour, recentFailovers: recent,
                    paused: schedule.paused, automatic: schedule.automatic,
                    evidenceGrace: min(failover.evidenceGrace, failover.failureGrace), laggingObservers: lagging,
                    correlationWindow: window)
                var decided = input
                decided.confirmedSilences = mutant != .noCorrelationWindow && mutant != .unconfirmedSilences
                let outcome = FailoverDecision.decide(decided)
                lastKind = outcome.kind
                result.outcomes[outcome.kind, default: 0] += 1
                if case .failover(let target, let reason) = outcome {
                    result.failoverAt = t
                    result.target = target
                    result.reason = reason
                    trace(t, "FAILOVER to \(target): \(reason)")
                    // While it runs, the cluster has no active region (`begin` clears it, `activate` sets the
                    // target): a decision then, by this leader resumed or another, stays.
                    decided.activeRegion = nil
                    let during = FailoverDecision.decide(decided)
                    result.outcomes[during.kind, default: 0] += 1
                }
            }
        }
        result.violations = check(result, names: names)
        return result
    }
}
