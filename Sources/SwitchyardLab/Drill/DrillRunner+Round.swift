import Foundation
import Postgres
import SwitchyardCore
import SwitchyardRuntime

extension DrillRunner {
    /// One fault from preconditions to report.
    func round(fault: DrillFault, restore: DrillScenario.Restore) async throws -> DrillReport {
        var report = DrillReport(scenario: scenario.name, fault: fault.kind.rawValue)
        if case .partition = fault, (try? target.dev().network) == nil {
            let reason = DrillPartition.skippedReason
            report.skipped = reason
            progress("skipped: \(reason)")
            return report
        }
        if case .clockStep = fault, !LabClocks.available, (try? target.dev().clocks) == nil {
            let reason = "no skewed clocks here: Debian's faketime is not installed (apt-get install faketime)"
            report.skipped = reason
            progress("skipped: \(reason)")
            return report
        }
        let control = try await target.control()
        return try await control.closeAfter {
            let active = try await preconditions(control, fault: fault)
            report.activeBefore = active
            pending.withLock { $0.activeBefore = $0.activeBefore ?? active }
            let runIds = try await startWorkload(active: active)

            // Baselines, then the fault.
            let baseFailover = try await ControlStore.latestFailoverId(control)
            let baseEpoch = try await leadershipEpoch(active)
            let inFlight = try await countUnfinished(active, runIds: runIds)
            report.runsInFlight = inFlight
            let stoppedBefore = await stoppedCommands()
            var timeline = Timeline()
            try await prelude(fault, active: active)
            let t0 = Date()
            try await inject(fault, active: active, control: control, timeline: &timeline, t0: t0)
            progress("fault injected: \(fault.kind.rawValue) in \(active) with \(inFlight) runs in flight")

            let observed = try await observe(
                fault, active: active, control: control, baseFailover: baseFailover, baseEpoch: baseEpoch,
                t0: t0, timeline: &timeline)
            report.failovers = observed.failovers
            report.failover = observed.summary
            report.detectMs = observed.detect
            report.fenceMs = observed.fence
            report.activateMs = observed.activate
            report.rtoMs = observed.rto
            report.hookFailures = observed.hookFailures
            report.controlPromotedMs = observed.controlPromotedMs
            report.controlPromoted = observed.controlPromoted
            report.controlWritesLost = observed.controlWritesLost
            if let detect = observed.detect { progress("detected after \(Int(detect)) ms") }
            if let rto = observed.rto { progress("recovered (RTO) after \(Int(rto)) ms") }

            // Bring back what the fault broke, then account for the runs. A lost region stays lost until they
            // are accounted: its runs must finish in the target from the shadow, not come home when it answers.
            let restoreLate = fault.kind == .killRegion
            if restore != .none, !restoreLate {
                await restoreComponents()
                timeline.add(Date(), t0, "restored the stopped components")
                progress("restored the stopped components")
            }
            let activeAfter = try await target.cluster(control).active ?? active
            var firstAirflowTask: Date?
            if runsAirflow(active) {
                let accounting = try await accountAirflowRuns(
                    runIds, finishIn: activeAfter, t0: t0, timeline: &timeline)
                (report.runsLost, report.runsTwice, report.runsOverlapping) = (
                    accounting.lost, accounting.twice, accounting.overlapping
                )
                report.runsFinishedInTarget = accounting.finishedInTarget
                firstAirflowTask = accounting.firstInTarget
                if let ledger = airflowLedger(runIds) {
                    report.taskAttempts = ledger.attempts.count
                    let overlapping = ledger.overlapping
                    // From the shadow: when its last copy landed in the target (a task that finished after it
                    // could not be known finished there).
                    var copiedAt: Date? = nil
                    if observed.summary?.runsSource == "shadow", let db = await target.region(activeAfter) {
                        copiedAt = try? await db.closeAfter {
                            try await db.query(
                                "SELECT synced_at FROM switchyard.shadow_sync WHERE source_region = $1", [.text(active)]
                            ).first?["synced_at"].optional(Date.self)
                        }
                    }
                    let split = ledger.rerun(finishedBy: copiedAt)
                    let rerun = split.rerun
                    if copiedAt != nil { report.tasksRerunAfterShadowCopy = split.afterCopy.count }
                    let unfinished = ledger.unfinished(runs: runIds, tasks: AirflowHome.drillTasks)
                    (report.attemptsOverlapping, report.tasksRerunAfterFinishing, report.tasksUnfinished) = (
                        overlapping.count, rerun.count, unfinished.count
                    )
                    report.lastTaskFinishedMs = ledger.lastFinished.map {
                        ($0.timeIntervalSince(t0) * 10_000).rounded() / 10
                    }
                    if let first = ledger.firstStart(in: activeAfter, after: t0), activeAfter != active {
                        firstAirflowTask = min(firstAirflowTask ?? first, first)
                    }
                    progress(
                        "ledger: \(ledger.attempts.count) task attempts, \(overlapping.count) task instances in two regions at once"
                            + "\(overlapping.isEmpty ? "" : " \(overlapping)"), \(rerun.count) run again after finishing"
                            + "\(rerun.isEmpty ? "" : " \(rerun)")"
                            + (split.afterCopy.isEmpty
                                ? ""
                                : ", \(split.afterCopy.count) finished after the shadow's last copy and ran again"
                                    + " (at least once) \(split.afterCopy)")
                            + ", \(unfinished.count) never finished"
                            + "\(unfinished.isEmpty ? "" : " \(unfinished)")")
                }
            } else {
                // Moved from the shadow while the old region was cut off but alive: what it finished meanwhile
                // may run again in the target (at-least-once).
                let cutOff =
                    observed.summary?.runsSource == "shadow" && observed.summary?.from == active ? active : nil
                let accounting = try await accountRuns(
                    runIds, finishIn: activeAfter, t0: t0, cutOff: cutOff, timeline: &timeline)
                (report.runsLost, report.runsTwice, report.runsOverlapping) = (
                    accounting.lost, accounting.twice, accounting.overlapping
                )
                report.runsRerun = accounting.rerun
            }
            if restore != .none, restoreLate {
                await restoreComponents()
                timeline.add(Date(), t0, "restored the lost region")
                progress("restored the lost region")
            }
            let accounting = (lost: report.runsLost, twice: report.runsTwice)
            progress(
                "runs: \(runIds.count) started, \(inFlight) in flight at the fault, \(accounting.lost) lost, \(accounting.twice) executed twice"
                    + (report.runsRerun > 0
                        ? ", \(report.runsRerun) finished by the cut-off region during the fault and run again (at-least-once)"
                        : ""))
            let stoppedAfter = await stoppedCommands()
            report.commandsStopped = stoppedAfter.reduce(0) { sum, entry in
                sum + max(0, entry.value - (stoppedBefore[entry.key] ?? entry.value))
            }
            if let duration = fault.duration {
                report.runsStartedDuringFault = await executionsStarted(
                    in: active, from: t0, to: t0.addingTimeInterval(duration.secondsDouble))
            }
            if let to = observed.summary?.to, to != active,
                let first = await firstExecution(in: to, after: t0) ?? firstAirflowTask
            {
                report.firstExecutionMs = (first.timeIntervalSince(t0) * 10_000).rounded() / 10
                timeline.add(first, t0, "first execution started in \(to)")
            }
            let overlaps = try await actingOverlaps(since: t0.addingTimeInterval(-30))
            report.dualLeader = overlaps.map(\.description)
            report.dualLeaderMs = (overlaps.reduce(0) { $0 + $1.milliseconds } * 10).rounded() / 10
            if !overlaps.isEmpty { progress("DUAL LEADERS: \(report.dualLeader.joined(separator: "; "))") }

            if restore == .failback, activeAfter != active {
                await failback()
                timeline.add(Date(), t0, "failed back to \(active)")
            }
            if restore != .none {
                let healthy = await waitHealthy(control, within: scenario.preconditions.wait)
                report.unrecovered = healthy ? 0 : 1
                timeline.add(Date(), t0, healthy ? "every region healthy again" : "NOT every region healthy again")
            }
            report.activeAfter = try await target.cluster(control).active
            report.timeline = timeline.entries.sorted { $0.atMs < $1.atMs }
            // A dark standby is resumed even without a restore: forgotten, nothing could resume it.
            for pid in pending.withLock({ $0.darkStandby }) { kill(pid, SIGCONT) }
            // A campaign fails back to the first active region
            pending.withLock { $0 = DrillRunner.PendingRestore(activeBefore: $0.activeBefore) }
            return report
        }
    }

