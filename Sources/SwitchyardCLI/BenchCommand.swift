import ArgumentParser
import Foundation
import Postgres
import SwitchyardCore
import SwitchyardLab
import SwitchyardRuntime

/// `switchyard bench …`: benchmarks that print JSON with their figures.
struct BenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench", abstract: "Measure Switchyard's figures; prints JSON.",
        subcommands: [
            Takeover.self, Failover.self, Detect.self, Exits.self, Status.self, Migrate.self, Query.self, Connect.self,
            Simulate.self,
        ])

    /// Round trip of one parameterized query over libpq, through our client and its dedicated thread.
    struct Query: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Query round trip over libpq against the control database (SELECT $1).")
        @OptionGroup var global: GlobalOptions
        @Option(help: "Number of queries.") var count = 5000
        @Flag(help: "Print JSON (the default; kept for symmetry).") var json = false

        struct Report: Encodable {
            var queries: Int
            var p50Ms: Double
            var p99Ms: Double
            var maxMs: Double
            var queriesPerSecond: Double
        }

        func run() async throws {
            let configuration = try ConfigLoader.load(directory: global.config)
            let connection = try await PostgresConnection.connect(configuration.controlPlane.control.dsn)
            let clock = ContinuousClock()
            for i in 0..<200 { try await connection.query("SELECT $1::int", [.int(i)]) }  // warm up
            var samples: [Duration] = []
            samples.reserveCapacity(count)
            let start = clock.now
            for i in 0..<count {
                let t = clock.now
                try await connection.query("SELECT $1::int", [.int(i)])
                samples.append(clock.now - t)
            }
            let total = clock.now - start
            let summary = LatencySummary(samples)
            let seconds = Double(total.components.seconds) + Double(total.components.attoseconds) / 1e18
            try Output.json(
                Report(
                    queries: count, p50Ms: summary.p50Ms, p99Ms: summary.p99Ms, maxMs: summary.maxMs,
                    queriesPerSecond: (Double(count) / seconds).rounded()))
        }
    }
}

extension BenchCommand {
    /// SIGKILL and SIGSTOP takeover of a region's scheduler leader.
    struct Takeover: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Kill (and freeze) the leader N times; time until the new leader's first fenced write commits.")
        @Option(help: "SIGKILL trials.") var trials = 50
        @Option(help: "SIGSTOP trials (each waits out idle_session_timeout).") var freezeTrials = 5
        @Option(help: "Deployment directory (created and removed).") var dir = "/tmp/switchyard-bench-takeover"
        @Flag(help: "Print JSON (the default).") var json = false

        func run() async throws {
            signal(SIGPIPE, SIG_IGN)
            let binary = SelfExecutable.path
            let report = try await TakeoverBench.run(
                binary: binary, directory: DevDeployment.absolute(dir), killTrials: trials, freezeTrials: freezeTrials
            ) { Output.progress($0) }
            try Output.json(report)
        }
    }
}

extension BenchCommand {
    /// Status API throughput against nginx, detection time, and an agent's cost at 200 regions.
    struct Status: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract:
                "Load /status with wrk (vs nginx serving the same bytes); kill-to-down time; agent CPU/RSS at 200 regions."
        )
        @Option(help: "Simulated unreachable regions besides the three local ones.") var extraRegions = 50
        @Option(help: "wrk connections.") var connections = 64
        @Option(help: "Seconds of load per server.") var seconds = 10
        @Option(help: "Deployment directory (created and removed).") var dir = "/tmp/switchyard-bench-status"
        @Flag(help: "Print JSON (the default).") var json = false

        func run() async throws {
            signal(SIGPIPE, SIG_IGN)
            let binary = SelfExecutable.path
            let report = try await StatusBench.run(
                binary: binary, directory: DevDeployment.absolute(dir), extraRegions: extraRegions,
                connections: connections,
                seconds: seconds
            ) { Output.progress($0) }
            try Output.json(report)
        }
    }
}

extension BenchCommand {
    /// Active-run migration throughput between two local region databases.
    struct Migrate: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Migrate N active runs between two local region databases.")
        @Option(help: "Active runs to migrate.") var runs = 100_000
        @Option(help: "Deployment directory (created and removed).") var dir = "/tmp/switchyard-bench-migrate"
        @Flag(help: "Print JSON (the default).") var json = false

        func run() async throws {
            try Output.json(try await MigrateBench.run(directory: DevDeployment.absolute(dir), runs: runs))
        }
    }
}

extension BenchCommand {
    /// Kill the active region's Postgres; time detection, each step and the total to the hook's acknowledgement.
    struct Failover: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract:
                "Kill the active region's Postgres N times; detect, fence, migrate, activate, route and total, runs lost and twice."
        )
        @Option(help: "Failovers to measure.") var trials = 3
        @Option(help: "Deployment directory (created and removed).") var dir = "/tmp/switchyard-bench-failover"
        @Flag(help: "Print JSON (the default).") var json = false

        func run() async throws {
            signal(SIGPIPE, SIG_IGN)
            let binary = SelfExecutable.path
            let report = try await FailoverBench.run(
                binary: binary, directory: DevDeployment.absolute(dir), trials: trials
            ) { Output.progress($0) }
            try Output.json(report)
        }
    }
}

