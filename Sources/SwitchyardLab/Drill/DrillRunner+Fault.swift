import Foundation
import Postgres
import SwitchyardCore
import SwitchyardRuntime

extension DrillRunner {
    /// Injects the fault into the active region.
    func inject(_ fault: DrillFault, active: String, control: PostgresConnection, timeline: inout Timeline, t0: Date)
        async throws
    {
        func postmaster() throws -> Int32 {
            guard let pid = try target.dev().postgres[active]?.pid else {
                throw DrillError("\(active)'s Postgres is not running")
            }
            return pid
        }
        switch fault {
        case .killSchedulerLeader:
            let (node, pid) = try await schedulerLeader(active)
            kill(pid, SIGKILL)
            timeline.add(t0, t0, "SIGKILL scheduler leader \(node) (pid \(pid))")
        case .killSchedulers:
            let nodes = try target.dev().daemons.filter {
                $0.kind == "scheduler" && $0.region == active && Processes.isAlive($0.pid)
            }
            guard !nodes.isEmpty else {
                throw DrillError("\(active) has no running scheduler node this deployment started")
            }
            for node in nodes { kill(node.pid, SIGKILL) }
            timeline.add(
                t0, t0,
                "SIGKILL every scheduler node of \(active): \(nodes.map { "\($0.name) (pid \($0.pid))" }.joined(separator: ", "))"
            )
        case .killHosts, .killRegion:
            let state = try target.dev()
            let daemons = state.daemons.filter {
                $0.region == active && ["scheduler", "worker", "airflow-api"].contains($0.kind)
                    && Processes.isAlive($0.pid)
            }
            guard daemons.contains(where: { $0.kind == "scheduler" }) else {
                throw DrillError("\(active) has no running scheduler node this deployment started")
            }
            // At once, as hosts that lose power: every process descended from the region's daemons (their
            // exec-guards, which would otherwise stop their commands gracefully, Airflow's scheduler, Celery
            // workers, task supervisors and task runners in groups of their own) and every process of the
            // region's Airflow home, frozen first so none forks or is reparented meanwhile, then killed; then
            // the broker. Again until none is left (a fork already under way), for 3 s at most.
            let home = state.airflow?[active]?.home
            var killed = Set<Int32>()
            let until = ContinuousClock.now + .seconds(3)
            repeat {
                var found = Set(daemons.map(\.pid).filter(Processes.isAlive))
                for pid in Array(found) + killed { found.formUnion(Processes.descendants(of: pid)) }
                if let home { found.formUnion(AirflowHome.processes(home: home)) }
                found = found.filter(Processes.isAlive)
                if found.isEmpty { break }
                for pid in found { kill(pid, SIGSTOP) }
                for pid in found { kill(pid, SIGKILL) }
                killed.formUnion(found)
                try await Task.sleep(for: .milliseconds(50))
            } while ContinuousClock.now < until
            let airflow = killed.subtracting(daemons.map(\.pid))
            let redis = state.redis[active]?.pid
            if let redis { kill(redis, SIGKILL) }
            // The whole region: its database crashes with its hosts.
            let database = fault == .killRegion ? try postmaster() : nil
            if let database { kill(database, SIGQUIT) }
            timeline.add(
                t0, t0,
                "SIGKILL every host of \(active)\(database == nil ? " but its database" : ""): "
                    + daemons.map(\.name).joined(separator: ", ")
                    + (airflow.isEmpty ? "" : ", \(airflow.count) processes they or Airflow started")
                    + (redis.map { ", its Redis (pid \($0))" } ?? "")
                    + (database.map { ", SIGQUIT its postmaster (pid \($0)): a crash" } ?? ""))
        case .freezeSchedulerLeader(let duration):
            let (node, pid) = try await schedulerLeader(active)
            pending.withLock { $0.frozen.append(pid) }
            kill(pid, SIGSTOP)
            timeline.add(t0, t0, "SIGSTOP scheduler leader \(node) (pid \(pid)) for \(duration)")
        case .stopDatabase:
            guard let pg = try target.dev().postgres[active] else { throw DrillError("no Postgres for \(active)") }
            timeline.add(t0, t0, "stopping \(active)'s Postgres (fast shutdown)")
            await pg.stop()
        case .killDatabase, .killFailoverLeader:
            let pid = try postmaster()
            kill(pid, SIGQUIT)
            timeline.add(t0, t0, "SIGQUIT \(active)'s postmaster (pid \(pid)): immediate shutdown, a crash")
        case .failingHook(let hang):
            let state = try target.dev()
            guard state.routerPort != nil else {
                throw DrillError(
                    "the local deployment has no routing hook endpoint: start it with `switchyard dev up --daemons`")
            }
            pending.withLock { $0.routerChanged = true }
            try DevRouter.setMode(hang ? .hang : .fail, directory: state.directory)
            let pid = try postmaster()
            kill(pid, SIGQUIT)
            timeline.add(
                t0, t0,
                "routing endpoint set to \(hang ? "hang" : "answer 500"); SIGQUIT \(active)'s postmaster (pid \(pid))")
        case .hangDatabase(let duration):
            let pid = try postmaster()
            pending.withLock { $0.frozen.append(pid) }
            kill(pid, SIGSTOP)
            timeline.add(t0, t0, "SIGSTOP \(active)'s postmaster (pid \(pid)) for \(duration): new connections hang")
        case .stopRedis:
            guard let redis = try target.dev().redis[active] else { throw DrillError("no Redis for \(active)") }
            timeline.add(t0, t0, "stopping \(active)'s Redis")
            await redis.stop()
        case .partition(let duration, let scope):
            guard let network = try target.dev().network else { throw DrillError(DrillPartition.skippedReason) }
            pending.withLock { $0.partitioned = active }
            if scope == .controlDatabase {
                try await network.partition(active, onlyFrom: network.address(of: "control"))
                timeline.add(
                    t0, t0,
                    "partitioned \(active) (\(network.namespace(of: active))) from the control database only (\(network.address(of: "control"))) for \(duration): nftables drops that traffic; the other regions still reach it"
                )
            } else {
                try await network.partition(active)
                timeline.add(
                    t0, t0,
                    "partitioned \(active) (\(network.namespace(of: active)), \(network.address(of: active))) from every other region and the control database for \(duration): nftables drops its link"
                )
            }
        case .brownout(let kind, let duration):
            let state = try target.dev()
            var seed = SplitMix64(seed: UInt64(UInt32.random(in: 0...UInt32.max)))
            let running = try Brownout.start(
                kind, duration: duration, target: Brownout.Target(state: state), seed: &seed)
            pending.withLock { $0.brownout = running }
            let frozen = running.frozen.map { pid in
                state.daemons.first { $0.pid == pid }.map { "\($0.name) (pid \(pid))" } ?? "pid \(pid)"
            }
            timeline.add(
                t0, t0,
                "brown-out \(kind.rawValue) for \(duration), no region harmed: "
                    + (frozen.isEmpty ? "" : "SIGSTOP agents \(frozen.joined(separator: ", ")); ")
                    + "\(running.load.count) load processes (pgbench -C, redis-benchmark -k 0, CPU hogs)")
        case .dark(let duration):
            let pids = try regionProcesses(active)
            pending.withLock { $0.frozen += pids }
            for pid in pids { kill(pid, SIGSTOP) }
            timeline.add(t0, t0, "\(active) dark for \(duration): SIGSTOP its \(pids.count) processes")
        case .darkStandbyThenHang(let after, let duration):
            // The standby went dark `after` before this instant (`prelude`).
            // The postmaster only, as `hang_database`: no new connection is accepted, sessions already open
            // still answer (the failover leader fences and revokes through its own). Were the backends
            // stopped too, no majority of region databases would be reachable to revoke failsafe leases in,
            // and the failover would rightly wait for one to come back (docs/geography.md).
            let pid = try postmaster()
            pending.withLock { $0.frozen.append(pid) }
            kill(pid, SIGSTOP)
            timeline.add(
                t0, t0,
                "\(active)'s database hangs for \(duration) (a standby dark for \(after) already): SIGSTOP its postmaster (pid \(pid))"
            )
        case .link(let duration):
            let state = try target.dev()
            guard var links = try WANLinks.load(directory: state.directory) else {
                throw DrillError("the local deployment has no WAN: start it with `switchyard dev up --wan PROFILE`")
            }
            let before = links
            pending.withLock { $0.links = before }
            links.update(active, nil) { $0.blackhole = true }
            try links.save(directory: state.directory)
            timeline.add(t0, t0, "every WAN link of \(active) black-holed for \(duration)")
        case .darkStandby(let duration):
            let standby = try bestStandby(active)
            let pids = try regionProcesses(standby)
            pending.withLock { $0.frozen += pids }
            for pid in pids { kill(pid, SIGSTOP) }
            timeline.add(
                t0, t0,
                "standby \(standby) dark for \(duration): SIGSTOP its \(pids.count) processes; nothing may fail over")
        case .freezeAgent(let observer, let duration):
            let name = observer == "active" ? active : observer
            guard
                let record = try target.dev().daemons.first(where: { $0.kind == "agent" && $0.name == name }),
                Processes.isAlive(record.pid)
            else {
                throw DrillError(
                    "no running agent \(name) to freeze"
                        + (name == "witness" ? " (start the deployment with `switchyard dev up --witness`)" : ""))
            }
            pending.withLock { $0.frozen.append(record.pid) }
            kill(record.pid, SIGSTOP)
            timeline.add(
                t0, t0,
                "SIGSTOP agent \(name) (pid \(record.pid)) for \(duration): every region healthy; nothing may fail over"
            )
        case .killStandbyDatabase:
            let standby = try bestStandby(active)
            guard let pid = try target.dev().postgres[standby]?.pid else {
                throw DrillError("\(standby)'s Postgres is not running")
            }
            kill(pid, SIGQUIT)
            timeline.add(t0, t0, "SIGQUIT standby \(standby)'s postmaster (pid \(pid)): a crash; nothing may fail over")
        case .slowLink(let delayMs, let duration):
            let state = try target.dev()
            guard var links = try WANLinks.load(directory: state.directory) else {
                throw DrillError("the local deployment has no WAN: start it with `switchyard dev up --wan PROFILE`")
            }
            let before = links
            pending.withLock { $0.links = before }
            links.update(active, nil) { $0.extraDelayMs += delayMs }
            try links.save(directory: state.directory)
            timeline.add(
                t0, t0,
                "every WAN link of \(active) \(Int(delayMs)) ms slower each way for \(duration): a latency spike; nothing may fail over"
            )
        case .clockStep(let offset, let duration):
            let state = try target.dev()
            guard let clocks = state.clocks else {
                throw DrillError(
                    "the local deployment's regions run on the host's clock: start it with `switchyard dev up --clock-skew REGION=OFFSET,…` (or a --wan profile)"
                )
            }
            let base = clocks[active] ?? ClockSkew(offsetMs: 0)
            guard base.offsetMs + offset.secondsDouble * 1000 >= 0 else {
                throw DrillError(
                    "\(active)'s clock is \(base) ahead of the host's: a step of \(offset) would put it behind, which libfaketime cannot run (step forward: the step's end steps back)"
                )
            }
            pending.withLock { $0.clock = (active, base) }
            try LabClocks.write(base.stepped(by: offset), directory: state.directory, region: active)
            timeline.add(
                t0, t0,
                "\(active)'s wall clock stepped \(offset > .zero ? "+" : "")\(offset) for \(duration), then back (its daemons' libfaketime)"
            )
        case .stopControlDatabase(let duration):
            let state = try target.dev()
            if state.controlPatroni != nil {
                throw DrillError(
                    "the control database runs under Patroni here: use control-database-patroni.yaml (Patroni would promote a stopped primary)"
                )
            }
            pending.withLock { $0.controlStopped = true }
            timeline.add(
                t0, t0, "stopping the control database (fast shutdown) for \(duration); every region keeps running")
            await state.control.stop()
        case .hangControlDatabase(let duration):
            if let patroni = try target.dev().controlPatroni {
                // Under Patroni a hung primary is not an outage to wait out: its Patroni cannot renew the leader key
                // while its Postgres hangs, and a synchronous standby is promoted once the key's ttl runs out.
                try await crashPatroniPrimary(
                    patroni, control: control, timeline: &timeline, t0: t0, freezeFor: duration)
                return
            }
            guard let pid = try target.dev().control.pid else {
                throw DrillError("the control database is not running")
            }
            // The postmaster and every backend: open sessions hang too, not only new connections. The postmaster
            // first, so no backend is forked after the list is read.
            kill(pid, SIGSTOP)
            let frozen = [pid] + Processes.children(of: pid)
            pending.withLock { $0.frozen += frozen }
            for p in frozen { kill(p, SIGSTOP) }
            timeline.add(
                t0, t0,
                "SIGSTOP the control database's postmaster (pid \(pid)) and \(frozen.count - 1) backends for \(duration)"
            )
        case .controlDatabaseFailover(let after):
            let state = try target.dev()
            if let patroni = state.controlPatroni {
                try await crashPatroniPrimary(patroni, control: control, timeline: &timeline, t0: t0)
                return
            }
            guard let replica = state.controlReplica, replica.isStandby else {
                throw DrillError(
                    "the local deployment has no control replica: start it with `switchyard dev up --daemons --control-replica`"
                )
            }
            guard let pid = state.control.pid else { throw DrillError("the control database is not running") }
            pending.withLock { $0.promoteControlReplica = true }
            kill(pid, SIGQUIT)
            timeline.add(
                t0, t0,
                "SIGQUIT the control database's primary (pid \(pid), port \(state.control.port)): a crash; "
                    + "its replica (port \(replica.port)) is promoted after \(after)")
        case .shell(let command):
            let outcome = try await Subprocess.run("/bin/sh", ["-c", command], check: false)
            timeline.add(Date(), t0, "shell command exited \(outcome.status)")
            progress("shell command exited \(outcome.status)")
        case .switchover(let to):
            let chosen: String
            if let to {
                chosen = to
            } else {
                guard
                    let best = target.configuration.regions.filter({ $0.name != active }).max(by: {
                        $0.priority < $1.priority
                    })
                else {
                    throw DrillError("no standby region to switch over to")
                }
                chosen = best.name
            }
            let (program, arguments) = target.switchyard([
                "switchover", "--to", chosen, "--config", target.configDirectory, "--reason", "drill \(scenario.name)",
            ])
            Task.detached { _ = try? await Subprocess.run(program, arguments, check: false) }
            timeline.add(t0, t0, "planned switchover \(active) -> \(chosen) requested")
        }
    }