    /// Waits for every precondition; returns the active region. Throws before any fault when one does
    /// not hold within the scenario's wait.
    func preconditions(_ control: PostgresConnection, fault: DrillFault) async throws -> String {
        let wait = scenario.preconditions.wait
        let deadline = ContinuousClock.now + wait
        // No failover running, and (for faults that should fail over) none inside the cooldown.
        let cooldown = target.configuration.controlPlane.failover.cooldown
        var announced = false
        while true {
            let (running, since) = try await ControlStore.failoverActivity(control)
            let inCooldown =
                fault.kind.expectsFailover && fault.kind != .switchover
                && since.map { $0 < cooldown + .milliseconds(500) } ?? false
            if !running && !inCooldown { break }
            if !announced {
                progress(
                    running
                        ? "waiting for the running failover to finish"
                        : "waiting out the failover cooldown (\(cooldown))")
                announced = true
            }
            guard ContinuousClock.now < deadline + cooldown else {
                throw DrillError("precondition: a failover is still running after \(wait)")
            }
            try await Task.sleep(for: .milliseconds(250))
        }
        // The policy's hourly cap would refuse the failover the fault calls for: say so instead of timing out.
        let cap = target.configuration.controlPlane.failover.maxFailoversPerHour
        if fault.kind.expectsFailover && fault.kind != .switchover {
            let lastHour = try await ControlStore.failoversStarted(control, within: .seconds(3600))
            if lastHour >= cap {
                throw DrillError(
                    "precondition: \(lastHour) failovers in the last hour reach failover.max_failovers_per_hour (\(cap)); the agents would refuse to fail over"
                )
            }
        }
        if scenario.preconditions.allHealthy {
            guard await waitHealthy(control, within: wait) else {
                let health = try await target.health(control)
                throw DrillError(
                    "precondition: not every region is healthy after \(wait): "
                        + (health.observers == 0
                            ? "no live observer" : health.unhealthy.prefix(6).joined(separator: "; ")))
            }
        }
        guard let active = try await target.cluster(control).active else {
            throw DrillError("precondition: no region is active")
        }
        if scenario.preconditions.controlPatroni, (try? target.dev())?.controlPatroni == nil {
            throw DrillError(
                "precondition control_patroni: this drill needs the control database under Patroni (switchyard dev up --daemons --control-patroni)"
            )
        }
        if let wanted = scenario.preconditions.activeRegion, wanted != active {
            throw DrillError("precondition: \(wanted) should be active, but \(active) is")
        }
        if scenario.preconditions.failoverLeaderInActive {
            if try await placeFailoverLeader(in: active, control: control, within: wait),
                scenario.preconditions.allHealthy
            {
                // The killed agents' last rows stay live for a while: wait them out, so only what the restarted
                // agents write counts as healthy.
                let live = max(target.configuration.controlPlane.probes.interval.secondsDouble * 3, 2)
                try await Task.sleep(for: .milliseconds(Int64(live * 1000) + 500))
                guard await waitHealthy(control, within: wait) else {
                    throw DrillError("precondition: not every region is healthy after restarting agents")
                }
            }
        }
        return active
    }

