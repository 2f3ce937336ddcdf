import Postgres
import Redaction

/// libpq connection strings: keyword=value conninfo (`host=a,b port=5432 dbname=app`) or
/// `postgresql://` URIs, parsed by libpq itself (`ConnectionString`), then checked for what libpq
/// only finds at connect time (ports, integers, choices). Validation reasons and redacted forms never
/// contain the password.
public enum ConnInfo {
    /// The connection keywords the linked libpq accepts.
    static var keywords: Set<String> { ConnectionString.keywords }
    /// Keywords whose values are secrets and are shown as `***`.
    static let secretKeywords: Set<String> = ["password", "sslpassword"]
    private static let integerKeywords: Set<String> = [
        "connect_timeout", "keepalives", "keepalives_idle", "keepalives_interval", "keepalives_count",
        "tcp_user_timeout",
    ]
    private static let choices: [String: [String]] = [
        "sslmode": ["disable", "allow", "prefer", "require", "verify-ca", "verify-full"],
        "target_session_attrs": ["any", "read-write", "read-only", "primary", "standby", "prefer-standby"],
        "load_balance_hosts": ["disable", "random"],
        "gssencmode": ["disable", "prefer", "require"],
        "channel_binding": ["disable", "prefer", "require"],
    ]

    /// Whether `dsn` is written as a `postgresql://` or `postgres://` URI.
    public static func isURI(_ dsn: String) -> Bool {
        dsn.hasPrefix("postgresql://") || dsn.hasPrefix("postgres://")
    }

    /// The keyword/value pairs `dsn` sets, in libpq's order (a URI is translated to keywords), or nil if it is malformed.
    public static func parse(_ dsn: String) -> [(key: String, value: String)]? {
        guard case .success(let pairs) = parseWithReason(dsn) else { return nil }
        return pairs
    }

    /// Nil when `dsn` is a valid libpq connection string, otherwise a reason that never contains the password.
    public static func validate(_ dsn: String) -> String? {
        if dsn.allSatisfy(\.isWhitespace) { return "connection string is empty" }
        let pairs: [(key: String, value: String)]
        switch parseWithReason(dsn) {
        case .failure(let failure): return failure.reason
        case .success(let parsed): pairs = parsed
        }
        var hostCount = 1
        var portCount = 1
        for (key, value) in pairs {
            if key == "host" || key == "hostaddr" {
                hostCount = max(hostCount, value.split(separator: ",", omittingEmptySubsequences: false).count)
            }
            if key == "port" {
                let ports = value.split(separator: ",", omittingEmptySubsequences: false)
                portCount = ports.count
                for port in ports where !port.isEmpty {
                    guard let number = Int(port), (1...65535).contains(number) else {
                        return "port must be an integer between 1 and 65535"
                    }
                }
            }
            if integerKeywords.contains(key), Int(value) == nil {
                return "\(key) must be an integer"
            }
            if let allowed = choices[key], !allowed.contains(value) {
                return "\(key) must be one of: \(allowed.joined(separator: ", "))"
            }
        }
        if portCount > 1 && portCount != hostCount {
            return "\(portCount) ports given for \(hostCount) hosts (give one port, or one per host)"
        }
        return nil
    }

    /// `dsn` with every password shown as `***`, in keyword form (quoted or not) and in URIs
    /// (`user:***@` and `?password=***`). Works on malformed strings too, erring towards hiding more.
    public static func redacted(_ dsn: String) -> String {
        if isURI(dsn) { return URLRedaction.redacted(dsn) }
        var output = ""
        let characters = Array(dsn)
        var index = 0
        while index < characters.count {
            // A secret keyword at a token boundary, followed by optional spaces and "=".
            if index == 0 || characters[index - 1].isWhitespace,
                let keyword = secretKeywords.first(where: { matches($0, in: characters, at: index) })
            {
                var cursor = index + keyword.count
                while cursor < characters.count, characters[cursor].isWhitespace { cursor += 1 }
                if cursor < characters.count, characters[cursor] == "=" {
                    cursor += 1
                    while cursor < characters.count, characters[cursor].isWhitespace { cursor += 1 }
                    output += "\(keyword)=***"
                    index = endOfValue(characters, from: cursor)
                    continue
                }
            }
            output.append(characters[index])
            index += 1
        }
        return output
    }

    private static func matches(_ word: String, in characters: [Character], at index: Int) -> Bool {
        let word = Array(word)
        guard index + word.count <= characters.count else { return false }
        return Array(characters[index..<index + word.count]) == word
    }

    /// The index just past a quoted or unquoted value starting at `start` (the end for unterminated quotes).
    private static func endOfValue(_ characters: [Character], from start: Int) -> Int {
        var index = start
        if index < characters.count, characters[index] == "'" {
            index += 1
            while index < characters.count {
                if characters[index] == "\\" {
                    index += 2
                } else if characters[index] == "'" {
                    return index + 1
                } else {
                    index += 1
                }
            }
            return characters.count
        }
        while index < characters.count, !characters[index].isWhitespace {
            index += characters[index] == "\\" ? 2 : 1
        }
        return min(index, characters.count)
    }

    struct Failure: Error {
        let reason: String
    }

    static func parseWithReason(_ dsn: String) -> Result<[(key: String, value: String)], Failure> {
        switch ConnectionString.parse(dsn) {
        case .success(let pairs): return .success(pairs)
        case .failure(let malformed):
            // The hint names only a known keyword: the unknown word itself may be part of a secret.
            let hint = malformed.unknownKeyword.map(suggestion(for:)) ?? ""
            return .failure(Failure(reason: malformed.reason + hint))
        }
    }

    /// ` (did you mean "host"?)` when `word` is a near miss of a known keyword, else empty.
    /// The hint names only the known keyword so that a mistyped secret is never repeated.
    static func suggestion(for word: String) -> String {
        guard word.count >= 3 else { return "" }
        let best = keywords.map { ($0, editDistance(word.lowercased(), $0)) }.min {
            $0.1 < $1.1 || ($0.1 == $1.1 && $0.0 < $1.0)
        }
        guard let (keyword, distance) = best, distance <= 2 else { return " (not a libpq connection keyword)" }
        return " (did you mean \"\(keyword)\"?)"
    }

    private static func editDistance(_ a: String, _ b: String) -> Int {
        let a = Array(a)
        let b = Array(b)
        var previous = Array(0...b.count)
        for i in 1...max(a.count, 1) where !a.isEmpty {
            var current = [i] + Array(repeating: 0, count: b.count)
            for j in 1...max(b.count, 1) where !b.isEmpty {
                current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
            }
            previous = current
        }
        return previous[b.count]
    }
}
