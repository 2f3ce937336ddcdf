import ArgumentParser

/// `switchyard`: the root command.
struct Switchyard: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "switchyard",
        abstract: "Multi-region high-availability control plane for workflow schedulers.",
        version: Switchyard.version,
        subcommands: [
            InitCommand.self, ConfigCommand.self, DevCommand.self, SchedulerCommand.self, WorkerCommand.self,
            TriggerCommand.self, NodesCommand.self, AgentCommand.self, StatusCommand.self, MigrateRunsCommand.self,
            PauseCommand.self, ResumeCommand.self, HistoryCommand.self, FailoverCommand.self, SwitchoverCommand.self,
            BenchCommand.self, DrillCommand.self, ParseCheckCommand.self,
            ExecGuardCommand.self,
        ]
    )
}

extension Switchyard {
    /// The release, as in the repository's VERSION file and the Debian package's version (a test holds them equal).
    static let version = "0.29.0"
}

/// Options every command that reads configuration takes.
struct GlobalOptions: ParsableArguments {
    @Option(name: .long, help: "Configuration directory (controlplane.yaml, <region>.yaml, dags.yaml).")
    var config: String = "regions"
}
