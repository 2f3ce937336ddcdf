import Foundation
import Postgres
import SwitchyardCore
import SwitchyardLab
import SwitchyardRuntime
import TestSupport
import Testing

struct DevStatusJSON: Decodable {
    struct Server: Decodable {
        var kind: String
        var region: String
        var port: Int?
        var pid: Int32?
        var answering: Bool
    }
    var servers: [Server]
}

@Suite("switchyard dev up/down/status and init, through the binary", .serialized)
struct DevDeploymentTests {
    /// What the lab stops, it stops with everything it started: a process's children outlive it when only
    /// it is killed (`bench status` left nginx's two workers running after every run, their master gone).
    @Test func stoppingAProcessStopsWhatItStarted() async throws {
        let dir = try await TestServers.shared.scratchDirectory("terminate-family")
        // A master with two workers of its own, as nginx runs.
        let master = try Daemon.spawn("/bin/sh", ["-c", "sleep 300 & sleep 300 & wait"], log: dir + "/family.log")
        var workers: [Int32] = []
        let deadline = ContinuousClock.now + .seconds(30)
        while workers.count < 2, ContinuousClock.now < deadline {
            workers = Processes.descendants(of: master)
            if workers.count < 2 { try await Task.sleep(for: .milliseconds(20)) }
        }
        #expect(workers.count == 2, "the shell never started its two children")
        await Processes.terminateFamily(master, signal: SIGKILL, timeout: .seconds(5))
        #expect(!Processes.isAlive(master))
        for worker in workers { #expect(!Processes.isAlive(worker), "worker \(worker) outlived its master") }
        for worker in workers where Processes.isAlive(worker) { kill(worker, SIGKILL) }  // none left if it failed
        _ = waitpid(master, nil, 0)
    }

    @Test func upIsIdempotentInitChangesNothingTwiceAndDownLeavesNothing() async throws {
        try await DeploymentSlots.shared.withSlot {
            let dir = try await TestServers.shared.scratchDirectory("dev")
            let up = try await SwitchyardBinary.run(["dev", "up", "--regions", "2", "--dir", dir])
            #expect(up.status == 0, "\(up.output)\n\(up.errors)")
            #expect(up.output.contains("us-east") && up.output.contains("eu-west"))
            #expect(!up.output.contains("ap-south"))

            let status = try await SwitchyardBinary.run(["dev", "status", "--dir", dir, "--json"])
            #expect(status.status == 0)
            let servers = try WireJSON.decoder().decode(DevStatusJSON.self, from: Data(status.output.utf8)).servers
            #expect(servers.count == 5)  // control + 2 region clusters + 2 Redis
            #expect(servers.allSatisfy { $0.answering && $0.pid != nil && $0.port != nil })
            #expect(Set(servers.filter { $0.kind == "postgres" }.map(\.region)) == ["control", "us-east", "eu-west"])

            // A second `up` starts nothing new.
            let again = try await SwitchyardBinary.run(["dev", "up", "--regions", "2", "--dir", dir])
            #expect(again.status == 0)
            let servers2 = try WireJSON.decoder().decode(
                DevStatusJSON.self,
                from: Data(try await SwitchyardBinary.run(["dev", "status", "--dir", dir, "--json"]).output.utf8)
            ).servers
            #expect(servers2.map(\.pid) == servers.map(\.pid))

            // init twice: everything up to date, the active region unchanged.
            let config = dir + "/regions"
            let initAgain = try await SwitchyardBinary.run(["init", "--config", config, "--json"])
            #expect(initAgain.status == 0, "\(initAgain.errors)")
            let report = try WireJSON.decoder().decode(Initializer.Report.self, from: Data(initAgain.output.utf8))
            let nothingApplied = report.applied.values.allSatisfy { $0.isEmpty }
            #expect(nothingApplied)
            #expect(report.activeRegion == "us-east")
            #expect(report.epoch == 1)
            #expect(initAgain.errors.isEmpty, "libpq notices must not reach the output: \(initAgain.errors)")

            // Asking for another active region is refused and changes nothing.
            let refused = try await SwitchyardBinary.run(["init", "--config", config, "--active", "eu-west"])
            #expect(refused.status == 1)
            #expect(refused.errors.contains("us-east is already active"))

            // The schemas are there with Airflow's column names, and fences follow the active region.
            let state = try #require(try DevState.load(directory: dir))
            let usEast = try await PostgresConnection.connect(
                try #require(state.postgres["us-east"]).conninfo(passfile: state.passfile))
            let columns = try await usEast.query(
                "SELECT column_name FROM information_schema.columns WHERE table_schema = 'switchyard' AND table_name = 'dag_run'"
            ).rows.map { try $0["column_name"].require(String.self) }
            for airflowColumn in [
                "dag_id", "run_id", "run_type", "state", "logical_date", "run_after", "queued_at",
                "start_date", "end_date", "conf", "data_interval_start", "data_interval_end",
            ] {
                #expect(columns.contains(airflowColumn), "dag_run lacks \(airflowColumn)")
            }
            let fence = try #require(try await usEast.query("SELECT cluster_epoch, open FROM switchyard.fence").first)
            #expect(try fence["cluster_epoch"].require(Int.self) == 1)
            #expect(try fence["open"].require(Bool.self) == true)
            let euWest = try await PostgresConnection.connect(
                try #require(state.postgres["eu-west"]).conninfo(passfile: state.passfile))
            #expect(
                try await euWest.query("SELECT open FROM switchyard.fence").first?["open"].require(Bool.self) == false)
            // The demo DAGs and the drill DAGs
            #expect(
                try await euWest.query("SELECT count(*) AS n FROM switchyard.dags").first?["n"].require(Int.self) == 5)
            await usEast.close()
            await euWest.close()

            // down stops every process by PID (and itself refuses to report success while a port still listens).
            let down = try await SwitchyardBinary.run(["dev", "down", "--dir", dir])
            #expect(down.status == 0, "\(down.errors)")
            for server in servers {
                if let pid = server.pid {
                    #expect(!Processes.isAlive(pid), "\(server.kind) \(server.region) still alive")
                }
            }
            let after = try WireJSON.decoder().decode(
                DevStatusJSON.self,
                from: Data(try await SwitchyardBinary.run(["dev", "status", "--dir", dir, "--json"]).output.utf8)
            ).servers
            #expect(after.allSatisfy { !$0.answering && $0.pid == nil })

            // up again restarts the same deployment on the same ports, data intact.
            let restart = try await SwitchyardBinary.run(["dev", "up", "--regions", "2", "--dir", dir])
            #expect(restart.status == 0, "\(restart.errors)")
            #expect(restart.output.contains("active"))
            let final = try await SwitchyardBinary.run(["dev", "down", "--dir", dir, "--purge"])
            #expect(final.status == 0)
            #expect(!FileManager.default.fileExists(atPath: dir))
        }
    }
}

@Suite("switchyard dev up --daemons", .serialized)
struct DevDaemonsTests {
    @Test func daemonsStartAnswerAndStopWithTheDeployment() async throws {
        try await DeploymentSlots.shared.withSlot {
            let dir = try await TestServers.shared.scratchDirectory("dev-daemons")
            let up = try await SwitchyardBinary.run(["dev", "up", "--regions", "2", "--daemons", "--dir", dir])
            #expect(up.status == 0, "\(up.output)\n\(up.errors)")
            #expect(up.output.contains("dashboard: http://127.0.0.1:"))
            let status = try await SwitchyardBinary.run(["dev", "status", "--dir", dir, "--json"])
            let servers = try WireJSON.decoder().decode(DevStatusJSON.self, from: Data(status.output.utf8)).servers
            #expect(servers.filter { $0.kind == "scheduler" }.count == 4)
            #expect(servers.filter { $0.kind == "worker" }.count == 4)
            #expect(servers.filter { $0.kind == "agent" }.count == 2)
            #expect(servers.filter { $0.kind == "router" }.count == 1)
            let allAnswering = servers.allSatisfy { $0.answering }
            #expect(allAnswering, "\(servers.map { "\($0.kind) \($0.region) \($0.answering)" })")
            for pid in servers.compactMap(\.pid) { TestServers.registerDaemon(pid) }
            // A second up keeps the same daemons.
            let again = try await SwitchyardBinary.run(["dev", "up", "--regions", "2", "--daemons", "--dir", dir])
            #expect(again.status == 0)
            let servers2 = try WireJSON.decoder().decode(
                DevStatusJSON.self,
                from: Data(try await SwitchyardBinary.run(["dev", "status", "--dir", dir, "--json"]).output.utf8)
            ).servers
            #expect(servers2.map(\.pid) == servers.map(\.pid))
            // The agents see a healthy deployment with leaders.
            let agent = try #require(servers.first { $0.kind == "agent" })
            let healthy = try await SwitchyardBinary.run([
                "status", "--config", dir + "/regions", "--agent", "http://127.0.0.1:\(agent.port ?? 0)",
            ])
            #expect(healthy.status == 0)
            let down = try await SwitchyardBinary.run(["dev", "down", "--dir", dir, "--purge"])
            #expect(down.status == 0, "\(down.errors)")
            for server in servers {
                if let pid = server.pid { #expect(!Processes.isAlive(pid), "\(server.kind) \(server.region) survived") }
            }
        }
    }
}
