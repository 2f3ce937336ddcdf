import Foundation
import Postgres
import SwitchyardLab
import SwitchyardRuntime
import TestSupport
import Testing

@Suite(
    "An observer partitioned from the active region (namespaces + nftables)", .serialized,
    .enabled(if: NetworkLab.available, "needs root, iproute2 and nftables to build network namespaces")
)
struct ObserverPartitionTests {
    @Test func onePartitionedObserverDoesNotFailTheActiveRegionOver() async throws {
        try await DeploymentSlots.shared.withSlot {
            let lab = try await NetworkLab()
            let dir = try await TestServers.shared.scratchDirectory("observer-partition")
            let address = NetworkLab.serverAddress
            var clusters: [String: LocalPostgres] = [:]
            var redisPorts: [String: Int] = [:]
            var pids: [pid_t] = []
            var redisPIDFiles: [String] = []
            // Everything runs in the lab's server namespace; the test reaches Postgres through unix sockets.
            for (index, name) in ["control", "us-east", "eu-west"].enumerated() {
                let cluster = LocalPostgres(directory: dir + "/pg-\(name)", port: 5432 + index)
                try await cluster.create(extraListen: [address])
                try await cluster.start(namespace: lab.server)
                TestServers.registerPostgres(cluster)
                try await cluster.prepare(password: TestServers.password)
                clusters[name] = cluster
            }
            for (index, name) in ["us-east", "eu-west"].enumerated() {
                let port = 6379 + index
                let redisDir = dir + "/redis-\(name)"
                try FileManager.default.createDirectory(atPath: redisDir, withIntermediateDirectories: true)
                try await Subprocess.run(
                    "/usr/bin/redis-server",
                    [
                        "--port", String(port), "--bind", "\(address) 127.0.0.1", "--daemonize", "yes", "--pidfile",
                        redisDir + "/redis.pid",
                        "--dir", redisDir, "--save", "", "--protected-mode", "no", "--logfile", redisDir + "/redis.log",
                    ], namespace: lab.server)
                redisPorts[name] = port
                redisPIDFiles.append(redisDir + "/redis.pid")
            }
            defer {
                for pid in pids { kill(pid, SIGKILL) }
                for file in redisPIDFiles {
                    if let text = try? String(contentsOfFile: file, encoding: .utf8),
                        let pid = Int32(text.trimmingCharacters(in: .whitespacesAndNewlines))
                    {
                        kill(pid, SIGTERM)
                    }
                }
            }
            let passfile = dir + "/pgpass"
            try "*:*:*:switchyard:\(TestServers.password)\n".write(toFile: passfile, atomically: true, encoding: .utf8)
            chmod(passfile, 0o600)
            let config = dir + "/regions"
            try FileManager.default.createDirectory(atPath: config, withIntermediateDirectories: true)
            func dsn(_ name: String) -> String {
                "host=\(address) port=\(clusters[name]!.port) dbname=switchyard user=switchyard passfile=\(passfile) connect_timeout=2"
            }
            try """
            control:
              dsn: "\(dsn("control"))"
            probes: { interval: 500ms, timeout: 400ms, failures_to_down: 3, down_after: 1500ms, scheduler_stale_after: 3s }
            failover: { failure_grace: 1500ms, cooldown: 0s, lease_ttl: 3s, lease_renew_interval: 500ms }

            """.write(toFile: config + "/controlplane.yaml", atomically: true, encoding: .utf8)
            for (name, priority) in [("us-east", 100), ("eu-west", 90)] {
                try """
                name: \(name)
                priority: \(priority)
                database:
                  dsn: "\(dsn(name))"
                redis:
                  url: "redis://\(address):\(redisPorts[name]!)/0"

                """.write(toFile: config + "/\(name).yaml", atomically: true, encoding: .utf8)
            }
            try "dags:\n  - id: slow\n    command: \"sleep 4\"\n".write(
                toFile: config + "/dags.yaml", atomically: true, encoding: .utf8)
            let initRun = try await Subprocess.run(
                "/usr/sbin/ip",
                [
                    "netns", "exec", lab.server, SwitchyardBinary.path, "init", "--config", config, "--active",
                    "us-east",
                ], check: false)
            try #require(initRun.status == 0, "\(initRun.output)")
            func spawn(_ name: String, in namespace: String, _ arguments: [String]) throws {
                let pid = try Daemon.spawn(
                    "/usr/sbin/ip",
                    ["netns", "exec", namespace, SwitchyardBinary.path] + arguments + ["--config", config],
                    log: dir + "/\(name).log")
                pids.append(pid)
                TestServers.registerDaemon(pid)
            }
            for region in ["us-east", "eu-west"] {
                try spawn("s-\(region)", in: lab.server, ["scheduler", "--region", region])
            }
            try spawn("agent-a", in: lab.server, ["agent", "--observer", "a", "--listen", "127.0.0.1:0"])
            try spawn("agent-b", in: lab.server, ["agent", "--observer", "b", "--listen", "127.0.0.1:0"])
            try spawn("agent-c", in: lab.client, ["agent", "--observer", "c", "--listen", "127.0.0.1:0"])
            let control = try await PostgresConnection.connect(
                clusters["control"]!.setupConninfo.replacingOccurrences(
                    of: "dbname=postgres", with: "dbname=switchyard"))
            func states(_ region: String) async throws -> [String: String] {
                let rows = try await control.query(
                    """
                    SELECT observer, bool_or(state = 'down') AS down, bool_and(state = 'healthy') AS healthy
                    FROM switchyard.observations WHERE region = $1 GROUP BY observer
                    """, [.text(region)]
                ).rows
                return Dictionary(
                    uniqueKeysWithValues: try rows.map {
                        (
                            try $0["observer"].require(String.self),
                            $0["down"].bool == true ? "down" : ($0["healthy"].bool == true ? "healthy" : "other")
                        )
                    })
            }
            let clock = ContinuousClock()
            var start = clock.now
            while clock.now - start < .seconds(30) {
                if try await states("us-east") == ["a": "healthy", "b": "healthy", "c": "healthy"] { break }
                try await Task.sleep(for: .milliseconds(100))
            }
            let before = try await states("us-east")
            try #require(before == ["a": "healthy", "b": "healthy", "c": "healthy"], "\(before)")
            // Cut observer c off from us-east only: its Postgres and Redis ports are dropped in c's namespace.
            try await lab.partition(ports: [clusters["us-east"]!.port, redisPorts["us-east"]!])
            start = clock.now
            while clock.now - start < .seconds(15) {
                if try await states("us-east")["c"] == "down" { break }
                try await Task.sleep(for: .milliseconds(100))
            }
            // c sees us-east down; a and b never do (a loaded machine may show them a passing suspect).
            let during = try await states("us-east")
            #expect(during["c"] == "down" && during["a"] != "down" && during["b"] != "down", "\(during)")
            try await Task.sleep(for: .seconds(4))  // far past failure_grace
            #expect(try await control.query("SELECT count(*) AS n FROM switchyard.failovers").first?["n"].int == 0)
            #expect(
                try await control.query("SELECT active_region FROM switchyard.cluster_state").first?["active_region"]
                    .string == "us-east")
            await control.close()
            for pid in pids { kill(pid, SIGKILL) }
            for cluster in clusters.values { await cluster.stop() }
            await lab.tearDown()
        }
    }
}