    /// The active region's scheduler leader: its node id (from the region database) and PID (from the
    /// deployment's daemon records).
    func schedulerLeader(_ region: String) async throws -> (String, Int32) {
        guard let db = await target.region(region) else { throw DrillError("\(region)'s database does not answer") }
        return try await db.closeAfter {
            guard
                let node = try await db.query("SELECT leader_node FROM switchyard.leadership WHERE id = 1").first?[
                    "leader_node"
                ].optional(String.self),
                let record = try target.dev().daemons.first(where: { $0.kind == "scheduler" && $0.name == node }),
                Processes.isAlive(record.pid)
            else { throw DrillError("\(region) has no running scheduler leader this deployment started") }
            return (node, record.pid)
        }
    }

    /// SIGKILL the agent leading the failover (`failovers.leader` is its observer name).
    func killFailoverLeader(_ observer: String) throws -> Int32? {
        guard let record = try target.dev().daemons.first(where: { $0.kind == "agent" && $0.name == observer }),
            Processes.isAlive(record.pid)
        else {
            return nil
        }
        kill(record.pid, SIGKILL)
        return record.pid
    }

    /// The standby a failover would choose first (highest priority) of the regions this deployment runs.
    func bestStandby(_ active: String) throws -> String {
        let state = try target.dev()
        let configuration = try ConfigLoader.load(directory: target.configDirectory)
        guard
            let best = configuration.regions.filter({ $0.name != active && state.regions.contains($0.name) })
                .max(by: { $0.priority < $1.priority })
        else { throw DrillError("a standby fault needs a standby (dev up --regions 2 or more)") }
        return best.name
    }