    /// Kills the agent leading failovers and starts it again until an agent in `region` wins the lock (the
    /// others wait on it, so each kill hands it to one of them). Returns whether it restarted any.
    func placeFailoverLeader(in region: String, control: PostgresConnection, within: Duration) async throws -> Bool {
        guard let directory = target.devDirectory else {
            throw DrillError("precondition failover_leader_in_active needs the local deployment")
        }
        let overall = ContinuousClock.now + within
        for attempt in 1...12 where ContinuousClock.now < overall {
            var holder: String?
            let deadline = ContinuousClock.now + .seconds(30)
            while ContinuousClock.now < deadline {
                holder = try await failoverLeaderObserver(control)
                if holder != nil { break }
                try await Task.sleep(for: .milliseconds(200))
            }
            guard let holder else { throw DrillError("precondition: no agent leads failovers after 30 s") }
            guard let record = try target.dev().daemons.first(where: { $0.kind == "agent" && $0.name == holder }) else {
                throw DrillError("precondition: the failover leader \(holder) is not an agent this deployment started")
            }
            if record.region == region {
                progress("failover leader: \(holder), in \(region)")
                return attempt > 1
            }
            progress("failover leader: \(holder), in \(record.region); killing it so an agent in \(region) may lead")
            kill(record.pid, SIGKILL)
            let gone = ContinuousClock.now + .seconds(10)
            while Processes.isAlive(record.pid), ContinuousClock.now < gone {
                try await Task.sleep(for: .milliseconds(50))
            }
            // Someone else holds the lock before the killed agent starts again (it then waits behind them).
            let next = ContinuousClock.now + .seconds(30)
            while ContinuousClock.now < next, try await failoverLeaderObserver(control).map({ $0 == holder }) ?? true {
                try await Task.sleep(for: .milliseconds(100))
            }
            _ = try DevDeployment.startDaemons(directory: directory, binary: target.binary) { [self] in progress($0) }
        }
        throw DrillError(
            "precondition: no agent in \(region) won failover leadership within \(within) (12 restarts at most)")
    }

