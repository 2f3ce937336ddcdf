import Foundation
import Postgres
import SwitchyardCore
import SwitchyardLab
import SwitchyardRuntime
import TestSupport
import Testing

/// `switchyard init --grants`: the agent, the scheduler nodes and the workers run as roles of their own
/// with only the grants Switchyard ships, and those roles can do nothing more.
@Suite("Switchyard's roles have what they need and no more", .serialized)
struct LeastPrivilegeTests {
    static let roles = Grants.Roles()

    /// Creates the three roles in every cluster of the fixture with the owner's password, and adds them
    /// to its password file.
    static func createRoles(_ f: DevFixture) async throws {
        let passfile = try String(contentsOfFile: f.state.passfile, encoding: .utf8)
        let first = try #require(passfile.split(separator: "\n").first)
        let password = try #require(first.split(separator: ":").last.map(String.init))
        let names = [roles.agent, roles.scheduler, roles.worker]
        var owners = [try await f.connectControl()]
        for region in f.state.regions { owners.append(try await f.connect(region)) }
        for owner in owners {
            for name in names {
                try await owner.query(
                    "CREATE ROLE \(PostgresConnection.quoteIdentifier(name)) LOGIN PASSWORD \(PostgresConnection.quoteLiteral(password))"
                )
            }
            await owner.close()
        }
        let prefix = first.split(separator: ":").prefix(3).joined(separator: ":")
        try (passfile + names.map { "\(prefix):\($0):\(password)\n" }.joined())
            .write(toFile: f.state.passfile, atomically: true, encoding: .utf8)
        chmod(f.state.passfile, 0o600)
    }

    /// A copy of the fixture's configuration whose every database connection logs in as `role`.
    static func configuration(_ f: DevFixture, as role: String) throws -> String {
        let directory = f.state.directory + "/config-\(role)"
        let fm = FileManager.default
        try? fm.removeItem(atPath: directory)
        try fm.createDirectory(atPath: directory, withIntermediateDirectories: true)
        for name in try fm.contentsOfDirectory(atPath: f.config) {
            let text = try String(contentsOfFile: f.config + "/\(name)", encoding: .utf8)
            try text.replacingOccurrences(of: "user=\(LocalPostgres.user) ", with: "user=\(role) ")
                .write(toFile: directory + "/\(name)", atomically: true, encoding: .utf8)
        }
        return directory
    }

