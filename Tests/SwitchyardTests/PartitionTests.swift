import Foundation
import Postgres
import SwitchyardLab
import SwitchyardRuntime
import TestSupport
import Testing

@Suite(
    "Scheduler leader cut off by a network partition (namespaces + nftables)", .serialized,
    .enabled(if: NetworkLab.available, "needs root, iproute2 and nftables to build network namespaces")
)
struct PartitionTests {
    @Test func partitionedLeaderStepsDownAndAnotherLeads() async throws {
        try await DeploymentSlots.shared.withSlot {
            let lab = try await NetworkLab()
            let dir = try await TestServers.shared.scratchDirectory("partition")
            let cluster = LocalPostgres(directory: dir + "/pg", port: 5432)
            let redisDir = dir + "/redis"
            let redis = LocalRedis(directory: redisDir, port: 0)
            var pids: [pid_t] = []
            defer {
                for pid in pids { kill(pid, SIGCONT); kill(pid, SIGKILL) }
                Task {
                    await cluster.stop()
                    await redis.stop()
                    await lab.tearDown()
                }
            }
            // Postgres lives in the server namespace; the test reaches it through its unix socket.
            try await cluster.create(extraListen: [NetworkLab.serverAddress])
            try await cluster.start(namespace: lab.server)
            TestServers.registerPostgres(cluster)
            try await cluster.prepare(password: TestServers.password)
            let setup = try await PostgresConnection.connect(cluster.setupConninfo)
            try await setup.query("CREATE DATABASE control")
            await setup.close()
            try await redis.start(extraArguments: ["--unixsocket", redisDir + "/redis.sock"])
            try await Task.sleep(for: .milliseconds(200))
            let passfile = dir + "/pgpass"
            try "*:*:*:switchyard:\(TestServers.password)\n".write(toFile: passfile, atomically: true, encoding: .utf8)
            chmod(passfile, 0o600)
            let config = dir + "/regions"
            try FileManager.default.createDirectory(atPath: config, withIntermediateDirectories: true)
            let dsn =
                "host=\(NetworkLab.serverAddress) port=5432 user=switchyard passfile=\(passfile) connect_timeout=2"
            try """
            control:
              dsn: "\(dsn) dbname=control"
            election:
              idle_session_timeout: 3s
              heartbeat_interval: 500ms
              step_down_after: 2s
              statement_timeout: 2s
              lock_wait: 1s
              keepalives_idle: 2s
              keepalives_interval: 1s
              keepalives_count: 2
              tcp_user_timeout: 3s
            failover:
              lease_ttl: 3s
              lease_renew_interval: 500ms

            """.write(toFile: config + "/controlplane.yaml", atomically: true, encoding: .utf8)
            try """
            name: us-east
            priority: 100
            database:
              dsn: "\(dsn) dbname=switchyard"
            redis:
              url: "unix://\(redisDir)/redis.sock"

            """.write(toFile: config + "/us-east.yaml", atomically: true, encoding: .utf8)
            try fastDAGs.write(toFile: config + "/dags.yaml", atomically: true, encoding: .utf8)
            let initRun = try await Subprocess.run(
                "/usr/sbin/ip",
                [
                    "netns", "exec", lab.server, SwitchyardBinary.path, "init", "--config", config, "--active",
                    "us-east",
                ], check: false)
            try #require(initRun.status == 0, "\(initRun.output)")

            func startNode(_ name: String, in namespace: String) throws {
                let pid = try Daemon.spawn(
                    "/usr/sbin/ip",
                    [
                        "netns", "exec", namespace, SwitchyardBinary.path, "scheduler",
                        "--config", config, "--region", "us-east", "--node-id", name,
                    ],
                    log: dir + "/\(name).log")
                pids.append(pid)
                TestServers.registerDaemon(pid)
            }
            let db = try await PostgresConnection.connect(
                cluster.setupConninfo.replacingOccurrences(of: "dbname=postgres", with: "dbname=switchyard"))
            func leadership() async throws -> (Int, String?) {
                let row = try await db.query("SELECT epoch, leader_node FROM switchyard.leadership").first
                return (try row?["epoch"].require(Int.self) ?? 0, try row?["leader_node"].optional(String.self))
            }
            func waitFor(_ timeout: Duration, _ condition: () async throws -> Bool) async throws -> Duration? {
                let start = ContinuousClock.now
                while ContinuousClock.now - start < timeout {
                    if try await condition() { return ContinuousClock.now - start }
                    try await Task.sleep(for: .milliseconds(20))
                }
                return nil
            }
            try startNode("far", in: lab.client)
            try #require(
                try await waitFor(.seconds(15)) { try await leadership().1 == "far" } != nil,
                "the client-side node never led")
            try startNode("near", in: lab.server)
            try await Task.sleep(for: .seconds(1))
            let (epoch, _) = try await leadership()

            try await lab.partition()
            let cutAt = Date()
            // bench measures the takeover; a loaded 2-core run slips every loop, so the wait is only bounded.
            let takeover = try await waitFor(.seconds(40)) { try await leadership().1 == "near" }
            let elapsed = try #require(takeover, "nobody took over from the partitioned leader")
            print("partition takeover after \(elapsed)")
            #expect(try await leadership().0 > epoch)
            // The cut-off leader wrote nothing after the partition under its old epoch.
            let late = try await db.query(
                "SELECT count(*) AS n FROM switchyard.dag_run WHERE created_epoch = $1 AND queued_at > $2",
                [.int(epoch), .date(cutAt.addingTimeInterval(0.1))]
            ).first?["n"].require(Int.self)
            #expect(late == 0)
            func farLog() -> String { (try? String(contentsOfFile: dir + "/far.log", encoding: .utf8)) ?? "" }
            let noticed = try await waitFor(.seconds(10)) {
                farLog().contains("stepping down") || farLog().contains("lock session failed")
            }
            #expect(noticed != nil, "\(farLog())")

            await lab.heal()
            try await Task.sleep(for: .seconds(3))
            #expect(try await leadership().1 == "near")  // the healed node rejoins as a follower
            await db.close()
            for pid in pids { kill(pid, SIGKILL) }
            await cluster.stop()
            await redis.stop()
            await lab.tearDown()
        }
    }
}
