import ArgumentParser
import SwitchyardCore

/// `switchyard config show|check`.
struct ConfigCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "config", abstract: "Inspect the configuration.", subcommands: [Show.self, Check.self])

    /// Prints the loaded configuration with every default filled in and every secret redacted.
    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print the loaded configuration, secrets redacted.")
        @OptionGroup var global: GlobalOptions

        func run() async throws {
            let configuration = try ConfigLoader.load(directory: global.config)
            print(configuration.redactedYAML(), terminator: "")
        }
    }

    /// Validates the configuration; exit 2 with `file:line: field: reason` lines when it is bad.
    struct Check: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Validate the configuration.")
        @OptionGroup var global: GlobalOptions

        func run() async throws {
            let configuration = try ConfigLoader.load(directory: global.config)
            print("ok: \(configuration.regions.count) regions, \(configuration.dags.count) DAGs in \(global.config)")
        }
    }
}
