import Foundation
import Postgres
import SwitchyardCore
import SwitchyardRuntime

extension DrillRunner {
    /// What the journals showed after the fault.
    struct Observed {
        var failovers = 0
        var summary: DrillReport.FailoverSummary?
        var detect: Double?
        var fence: Double?
        var activate: Double?
        var rto: Double?
        var hookFailures = 0
        var controlPromotedMs: Double?
        var controlPromoted: String?
        var controlWritesLost: Int?
    }

    /// Watches the control database's failover journal (and, for scheduler faults, the region's acting
    /// terms) until the fault has played out or the scenario's timeout; performs the fault's timed parts
    /// (resume, heal, killing the failover leader at its step).
    func observe(
        _ fault: DrillFault, active: String, control: PostgresConnection, baseFailover: Int, baseEpoch: Int,
        t0: Date, timeline: inout Timeline
    ) async throws -> Observed {
        var observed = Observed()
        let deadline = ContinuousClock.now + scenario.timeout
        var resumeAt: Date?
        switch fault {
        case .freezeSchedulerLeader(let d), .hangDatabase(let d), .partition(let d, _), .brownout(_, let d),
            .stopControlDatabase(let d), .hangControlDatabase(let d), .controlDatabaseFailover(let d),
            .clockStep(_, let d), .dark(let d), .darkStandbyThenHang(_, let d), .link(let d), .darkStandby(let d),
            .slowLink(_, let d), .freezeAgent(_, let d):
            // A silent region comes back after its duration whether or not the failover has finished: a
            // region that returns mid-failover is part of what the drill proves.
            resumeAt = t0.addingTimeInterval(d.secondsDouble)
        default: break
        }
        // A brown-out harms nothing: watch the journal through it and a settle time after it (a decision
        // made on what it did can come later), then stop watching unless a failover is running.
        var settledAt: Date?
        // So does an outage of the control database: nothing may fail over, during it or after.
        switch fault {
        case .brownout(_, let d), .stopControlDatabase(let d), .hangControlDatabase(let d),
            .partition(let d, .controlDatabase),
            .controlDatabaseFailover(let d), .clockStep(_, let d), .darkStandby(let d), .slowLink(_, let d),
            .freezeAgent(_, let d):
            let grace = target.configuration.controlPlane.failover.failureGrace.secondsDouble
            settledAt = t0.addingTimeInterval(d.secondsDouble + grace + 3)
        case .killStandbyDatabase:
            // Nothing to resume: watch long enough for the crash to be judged down (and not acted on).
            let probes = target.configuration.controlPlane.probes
            let grace = target.configuration.controlPlane.failover.failureGrace.secondsDouble
            settledAt = t0.addingTimeInterval(probes.downAfter.secondsDouble + grace + 3)
        default: break
        }
        let leaderFault =
            !fault.kind.expectsFailover && fault.kind != .shell && fault.kind != .brownout && fault.kind != .clockStep
            && !fault.kind.hitsStandby && fault.kind != .slowLink
        let regionDB = leaderFault ? await target.region(active) : nil
        defer { if let regionDB { Task { await regionDB.close() } } }
        var killedLeader = false
        var journaled = Set<String>()
        var failoverId: Int?
        var finished = false
        func ms(_ date: Date?) -> Double? { date.map { ($0.timeIntervalSince(t0) * 10_000).rounded() / 10 } }

        while ContinuousClock.now < deadline {
            try Task.checkCancellation()
            if let at = resumeAt, Date() >= at {
                await endTimedFault()
                let healed = fault.kind == .partition
                let what =
                    healed
                    ? "partition healed"
                    : fault.kind == .brownout
                        ? "brown-out over: agents resumed, load stopped"
                        : fault.kind == .stopControlDatabase
                            ? "control database started again"
                            : fault.kind == .controlDatabaseFailover
                                ? "control replica promoted: the new primary"
                                : fault.kind == .clockStep
                                    ? "clock stepped back"
                                    : fault.kind == .link || fault.kind == .slowLink
                                        ? "WAN links restored" : "SIGCONT: resumed"
                if let crash = pending.withLock({ state in
                    defer { state.patroniCrash = nil }
                    return state.patroniCrash
                }) {
                    let result = await finishPatroniCrash(crash, t0: t0)
                    for (at, line) in result.lines {
                        timeline.add(at, t0, line)
                        progress(line)
                    }
                    observed.controlPromotedMs = result.promotedMs
                    observed.controlPromoted = result.promoted
                    observed.controlWritesLost = result.writesLost
                    // The drill's own session was opened on the lost primary: read the journal from the new one.
                    await control.close()
                } else {
                    timeline.add(Date(), t0, what)
                    progress(what)
                }
                resumeAt = nil
            }
            // The control database is away while the fault lasts: the journal is read once it is back.
            if fault.kind.hitsControlDatabase && resumeAt != nil {
                try await Task.sleep(for: .milliseconds(100))
                continue
            }
            let rows: [FailoverRecord]
            if fault.kind.hitsControlDatabase {
                // Back from the fault: the drill's own session may be gone; retry until the database answers.
                if await !control.isOpen { try? await control.reconnect(timeout: .seconds(2)) }
                guard let answered = try? await ControlStore.failovers(control, after: baseFailover) else {
                    await control.close()
                    try await Task.sleep(for: .milliseconds(200))
                    continue
                }
                rows = answered
            } else {
                rows = try await ControlStore.failovers(control, after: baseFailover)
            }
            observed.failovers = rows.count
            if let row = rows.first {
                let id = row.id
                if failoverId == nil {
                    failoverId = id
                    observed.detect = ms(row.startedAt)
                    let line =
                        "failover \(id) began: \(row.kind.rawValue) \(row.fromRegion ?? "-") -> \(row.toRegion) (\(row.reason))"
                    timeline.add(row.startedAt, t0, line)
                    progress(line)
                }
                for step in try await ControlStore.steps(control, failover: id, finishedOnly: true) {
                    guard let at = step.finishedAt, !journaled.contains(step.step.rawValue) else { continue }
                    journaled.insert(step.step.rawValue)
                    timeline.add(at, t0, "step \(step.step.rawValue) finished")
                    switch step.result {
                    case .fence: observed.fence = ms(at)
                    case .activate: observed.activate = ms(at)
                    case .route(let route):
                        let hooks = route.hooks.map(\.succeeded)
                        observed.hookFailures = hooks.filter { !$0 }.count
                        if hooks.isEmpty {
                            observed.rto = observed.activate
                        } else if hooks.allSatisfy({ $0 }) {
                            observed.rto = ms(at)
                        }
                        progress(
                            "routing hooks: \(hooks.filter { $0 }.count) acknowledged, \(observed.hookFailures) failed")
                    default: break
                    }
                }
                if case .killFailoverLeader(let step) = fault, !killedLeader,
                    case let current = row.step, current >= step, let leader = row.leader
                {
                    killedLeader = true
                    if let pid = try killFailoverLeader(leader) {
                        timeline.add(
                            Date(), t0, "SIGKILL failover leader \(leader) (pid \(pid)) at step \(current.rawValue)")
                        progress("killed the failover leader \(leader) at step \(current.rawValue)")
                    }
                }
                observed.summary = row.drillSummary
                if row.state != .running {
                    if !finished {
                        finished = true
                        timeline.add(row.finishedAt ?? Date(), t0, "failover \(id) \(row.state.rawValue)")
                        progress("failover \(id) \(row.state.rawValue): \(row.fromRegion ?? "-") -> \(row.toRegion)")
                    }
                    if observed.rto == nil && observed.hookFailures == 0 { observed.rto = observed.activate }
                    if resumeAt == nil { break }
                }
            }
            if leaderFault, let db = regionDB, observed.rto == nil {
                let term = try await db.query(
                    """
                    SELECT t.epoch, t.node_id, t.first_acted_at, l.since, l.epoch = t.epoch AS current
                    FROM switchyard.acting_terms t, switchyard.leadership l
                    WHERE l.id = 1 AND t.epoch > $1 ORDER BY t.first_acted_at LIMIT 1
                    """, [.int(baseEpoch)]
                ).first
                if let term, let acted: Date = try term["first_acted_at"].optional() {
                    let won: Date? = term["current"].bool == true ? try term["since"].optional() : nil
                    observed.detect = ms(won ?? acted)
                    observed.rto = ms(acted)
                    if let won {
                        timeline.add(
                            won, t0, "\(term["node_id"].string ?? "?") won leadership (epoch \(term["epoch"].int ?? 0))"
                        )
                    }
                    timeline.add(acted, t0, "new leader \(term["node_id"].string ?? "?") acted (first fenced tick)")
                    progress("new leader \(term["node_id"].string ?? "?") acting after \(Int(observed.rto ?? 0)) ms")
                }
            }
            if leaderFault && observed.rto != nil && resumeAt == nil { break }
            if let settledAt, resumeAt == nil, Date() >= settledAt, failoverId == nil || finished { break }
            try await Task.sleep(for: .milliseconds(20))
        }
        if ContinuousClock.now >= deadline {
            timeline.add(Date(), t0, "observation timed out after \(scenario.timeout)")
            progress("observation timed out after \(scenario.timeout)")
        }
        if resumeAt != nil { await endTimedFault() }
        return observed
    }
}
