import Foundation
import SwitchyardCore
import SwitchyardRuntime

/// `switchyard bench exits`: runs each short command hundreds of times back to back against a local
/// deployment, without and then with load (CPU hogs and a connection storm), and counts abnormal
/// exits (a signal, 134, 139) and JSON outputs that do not parse. A command that crashes as it exits
/// leaves an operator unable to tell whether it did its work.
public enum ExitBench {
    /// One command's tally.
    public struct Tally: Codable, Sendable {
        /// Runs of the command.
        public var runs = 0
        /// Killed by a signal, or exited 134 (abort) / 139 (segfault).
        public var abnormal = 0
        /// `--json` output that does not parse as one JSON document.
        public var truncatedJson = 0
        /// Exited non-zero otherwise (a failure the command reported).
        public var failed = 0
        /// The first few abnormal or failed outcomes, for the report.
        public var examples: [String] = []
    }

    /// The figures.
    public struct Report: Codable, Sendable {
        /// Runs of each command, idle and loaded.
        public var runsPerCommand: Int
        /// Per command, on an idle machine.
        public var idle: [String: Tally]
        /// Per command, with a connection storm running.
        public var loaded: [String: Tally]
        /// Runs that crashed or were killed by a signal.
        public var abnormalExits: Int
        /// Runs whose JSON output was cut short.
        public var truncatedJson: Int
        /// Runs that exited non-zero.
        public var failed: Int
    }

    /// The commands, each `(name, arguments, prints JSON)`.
    static func commands(config: String, regions: [String], agentURL: String) -> [(String, [String], Bool)] {
        [
            (
                "migrate-runs",
                ["migrate-runs", "--from", regions[0], "--to", regions[1], "--dry-run", "--json", "--config", config],
                true
            ),
            ("status", ["status", "--json", "--agent", agentURL, "--config", config], true),
            ("history", ["history", "--json", "--config", config], true),
            ("config-show", ["config", "show", "--config", config], false),
            ("nodes", ["nodes", "--region", regions[0], "--json", "--config", config], true),
            ("trigger", ["trigger", "exits", "--json", "--config", config], true),
        ]
    }

    /// Runs against a fresh deployment in `directory`, removed afterwards.
    public static func run(binary: String, directory: String, runs: Int, progress: @Sendable (String) -> Void)
        async throws -> Report
    {
        let pids = SharedPIDs()
        let outcome: Result<Report, any Error>
        do {
            outcome = .success(
                try await measure(binary: binary, directory: directory, runs: runs, pids: pids, progress: progress))
        } catch {
            outcome = .failure(error)
        }
        await pids.cleanUp(directory: directory)
        return try outcome.get()
    }

    static func measure(
        binary: String, directory: String, runs: Int, pids: SharedPIDs, progress: @Sendable (String) -> Void
    ) async throws -> Report {
        let state = try await DevDeployment.up(directory: directory, regions: 2) { _ in }
        let config = state.configDirectory
        try "dags:\n  - id: exits\n    command: \"true\"\n".write(
            toFile: config + "/dags.yaml", atomically: true, encoding: .utf8)
        let initRun = try await Subprocess.run(
            binary, ["init", "--config", config, "--active", state.regions[0]], check: false)
        guard initRun.status == 0 else { throw DevError("init failed: \(initRun.output)") }
        let logs = directory + "/logs"
        try FileManager.default.createDirectory(atPath: logs, withIntermediateDirectories: true)
        let agentLog = logs + "/agent.log"
        pids.add(
            try Daemon.spawn(
                binary, ["agent", "--config", config, "--observer", state.regions[0], "--listen", "127.0.0.1:0"],
                log: agentLog))
        pids.add(
            try Daemon.spawn(
                binary, ["scheduler", "--config", config, "--region", state.regions[0], "--node-id", "s1"],
                log: logs + "/s1.log"))
        var agentURL: String?
        let deadline = ContinuousClock.now + .seconds(30)
        while agentURL == nil, ContinuousClock.now < deadline {
            let text = (try? String(contentsOfFile: agentLog, encoding: .utf8)) ?? ""
            if let line = text.split(separator: "\n").first(where: { $0.contains("status API listening") }),
                let range = line.range(of: "url=http://")
            {
                agentURL = "http://" + String(line[range.upperBound...].split(separator: " ")[0])
            }
            try await Task.sleep(for: .milliseconds(100))
        }
        guard let agentURL else { throw DevError("the agent did not start: \(agentLog)") }
        let commands = commands(config: config, regions: state.regions, agentURL: agentURL)
        func phase(_ name: String) async throws -> [String: Tally] {
            var tallies: [String: Tally] = [:]
            for (label, arguments, json) in commands {
                var tally = Tally()
                for _ in 0..<runs {
                    let outcome = try await Subprocess.run(
                        binary, arguments, check: false, standardErrorPath: "/dev/null")
                    tally.runs += 1
                    let abnormal = outcome.status >= 128 || outcome.status == 134 || outcome.status == 139
                    if abnormal {
                        tally.abnormal += 1
                    } else if outcome.status != 0 {
                        tally.failed += 1
                    }
                    if json, outcome.status == 0,
                        (try? JSONSerialization.jsonObject(
                            with: Data(outcome.output.utf8), options: [.fragmentsAllowed])) == nil
                    {
                        tally.truncatedJson += 1
                    }
                    if (abnormal || outcome.status != 0) && tally.examples.count < 3 {
                        tally.examples.append("exit \(outcome.status): \(outcome.output.suffix(200))")
                    }
                }
                progress(
                    "\(name) \(label): \(tally.runs) runs, \(tally.abnormal) abnormal, \(tally.truncatedJson) truncated JSON, \(tally.failed) failed"
                )
                tallies[label] = tally
            }
            return tallies
        }
        let idle = try await phase("idle")
        // Loaded: CPU hogs and a connection storm against both regions for the whole phase.
        var seed = SplitMix64(seed: 1)
        let target = Brownout.Target(
            agents: [], postgres: state.regions.compactMap { state.postgres[$0] },
            redis: state.regions.compactMap { state.redis[$0] }, passfile: state.passfile)
        let load = try Brownout.start(.storm, duration: .seconds(3600), target: target, seed: &seed)
        let hogs = try Brownout.start(.cpu, duration: .seconds(3600), target: target, seed: &seed)
        let loaded: [String: Tally]
        do {
            loaded = try await phase("loaded")
        } catch {
            Brownout.stop(load)
            Brownout.stop(hogs)
            throw error
        }
        Brownout.stop(load)
        Brownout.stop(hogs)
        let all = Array(idle.values) + Array(loaded.values)
        return Report(
            runsPerCommand: runs, idle: idle, loaded: loaded, abnormalExits: all.map(\.abnormal).reduce(0, +),
            truncatedJson: all.map(\.truncatedJson).reduce(0, +), failed: all.map(\.failed).reduce(0, +))
    }
}
