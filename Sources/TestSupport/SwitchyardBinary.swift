import Foundation
import SwitchyardRuntime

/// Runs the built `switchyard` binary, for end-to-end tests.
public enum SwitchyardBinary {
    /// What one run printed and how it exited.
    public struct Run: Sendable {
        /// Exit status.
        public var status: Int32
        /// Standard output.
        public var output: String
        /// Standard error.
        public var errors: String
    }

    /// The binary next to the test bundle (`swift build` puts both in the same directory).
    public static var path: String {
        if let configured = ProcessInfo.processInfo.environment["SWITCHYARD_BINARY"] { return configured }
        let bundle = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        return bundle.appendingPathComponent("switchyard").path
    }

    /// Runs `switchyard arguments…` to completion.
    public static func run(_ arguments: [String], environment: [String: String] = [:]) async throws -> Run {
        let errorsFile = "/tmp/switchyard-e2e-\(getpid())-\(UUID().uuidString).err"
        defer { try? FileManager.default.removeItem(atPath: errorsFile) }
        var env = ProcessInfo.processInfo.environment
        env.merge(environment) { _, new in new }
        let outcome = try await Subprocess.run(
            path, arguments, environment: env, check: false, standardErrorPath: errorsFile)
        let errors = (try? String(contentsOfFile: errorsFile, encoding: .utf8)) ?? ""
        return Run(status: outcome.status, output: outcome.output, errors: errors)
    }
}
