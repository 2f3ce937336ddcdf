import Foundation
import Postgres
import SwitchyardCore

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
    }

    /// Watches the control database's failover journal (and, for scheduler faults, the region's acting
    /// terms) until the fault has played out or the scenario's timeout; performs the fault's timed parts
    /// (resume, heal, killing the failover leader at its step).
    func observe(_ fault: DrillFault, active: String, control: PostgresConnection, baseFailover: Int, baseEpoch: Int,
                 t0: Date, timeline: inout Timeline) async throws -> Observed {
        var observed = Observed()
        let deadline = ContinuousClock.now + scenario.timeout
        var resumeAt: Date?
        switch fault {
        case .freezeSchedulerLeader(let d), .hangDatabase(let d), .partition(let d, _), .brownout(_, let d),
             .stopControlDatabase(let d), .hangControlDatabase(let d), .controlDatabaseFailover(let d):
            resumeAt = t0.addingTimeInterval(d.secondsDouble)
        default: break
        }
        // A brown-out harms nothing: watch the journal through it and a settle time after it (a decision
        // made on what it did can come later), then stop watching unless a failover is running.
        var settledAt: Date?
        // So does an outage of the control database: nothing may fail over, during it or after.
        switch fault {
        case .brownout(_, let d), .stopControlDatabase(let d), .hangControlDatabase(let d), .partition(let d, .controlDatabase),
             .controlDatabaseFailover(let d):
            let grace = target.configuration.controlPlane.failover.failureGrace.secondsDouble
            settledAt = t0.addingTimeInterval(d.secondsDouble + grace + 3)
        default: break
        }
        let leaderFault = !fault.kind.expectsFailover && fault.kind != .shell && fault.kind != .brownout
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
                let what = healed ? "partition healed" : fault.kind == .brownout ? "brown-out over: agents resumed, load stopped"
                    : fault.kind == .stopControlDatabase ? "control database started again"
                    : fault.kind == .controlDatabaseFailover ? "control replica promoted: the new primary" : "SIGCONT: resumed"
                timeline.add(Date(), t0, what)
                progress(what)
                resumeAt = nil
            }
            // The control database is away while the fault lasts: the journal is read once it is back.
            if fault.kind.hitsControlDatabase && resumeAt != nil {
                try await Task.sleep(for: .milliseconds(100))
                continue
            }
            let rows: [PostgresRow]
            if fault.kind.hitsControlDatabase {
                // Back from the fault: the drill's own session may be gone; retry until the database answers.
                if await !control.isOpen { try? await control.reconnect(timeout: .seconds(2)) }
                guard let answered = try? await failoverRows(control, after: baseFailover) else {
                    await control.close()
                    try await Task.sleep(for: .milliseconds(200))
                    continue
                }
                rows = answered
            } else {
                rows = try await failoverRows(control, after: baseFailover)
            }
            observed.failovers = rows.count
            if let row = rows.first {
                let id = try row["id"].require(Int.self)
                if failoverId == nil {
                    failoverId = id
                    let started: Date = try row["started_at"].require()
                    observed.detect = ms(started)
                    let line = "failover \(id) began: \(row["kind"].string ?? "?") \(row["from_region"].string ?? "-") -> \(row["to_region"].string ?? "?") (\(row["reason"].string ?? ""))"
                    timeline.add(started, t0, line)
                    progress(line)
                }
                let steps = try await control.query(
                    "SELECT step, finished_at, result::text AS result FROM switchyard.failover_steps WHERE failover_id = $1 AND finished_at IS NOT NULL",
                    [.int(id)]).rows
                for step in steps {
                    guard let name = step["step"].string, let at: Date = try step["finished_at"].optional(), !journaled.contains(name) else { continue }
                    journaled.insert(name)
                    timeline.add(at, t0, "step \(name) finished")
                    switch name {
                    case "fence": observed.fence = ms(at)
                    case "activate": observed.activate = ms(at)
                    case "route":
                        let hooks = Self.hookOutcomes(step["result"].string)
                        observed.hookFailures = hooks.filter { !$0 }.count
                        if hooks.isEmpty { observed.rto = observed.activate } else if hooks.allSatisfy({ $0 }) { observed.rto = ms(at) }
                        progress("routing hooks: \(hooks.filter { $0 }.count) acknowledged, \(observed.hookFailures) failed")
                    default: break
                    }
                }
                if case .killFailoverLeader(let step) = fault, !killedLeader,
                   let current = row["step"].string.flatMap(FailoverStep.init(rawValue:)), current >= step,
                   let leader = row["leader"].string {
                    killedLeader = true
                    if let pid = try killFailoverLeader(leader) {
                        timeline.add(Date(), t0, "SIGKILL failover leader \(leader) (pid \(pid)) at step \(current.rawValue)")
                        progress("killed the failover leader \(leader) at step \(current.rawValue)")
                    }
                }
                let state = row["state"].string ?? "running"
                observed.summary = .init(id: id, kind: row["kind"].string ?? "?", from: row["from_region"].string, to: row["to_region"].string ?? "?",
                                         state: state, runs_moved: try row["runs_moved"].optional(), runs_source: row["runs_source"].string)
                if state != "running" {
                    if !finished {
                        finished = true
                        timeline.add(try row["finished_at"].optional() ?? Date(), t0, "failover \(id) \(state)")
                        progress("failover \(id) \(state): \(observed.summary?.from ?? "-") -> \(observed.summary?.to ?? "?")")
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
                    """, [.int(baseEpoch)]).first
                if let term, let acted: Date = try term["first_acted_at"].optional() {
                    let won: Date? = term["current"].bool == true ? try term["since"].optional() : nil
                    observed.detect = ms(won ?? acted)
                    observed.rto = ms(acted)
                    if let won { timeline.add(won, t0, "\(term["node_id"].string ?? "?") won leadership (epoch \(term["epoch"].int ?? 0))") }
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

    /// The failovers journaled after `id`.
    func failoverRows(_ control: PostgresConnection, after id: Int) async throws -> [PostgresRow] {
        try await control.query(
            """
            SELECT id, kind, from_region, to_region, state, step, leader, started_at, finished_at, runs_moved, runs_source, reason
            FROM switchyard.failovers WHERE id > $1 ORDER BY id
            """, [.int(id)]).rows
    }

    /// Whether each routing hook succeeded, from the route step's journaled result.
    static func hookOutcomes(_ json: String?) -> [Bool] {
        struct Route: Decodable {
            struct Hook: Decodable { var succeeded: Bool }
            var hooks: [Hook]
        }
        guard let json, let route = try? JSONDecoder().decode(Route.self, from: Data(json.utf8)) else { return [] }
        return route.hooks.map(\.succeeded)
    }
}
