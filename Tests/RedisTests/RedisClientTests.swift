import Foundation
import Redis
import SwitchyardLab
import SwitchyardRuntime
import TestSupport
import Testing

@Suite("Redis client against a real server")
struct RedisClientTests {
    func connect() async throws -> RedisConnection {
        try await RedisConnection.connect(url: TestServers.shared.redis().url)
    }

    @Test func everyReplyType() async throws {
        let r = try await connect()
        let key = "t:\(UUID().uuidString)"
        #expect(try await r.command(["SET", key, "v"]) == .status("OK"))
        #expect(try await r.command(["INCR", key + ":n"]) == .integer(1))
        #expect(try await r.command(["GET", key + ":missing"]) == .null)
        let binary: [UInt8] = [0, 1, 2, 13, 10, 255, 0]
        try await r.command(binary: [Array("SET".utf8), Array((key + ":bin").utf8), binary])
        #expect(try await r.command(binary: [Array("GET".utf8), Array((key + ":bin").utf8)]) == .bulk(binary))
        let nested = try await r.eval("return {1, {2, 'x', {}}, redis.status_reply('FINE'), false}")
        #expect(
            nested
                == .array([
                    .integer(1), .array([.integer(2), .bulk(Array("x".utf8)), .array([])]), .status("FINE"), .null,
                ]))
        let error = await #expect(throws: RedisError.self) { try await r.command(["LPUSH", key, "x"]) }
        #expect(error?.code == .server)
        #expect(error?.message.hasPrefix("WRONGTYPE") == true)
        #expect(error?.closesConnection == false)
        // An error nested in an array stays a value.
        let mixed = try await r.eval("return {1, redis.error_reply('inner')}")
        #expect(mixed == .array([.integer(1), .error("ERR inner")]))
        #expect(try await r.ping() < .seconds(15))
    }

    @Test func infoIsParsedIntoSections() async throws {
        let r = try await connect()
        let info = try await r.info()
        #expect(info["replication"]?["role"] == "master")
        #expect(info["server"]?["redis_version"]?.isEmpty == false)
        let only = try await r.info("replication")
        #expect(only.keys.contains("replication"))
        #expect(!only.keys.contains("server"))
    }

    @Test func luaScriptsByShaWithFallback() async throws {
        let r = try await connect()
        let script = RedisScript("return tonumber(ARGV[1]) + #KEYS")
        let sha = try await r.scriptLoad(script.source)
        #expect(sha == script.sha1)
        #expect(try await r.evalSHA(sha, keys: ["a", "b"], arguments: ["40"]) == .integer(42))
        try await r.command(["SCRIPT", "FLUSH"])
        #expect(try await r.evalCached(script, keys: ["a"], arguments: ["1"]) == .integer(2))
        let missing = await #expect(throws: RedisError.self) { try await r.evalSHA(String(repeating: "0", count: 40)) }
        #expect(missing?.message.hasPrefix("NOSCRIPT") == true)
    }

    @Test func stoppedServerGivesAConnectionErrorQuickly() async throws {
        let server = try await TestServers.shared.newRedis()
        let r = try await RedisConnection.connect(
            url: server.url, timeout: .milliseconds(500), commandTimeout: .milliseconds(500))
        await server.stop()
        let lost = await #expect(throws: RedisError.self) { try await r.command(["PING"]) }
        #expect(lost?.closesConnection == true)
        let clock = ContinuousClock()
        let start = clock.now
        let refused = await #expect(throws: RedisError.self) {
            _ = try await RedisConnection.connect(url: server.url, timeout: .seconds(30))
        }
        #expect(refused?.code == .connectionFailed)
        #expect(clock.now - start < .seconds(15))  // refused at once, not the 30 s timeout
    }

    @Test func frozenServerTimesOutWithinTheCommandTimeout() async throws {
        let server = try await TestServers.shared.newRedis()
        let r = try await RedisConnection.connect(
            url: server.url, timeout: .milliseconds(500), commandTimeout: .milliseconds(300))
        let pid = try #require(server.pid)
        kill(pid, SIGSTOP)
        defer { kill(pid, SIGCONT) }
        let clock = ContinuousClock()
        let start = clock.now
        let error = await #expect(throws: RedisError.self) { try await r.command(["PING"]) }
        let elapsed = clock.now - start
        #expect(error?.code == .timeout)
        #expect(elapsed >= .milliseconds(250) && elapsed < .seconds(15))  // the server stays frozen
        #expect(await r.isOpen == false)
        let connectError = await #expect(throws: RedisError.self) {
            let c = try await RedisConnection.connect(
                url: server.url, timeout: .milliseconds(300), commandTimeout: .milliseconds(300))
            try await c.command(["PING"])
        }
        #expect(connectError?.code == .timeout)
        kill(pid, SIGCONT)
        try await r.reconnect()
        #expect(try await r.command(["PING"]) == .status("PONG"))
    }

    @Test func passwordAndDatabaseFromTheURL() async throws {
        let password = "redis-Pa55-\(UInt32.random(in: 0...UInt32.max))"
        let server = try await TestServers.shared.newRedis(password: password)
        let good = try await RedisConnection.connect(url: "redis://:\(password)@127.0.0.1:\(server.port)/3")
        try await good.command(["SET", "k", "in-db-3"])
        let db3 = try await RedisConnection.connect(url: "redis://127.0.0.1:\(server.port)?db=3&password=\(password)")
        #expect(try await db3.command(["GET", "k"]).string == "in-db-3")
        let noAuth = try await RedisConnection.connect(url: "redis://127.0.0.1:\(server.port)/0")
        let denied = await #expect(throws: RedisError.self) { try await noAuth.command(["GET", "k"]) }
        #expect(denied?.message.contains("NOAUTH") == true)
        let wrong = await #expect(throws: RedisError.self) {
            _ = try await RedisConnection.connect(url: "redis://:wrong-\(password)@127.0.0.1:\(server.port)/0")
        }
        #expect(wrong?.code == .connectionFailed)
        #expect(wrong?.description.contains(password) == false)
    }

    @Test func unixSocket() async throws {
        let dir = try await TestServers.shared.scratchDirectory("redis-unix")
        let socket = dir + "/redis.sock"
        let server = try await TestServers.shared.newRedis(extraArguments: [
            "--unixsocket", socket, "--unixsocketperm", "700",
        ])
        _ = server
        let r = try await RedisConnection.connect(url: "unix://\(socket)")
        #expect(try await r.command(["PING"]) == .status("PONG"))
    }

    @Test func urlParsing() throws {
        let e = try RedisEndpoint(url: "redis://user:p%40ss@127.0.0.1:6390/2")
        #expect(e.address == .tcp(host: "127.0.0.1", port: 6390))
        #expect(e.username == "user")
        #expect(e.password == "p@ss")
        #expect(e.database == 2)
        #expect(throws: RedisError.self) { try RedisEndpoint(url: "http://127.0.0.1") }
        #expect(throws: RedisError.self) { try RedisEndpoint(url: "redis://127.0.0.1/x") }
        #expect(e.displayAddress == "127.0.0.1:6390")
    }

    @Test func sentinelMasterLookupAgainstARealSentinel() async throws {
        let master = try await TestServers.shared.newRedis()
        let dir = try await TestServers.shared.scratchDirectory("sentinel")
        let port = try Ports.freeLoopbackPort()
        let conf = """
            port \(port)
            bind 127.0.0.1
            daemonize yes
            pidfile \(dir)/sentinel.pid
            logfile \(dir)/sentinel.log
            dir \(dir)
            sentinel monitor sy-master 127.0.0.1 \(master.port) 1
            sentinel down-after-milliseconds sy-master 5000

            """
        try conf.write(toFile: dir + "/sentinel.conf", atomically: true, encoding: .utf8)
        let sentinel = LocalRedis(directory: dir, port: port)
        try await Subprocess.run("/usr/bin/redis-server", [dir + "/sentinel.conf", "--sentinel"])
        defer { if let pid = sentinel.pidFromFile(dir + "/sentinel.pid") { kill(pid, SIGTERM) } }
        let deadline = ContinuousClock.now + .seconds(10)
        while !Ports.isListening(port), ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(20)) }
        let dead = try Ports.freeLoopbackPort()
        let address = try await RedisConnection.lookupMaster(
            sentinels: [
                RedisEndpoint(address: .tcp(host: "127.0.0.1", port: dead)),
                RedisEndpoint(address: .tcp(host: "127.0.0.1", port: port)),
            ],
            masterName: "sy-master")
        #expect(address == .tcp(host: "127.0.0.1", port: master.port))
        let unknown = await #expect(throws: RedisError.self) {
            _ = try await RedisConnection.lookupMaster(
                sentinels: [RedisEndpoint(address: .tcp(host: "127.0.0.1", port: port))], masterName: "nope")
        }
        #expect(unknown?.code == .unexpectedReply)
    }
}

extension LocalRedis {
    func pidFromFile(_ path: String) -> Int32? {
        (try? String(contentsOfFile: path, encoding: .utf8)).flatMap {
            Int32($0.trimmingCharacters(in: .whitespacesAndNewlines))
        }
    }
}
