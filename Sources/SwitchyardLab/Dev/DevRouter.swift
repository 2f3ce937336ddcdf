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
    public typealias Mode = HookEndpoint.Mode

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

    /// Serves on `host:port` until the process ends: the lab's `HookEndpoint`, its mode read from the
    /// mode file at each call and every call appended to the journal; `GET /` shows the last body answered `ok`.
    public static func serve(directory: String, host: String, port: Int) async throws {
        let journal = Mutex<FileHandle?>(nil)
        let path = journalPath(directory)
        if !FileManager.default.fileExists(atPath: path) { FileManager.default.createFile(atPath: path, contents: nil) }
        journal.withLock { $0 = FileHandle(forWritingAtPath: path) }
        let endpoint = HookEndpoint(
            mode: { mode(directory: directory) },
            record: { call in
                let line =
                    (try? JSONEncoder().encode(
                        Call(at: call.at.timeIntervalSince1970, answered: call.answered.rawValue, body: call.body)))
                    ?? Data()
                journal.withLock { handle in
                    handle?.seekToEndOfFile()
                    handle?.write(line + Data("\n".utf8))
                }
            },
            extraRoutes: { router in
                router.get("/") { _, _ in calls(directory: directory).last { $0.answered == "ok" }?.body ?? "{}" }
            })
        try await endpoint.serve(host: host, port: port)
    }
}
