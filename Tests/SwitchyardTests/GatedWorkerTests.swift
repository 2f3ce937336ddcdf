import Foundation
import Postgres
import SwitchyardCore
import SwitchyardLab
import SwitchyardRuntime
import TestSupport
import Testing

/// `switchyard worker --exec CMD`: another executor's worker (a Celery worker) gated by its region's
/// fence. The command here is a shell script standing in for `airflow celery worker`: it logs its start,
/// and on SIGTERM (a Celery worker's warm shutdown) logs, finishes for 200 ms and logs its end, each line
/// with the host's boot clock, so the test can order one region's end before the other's start.
@Suite("Gated commands (worker --exec)", .serialized)
struct GatedWorkerTests {
    static let script = """
        f="$1/$SWITCHYARD_REGION.log"
        now() { cut -d' ' -f1 /proc/uptime; }
        echo "start $(now)" >> "$f"
        trap 'echo "term $(now)" >> "$f"; sleep 0.2; echo "end $(now)" >> "$f"; exit 0' TERM
        while :; do sleep 0.1; done

        """

    /// The lines of a region's log: (event, seconds of uptime).
    func events(_ directory: String, _ region: String) -> [(String, Double)] {
        let text = (try? String(contentsOfFile: directory + "/\(region).log", encoding: .utf8)) ?? ""
        return text.split(separator: "\n").compactMap { line in
            let parts = line.split(separator: " ")
            guard parts.count == 2, let at = Double(parts[1]) else { return nil }
            return (String(parts[0]), at)
        }
    }

    /// The node row's mark; nil when there is no row (so `== false` fails on a missing row).
    func marked(_ db: PostgresConnection, _ node: String) async throws -> Bool? {
        try await db.query("SELECT command_running FROM switchyard.nodes WHERE node_id = $1", [.text(node)]).first?[
            "command_running"
        ].bool
    }

    func stepResult(_ control: PostgresConnection, _ step: String) async throws -> String {
        try await control.query(
            "SELECT result::text AS r FROM switchyard.failover_steps WHERE step = $1 ORDER BY failover_id DESC LIMIT 1",
            [.text(step)]
        ).first?["r"].string ?? ""
    }

    /// Runs only in the active region; a switchover waits for its graceful stop before the target starts
    /// its own; a failover away from a region whose gated worker is frozen holds the target until the
    /// frozen worker's guard has stopped the command, so the two regions' commands never overlap.
    @Test func aGatedCommandRunsInOneRegionAtATimeAcrossASwitchoverAndAFailover() async throws {
        let directory = try await TestServers.shared.scratchDirectory("gated")
        try Self.script.write(toFile: directory + "/gated.sh", atomically: true, encoding: .utf8)
        try await DevFixture.with(regions: 2) { f in
            for region in ["us-east", "eu-west"] {
                try f.start("s-\(region)", ["scheduler", "--region", region, "--node-id", "s-\(region)"])
                try f.start(
                    "g-\(region)",
                    [
                        "worker", "--region", region, "--worker-id", "g-\(region)", "--exec",
                        "/bin/sh \(directory)/gated.sh \(directory)",
                    ])
            }
            let east = try await f.connect("us-east")
            let west = try await f.connect("eu-west")
            let control = try await f.connectControl()
            // The active region's command runs, marked in its row; the standby's waits.
            let eastStarted = try await f.waitUntil(timeout: .seconds(30)) {
                let mark = try await marked(east, "g-us-east")
                return mark == true && events(directory, "us-east").first?.0 == "start"
            }
            try #require(eastStarted != nil, "us-east's gated command did not start: \(f.log("g-us-east"))")
            let westWaits = await f.waitUntil(timeout: .seconds(15)) {
                f.log("g-eu-west").contains("the command waits")
            }
            #expect(westWaits != nil, "\(f.log("g-eu-west"))")
            #expect(events(directory, "eu-west").isEmpty)
            #expect(try await marked(west, "g-eu-west") == false)

            // A switchover drains us-east: its command is told to stop, finishes, and only then does eu-west start.
            let switchover = try await SwitchyardBinary.run([
                "switchover", "--to", "eu-west", "--json", "--config", f.config,
            ])
            #expect(switchover.status == 0, "\(switchover.errors)")
            let fence = try await stepResult(control, "fence")
            #expect(fence.contains("\"gated_commands_still_running\": 0"), "\(fence)")
            let westStarted = try await f.waitUntil(timeout: .seconds(30)) {
                events(directory, "eu-west").first?.0 == "start"
            }
            try #require(westStarted != nil, "eu-west's gated command did not start: \(f.log("g-eu-west"))")
            let eastEnd = try #require(events(directory, "us-east").first { $0.0 == "end" }, "\(f.log("g-us-east"))")
            let westStart = try #require(events(directory, "eu-west").first)
            #expect(
                eastEnd.1 <= westStart.1, "eu-west started at \(westStart.1) before us-east's ended at \(eastEnd.1)")
            #expect(try await marked(east, "g-us-east") == false)

            // Freeze eu-west's gated worker (its command runs on, its mark stays), then fail over to us-east:
            // the census counts it and us-east holds until the frozen worker's guard has stopped it.
            let frozen = try #require(f.pid("g-eu-west"))
            kill(frozen, SIGSTOP)
            defer { kill(frozen, SIGCONT) }
            let failover = try await SwitchyardBinary.run([
                "failover", "--to", "us-east", "--force", "--json", "--config", f.config,
            ])
            #expect(failover.status == 0, "\(failover.errors)")
            let fenced = try await stepResult(control, "fence")
            #expect(fenced.contains("\"gated_commands_still_running\": 1"), "\(fenced)")
            let activate = try await stepResult(control, "activate")
            // A hold, which only the frozen worker's mark can cause here (eu-west's commandless leader recorded
            // that no leader-gated command runs, and no execution runs there). It is what is left of
            // gatedStopBound after the steps between the fence and the activation, which take seconds on a
            // loaded machine: the order of the two commands below is the safety check.
            let timing = SafetyTiming(try ConfigLoader.load(directory: f.config).controlPlane)
            let hold = try #require(
                activate.firstMatch(of: /"dispatch_hold_ms": ([0-9.]+)/).flatMap { Double($0.1) },
                "the target did not hold: \(activate)")
            #expect(hold > 0 && hold <= Double(timing.gatedStopBound.wholeMilliseconds), "\(activate)")
            let eastAgain = try await f.waitUntil(timeout: .seconds(60)) {
                events(directory, "us-east").filter { $0.0 == "start" }.count == 2
            }
            try #require(eastAgain != nil, "us-east's gated command did not start again: \(f.log("g-us-east"))")
            let westEnd = try #require(
                events(directory, "eu-west").first { $0.0 == "end" },
                "eu-west's command did not end before us-east's started again")
            let eastRestart = try #require(events(directory, "us-east").filter { $0.0 == "start" }.last)
            #expect(
                westEnd.1 <= eastRestart.1, "us-east started at \(eastRestart.1) before eu-west's ended at \(westEnd.1)"
            )
            kill(frozen, SIGCONT)
            // Thawed, eu-west's worker sees the fence, records its command stopped, and starts nothing.
            let cleared = try await f.waitUntil(timeout: .seconds(20)) { try await marked(west, "g-eu-west") == false }
            #expect(cleared != nil, "\(f.log("g-eu-west"))")
            #expect(events(directory, "eu-west").filter { $0.0 == "start" }.count == 1)
        }
    }
}
