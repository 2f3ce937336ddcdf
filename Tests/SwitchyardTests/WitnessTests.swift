import Foundation
import HTTP
import SwitchyardCore
import SwitchyardLab
import SwitchyardRuntime
import TestSupport
import Testing

/// Two regions and a witness (`agent --witness`): the third vote two regions need to fail over by themselves,
/// which never fails over a healthy active region, and a status that says when a loss could not fail over.
@Suite("Two regions and a witness", .serialized)
struct WitnessTests {
    static func status(_ port: Int) async -> StatusDocument? {
        guard
            let response = try? await HTTPClient().send(
                HTTPRequest(
                    method: "GET", url: "http://127.0.0.1:\(port)/status", timeout: .seconds(3),
                    connectTimeout: .seconds(1))),
            response.status == 200
        else { return nil }
        return try? StatusDocument.decoder().decode(StatusDocument.self, from: Data(response.body))
    }

    /// Polls `port`'s status, bounded, until `condition` holds; the last document read.
    static func waitForStatus(
        _ port: Int, timeout: Duration, _ condition: (StatusDocument) -> Bool
    ) async throws -> StatusDocument? {
        let deadline = ContinuousClock.now + timeout
        var last: StatusDocument?
        while ContinuousClock.now < deadline {
            if let document = await status(port) {
                last = document
                if condition(document) { return document }
            }
            try await Task.sleep(for: .milliseconds(250))
        }
        return last
    }

    static func drill(_ name: String, dir: String) async throws -> (run: SwitchyardBinary.Run, report: DrillReport?) {
        let run = try await SwitchyardBinary.run([
            "drill", drillsDirectory + "/" + name, "--dir", dir, "--json",
        ])
        if let state = try DevState.load(directory: dir) {
            for daemon in state.daemons { TestServers.registerDaemon(daemon.pid) }
        }
        return (run, try? WireJSON.decoder().decode(DrillReport.self, from: Data(run.output.utf8)))
    }

    /// One deployment, held for about two minutes (no time limit: a test's limit counts its wait for a deployment
    /// slot, which a loaded run makes long).
    @Test func twoRegionsFailOverByThemselvesWithAWitnessThatNeverHarms() async throws {
        try await DeploymentSlots.shared.withSlot {
            let dir = try await TestServers.shared.scratchDirectory("witness")
            defer {
                let down = Process()
                down.executableURL = URL(fileURLWithPath: SwitchyardBinary.path)
                down.arguments = ["dev", "down", "--dir", dir, "--purge"]
                down.standardOutput = FileHandle.nullDevice
                down.standardError = FileHandle.nullDevice
                if (try? down.run()) != nil { down.waitUntilExit() }
            }
            let up = try await SwitchyardBinary.run([
                "dev", "up", "--regions", "2", "--daemons", "--witness", "--dir", dir,
            ])
            let state = try #require(try DevState.load(directory: dir), "\(up.errors)")
            for daemon in state.daemons { TestServers.registerDaemon(daemon.pid) }
            try #require(up.status == 0, "\(up.errors)")
            #expect(up.output.contains("witness"), "\(up.output)")
            let agents = Dictionary(
                state.daemons.filter { $0.kind == "agent" }.compactMap { d in d.port.map { (d.name, $0) } },
                uniquingKeysWith: { a, _ in a })
            let witnessPort = try #require(agents["witness"], "\(state.daemons)")
            let active = state.regions[0]
            let standbyPort = try #require(agents[state.regions[1]])
            // A witness named like a region is refused, and so is an agent with no name.
            let misnamed = try await SwitchyardBinary.run([
                "agent", "--witness", "--observer", active, "--config", state.configDirectory,
            ])
            #expect(misnamed.status == 2 && misnamed.errors.contains("is a region"), "\(misnamed.errors)")
            let unnamed = try await SwitchyardBinary.run(["agent", "--config", state.configDirectory])
            #expect(unnamed.status == 2 && unnamed.errors.contains("--witness"), "\(unnamed.errors)")

            // Every observer live, the witness known as one: a loss of the active region would fail over.
            let ready = try await Self.waitForStatus(standbyPort, timeout: .seconds(60)) {
                $0.failoverCapacity?.ready == true
            }
            let capacity = try #require(ready?.failoverCapacity, "\(String(describing: ready))")
            #expect(capacity.ready, "\(capacity.reason)")
            #expect(capacity.witnesses == ["witness"] && capacity.needed == 2 && capacity.knownObservers == 3)
            #expect(capacity.remainingIfActiveLost == [state.regions[1], "witness"].sorted())
            #expect(capacity.targets == [state.regions[1]])
            // The witness reads the same observations a cycle later or sooner: awaited, not read at an instant.
            let fromWitness = try await Self.waitForStatus(witnessPort, timeout: .seconds(60)) {
                $0.failoverCapacity?.ready == true
            }
            #expect(
                fromWitness?.observer == "witness" && fromWitness?.failoverCapacity?.ready == true,
                "\(String(describing: fromWitness?.failoverCapacity))")
            let metrics = try await HTTPClient().send(
                HTTPRequest(
                    method: "GET", url: "http://127.0.0.1:\(standbyPort)/metrics", timeout: .seconds(3),
                    connectTimeout: .seconds(1)))
            #expect(
                String(decoding: metrics.body, as: UTF8.self).contains(
                    "switchyard_failover_capacity{observer=\"\(state.regions[1])\"} 1"))
            let table = try await SwitchyardBinary.run(["status", "--config", state.configDirectory])
            #expect(table.output.contains("failover capacity: yes"), "\(table.output)")

            // The witness cut off: nothing fails over, and meanwhile the status says a loss of the active
            // region could not fail over by itself.
            async let frozen = Self.drill("witness-frozen.yaml", dir: dir)
            let during = try await Self.waitForStatus(standbyPort, timeout: .seconds(60)) {
                $0.failoverCapacity?.ready == false
            }
            let cutOff = try #require(during?.failoverCapacity, "\(String(describing: during))")
            #expect(!cutOff.ready && cutOff.remainingIfActiveLost == [state.regions[1]], "\(cutOff)")
            #expect(cutOff.reason.contains("would not fail over by itself: 1 of 3 observers would remain, 2 needed"))
            let (frozenRun, frozenReport) = try await frozen
            #expect(frozenRun.status == 0 && frozenReport?.passed == true, "\(frozenRun.errors.suffix(3000))")
            #expect(frozenReport?.failovers == 0)

            // The active region's own agent cut off: the witness and the standby's agent are a majority, see the
            // active region healthy, and fail nothing over.
            let (agentRun, agentReport) = try await Self.drill("witness-frozen-active-agent.yaml", dir: dir)
            #expect(agentRun.status == 0 && agentReport?.passed == true, "\(agentRun.errors.suffix(3000))")
            #expect(agentReport?.failovers == 0)

            // The active region dark, its agent with it: the standby's agent and the witness fail it over.
            let (darkRun, darkReport) = try await Self.drill("witness-dark-active-region.yaml", dir: dir)
            #expect(darkRun.status == 0 && darkReport?.passed == true, "\(darkRun.errors.suffix(3000))")
            #expect(darkReport?.failover?.to == state.regions[1], "\(String(describing: darkReport?.failover))")
            #expect(darkReport?.activeAfter == active, "the drill fails back")
        }
    }
}
