import CLibPQ

/// libpq's own reading of a connection string, keyword form (`host=a,b port=5432`) or
/// `postgresql://` URI, through `PQconninfoParse`: configuration is checked by the parser that will
/// connect with it, not by a second grammar. libpq quotes fragments of the string in its errors, and a
/// fragment can be a password, so a refusal is reported only as a fixed reason.
public enum ConnectionString {
    /// Why libpq refuses a string. `reason` never contains any part of the string.
    public struct Malformed: Error, Equatable, Sendable {
        /// What is wrong, without any part of the string.
        public var reason: String
        /// The unknown keyword or query parameter libpq named, for a caller's "did you mean"; never
        /// shown as it is (a mistyped keyword may be part of a secret).
        public var unknownKeyword: String?
    }

    /// Every keyword the linked libpq accepts.
    public static let keywords: Set<String> = {
        var error: UnsafeMutablePointer<CChar>?
        guard let options = PQconninfoParse("", &error) else {
            if let error { PQfreemem(error) }
            return []
        }
        defer { PQconninfoFree(options) }
        var names: Set<String> = []
        var option = options
        while let keyword = option.pointee.keyword {
            names.insert(String(cString: keyword))
            option += 1
        }
        return names
    }()

    /// The keywords `dsn` sets, with their values (a URI's percent-encoding decoded), in libpq's order.
    public static func parse(_ dsn: String) -> Result<[(key: String, value: String)], Malformed> {
        var error: UnsafeMutablePointer<CChar>?
        guard let options = PQconninfoParse(dsn, &error) else {
            let message = error.map { String(cString: $0) } ?? ""
            if let error { PQfreemem(error) }
            return .failure(classify(message))
        }
        defer { PQconninfoFree(options) }
        var pairs: [(key: String, value: String)] = []
        var option = options
        while let keyword = option.pointee.keyword {
            if let value = option.pointee.val { pairs.append((String(cString: keyword), String(cString: value))) }
            option += 1
        }
        return .success(pairs)
    }

    /// `dsn` in keyword form without its credentials: no password, and a password file that does not
    /// exist. A server that asks for a password then ends the attempt as soon as it has answered the
    /// startup packet ("no password supplied"), which is all a liveness ping needs: two round trips
    /// instead of the four of a full SCRAM exchange, which matters across a WAN. Nil when libpq cannot
    /// parse it.
    public static func withoutCredentials(_ dsn: String) -> String? {
        guard case .success(let pairs) = parse(dsn) else { return nil }
        let quote = { (value: String) in
            "'" + value.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "'", with: "\\'") + "'"
        }
        let kept = pairs.filter { $0.key != "password" && $0.key != "passfile" }
        return (kept.map { "\($0.key)=\(quote($0.value))" } + ["passfile='/nonexistent/switchyard-ping'"])
            .joined(separator: " ")
    }

    /// A fixed reason for one of libpq's parse errors (libpq 15's wording), and the keyword it names
    /// when it names an unknown one.
    static func classify(_ message: String) -> Malformed {
        func quoted(after prefix: String) -> String? {
            guard let start = message.range(of: prefix)?.upperBound else { return nil }
            let rest = message[start...]
            guard let end = rest.firstIndex(of: "\"") else { return nil }
            return String(rest[..<end])
        }
        let rules: [(String, String)] = [
            ("missing \"=\" after", "missing \"=\" after a keyword"),
            ("unterminated quoted string", "unterminated quoted value"),
            ("invalid connection option", "unknown keyword"),
            ("invalid URI query parameter", "unknown query parameter"),
            ("missing key/value separator", "query parameter without \"=\""),
            ("extra key/value separator", "query parameter with a second \"=\""),
            ("percent-encoded", "invalid percent-encoding"),
            ("IPv6 host address", "malformed host list"),
            ("unexpected character", "malformed URI"),
            ("invalid URI", "malformed URI"),
        ]
        guard let (_, reason) = rules.first(where: { message.contains($0.0) }) else {
            return Malformed(reason: "malformed connection string")
        }
        var unknown: String?
        if reason == "unknown keyword" { unknown = quoted(after: "invalid connection option \"") }
        if reason == "unknown query parameter" { unknown = quoted(after: "invalid URI query parameter: \"") }
        return Malformed(reason: reason, unknownKeyword: unknown)
    }
}