    @Test func theAgentSchedulersWorkersAndMigrateRunsWorkAsTheirRolesAndNoMore() async throws {
        try await DevFixture.with(regions: 2, dags: "dags:\n  - id: quick\n    command: \"sleep 1\"\n") { f in
            try await Self.createRoles(f)
            let granted = try await SwitchyardBinary.run(["init", "--grants", "--config", f.config])
            try #require(granted.status == 0, "\(granted.output)\(granted.errors)")
            #expect(granted.output.contains("grants: control:"), "\(granted.output)")

            let agent = try Self.configuration(f, as: Self.roles.agent)
            let scheduler = try Self.configuration(f, as: Self.roles.scheduler)
            let worker = try Self.configuration(f, as: Self.roles.worker)
            for region in ["us-east", "eu-west"] {
                try f.start(
                    "s-\(region)", ["scheduler", "--region", region, "--node-id", "s-\(region)"], config: scheduler)
                try f.start(
                    "w-\(region)", ["worker", "--region", region, "--worker-id", "w-\(region)"], config: worker)
            }
            let control = try await f.connectControl()
            let east = try await f.connect("us-east"), west = try await f.connect("eu-west")
            let owners = [control, east, west]
            func succeeded(_ db: PostgresConnection) async -> Int {
                (try? await db.query(
                    "SELECT count(*) AS n FROM switchyard.dag_run WHERE dag_id = 'quick' AND state = 'success'"
                )
                .first?["n"].int) ?? 0
            }
            // A run triggered as the agent's role is scheduled, claimed and executed under the others'.
            let trigger = try await SwitchyardBinary.run(["trigger", "quick", "--config", agent])
            try #require(trigger.status == 0, "\(trigger.errors)")
            let ran = await f.waitUntil(timeout: .seconds(30)) { await succeeded(east) == 1 }
            #expect(
                ran != nil, "no run succeeded: \(f.log("s-us-east").suffix(1500)) \(f.log("w-us-east").suffix(1500))")

            // A failover and a switchover back, run by the command itself as the agent's role.
            let failover = try await SwitchyardBinary.run([
                "failover", "--to", "eu-west", "--force", "--json", "--config", agent,
            ])
            #expect(failover.status == 0, "\(failover.output)\(failover.errors)")
            let report = try? WireJSON.decoder().decode(FailoverExecutor.Report.self, from: Data(failover.output.utf8))
            #expect(report?.state == .completed, "\(failover.output)")
            let trigger2 = try await SwitchyardBinary.run(["trigger", "quick", "--config", agent])
            #expect(trigger2.status == 0, "\(trigger2.errors)")
            #expect(await f.waitUntil(timeout: .seconds(30)) { await succeeded(west) == 1 } != nil)
            let back = try await SwitchyardBinary.run(["switchover", "--to", "us-east", "--config", agent])
            #expect(back.status == 0, "\(back.output)\(back.errors)")

            // migrate-runs as the agent's role (a dry run and a real one: nothing is active, nothing moves).
            let dry = try await SwitchyardBinary.run([
                "migrate-runs", "--from", "us-east", "--to", "eu-west", "--dry-run", "--config", agent,
            ])
            #expect(dry.status == 0, "\(dry.errors)")
            let moved = try await SwitchyardBinary.run([
                "migrate-runs", "--from", "us-east", "--to", "eu-west", "--config", agent,
            ])
            #expect(moved.status == 0, "\(moved.errors)")

            // The agent serves its status as its role: every region observed healthy.
            let url = try await f.startAgent("us-east", config: agent)
            let observed = await f.waitUntil(timeout: .seconds(30)) {
                guard let status = try? await f.status(url) else { return false }
                return status.regions.count == 2 && status.regions.allSatisfy { $0.health == .healthy }
            }
            #expect(observed != nil, "the agent never saw both regions healthy: \(f.log("agent-us-east").suffix(2000))")
            #expect(!f.log("agent-us-east").contains("permission denied"), "\(f.log("agent-us-east").suffix(2000))")
            for name in ["s-us-east", "s-eu-west", "w-us-east", "w-eu-west"] {
                #expect(!f.log(name).contains("permission denied"), "\(name): \(f.log(name).suffix(1500))")
            }

            // And no more: a worker cannot open or close a fence, a scheduler node cannot erase executions, the
            // agent cannot drop what it copies into.
            let eastConninfo = f.state.postgres["us-east"]!.conninfo(passfile: f.state.passfile)
            func denied(_ role: String, _ sql: String) async throws -> Bool {
                let c = try await PostgresConnection.connect(
                    eastConninfo.replacingOccurrences(of: "user=\(LocalPostgres.user) ", with: "user=\(role) "),
                    timeout: .seconds(5))
                var refused = false
                do {
                    try await c.query(sql)
                } catch let error as PostgresError {
                    refused = error.sqlState == "42501"
                }
                await c.close()
                return refused
            }
            let workerFence = try await denied(Self.roles.worker, "UPDATE switchyard.fence SET open = false")
            let schedulerExecutions = try await denied(Self.roles.scheduler, "DELETE FROM switchyard.executions")
            let agentDrop = try await denied(Self.roles.agent, "DROP TABLE switchyard.shadow_dag_run")
            let agentDelete = try await denied(Self.roles.agent, "DELETE FROM switchyard.dag_run")
            #expect(workerFence && schedulerExecutions && agentDrop && agentDelete)
            for owner in owners { await owner.close() }
        }
    }
}