    /// What a fault does before its own instant: for `darkStandbyThenHang`, the lowest-priority standby
    /// goes dark `after` before the active region's database hangs.
    func prelude(_ fault: DrillFault, active: String) async throws {
        guard case .darkStandbyThenHang(let after, _) = fault else { return }
        let state = try target.dev()
        let configuration = try ConfigLoader.load(directory: target.configDirectory)
        let standbys = configuration.regions.filter { $0.name != active && state.regions.contains($0.name) }
        guard standbys.count >= 2, let dark = standbys.min(by: { $0.priority < $1.priority }) else {
            throw DrillError("dark_standby_then_hang needs at least two standbys (dev up --regions 3)")
        }
        let pids = try regionProcesses(dark.name)
        pending.withLock { $0.darkStandby += pids }
        for pid in pids { kill(pid, SIGSTOP) }
        progress(
            "standby \(dark.name) dark (SIGSTOP its \(pids.count) processes); \(active)'s database hangs in \(after)")
        try await Task.sleep(for: after)
    }

    /// Every process of a region of the local deployment: its Postgres (postmaster and backends), its
    /// Redis and its daemons.
    func regionProcesses(_ region: String) throws -> [Int32] {
        let state = try target.dev()
        var pids: [Int32] = []
        if let pid = state.postgres[region]?.pid { pids += [pid] + Processes.children(of: pid) }
        if let pid = state.redis[region]?.pid { pids.append(pid) }
        pids += state.daemons.filter { $0.region == region && Processes.isAlive($0.pid) }.map(\.pid)
        guard !pids.isEmpty else { throw DrillError("\(region) has no running process this deployment started") }
        return pids
    }

