import Foundation
import SwitchyardRuntime
import Testing
import TestSupport

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

    @Test func commandFollowsLeadershipThroughFreezeHandOffAndKill() async throws {
        try await DevFixture.with(regions: 1, dags: fastDAGs) { f in
            let file = f.state.directory + "/exec-events"
            let command = "echo \"start $$ $(date +%s.%N)\" >> \(file); trap 'echo \"stop $$ $(date +%s.%N)\" >> \(file); exit 0' TERM; while :; do sleep 0.05; done"
            try f.start("a", ["scheduler", "--region", "us-east", "--node-id", "a", "--exec", command])
            func starts() -> Int { events(file).filter { $0.kind == "start" }.count }
            try #require(await f.waitUntil(timeout: .seconds(10)) { starts() == 1 } != nil)
            try f.start("b", ["scheduler", "--region", "us-east", "--node-id", "b", "--exec", command])
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
            try f.start("c", ["scheduler", "--region", "us-east", "--node-id", "c", "--exec", command])
            try await Task.sleep(for: .milliseconds(500))
            kill(try #require(f.pid("a")), SIGKILL)
            try #require(await f.waitUntil(timeout: .seconds(10)) { starts() == 4 } != nil)
            try await Task.sleep(for: .milliseconds(300))
            let all = events(file)
            #expect(all.filter { $0.kind == "stop" }.count == 3)
            #expect(neverOverlapping(all), "\(all)")
        }
    }

    @Test func execIsRefusedWhenItCouldOutliveLeadership() async throws {
        try await DevFixture.with(regions: 1, dags: fastDAGs, controlplane: ["exec_grace: 500ms": "exec_grace: 1s"]) { f in
            let run = try await SwitchyardBinary.run(["scheduler", "--config", f.config, "--region", "us-east", "--exec", "sleep 100"])
            #expect(run.status == 2)
            #expect(run.errors.contains("exec_grace"))
        }
    }
}
