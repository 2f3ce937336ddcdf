import Foundation
import SwitchyardLab
import SwitchyardRuntime
import TestSupport
import Testing

@Suite("scheduler --exec runs its command exactly while leading", .serialized)
struct ExecTests {
    struct Event {
        var kind: String
        var pid: Int
        var at: Double
    }

    func events(_ file: String) -> [Event] {
        let text = (try? String(contentsOfFile: file, encoding: .utf8)) ?? ""
        return text.split(separator: "\n").compactMap { line in
            let parts = line.split(separator: " ")
            guard parts.count == 3, let pid = Int(parts[1]), let at = Double(parts[2]) else { return nil }
            return Event(kind: String(parts[0]), pid: pid, at: at)
        }.sorted { $0.at < $1.at }
    }

    /// No two commands ever ran at the same time: every start comes after the previous one's stop.
    func neverOverlapping(_ events: [Event]) -> Bool {
        var running: Int?
        for e in events {
            if e.kind == "start" {
                if running != nil { return false }
                running = e.pid
            } else if e.kind == "stop", running == e.pid {
                running = nil
            }
        }
        return true
    }

    /// The leader-gated command gets an environment of its own: what a program needs, Airflow's settings and
    /// what the operator lists, never the node's secrets (the API token, libpq's password file) or anything
    /// unlisted; naming a secret is refused before the node starts.
    @Test func theCommandGetsACleanEnvironmentNeverTheNodesSecrets() async throws {
        try await DevFixture.with(regions: 1, dags: fastDAGs) { f in
            let file = f.state.directory + "/exec-environment"
            try f.start(
                "a",
                [
                    "scheduler", "--region", "us-east", "--node-id", "a", "--exec-env", "DATA_BUCKET", "--exec-env",
                    "MODE=blue", "--exec-shell", "--exec",
                    "env > \(file).tmp && mv \(file).tmp \(file); exec sleep 100",
                ],
                environment: [
                    "SWITCHYARD_API_TOKEN": "api-secret-1", "PGPASSFILE": "/nonexistent/pg-secret-2",
                    "DATA_BUCKET": "s3://data",
                    "UNLISTED": "not-for-the-command", "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
                ])
            let written = await f.waitUntil(timeout: .seconds(20)) { FileManager.default.fileExists(atPath: file) }
            try #require(written != nil, "the command never ran: \(f.log("a").suffix(2000))")
            let text = try String(contentsOfFile: file, encoding: .utf8)
            var environment: [String: String] = [:]
            for line in text.split(separator: "\n") {
                let parts = line.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
                if parts.count == 2 { environment[String(parts[0])] = String(parts[1]) }
            }
            #expect(environment["DATA_BUCKET"] == "s3://data")
            #expect(environment["MODE"] == "blue")
            #expect(environment["AIRFLOW__CORE__EXECUTOR"] == "LocalExecutor")
            #expect(environment["SWITCHYARD_REGION"] == "us-east")
            #expect(environment["SWITCHYARD_NODE_ID"] == "a")
            #expect(environment["PATH"] != nil)
            #expect(environment["SWITCHYARD_API_TOKEN"] == nil)
            #expect(environment["PGPASSFILE"] == nil)
            #expect(environment["UNLISTED"] == nil)
            #expect(!text.contains("secret"), "\(text)")

            let refused = try await SwitchyardBinary.run(
                [
                    "scheduler", "--config", f.config, "--region", "us-east", "--exec-env", "SWITCHYARD_API_TOKEN",
                    "--exec", "true",
                ], environment: ["SWITCHYARD_API_TOKEN": "api-secret-3"])
            #expect(refused.status == 2)
            #expect(
                refused.errors.contains("--exec-env SWITCHYARD_API_TOKEN: Switchyard reads a secret"),
                "\(refused.errors)")
            #expect(!refused.errors.contains("api-secret-3"))
        }
    }

    /// A command runs as its node's user, so it could read the node's secrets from /proc/PID/environ: the
    /// node makes itself non-dumpable, which closes that to its own user. Run as `nobody` (setpriv, root
    /// only), a node's environment is unreadable to another process of `nobody`.
    @Test(.enabled(if: getuid() == 0, "runs a node as nobody through setpriv, which needs root"))
    func aProcessOfTheNodesUserCannotReadItsEnvironment() async throws {
        let directory = "/tmp/switchyard-dumpable-\(getpid())-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        // A node that reaches nothing: it keeps retrying, which is all this needs.
        try "control:\n  dsn: \"host=127.0.0.1 port=1 dbname=control\"\n".write(
            toFile: directory + "/controlplane.yaml", atomically: true, encoding: .utf8)
        try
            "name: us-east\npriority: 100\ndatabase:\n  dsn: \"host=127.0.0.1 port=1 dbname=app\"\nredis:\n  url: \"redis://127.0.0.1:1\"\n"
            .write(
                toFile: directory + "/us-east.yaml", atomically: true, encoding: .utf8)
        let binary = directory + "/switchyard"
        // Copied by cp, not by this process: a write descriptor of ours would be inherited by whatever another
        // test forks meanwhile, and exec would fail with "Text file busy".
        _ = try await Subprocess.run("/bin/cp", [SwitchyardBinary.path, binary])
        chmod(directory, 0o755)
        for file in ["controlplane.yaml", "us-east.yaml"] { chmod(directory + "/" + file, 0o644) }
        chmod(binary, 0o755)
        let nobody = ["--reuid=65534", "--regid=65534", "--clear-groups"]
        let log = directory + "/node.log"
        let pid = try Daemon.spawn(
            "/usr/bin/setpriv",
            nobody + [
                "/usr/bin/env", "NODE_SECRET=hunter2-\(getpid())", binary, "scheduler", "--config", directory,
                "--region", "us-east",
            ], log: log)
        TestServers.registerDaemon(pid)
        defer {
            kill(pid, SIGKILL)
            var status: Int32 = 0
            waitpid(pid, &status, 0)
        }
        // It has started (and made itself non-dumpable) once it logs.
        let deadline = ContinuousClock.now + .seconds(30)
        while !((try? String(contentsOfFile: log, encoding: .utf8)) ?? "").contains("switchyard.scheduler"),
            ContinuousClock.now < deadline, Processes.isAlive(pid)
        {
            try await Task.sleep(for: .milliseconds(100))
        }
        let started = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
        try #require(started.contains("switchyard.scheduler"), "the node never started: \(started.suffix(1000))")
        let read = try await Subprocess.run(
            "/usr/bin/setpriv", nobody + ["/bin/cat", "/proc/\(pid)/environ"], check: false)
        #expect(read.status != 0)
        #expect(!read.output.contains("hunter2"))
    }

    @Test func commandFollowsLeadershipThroughFreezeHandOffAndKill() async throws {
        try await DevFixture.with(regions: 1, dags: fastDAGs) { f in
            let file = f.state.directory + "/exec-events"
            let command =
                "echo \"start $$ $(date +%s.%N)\" >> \(file); trap 'echo \"stop $$ $(date +%s.%N)\" >> \(file); exit 0' TERM; while :; do sleep 0.05; done"
            try f.start("a", ["scheduler", "--region", "us-east", "--node-id", "a", "--exec-shell", "--exec", command])
            func starts() -> Int { events(file).filter { $0.kind == "start" }.count }
            try #require(await f.waitUntil(timeout: .seconds(10)) { starts() == 1 } != nil)
            try f.start("b", ["scheduler", "--region", "us-east", "--node-id", "b", "--exec-shell", "--exec", command])
            try await Task.sleep(for: .seconds(1))
            #expect(starts() == 1)  // the follower runs nothing

            // Freeze the leader: its guard stops the command before the follower can win and start its own.
            kill(try #require(f.pid("a")), SIGSTOP)
            try #require(await f.waitUntil(timeout: .seconds(10)) { starts() == 2 } != nil)
            kill(try #require(f.pid("a")), SIGCONT)
            try await Task.sleep(for: .seconds(1))
            #expect(starts() == 2)

            // Hand-off on SIGTERM: b stops its command, then a wins and starts one.
            kill(try #require(f.pid("b")), SIGTERM)
            try #require(await f.waitUntil(timeout: .seconds(10)) { starts() == 3 } != nil)

            // SIGKILL of the leader: its command dies with it (the guard sees EOF).
            try f.start("c", ["scheduler", "--region", "us-east", "--node-id", "c", "--exec-shell", "--exec", command])
            try await Task.sleep(for: .milliseconds(500))
            kill(try #require(f.pid("a")), SIGKILL)
            try #require(await f.waitUntil(timeout: .seconds(10)) { starts() == 4 } != nil)
            try await Task.sleep(for: .milliseconds(300))
            let all = events(file)
            #expect(all.filter { $0.kind == "stop" }.count == 3)
            #expect(neverOverlapping(all), "\(all)")
        }
    }

    /// A command that takes its time to stop (as `airflow scheduler` does on SIGTERM): its trap records
    /// `stopping`, works 1.2 s, records `stop` and exits. With exec_grace 3 s it always finishes that.
    func slowStopper(_ f: DevFixture, stopTakes: String = "1.2") throws -> (script: String, events: String) {
        let events = f.state.directory + "/slow-events"
        let script = f.state.directory + "/slow.sh"
        try """
        echo "start $$ $(date +%s.%N)" >> \(events)
        trap 'echo "stopping $$ $(date +%s.%N)" >> \(events); sleep \(stopTakes); echo "stop $$ $(date +%s.%N)" >> \(events); exit 0' TERM
        while :; do sleep 0.05; done
        """.write(toFile: script, atomically: true, encoding: .utf8)
        return (script, events)
    }

    @Test func aSuccessorNeverStartsItsCommandWhileThePredecessorsIsStillStopping() async throws {
        try await DevFixture.with(regions: 1, dags: fastDAGs, settings: DevSettings(execGrace: .seconds(3))) {
            f in
            let (script, file) = try slowStopper(f)
            // No shell in between: `/bin/sh script` is run as two words, and the guard signals its process group.
            let exec = ["--exec", "/bin/sh \(script)"]
            try f.start("a", ["scheduler", "--region", "us-east", "--node-id", "a"] + exec)
            func count(_ kind: String) -> Int { events(file).filter { $0.kind == kind }.count }
            try #require(await f.waitUntil(timeout: .seconds(15)) { count("start") == 1 } != nil)
            try f.start("b", ["scheduler", "--region", "us-east", "--node-id", "b"] + exec)
            try await Task.sleep(for: .seconds(1))
            #expect(count("start") == 1)

            // SIGKILL of the leader: its guard gives the command its grace; b wins the lock at once but waits.
            kill(try #require(f.pid("a")), SIGKILL)
            try #require(await f.waitUntil(timeout: .seconds(20)) { count("start") == 2 } != nil)
            // SIGTERM of b with c following: b stops its command (its full grace), records it, then lets go; c
            // starts at once.
            try f.start("c", ["scheduler", "--region", "us-east", "--node-id", "c"] + exec)
            try await Task.sleep(for: .milliseconds(500))
            kill(try #require(f.pid("b")), SIGTERM)
            try #require(await f.waitUntil(timeout: .seconds(20)) { count("start") == 3 } != nil)
            let all = events(file)
            // Every stopped command finished its own graceful stop (none was SIGKILLed), and none overlapped.
            #expect(count("stopping") == 2 && count("stop") == 2, "\(all)")
            var running: Int?
            var overlapped = false
            for e in all {
                if e.kind == "start" { if running != nil { overlapped = true }; running = e.pid }
                if e.kind == "stop", running == e.pid { running = nil }
            }
            #expect(!overlapped, "\(all)")
            // The voluntary hand-off does not wait out the grace: c started within a second of b's command exiting.
            let starts = all.filter { $0.kind == "start" }, stops = all.filter { $0.kind == "stop" }
            if starts.count == 3, stops.count == 2 {
                let gapKill = starts[1].at - stops[0].at, gapTerm = starts[2].at - stops[1].at
                print("exec hand-off gaps: after SIGKILL \(gapKill) s, after SIGTERM \(gapTerm) s")
                #expect(gapTerm < 1.5, "\(all)")
            }
            #expect(f.log("b").contains("waits until the previous leader's command can no longer be running"))
        }
    }

    /// What a terminal's Ctrl-C or systemd's default KillMode=control-group does: the signal reaches the
    /// node, its exec-guard and the command at once. The guard must outlive it and give the command its
    /// grace: had it died, the node would record the command stopped and hand off while it still ran.
    @Test func aSIGTERMToTheNodeItsGuardAndItsCommandAtOnceStillNeverRunsTwo() async throws {
        try await DevFixture.with(regions: 1, dags: fastDAGs, settings: DevSettings(execGrace: .seconds(5))) {
            f in
            let (script, file) = try slowStopper(f, stopTakes: "2")
            let exec = ["--exec", "/bin/sh \(script)"]
            try f.start("a", ["scheduler", "--region", "us-east", "--node-id", "a"] + exec)
            func count(_ kind: String) -> Int { events(file).filter { $0.kind == kind }.count }
            try #require(await f.waitUntil(timeout: .seconds(15)) { count("start") == 1 } != nil)
            try f.start("b", ["scheduler", "--region", "us-east", "--node-id", "b"] + exec)
            let following = await f.waitUntil(timeout: .seconds(15)) { f.log("b").contains("scheduler node starting") }
            try #require(following != nil)
            let a = try #require(f.pid("a"))
            let guards = Processes.children(of: a)
            let commands = guards.flatMap { Processes.children(of: $0) }
            try #require(!guards.isEmpty && !commands.isEmpty, "no exec-guard or command under node a")
            for pid in [a] + guards + commands { kill(pid, SIGTERM) }
            try #require(await f.waitUntil(timeout: .seconds(30)) { count("start") == 2 } != nil)
            let all = events(file)
            #expect(neverOverlapping(all), "\(all)")
            let firstStop = all.first { $0.kind == "stop" }, secondStart = all.filter { $0.kind == "start" }.last
            #expect(firstStop != nil, "the first command never finished its own graceful stop: \(all)")
            if let firstStop, let secondStart { #expect(firstStop.at <= secondStart.at, "\(all)") }
        }
    }

    /// A command that takes longer to stop than the server's idle_session_timeout (3 s here): the leader
    /// keeps its lock session alive meanwhile, records the stop, and the follower starts at once instead of
    /// waiting out step_down_after + exec_grace (as on a loaded machine, where Airflow took over 8 s to stop).
    @Test func aSIGTERMHandOffOfACommandSlowerThanTheIdleTimeoutWaitsNothingMore() async throws {
        try await DevFixture.with(regions: 1, dags: fastDAGs, settings: DevSettings(execGrace: .seconds(10))) {
            f in
            let (script, file) = try slowStopper(f, stopTakes: "4.5")
            let exec = ["--exec", "/bin/sh \(script)"]
            try f.start("a", ["scheduler", "--region", "us-east", "--node-id", "a"] + exec)
            let first = await f.waitUntil(timeout: .seconds(15)) {
                self.events(file).filter { $0.kind == "start" }.count == 1
            }
            try #require(first != nil)
            try f.start("b", ["scheduler", "--region", "us-east", "--node-id", "b"] + exec)
            let following = await f.waitUntil(timeout: .seconds(15)) { f.log("b").contains("scheduler node starting") }
            try #require(following != nil)
            try await Task.sleep(for: .seconds(1))  // b contends (a follower); nothing is asserted here
            let a = try #require(f.pid("a"))
            kill(a, SIGTERM)
            let second = await f.waitUntil(timeout: .seconds(30)) {
                self.events(file).filter { $0.kind == "start" }.count == 2
            }
            try #require(second != nil)
            let all = events(file)
            let stops = all.filter { $0.kind == "stop" }
            let starts = all.filter { $0.kind == "start" }
            #expect(stops.count == 1 && starts.count == 2, "\(all)")
            if stops.count == 1 && starts.count == 2 {
                let gap = starts[1].at - stops[0].at
                // Without the kept session, b won when the server dropped a's idle session and waited ~12 s more.
                #expect(gap >= 0 && gap < 2, "gap \(gap) s: \(f.log("b").suffix(1500))")
            }
            #expect(!f.log("b").contains("waits until the previous leader's command can no longer be running"))
        }
    }

    /// A failover's fence step counts the old leader's command as stopped only on the leader's record
    /// (`exec_stopped_epoch`): the record is written once a fenced region's command has exited (it may take
    /// its grace: Airflow finishes its running tasks), never while it stops, and withdrawn before the command
    /// starts again when the fence reopens. The leader keeps leading meanwhile (it does not block on the stop).
    @Test func aFencedLeaderRecordsItsCommandStoppedOnlyOnceItExitedAndWithdrawsItBeforeARestart() async throws {
        try await DevFixture.with(regions: 1, dags: fastDAGs, settings: DevSettings(execGrace: .seconds(8))) {
            f in
            let (script, file) = try slowStopper(f, stopTakes: "3")
            try f.start("a", ["scheduler", "--region", "us-east", "--node-id", "a", "--exec", "/bin/sh \(script)"])
            func count(_ kind: String) -> Int { events(file).filter { $0.kind == kind }.count }
            try #require(await f.waitUntil(timeout: .seconds(15)) { count("start") == 1 } != nil)
            let db = try await f.connect("us-east")
            func record() async throws -> (epoch: Int, stopped: Bool) {
                let row = try await db.query(
                    "SELECT epoch, coalesce(exec_stopped_epoch = epoch, false) AS stopped FROM switchyard.leadership WHERE id = 1"
                ).first
                return (try row?["epoch"].require(Int.self) ?? -1, try row?["stopped"].require(Bool.self) ?? false)
            }
            let leading = try await record()
            #expect(!leading.stopped, "a running command is recorded as stopped")

            // A switchover's draining fence: the command is told to stop and takes 3 s to exit.
            try await db.query("UPDATE switchyard.fence SET open = false, drain = true WHERE id = 1")
            // Each look reads the events first: a record seen means the stop line was already there if it came first.
            var looks: [(stops: Int, recorded: Bool)] = []
            let deadline = ContinuousClock.now + .seconds(20)
            while ContinuousClock.now < deadline {
                let stops = count("stop")
                let recorded = try await record().stopped
                looks.append((stops, recorded))
                if recorded { break }
                try await Task.sleep(for: .milliseconds(50))
            }
            let first = looks.first { $0.recorded }
            try #require(first != nil, "no record of the stop: \(f.log("a").suffix(2000))")
            #expect(count("stopping") == 1)
            #expect(first?.stops == 1, "recorded before the command had exited: \(events(file))")
            let after = try await record()
            #expect(after.epoch == leading.epoch, "the leader stepped down while its command stopped")
            #expect(!f.log("a").contains("stepping down"), "\(f.log("a").suffix(2000))")

            // The fence reopens: the record is withdrawn before the command starts again.
            try await db.query("UPDATE switchyard.fence SET open = true, drain = false WHERE id = 1")
            try #require(await f.waitUntil(timeout: .seconds(15)) { count("start") == 2 } != nil)
            let restarted = try await record()
            #expect(!restarted.stopped, "the command runs again under a record that says it stopped")
            await db.close()
        }
    }

    @Test func theShippedTimingsAcceptExecAndAShellOnlyCommandIsRefused() async throws {
        // exec_grace 1 s with step_down_after 2 s and idle_session_timeout 3 s, as regions/controlplane.yaml has.
        try await DevFixture.with(regions: 1, dags: fastDAGs, settings: DevSettings(execGrace: .seconds(1))) {
            f in
            let refused = try await SwitchyardBinary.run([
                "scheduler", "--config", f.config, "--region", "us-east", "--exec", "sleep 100; echo",
            ])
            #expect(refused.status == 2 && refused.errors.contains("--exec-shell"), "\(refused.errors)")
            // Two singletons under one leadership (an `airflow scheduler` and a Celery beat, say).
            try f.start(
                "a",
                ["scheduler", "--region", "us-east", "--node-id", "a", "--exec", "sleep 97.5", "--exec", "sleep 96.5"])
            let started = await f.waitUntil(timeout: .seconds(15)) {
                f.log("a").components(separatedBy: "exec command started").count == 3
            }
            #expect(started != nil, "\(f.log("a").suffix(2000))")
            // A SIGTERM hand-off stops both.
            kill(try #require(f.pid("a")), SIGTERM)
            let stopped = await f.waitUntil(timeout: .seconds(15)) {
                f.log("a").components(separatedBy: "exec command stopped").count == 3
            }
            #expect(stopped != nil, "\(f.log("a").suffix(2000))")
        }
    }
}