    /// Resumes what the fault froze and heals what it partitioned (the end of a timed fault).
    /// A Patroni control database's primary host dies: a marker event is committed on it (acknowledged only
    /// once the synchronous standby has it), then its Patroni, postmaster and backends are SIGKILLed, and a
    /// watch records which member Patroni promotes and when it first accepts writes.
    /// With `freezeFor`, the primary's Postgres (postmaster and backends) is SIGSTOPped instead, its Patroni left
    /// running, and resumed when the fault ends: a hung primary host rather than a dead one.
    func crashPatroniPrimary(
        _ patroni: DevPatroni, control: PostgresConnection, timeline: inout Timeline, t0: Date,
        freezeFor: Duration? = nil
    ) async throws {
        guard let primary = await patroni.primary() else { throw DrillError("no Patroni member is the primary") }
        let marker =
            try await control.query(
                "INSERT INTO switchyard.events (kind, message) VALUES ('drill', $1) RETURNING id",
                [.text("committed on \(primary.name) just before the drill crashes it")]
            ).first?["id"].require(Int.self)
        let crashedAt = Date()
        var frozen: [Int32] = []
        if freezeFor != nil {
            guard let pid = primary.postgres.pid else { throw DrillError("\(primary.name)'s Postgres is not running") }
            kill(pid, SIGSTOP)  // first: no backend is forked after the list is read
            frozen = [pid] + Processes.children(of: pid)
            pending.withLock { $0.frozen += frozen }
            for p in frozen { kill(p, SIGSTOP) }
        } else {
            patroni.kill(primary)
        }
        let watch = Task { () -> (name: String, at: Date)? in
            let deadline = ContinuousClock.now + .seconds(120)
            while ContinuousClock.now < deadline {
                if let next = await patroni.primary(), next.name != primary.name { return (next.name, Date()) }
                try? await Task.sleep(for: .milliseconds(200))
            }
            return nil
        }
        pending.withLock {
            $0.patroniCrash = PatroniCrash(
                crashed: primary.name, marker: marker, crashedAt: crashedAt,
                conninfo: patroni.conninfo(
                    passfile: (try? target.dev().passfile) ?? ""), watch: watch, hung: freezeFor != nil)
        }
        let what =
            freezeFor.map {
                "SIGSTOP the control database's primary \(primary.name)'s postmaster and \(frozen.count - 1) backends for \($0) (its Patroni keeps running; port \(primary.postgres.port))"
            }
            ?? "SIGKILL the control database's primary \(primary.name) (its Patroni, postmaster and backends; port \(primary.postgres.port))"
        timeline.add(
            crashedAt, t0,
            what
                + " after committing marker event \(marker.map(String.init) ?? "?"); Patroni promotes a synchronous standby once the leader key's ttl (\(DevPatroni.ttl) s) runs out"
        )
    }

