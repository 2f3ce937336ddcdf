import ArgumentParser
import Foundation
import SwitchyardCore
import Threading

/// Runs the root command and turns every error into a message and an exit code.
enum Entry {
    static func run() async {
        var status: Int32 = 0
        do {
            var command = try Switchyard.parseAsRoot()
            if var async = command as? AsyncParsableCommand {
                try await async.run()
            } else {
                try command.run()
            }
        } catch {
            status = code(for: error)
        }
        finish(status)
    }

    /// Ends the process without racing live threads: output is flushed first, then every connection
    /// thread the command opened is waited for (each command closes what it opened; a released
    /// connection's thread finishes its close and deinit on its own), and only then does `exit` run
    /// the global destructors.
    static func finish(_ status: Int32) -> Never {
        fflush(nil)  // every output stream: stdout (the JSON a script reads) and stderr
        let left = DedicatedThreads.drain(timeout: .seconds(5))
        if left > 0, ProcessInfo.processInfo.environment["SWITCHYARD_DEBUG_THREADS"] != nil {
            Output.error("debug: \(left) connection threads still running at exit")
        }
        exit(status)
    }

    static func code(for error: Error) -> Int32 {
        switch error {
        case let errors as ConfigErrors:
            Output.error(errors.description)
            return 2
        case let exit as ExitCode:
            return exit.rawValue
        case let failure as OperationFailure:
            Output.error("error: \(failure.message)")
            return failure.exitCode
        default:
            let parserCode = Switchyard.exitCode(for: error)
            if parserCode == .success {
                print(Switchyard.fullMessage(for: error))
                return 0
            }
            if parserCode == .validationFailure {
                Output.error(Switchyard.fullMessage(for: error))
                return 2
            }
            Output.error("error: \(error)")
            return 1
        }
    }
}

/// A failure with its own message and exit code (1 unless it is bad usage).
struct OperationFailure: Error {
    var message: String
    var exitCode: Int32 = 1
}

/// Printing helpers: results to stdout, diagnostics and progress to stderr.
enum Output {
    static func error(_ text: String) {
        FileHandle.standardError.write(Data((text.hasSuffix("\n") ? text : text + "\n").utf8))
    }

    static func progress(_ text: String) { error(text) }

    static func json<T: Encodable>(_ value: T) throws {
        let encoder = WireJSON.encoder(pretty: true)
        encoder.dateEncodingStrategy = .iso8601
        print(String(decoding: try encoder.encode(value), as: UTF8.self))
    }

    /// True when stdout is a terminal (colours and tables for people, plain text for pipes).
    static var isTTY: Bool { isatty(1) == 1 }
}