    /// The observer whose agent holds the failover lock (its lock session names it), nil when none does.
    func failoverLeaderObserver(_ control: PostgresConnection) async throws -> String? {
        let prefix = "switchyard-lock-agent-"
        let name = try await control.query(
            """
            SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
            WHERE l.locktype = 'advisory' AND l.granted AND a.application_name LIKE $1
            LIMIT 1
            """, [.text(prefix + "%")]
        ).first?["application_name"].optional(String.self)
        return name.map { String($0.dropFirst(prefix.count)) }
    }

    /// True once every live observer sees every component healthy (every region's agent, for the
    /// local deployment), within `within`.
    func waitHealthy(_ control: PostgresConnection, within: Duration) async -> Bool {
        let deadline = ContinuousClock.now + within
        let observersWanted = target.devDirectory == nil ? 1 : target.configuration.regions.count
        while ContinuousClock.now < deadline {
            if let health = try? await target.health(control), health.observers >= observersWanted,
                health.unhealthy.isEmpty
            {
                return true
            }
            try? await Task.sleep(for: .milliseconds(200))
        }
        return false
    }

    /// The current leadership epoch of a region (0 when its database does not answer).
    func leadershipEpoch(_ region: String) async throws -> Int {
        guard let db = await target.region(region) else { return 0 }
        return try await db.closeAfter {
            return try await db.query("SELECT epoch FROM switchyard.leadership WHERE id = 1").first?["epoch"].require(
                Int.self) ?? 0
        }
    }
}

extension DrillRunner {
    /// Executions stopped so far (fenced, unconfirmed or abandoned), per region whose database answers.
    func stoppedCommands() async -> [String: Int] {
        var counts: [String: Int] = [:]
        for region in target.configuration.regions.map(\.name) {
            guard let db = await target.region(region) else { continue }
            counts[region] = try? await db.closeAfter {
                try await db.query(
                    "SELECT count(*) AS n FROM switchyard.executions WHERE outcome IN ('fenced', 'unconfirmed', 'abandoned')"
                )
                .first?["n"].require(Int.self) ?? 0
            }
        }
        return counts
    }

    /// Executions that started in `region` between two instants (nil when its database does not answer).
    func executionsStarted(in region: String, from: Date, to: Date) async -> Int? {
        guard let db = await target.region(region) else { return nil }
        return try? await db.closeAfter {
            try await db.query(
                "SELECT count(*) AS n FROM switchyard.executions WHERE started_at >= $1 AND started_at <= $2",
                [.date(from), .date(to)]
            ).first?["n"].require(Int.self) ?? 0
        }
    }

    /// When the first execution after `after` started in `region`.
    func firstExecution(in region: String, after: Date) async -> Date? {
        guard let db = await target.region(region) else { return nil }
        return
            (try? await db.closeAfter {
                try await db.query(
                    "SELECT min(started_at) AS t FROM switchyard.executions WHERE started_at >= $1", [.date(after)]
                )
                .first?["t"].optional(Date.self)
            }) ?? nil
    }
}

/// Timeline entries in milliseconds from the fault.
struct Timeline {
    var entries: [DrillReport.TimelineEntry] = []

    mutating func add(_ at: Date, _ t0: Date, _ event: String) {
        entries.append(.init(atMs: at.timeIntervalSince(t0) * 1000, event: event))
    }
}