    /// After a Patroni primary's crash: waits for the watch, then reads the marker on the new primary. Returns
    /// the timeline lines and the report's figures.
    func finishPatroniCrash(_ crash: PatroniCrash, t0: Date) async -> (
        lines: [(Date, String)], promotedMs: Double?, promoted: String?, writesLost: Int?
    ) {
        guard let (name, at) = await crash.watch.value else {
            return ([(Date(), "no Patroni member became the primary within 120 s of the crash")], nil, nil, nil)
        }
        let promotedMs = (at.timeIntervalSince(crash.crashedAt) * 10_000).rounded() / 10
        var lines = [
            (
                at,
                "Patroni promoted \(name): it accepts writes \(String(format: "%.1f", promotedMs / 1000)) s after its primary was lost"
            )
        ]
        var lost: Int?
        // Read on the promoted member itself: the cluster's string could reach the old primary while it has not
        // been demoted yet (a hung one, resumed).
        let state = try? target.dev()
        let promotedConninfo = state.flatMap { state in
            state.controlPatroni?.members.first { $0.name == name }?.postgres.conninfo(passfile: state.passfile)
        }
        if let marker = crash.marker, let promotedConninfo,
            let c = try? await PostgresConnection.connect(promotedConninfo, timeout: .seconds(5))
        {
            let found = try? await c.query("SELECT count(*) AS n FROM switchyard.events WHERE id = $1", [.int(marker)])
                .first?["n"].require(Int.self)
            await c.close()
            if let found {
                lost = found == 1 ? 0 : 1
                lines.append(
                    (
                        Date(),
                        found == 1
                            ? "the new primary has marker event \(marker), committed on \(crash.crashed) just before it was lost"
                            : "the new primary LACKS marker event \(marker), committed on \(crash.crashed) before it was lost"
                    ))
            }
        }
        // A hung member resumed answers as a primary until its Patroni demotes it: the journal is read only once it
        // has been (or no longer answers), or the drill could read a stale one through the cluster's string.
        if crash.hung, let old = state?.controlPatroni?.members.first(where: { $0.name == crash.crashed }) {
            let deadline = ContinuousClock.now + .seconds(60)
            var demoted = false
            while !demoted, ContinuousClock.now < deadline {
                if let c = try? await PostgresConnection.connect(old.postgres.setupConninfo, timeout: .seconds(2)) {
                    let recovering = try? await c.query("SELECT pg_is_in_recovery() AS r").first?["r"].require(
                        Bool.self)
                    await c.close()
                    demoted = recovering == true
                } else {
                    demoted = true  // down or refusing: it cannot answer as a primary
                }
                if !demoted { try? await Task.sleep(for: .milliseconds(250)) }
            }
            lines.append(
                (
                    Date(),
                    demoted
                        ? "\(crash.crashed), resumed, no longer answers as a primary (its Patroni demoted it)"
                        : "\(crash.crashed), resumed, still answers as a primary after 60 s: the journal read after it may be stale"
                ))
            if !demoted { lost = nil }
        }
        return (lines, promotedMs, name, lost)
    }

