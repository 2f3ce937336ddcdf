import Crypto
import Foundation
import Threading

extension RedisConnection {
    /// `PING`; returns the round-trip time.
    public func ping() throws(RedisError) -> Duration {
        let clock = ContinuousClock()
        let start = clock.now
        let reply = try command(["PING"])
        guard reply.string == "PONG" else {
            throw RedisError(code: .unexpectedReply, operation: "PING", message: "expected PONG")
        }
        return clock.now - start
    }

    /// `INFO [section]` parsed into sections of `key: value` (`# Replication` → `replication`).
    public func info(_ section: String? = nil) throws(RedisError) -> [String: [String: String]] {
        let reply = try command(section.map { ["INFO", $0] } ?? ["INFO"])
        guard let text = reply.string else {
            throw RedisError(code: .unexpectedReply, operation: "INFO", message: "expected a bulk string")
        }
        return Self.parseInfo(text)
    }

    /// Parses the text of an `INFO` reply.
    public static func parseInfo(_ text: String) -> [String: [String: String]] {
        var sections: [String: [String: String]] = [:]
        var current = "default"
        for rawLine in text.split(whereSeparator: \.isNewline) {
            let line = rawLine.trimmingCharacters(in: .whitespaces)
            if line.isEmpty { continue }
            if line.hasPrefix("#") {
                current = line.dropFirst().trimmingCharacters(in: .whitespaces).lowercased()
                sections[current, default: [:]] = sections[current] ?? [:]
                continue
            }
            guard let colon = line.firstIndex(of: ":") else { continue }
            sections[current, default: [:]][String(line[..<colon])] = String(line[line.index(after: colon)...])
        }
        return sections
    }

    /// `EVAL script numkeys keys… args…`.
    @discardableResult
    public func eval(_ script: String, keys: [String] = [], arguments: [String] = []) throws(RedisError) -> RedisReply {
        try command(["EVAL", script, String(keys.count)] + keys + arguments)
    }

    /// `EVALSHA sha numkeys keys… args…`.
    @discardableResult
    public func evalSHA(_ sha: String, keys: [String] = [], arguments: [String] = []) throws(RedisError) -> RedisReply {
        try command(["EVALSHA", sha, String(keys.count)] + keys + arguments)
    }

    /// `SCRIPT LOAD`; returns the script's SHA1.
    public func scriptLoad(_ script: String) throws(RedisError) -> String {
        guard let sha = try command(["SCRIPT", "LOAD", script]).string else {
            throw RedisError(code: .unexpectedReply, operation: "SCRIPT", message: "expected a SHA1")
        }
        return sha
    }

    /// Runs a script by SHA1, loading it with EVAL when the server does not have it cached (NOSCRIPT).
    @discardableResult
    public func evalCached(_ script: RedisScript, keys: [String] = [], arguments: [String] = []) throws(RedisError)
        -> RedisReply
    {
        do {
            return try evalSHA(script.sha1, keys: keys, arguments: arguments)
        } catch  where error.code == .server && error.message.hasPrefix("NOSCRIPT") {
            return try eval(script.source, keys: keys, arguments: arguments)
        }
    }

    /// Asks a Sentinel for the current master of `masterName`.
    public func sentinelMaster(_ masterName: String) throws(RedisError) -> (host: String, port: Int)? {
        let reply = try command(["SENTINEL", "get-master-addr-by-name", masterName])
        if reply.isNull { return nil }
        guard let parts = reply.array, parts.count == 2, let host = parts[0].string, let port = parts[1].int else {
            throw RedisError(code: .unexpectedReply, operation: "SENTINEL", message: "expected [host, port]")
        }
        return (host, port)
    }

    /// Asks each sentinel in turn for the master address; the first that answers wins.
    public static func lookupMaster(
        sentinels: [RedisEndpoint], masterName: String, timeout: Duration = .seconds(1)
    ) async throws(RedisError) -> RedisEndpoint.Address {
        var lastError = RedisError(code: .connectionFailed, operation: "SENTINEL", message: "no sentinel configured")
        for sentinel in sentinels {
            do {
                let connection = try await RedisConnection.connect(sentinel, timeout: timeout, commandTimeout: timeout)
                defer { Task { await connection.close() } }
                if let master = try await connection.sentinelMaster(masterName) {
                    return .tcp(host: master.host, port: master.port)
                }
                lastError = RedisError(
                    code: .unexpectedReply, operation: "SENTINEL", message: "unknown master \(masterName)")
            } catch {
                lastError = error
            }
        }
        throw lastError
    }
}

/// A Lua script and its SHA1, for EVALSHA with a fallback to EVAL.
public struct RedisScript: Sendable {
    /// The Lua source.
    public let source: String
    /// Lowercase hex SHA1 of the source, as Redis computes it.
    public let sha1: String

    /// Wraps a script, computing its SHA1.
    public init(_ source: String) {
        self.source = source
        self.sha1 = Insecure.SHA1.hash(data: Array(source.utf8)).map { String(format: "%02x", $0) }.joined()
    }
}
