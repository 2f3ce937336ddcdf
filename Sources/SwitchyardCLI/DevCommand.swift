import ArgumentParser
import Foundation
import SwitchyardCore
import SwitchyardLab
import SwitchyardRuntime

/// `switchyard dev up|down|status`: a real local multi-region deployment on loopback.
struct DevCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dev", abstract: "Run a local multi-region deployment on loopback.",
        subcommands: [Up.self, Down.self, Status.self, Router.self, Relay.self])

    struct DirectoryOption: ParsableArguments {
        @Option(help: "Deployment directory (several deployments can live side by side).")
        var dir: String = ".switchyard/dev"
    }

    /// Starts (or restarts) the deployment, writes its configuration and runs init.
    struct Up: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Start Postgres per region plus control and Redis per region; write <dir>/regions; init.")
        @OptionGroup var directory: DirectoryOption
        @Option(help: "Number of regions (1-9).") var regions: Int = 3
        @Flag(help: "Also start two scheduler nodes, a worker and an agent per region.") var daemons = false
        @Flag(help: "Run each region in a network namespace of its own (root), so drills can partition one.")
        var netns = false
        @Flag(
            help:
                "Run the control database as a primary plus a streaming replica, reached through a multi-host connection string (the control-database-failover drill promotes the replica)."
        )
        var controlReplica = false
        @Flag(
            help:
                "Run the control database as a three-member Patroni cluster over etcd (Patroni from scripts/install-patroni.sh, Debian's etcd-server), synchronous_mode on, reached through a multi-host connection string; the control-database-failover drill kills its primary and Patroni promotes."
        )
        var controlPatroni = false
        @Flag(
            help:
                "Run Apache Airflow 3 in every region (installed by scripts/install-airflow.sh): its tables in each region database, `airflow scheduler` under the leading scheduler node of the active region, LocalExecutor, no Redis."
        )
        var airflow = false
        @Option(
            help: ArgumentHelp(
                "With --airflow, Airflow's executor: local (LocalExecutor, no Redis) or celery (CeleryExecutor on each region's Redis, its Celery workers run by `switchyard worker --exec` only while the region may run work).",
                valueName: "executor"))
        var executor: String = "local"
        @Option(
            help: ArgumentHelp(
                "Link the regions through a user-space WAN of this profile: lan, continental, global, harsh or far-control (see docs/geography.md).",
                valueName: "profile"))
        var wan: String?
        @Option(
            help: ArgumentHelp(
                "The timings a new deployment is written with: dev (fast, for loopback) or shipped (regions/controlplane.yaml's, as measured across a WAN).",
                valueName: "timings"))
        var timings: String = "dev"
        @Option(
            help: ArgumentHelp(
                "Each region's wall clock, ahead of the host's, run through libfaketime (Debian faketime): REGION=OFFSET,… (eu-west=+1.5s,ap-south=+3.5s), or none. With --wan the profile's offsets are the default.",
                valueName: "skews"))
        var clockSkew: String?
        @Flag(
            help:
                "With --daemons, also run a witness: an agent named witness in a site of no region (`agent --witness`), the third vote two regions need to fail over by themselves. With --wan, its site has links of its own."
        )
        var witness = false

        func validate() throws {
            if let clockSkew, clockSkew != "none" {
                do { _ = try ClockSkew.parseList(clockSkew) } catch { throw ValidationError("\(error)") }
            }
            if let wan, WANProfile.named(wan) == nil {
                throw ValidationError(
                    "--wan must be one of \(WANProfile.names.joined(separator: ", ")), found \"\(wan)\"")
            }
            if !["local", "celery"].contains(executor) {
                throw ValidationError("--executor must be local or celery, found \"\(executor)\"")
            }
            if executor == "celery" && !airflow { throw ValidationError("--executor celery needs --airflow") }
            if !["dev", "shipped"].contains(timings) {
                throw ValidationError("--timings must be dev or shipped, found \"\(timings)\"")
            }
            if witness && netns {
                throw ValidationError(
                    "--witness runs on the host's loopback or across --wan: not available with --netns")
            }
            if witness && !daemons { throw ValidationError("--witness needs --daemons") }
            if wan != nil && (netns || controlReplica) {
                throw ValidationError("--wan is not available with --netns or --control-replica")
            }
            if controlPatroni && (netns || controlReplica || wan != nil) {
                throw ValidationError("--control-patroni is not available with --netns, --control-replica or --wan")
            }
        }

        func run() async throws {
            let clock = ContinuousClock()
            let start = clock.now
            var state: DevState
            // An existing deployment keeps whichever region is active (a drill or failover may have moved it).
            let existed = try DevState.load(directory: DevDeployment.absolute(directory.dir)) != nil
            do {
                state = try await DevDeployment.up(
                    directory: directory.dir, regions: regions, netns: netns, controlReplica: controlReplica,
                    controlPatroni: controlPatroni,
                    airflow: airflow, celery: executor == "celery",
                    settings: timings == "shipped" ? DevSettings(shippedTimings: true) : nil
                ) {
                    Output.progress($0)
                }
            } catch let error as DevError {
                throw OperationFailure(message: error.description)
            }
            if witness, state.witness == nil {
                state.witness = "witness"
                try state.save()
            }
            if let wan, let profile = WANProfile.named(wan) {
                let links = try DevDeployment.setUpWAN(&state, profile: profile)
                Output.progress("WAN \(profile.name): \(links.links.count) links relayed (wan.json)")
            }
            // Clocks: as asked, else the WAN profile's (when faketime is there to run them).
            // A WAN profile's regions run on clocks of their own even at no offset (lan), so a clock step
            // can move one; `--clock-skew none` runs them on the host's, unwrapped.
            var clocks: [String: ClockSkew]? = nil
            var wrapped = true
            if let clockSkew {
                wrapped = clockSkew != "none"
                clocks = clockSkew == "none" ? [:] : try ClockSkew.parseList(clockSkew)
            } else if let wan, let profile = WANProfile.named(wan) {
                if LabClocks.available {
                    // The profile's skews for the regions this deployment has (two regions have no ap-south).
                    clocks = profile.clocks.filter { state.regions.contains($0.key) }
                } else if !profile.clocks.isEmpty {
                    Output.progress("clocks: the host's everywhere (install faketime for the \(wan) profile's skews)")
                }
            }
            if let clocks {
                do {
                    try DevDeployment.setUpClocks(&state, clocks, wrapped: wrapped)
                } catch let error as DevError {
                    throw OperationFailure(message: error.description, exitCode: 2)
                }
                Output.progress(
                    clocks.isEmpty
                        ? (wrapped
                            ? "clocks: the host's everywhere, each region's on libfaketime (clocks/<region>.faketime; a clock_step can move it)"
                            : "clocks: the host's everywhere")
                        : "clocks: "
                            + clocks.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(
                                separator: ", ") + " (libfaketime; clocks/<region>.faketime)")
            }
            let configuration = state.hostConfiguration(try ConfigLoader.load(directory: state.configDirectory))
            let report = try await InitCommand.initialize(configuration, active: existed ? nil : state.regions.first)
            let elapsed = clock.now - start
            Output.progress("schemas ready; active region \(report.activeRegion ?? "none") at epoch \(report.epoch)")
            var current = state
            if daemons {
                let binary = SelfExecutable.path
                try DevDeployment.enableRouter(directory: state.directory)
                current = try DevDeployment.startDaemons(directory: state.directory, binary: binary) {
                    Output.progress($0)
                }
            }
            var rows = try await DevDeployment.status(directory: state.directory)
            // Our daemons listen within seconds; Airflow's api-server imports most of Airflow first, which on a
            // loaded machine has taken over 30 s (LocalAirflow gives it 120 s, as here).
            let waitingSince = ContinuousClock.now
            func stillWaiting(_ row: ServerStatus) -> Bool {
                !row.answering && ContinuousClock.now - waitingSince < .seconds(row.kind == "airflow-api" ? 120 : 30)
            }
            var restarts = 0
            while rows.contains(where: stillWaiting) {
                try await Task.sleep(for: .milliseconds(200))
                rows = try await DevDeployment.status(directory: state.directory)
                // A daemon that died while starting (its port taken meanwhile, a loaded machine) is started again.
                if daemons, restarts < 3,
                    rows.contains(where: { $0.pid == nil && $0.kind != "postgres" && $0.kind != "redis" })
                {
                    restarts += 1
                    Output.progress("restarting daemons that exited while starting")
                    current = try DevDeployment.startDaemons(directory: state.directory, binary: SelfExecutable.path) {
                        Output.progress($0)
                    }
                }
            }
            DevCommand.printRegions(rows, state: current, active: report.activeRegion)
            if let agent = current.daemons.first(where: { $0.kind == "agent" }), let port = agent.port {
                print("")
                if let network = current.network {
                    // Its address exists only inside the namespaces.
                    print(
                        "dashboard (inside the network): ip netns exec \(network.hub) curl http://\(network.address(of: agent.region)):\(port)/status"
                    )
                } else {
                    print(
                        "dashboard: http://127.0.0.1:\(port)/   (status: switchyard status --config \(state.configDirectory))"
                    )
                }
            }
            if let network = current.network {
                print(
                    "network namespaces: \(network.hub) (control, router), "
                        + current.regions.compactMap { r in
                            network.namespaces[r].map { "\($0) (\(r) \(network.address(of: r)))" }
                        }.joined(separator: ", "))
            }
            print("")
            print(
                "up in \(String(format: "%.1f", Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18)) s; configuration: --config \(state.configDirectory)"
            )
            print("stop it with: switchyard dev down --dir \(directory.dir)")
            let silent = rows.filter { !$0.answering }
            if !silent.isEmpty {
                let names = silent.map { "\($0.kind) \($0.region)" + ($0.port.map { " :\($0)" } ?? "") }.joined(
                    separator: ", ")
                throw OperationFailure(
                    message: "not answering: \(names); see `switchyard dev status --dir \(directory.dir)`")
            }
        }
    }

    /// The local deployment's routing stand-in (started by `dev up --daemons`; see `DevRouter`).
    struct Router: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Internal: the dev deployment's routing hook endpoint.", shouldDisplay: false)
        @OptionGroup var directory: DirectoryOption
        @Option(help: "HOST:PORT to listen on.") var listen: String

        func run() async throws {
            guard let colon = listen.lastIndex(of: ":"), let port = Int(listen[listen.index(after: colon)...]) else {
                throw OperationFailure(message: "--listen must be HOST:PORT", exitCode: 2)
            }
            try await DevRouter.serve(
                directory: DevDeployment.absolute(directory.dir), host: String(listen[..<colon]), port: port)
        }
    }

    /// The local deployment's WAN relay (started by `dev up --wan P --daemons`; see `LinkRelay`).
    struct Relay: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Internal: the dev deployment's user-space WAN links.", shouldDisplay: false)
        @OptionGroup var directory: DirectoryOption

        func run() async throws {
            do {
                try await LinkRelay.serve(directory: DevDeployment.absolute(directory.dir)) { Output.progress($0) }
            } catch let error as DevError {
                throw OperationFailure(message: error.description)
            }
        }
    }

    /// Stops every process the deployment started.
    struct Down: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Stop every process of the deployment, by PID.")
        @OptionGroup var directory: DirectoryOption
        @Flag(help: "Also delete the deployment's data.") var purge = false

        func run() async throws {
            do {
                let stopped = try await DevDeployment.down(directory: directory.dir, purge: purge) { print($0) }
                if stopped.isEmpty { print("nothing was running") }
            } catch let error as DevError {
                throw OperationFailure(message: error.description)
            }
        }
    }

    /// Lists every server with its port, PID and whether it answers.
    struct Status: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show each server's port, PID and whether it answers.")
        @OptionGroup var directory: DirectoryOption
        @Flag(help: "Print JSON: {\"servers\": [{kind, region, port, pid, answering}]}.") var json = false

        func run() async throws {
            let rows = try await DevDeployment.status(directory: directory.dir)
            if json {
                try Output.json(StatusDocument(servers: rows))
                return
            }
            if rows.isEmpty {
                print("no deployment in \(directory.dir)")
                throw ExitCode(1)
            }
            print(pad("KIND", 10) + pad("REGION", 12) + pad("PORT", 8) + pad("PID", 9) + "ANSWERING")
            for row in rows {
                print(
                    pad(row.kind, 10) + pad(row.region, 12) + pad(row.port.map(String.init) ?? "-", 8)
                        + pad(row.pid.map(String.init) ?? "-", 9) + (row.answering ? "yes" : "NO"))
            }
            if let agent = rows.first(where: { $0.kind == "agent" && $0.answering }), let port = agent.port {
                print("")
                if let network = try DevState.load(directory: DevDeployment.absolute(directory.dir))?.network {
                    print(
                        "dashboard (inside the network): ip netns exec \(network.hub) curl http://\(network.address(of: agent.region)):\(port)/status"
                    )
                } else {
                    print("dashboard: http://127.0.0.1:\(port)/")
                }
            }
            if rows.contains(where: { !$0.answering }) { throw ExitCode(1) }
        }
    }

    struct StatusDocument: Encodable {
        var servers: [ServerStatus]
    }

    /// One line per region: its database and Redis and whether they answer.
    static func printRegions(_ rows: [ServerStatus], state: DevState, active: String?) {
        print(pad("REGION", 12) + pad("ROLE", 9) + pad("POSTGRES", 18) + pad("REDIS", 18) + "HEALTH")
        // A Patroni control database: a row per member.
        let control = state.controlPatroni.map { $0.members.map(\.name) } ?? ["control"]
        for region in control + state.regions {
            let isControl = control.contains(region)
            let pg = rows.first { $0.kind == "postgres" && $0.region == region }
            let redis = rows.first { $0.kind == "redis" && $0.region == region }
            let healthy = (pg?.answering ?? false) && (isControl || (redis?.answering ?? false))
            let role = isControl ? "control" : (region == active ? "active" : "standby")
            func cell(_ s: ServerStatus?) -> String {
                guard let s else { return "-" }
                return "\(s.port.map(String.init) ?? "-") \(s.answering ? "up" : "DOWN")"
            }
            print(
                pad(region, 12) + pad(role, 9) + pad(cell(pg), 18) + pad(isControl ? "-" : cell(redis), 18)
                    + (healthy ? "healthy" : "UNHEALTHY"))
        }
        if let witness = state.witness {
            let agent = rows.first { $0.kind == "agent" && $0.region == witness }
            print(
                pad(witness, 12) + pad("witness", 9) + pad("-", 18) + pad("-", 18)
                    + "agent " + ((agent?.answering ?? false) ? "answering" : "NOT ANSWERING"))
        }
    }
}

func pad(_ text: String, _ width: Int) -> String {
    text.count >= width ? text + " " : text + String(repeating: " ", count: width - text.count)
}