extension BenchCommand {
    /// Detection on evidence (a crash) and on silence (a hang), and brown-outs that must cause no failover.
    struct Detect: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract:
                "Crash and hang the active Postgres (fault to begin); brown-out episodes that harm no region; false failovers."
        )
        @Option(help: "Crash trials (SIGQUIT the active postmaster).") var trials = 5
        @Option(help: "Hang trials (SIGSTOP the active postmaster).") var hangTrials = 5
        @Option(help: "Brown-out episodes (agents frozen, connection/fork storm, CPU hogs, combined, in turn).")
        var episodes = 50
        @Option(help: "Seed of the episodes' durations and frozen agents.") var seed: UInt64 = 1
        @Option(help: "Deployment directory (created and removed).") var dir = "/tmp/switchyard-bench-detect"
        @Option(
            help: ArgumentHelp(
                "Run the schedulers and agents with this build instead (compare an older detector).",
                visibility: .hidden))
        var daemonBinary: String?
        @Flag(help: "Print JSON (the default).") var json = false

        func run() async throws {
            signal(SIGPIPE, SIG_IGN)
            let report = try await DetectBench.run(
                binary: SelfExecutable.path, daemonBinary: daemonBinary, directory: DevDeployment.absolute(dir),
                trials: trials, hangTrials: hangTrials,
                episodes: episodes, seed: seed
            ) { Output.progress($0) }
            try Output.json(report)
        }
    }
}

extension BenchCommand {
    /// Short commands run back to back, idle and loaded: abnormal exits and truncated JSON.
    struct Exits: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract:
                "Run each short command N times, idle then under load; count abnormal exits (signal, 134, 139) and truncated JSON."
        )
        @Option(help: "Runs of each command per phase.") var runs = 200
        @Option(help: "Deployment directory (created and removed).") var dir = "/tmp/switchyard-bench-exits"
        @Flag(help: "Print JSON (the default).") var json = false

        func run() async throws {
            signal(SIGPIPE, SIG_IGN)
            let report = try await ExitBench.run(
                binary: SelfExecutable.path, directory: DevDeployment.absolute(dir), runs: runs
            ) {
                Output.progress($0)
            }
            try Output.json(report)
        }
    }
}

extension BenchCommand {
    /// What a new connection costs from here to every database the configuration names, through the same
    /// client the daemons use, against the budgets they give one: across a WAN a connect is several round
    /// trips (TLS or its refusal, startup, the two SCRAM messages), and a budget that barely covers it on
    /// an idle host fails on a loaded one.
    struct Connect: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract:
                "Connect to the control database and every region database N times; p50/p99/max against the connect budgets."
        )
        @OptionGroup var global: GlobalOptions
        @Option(help: "Connects per database.") var count = 20
        @Flag(help: "Print JSON (the default).") var json = false

        struct Target: Encodable {
            var database: String
            var connects: Int
            var failures: Int
            var p50Ms: Double?
            var p99Ms: Double?
            var maxMs: Double?
            /// The smallest budget a daemon gives a new connection to it.
            var budgetMs: Double
            /// The budget left over at the slowest connect (negative: a connect that slow fails).
            var marginAtMaxMs: Double?
        }
        struct Report: Encodable {
            var probeReconnectBudgetMs: Double
            var electionConnectBudgetMs: Double
            var targets: [Target]
        }

        func run() async throws {
            signal(SIGPIPE, SIG_IGN)
            let configuration = try ConfigLoader.load(directory: global.config)
            let plane = configuration.controlPlane
            let probe = plane.probes.connectTimeout, election = plane.election.connectTimeout
            // The control database: the agents' status session reconnects within the probe budget, the
            // failover leadership lock within the election's. A region database: the probes' reconnect.
            var databases = [("control", plane.control.dsn, min(probe, election))]
            databases += configuration.regions.map { ($0.name, $0.databaseDSN, probe) }
            var targets: [Target] = []
            for (name, dsn, budget) in databases {
                var samples: [Duration] = []
                var failures = 0
                for _ in 0..<max(1, count) {
                    let start = ContinuousClock.now
                    do {
                        let connection = try await PostgresConnection.connect(dsn, timeout: .seconds(30))
                        samples.append(ContinuousClock.now - start)
                        await connection.close()
                    } catch {
                        // The client scrubs the password from its messages: the first failure says why.
                        if failures == 0 { Output.progress("\(name): a connect failed: \(error)") }
                        failures += 1
                    }
                    try await Task.sleep(for: .milliseconds(100))
                }
                let summary = samples.isEmpty ? nil : LatencySummary(samples)
                let budgetMs = budget.secondsDouble * 1000
                Output.progress(
                    "\(name): p50 \(summary.map { String(format: "%.0f", $0.p50Ms) } ?? "-") ms, max "
                        + "\(summary.map { String(format: "%.0f", $0.maxMs) } ?? "-") ms, budget \(budget)")
                targets.append(
                    Target(
                        database: name, connects: samples.count, failures: failures, p50Ms: summary?.p50Ms,
                        p99Ms: summary?.p99Ms, maxMs: summary?.maxMs, budgetMs: budgetMs,
                        marginAtMaxMs: summary.map { budgetMs - $0.maxMs }))
            }
            try Output.json(
                Report(
                    probeReconnectBudgetMs: probe.secondsDouble * 1000,
                    electionConnectBudgetMs: election.secondsDouble * 1000,
                    targets: targets))
        }
    }
}