    func endTimedFault() async {
        if let links = pending.withLock({ state in
            defer { state.links = nil }; return state.links
        }),
            let dir = target.devDirectory
        {
            try? links.save(directory: dir)
        }
        if let clock = pending.withLock({ state in
            defer { state.clock = nil }; return state.clock
        }),
            let dir = target.devDirectory
        {
            try? LabClocks.write(clock.skew, directory: dir, region: clock.region)
        }
        let (frozen, partitioned, brownout, controlStopped, promote) = pending.withLock { state in
            defer {
                state.frozen = []; state.partitioned = nil; state.brownout = nil; state.controlStopped = false;
                state.promoteControlReplica = false
            }
            return (state.frozen, state.partitioned, state.brownout, state.controlStopped, state.promoteControlReplica)
        }
        if promote, let replica = try? target.dev().controlReplica {
            do {
                try await replica.promote()
            } catch {
                progress("promoting the control replica failed: \(error)")
            }
        }
        for pid in frozen { kill(pid, SIGCONT) }
        if controlStopped, let dir = target.devDirectory, let state = try? target.dev() {
            do {
                _ = try await DevDeployment.up(directory: dir, regions: state.regions.count) { [self] in progress($0) }
            } catch {
                progress("starting the control database again failed: \(error)")
            }
        }
        if let brownout { Brownout.stop(brownout) }
        if let partitioned, let network = try? target.dev().network { await network.heal(partitioned) }
    }

