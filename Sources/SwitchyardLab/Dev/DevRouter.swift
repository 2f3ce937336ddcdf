import Foundation
import Hummingbird
import Logging
import SwitchyardCore
import SwitchyardRuntime
import Synchronization

/// The local deployment's stand-in for a DNS or load-balancer API: the routing hook of every dev region
/// points at it. It records each call (when, which region, which failover) in `<dir>/router.jsonl`, and
/// answers according to `<dir>/router.mode` (`ok`, `fail` answers 500, `hang` never answers), which
/// drills set to rehearse a failing or hanging hook endpoint.
public enum DevRouter {
    /// One recorded call.
    public struct Call: Codable, Sendable, Equatable {
        /// Arrival, seconds since 1970.
        public var at: Double
        /// The mode it was answered in.
        public var answered: String
        /// The hook's JSON body (region, previous_region, epoch, failover_id).
        public var body: String
    }

    /// What the router answers.
    public enum Mode: String, Sendable, CaseIterable {
        case ok, fail, hang
    }

    /// The journal of calls in a deployment directory.
    public static func journalPath(_ directory: String) -> String { directory + "/router.jsonl" }
    /// The mode file in a deployment directory.
    public static func modePath(_ directory: String) -> String { directory + "/router.mode" }

    /// Sets how the router answers from now on.
    public static func setMode(_ mode: Mode, directory: String) throws {
        try mode.rawValue.write(toFile: modePath(directory), atomically: true, encoding: .utf8)
    }

    /// The current mode (`ok` when unset).
    public static func mode(directory: String) -> Mode {
        let text = (try? String(contentsOfFile: modePath(directory), encoding: .utf8))?.trimmingCharacters(
            in: .whitespacesAndNewlines)
        return text.flatMap(Mode.init(rawValue:)) ?? .ok
    }

    /// Every call recorded so far.
    public static func calls(directory: String) -> [Call] {
        guard let text = try? String(contentsOfFile: journalPath(directory), encoding: .utf8) else { return [] }
        return text.split(separator: "\n").compactMap { try? JSONDecoder().decode(Call.self, from: Data($0.utf8)) }
    }

    /// Serves on `host:port` until the process ends.
    public static func serve(directory: String, host: String, port: Int) async throws {
        let journal = Mutex<FileHandle?>(nil)
        let path = journalPath(directory)
        if !FileManager.default.fileExists(atPath: path) { FileManager.default.createFile(atPath: path, contents: nil) }
        journal.withLock { $0 = FileHandle(forWritingAtPath: path) }
        let router = Router()
        router.post("/route") { request, _ in
            let body = String(buffer: try await request.body.collect(upTo: 64 * 1024))
            let mode = mode(directory: directory)
            let line =
                (try? JSONEncoder().encode(Call(at: Date().timeIntervalSince1970, answered: mode.rawValue, body: body)))
                ?? Data()
            journal.withLock { handle in
                handle?.seekToEndOfFile()
                handle?.write(line + Data("\n".utf8))
            }
            switch mode {
            case .ok: return Response(status: .ok)
            case .fail: return Response(status: .internalServerError)
            case .hang:
                try await Task.sleep(for: .seconds(3600))
                return Response(status: .ok)
            }
        }
        router.get("/") { _, _ in
            let last = calls(directory: directory).last { $0.answered == "ok" }
            return last?.body ?? "{}"
        }
        var logger = Logger(label: "switchyard.dev.router")
        logger.logLevel = .warning
        let app = Application(
            router: router, configuration: .init(address: .hostname(host, port: port)), logger: logger)
        try await app.runService()
    }
}
