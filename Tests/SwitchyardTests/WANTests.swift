import Foundation
import Postgres
import SwitchyardCore
import SwitchyardLab
import SwitchyardRuntime
import TestSupport
import Testing

/// The geography lab: links that delay each way and go silent when cut, and a three-region deployment
/// across the `global` profile with the shipped timings, where the failover logic has to hold.
@Suite("Geography: WAN links and drills across them", .serialized)
struct WANTests {
    /// A relayed connection pays the link's delay each way, in order; a black-holed link neither answers
    /// nor refuses (a query times out: silence), and a healed one carries new connections again.
    @Test func aLinkDelaysEachWayAndABlackHoleIsSilent() async throws {
        let pg = try await TestServers.shared.postgres()
        let dir = try await TestServers.shared.scratchDirectory("wan-link")
        let port = try Ports.freeLoopbackPort()
        var links = WANLinks(
            profile: "test",
            links: [
                .init(
                    from: "a", to: "b", service: "postgres", listen: port, upstream: pg.cluster.port,
                    forward: .init(delayMs: 60), backward: .init(delayMs: 40))
            ])
        try links.save(directory: dir)
        let relay = Task { try await LinkRelay.serve(directory: dir) { _ in } }
        let dsn = pg.dsn().replacingOccurrences(of: "port=\(pg.cluster.port)", with: "port=\(port)")
        do {
            var connection: PostgresConnection?
            let deadline = ContinuousClock.now + .seconds(20)
            while connection == nil, ContinuousClock.now < deadline {
                connection = try? await PostgresConnection.connect(dsn, timeout: .seconds(5))
                if connection == nil { try await Task.sleep(for: .milliseconds(100)) }
            }
            let c = try #require(connection, "no connection through the relay")
            for _ in 0..<3 {
                let started = ContinuousClock.now
                #expect(try await c.query("SELECT 1 AS one").first?["one"].require(Int.self) == 1)
                // 60 ms there and 40 ms back at the least, however loaded the machine.
                #expect(ContinuousClock.now - started >= .milliseconds(100))
            }
            links.links[0].blackhole = true
            try links.save(directory: dir)
            let silent = await waitFor(seconds: 10) {
                do {
                    _ = try await c.query("SELECT 1", timeout: .milliseconds(700))
                    return false
                } catch let error as PostgresError {
                    return error.code == .timeout
                } catch { return false }
            }
            #expect(silent, "a black-holed link must time out, not refuse or answer")
            // A new connection across the cut link gets no answer either (not a refusal).
            let attempt = await #expect(throws: PostgresError.self) {
                _ = try await PostgresConnection.connect(dsn, timeout: .seconds(1))
            }
            #expect(
                attempt?.code == .timeout || attempt?.message.contains("timeout") == true,
                "\(String(describing: attempt))")
            await c.close()
            links.links[0].blackhole = false
            try links.save(directory: dir)
            let healed = await waitFor(seconds: 10) {
                guard let again = try? await PostgresConnection.connect(dsn, timeout: .seconds(2)) else { return false }
                defer { Task { await again.close() } }
                return (try? await again.query("SELECT 1")) != nil
            }
            #expect(healed)
        } catch {
            relay.cancel()
            _ = await relay.result
            throw error
        }
        relay.cancel()
        _ = await relay.result
    }

    /// A witness (`dev up --witness --wan …`) sits in a site of its own: it reaches every region's database
    /// and Redis, the control database and the routing hook through links of its own with the profile's
    /// delays, and nothing reaches it (it serves only its API, read from the host).
    @Test func aWitnessAcrossAWANReachesEverySiteThroughItsOwnLinks() async throws {
        let dir = try await TestServers.shared.scratchDirectory("wan-witness-links")
        let json = """
            {"version": 1, "directory": "\(dir)", "regions": ["us-east", "eu-west"],
             "control": {"directory": "\(dir)/pg/control", "port": 41000},
             "postgres": {"us-east": {"directory": "\(dir)/pg/us-east", "port": 41001},
                          "eu-west": {"directory": "\(dir)/pg/eu-west", "port": 41002}},
             "redis": {"us-east": {"directory": "\(dir)/redis/us-east", "port": 41003},
                       "eu-west": {"directory": "\(dir)/redis/eu-west", "port": 41004}},
             "daemons": [], "createdAt": 0, "routerPort": 41005, "witness": "witness"}
            """
        var state = try JSONDecoder().decode(DevState.self, from: Data(json.utf8))
        let table = try DevDeployment.setUpWAN(&state, profile: .global)
        let witness = table.links.filter { $0.from == WANProfile.witness }
        let reached = Set(witness.map { "\($0.to)/\($0.service)" })
        #expect(
            reached == [
                "us-east/postgres", "us-east/redis", "eu-west/postgres", "eu-west/redis", "control/postgres",
                "control/http",
            ], "\(reached)")
        // The profile's delays: 30 ms to us-east (and the control database beside it), 45 ms to eu-west.
        for link in witness {
            let expected: Double = link.to == "eu-west" ? 45 : 30
            #expect(link.forward.delayMs == expected && link.backward.delayMs == expected, "\(link)")
        }
        #expect(!table.links.contains { $0.to == WANProfile.witness })
        // The regions' own links are as without a witness.
        #expect(table.links.filter { $0.from != WANProfile.witness }.count == 6)
    }

    /// Three regions on the `global` profile (us-east–ap-south 100 ms one way, the control database in
    /// us-east, so 100 ms from ap-south's observer) with the shipped timings: every observer is live and
    /// none lags, and a seeded campaign of faults has no false or missed failover and loses, doubles or
    /// overlaps no run.
    @Test func drillsPassAcrossTheGlobalProfileWithTheShippedTimings() async throws {
        try await DeploymentSlots.shared.withSlot {
            let dir = try await TestServers.shared.scratchDirectory("wan-global")
            let up = try await SwitchyardBinary.run([
                "dev", "up", "--regions", "3", "--daemons", "--wan", "global", "--timings", "shipped", "--dir", dir,
            ])
            do {
                #expect(up.status == 0, "\(up.output)\n\(up.errors)")
                let links = try #require(try WANLinks.load(directory: dir))
                #expect(links.profile == "global")
                #expect(links.port(from: "ap-south", to: WANProfile.control, service: "postgres") != nil)
                #expect(links.port(from: "us-east", to: WANProfile.control, service: "postgres") == nil)
                // Every observer live, none lagging, every region healthy: a far control database is normal.
                var last = ""
                let steady = await waitFor(seconds: 30) {
                    let run = try? await SwitchyardBinary.run([
                        "status", "--config", dir + "/regions", "--json",
                    ])
                    last = "\(run?.status ?? -1) \(run?.output.prefix(3000) ?? "") \(run?.errors.suffix(500) ?? "")"
                    guard let run, run.status == 0 else { return false }
                    let document: StatusDocument
                    do {
                        document = try StatusDocument.decoder().decode(StatusDocument.self, from: Data(run.output.utf8))
                    } catch {
                        last = "\(error) \(last)"
                        return false
                    }
                    return document.regions.allSatisfy { region in
                        region.health == .healthy && region.liveObservers == 3
                            && region.observers.allSatisfy { $0.discounted == nil }
                    }
                }
                #expect(steady, "the deployment never became steady across the global profile: \(last)")
                // What a new connection costs from ap-south (`bench connect`): through its 100 ms link the control
                // database takes at least three round trips (startup, the two SCRAM messages), however idle the
                // host; in its own site, none.
                let connect = try await SwitchyardBinary.run([
                    "bench", "connect", "--config",
                    DevDeployment.wanConfigDirectory(
                        try #require(try DevState.load(directory: dir)), region: "ap-south"), "--count", "3",
                ])
                struct Connects: Decodable {
                    struct Target: Decodable {
                        var database: String
                        var connects: Int
                        var p50Ms: Double?
                        var budgetMs: Double
                    }
                    var targets: [Target]
                }
                let connects = try? WireJSON.decoder().decode(Connects.self, from: Data(connect.output.utf8))
                let targets = connects?.targets ?? []
                #expect(
                    connect.status == 0
                        && Set(targets.map(\.database)) == ["control", "us-east", "eu-west", "ap-south"]
                        && targets.allSatisfy { $0.connects == 3 },
                    "\(connect.output) \(connect.errors.suffix(1000))")
                let control = targets.first { $0.database == "control" }
                #expect((control?.p50Ms ?? 0) >= 600, "\(String(describing: control))")
                #expect(control?.budgetMs == 1600, "\(String(describing: control))")
                // Each region on a wall clock of its own (the profile's offsets, through libfaketime).
                if LabClocks.available {
                    let state = try #require(try DevState.load(directory: dir))
                    #expect(state.clocks == WANProfile.global.clocks)
                    let agent = try #require(state.daemons.first { $0.kind == "agent" && $0.region == "ap-south" })
                    let environment = Processes.readProcFile("/proc/\(agent.pid)/environ") ?? ""
                    #expect(environment.contains("FAKETIME_TIMESTAMP_FILE=\(dir)/clocks/ap-south.faketime"))
                }
                // The active region's clock 30 s ahead for 15 s, then back: nothing may follow.
                if LabClocks.available {
                    let step = try await SwitchyardBinary.run([
                        "drill", drillsDirectory + "/clock-step.yaml", "--dir", dir, "--json",
                    ])
                    let stepped = try WireJSON.decoder().decode(DrillReport.self, from: Data(step.output.utf8))
                    #expect(step.status == 0 && stepped.passed, "clock-step: \(step.errors.suffix(3000))")
                    #expect(stepped.failovers == 0 && stepped.commandsStopped == 0 && stepped.runsLost == 0)
                }
                // A short seeded campaign, judged by the checker. Seed 5483 draws: a link cut, the control
                // database hung for 20 s, the best standby dark, a latency spike, a crash of the active
                // database, a dark standby then a hang; four of the six must fail nothing over.
                let roundsLog = dir + "/rounds.jsonl"
                let run = try await SwitchyardBinary.run([
                    "drill", drillsDirectory + "/campaign-wan.yaml", "--dir", dir, "--count", "6", "--seed", "5483",
                    "--json", "--rounds", roundsLog,
                ])
                guard let report = try? WireJSON.decoder().decode(DrillReport.self, from: Data(run.output.utf8)) else {
                    Issue.record("the campaign printed no report (exit \(run.status)): \(run.errors.suffix(4000))")
                    printAgentLogs(dir)
                    throw DevError("no campaign report")
                }
                let broken = report.expectations.filter { !$0.held }.map {
                    "\($0.name) \($0.measured.map { "\($0)" } ?? "unmeasured") \($0.bound)"
                }
                #expect(run.status == 0 && report.passed, "campaign: \(broken)\n\(run.errors.suffix(4000))")
                if run.status != 0 || !report.passed { printAgentLogs(dir) }
                #expect(
                    report.rounds?.map(\.fault) == [
                        "link", "hang_control_database", "dark_standby", "slow_link", "kill_database",
                        "dark_standby_then_hang",
                    ])
                #expect(report.totals?.failovers == 3)
                #expect(report.falseFailovers == 0 && report.missedFailovers == 0)
                #expect(report.runsLost == 0 && report.runsTwice == 0 && report.runsOverlapping == 0)
                #expect(report.dualLeaderMs == 0)
                // Each fault's report was appended as it finished, the same as the campaign's own.
                let lines = try String(contentsOfFile: roundsLog, encoding: .utf8).split(separator: "\n")
                let logged = try lines.map { try WireJSON.decoder().decode(DrillReport.self, from: Data($0.utf8)) }
                #expect(logged.map(\.fault) == report.rounds?.map(\.fault))
                // The active region cut off from the others while its agent leads failovers (the control
                // database beside it still answers it): the leader hands over and another agent fails over
                // well inside the 40 s cut. Last, so that what it leaves cannot disturb the campaign.
                let cutOff = try await SwitchyardBinary.run([
                    "drill", drillsDirectory + "/cut-off-failover-leader.yaml", "--dir", dir, "--json",
                ])
                guard let handed = try? WireJSON.decoder().decode(DrillReport.self, from: Data(cutOff.output.utf8))
                else {
                    Issue.record("cut-off-failover-leader printed no report: \(cutOff.errors.suffix(4000))")
                    printAgentLogs(dir)
                    throw DevError("no drill report")
                }
                // Safety holds whatever the timing: nothing lost, doubled or run in two regions, no two leaders,
                // at most the one failover, and only away from the cut-off region.
                #expect(handed.runsLost == 0 && handed.runsTwice == 0 && handed.runsOverlapping == 0)
                #expect(handed.dualLeaderMs == 0 && handed.failovers <= 1)
                if let failover = handed.failover { #expect(failover.from == "us-east" && failover.to != "us-east") }
                if cutOff.status != 0 || !handed.passed { printAgentLogs(dir) }
                // Liveness inside the cut is a known intermittent failure in loaded suite runs: the hand-over
                // happens and the failover begins on time, but the new leader then reached neither the other
                // standby's database nor the control database through links that were not cut, and the router's
                // hook failed. Measured (`bench connect`): a connect over the 200 ms round trip costs about its
                // 1.6–2 s wait on a loaded host, and each attempt was abandoned at the wait and begun again from
                // TCP. Connects now outlive their waits (`PostgresConnector`) and the lab's hook has the shipped
                // timeouts across a WAN; this stays a known issue until loaded suite runs show it gone.
                withKnownIssue(
                    "cut-off failover under suite load: the new leader loses links that were not cut",
                    isIntermittent: true
                ) {
                    #expect(
                        cutOff.status == 0 && handed.passed, "cut-off-failover-leader: \(cutOff.errors.suffix(4000))")
                    #expect(handed.failovers == 1)
                    #expect(
                        handed.failover?.leader.map { $0 != "us-east" } == true,
                        "\(String(describing: handed.failover))")
                }
            } catch {
                _ = try? await SwitchyardBinary.run(["dev", "down", "--dir", dir, "--purge"])
                throw error
            }
            let down = try await SwitchyardBinary.run(["dev", "down", "--dir", dir, "--purge"])
            #expect(down.status == 0)
        }
    }

    /// What the agents logged at warning and above (their decisions, hand-offs and refusals), for whoever reads a
    /// failed drill: the deployment is purged when the test ends.
    func printAgentLogs(_ dir: String) {
        let names = ((try? FileManager.default.contentsOfDirectory(atPath: dir + "/logs")) ?? []).filter {
            $0.hasPrefix("agent-")
        }
        for name in names.sorted() {
            let text = (try? String(contentsOfFile: dir + "/logs/" + name, encoding: .utf8)) ?? ""
            let lines = text.split(separator: "\n").filter {
                $0.contains(" warning ") || $0.contains(" error ") || $0.contains(" notice ")
            }
            print("--- \(name), warnings and notices (last 60)\n" + lines.suffix(60).joined(separator: "\n"))
        }
    }

    func waitFor(seconds: Int, _ check: () async -> Bool) async -> Bool {
        let deadline = ContinuousClock.now + .seconds(seconds)
        while ContinuousClock.now < deadline {
            if await check() { return true }
            try? await Task.sleep(for: .milliseconds(250))
        }
        return false
    }
}