    /// Undoes the fault: resumes frozen processes, sets the routing endpoint back
    /// to answering, restarts stopped servers and dead daemons of the local deployment.
    func restoreComponents() async {
        await endTimedFault()
        for pid in pending.withLock({ state in
            defer { state.darkStandby = [] }; return state.darkStandby
        }) {
            kill(pid, SIGCONT)
        }
        let routerChanged = pending.withLock { state in
            defer { state.routerChanged = false }
            return state.routerChanged
        }
        guard let dir = target.devDirectory, let state = try? target.dev() else { return }
        if routerChanged { try? DevRouter.setMode(.ok, directory: dir) }
        do {
            _ = try await DevDeployment.up(directory: dir, regions: state.regions.count) { [self] in progress($0) }
            _ = try DevDeployment.startDaemons(directory: dir, binary: target.binary) { [self] in progress($0) }
        } catch {
            progress("restoring the local deployment failed: \(error)")
        }
    }

    /// Everything back: components, and the region that was active before the drill.
    func restoreAll(failback wanted: Bool) async {
        await restoreComponents()
        if wanted { await failback() }
    }

    /// A planned switchover back to the region that was active before the drill, once it is healthy.
    func failback() async {
        guard let original = pending.withLock({ $0.activeBefore }), let control = try? await target.control() else {
            return
        }
        _ = try? await control.closeAfter {
            _ = await waitHealthy(control, within: scenario.preconditions.wait)
            // A failover still running (the fault's) finishes first.
            let deadline = ContinuousClock.now + .seconds(60)
            while ContinuousClock.now < deadline,
                (try? await ControlStore.runningFailoverId(control)) != nil
            {
                try? await Task.sleep(for: .milliseconds(200))
            }
            guard let active = try? await target.cluster(control).active, active != original else { return }
            progress("failing back to \(original) with a planned switchover")
            let (program, arguments) = target.switchyard([
                "switchover", "--to", original, "--config", target.configDirectory, "--reason", "drill failback",
            ])
            let outcome = try? await Subprocess.run(program, arguments, check: false)
            if outcome?.status == 0 {
                progress("failed back to \(original)")
            } else {
                progress("failback to \(original) failed: \(outcome?.output.suffix(300) ?? "")")
            }
        }
    }
}
