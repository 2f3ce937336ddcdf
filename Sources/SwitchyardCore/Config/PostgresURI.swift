/// Translates a `postgresql://[user[:password]@][host[:port][,…]][/dbname][?key=value&…]` URI into
/// libpq keyword/value pairs, following libpq's own reading of the URI.
enum PostgresURI {
    static func parse(_ uri: String) -> Result<[(key: String, value: String)], ConnInfo.Failure> {
        let prefix = uri.hasPrefix("postgresql://") ? "postgresql://" : "postgres://"
        var rest = Substring(uri.dropFirst(prefix.count))
        var pairs: [(key: String, value: String)] = []
        var query: Substring = ""
        if let mark = rest.firstIndex(of: "?") {
            query = rest[rest.index(after: mark)...]
            rest = rest[..<mark]
        }
        // As in libpq, credentials end at the first "@" that comes before any "/".
        if let at = rest.firstIndex(where: { $0 == "@" || $0 == "/" }), rest[at] == "@" {
            let userInfo = rest[..<at]
            rest = rest[rest.index(after: at)...]
            let user: Substring
            var password: Substring?
            if let colon = userInfo.firstIndex(of: ":") {
                user = userInfo[..<colon]
                password = userInfo[userInfo.index(after: colon)...]
            } else {
                user = userInfo
            }
            guard let decodedUser = percentDecoded(user) else {
                return failure("invalid percent-encoding in user name")
            }
            if !decodedUser.isEmpty { pairs.append(("user", decodedUser)) }
            if let password {
                guard let decoded = percentDecoded(password) else {
                    return failure("invalid percent-encoding in password")
                }
                pairs.append(("password", decoded))
            }
        }
        var hostPart = rest
        var database: Substring?
        if let slash = rest.firstIndex(of: "/") {
            hostPart = rest[..<slash]
            database = rest[rest.index(after: slash)...]
        }
        var hosts: [String] = []
        var ports: [String] = []
        if !hostPart.isEmpty {
            for entry in hostPart.split(separator: ",", omittingEmptySubsequences: false) {
                guard let (host, port) = splitHostPort(entry) else { return failure("malformed host list") }
                guard let decodedHost = percentDecoded(host) else { return failure("invalid percent-encoding in host") }
                hosts.append(decodedHost)
                ports.append(String(port ?? ""))
            }
        }
        if hosts.contains(where: { !$0.isEmpty }) { pairs.append(("host", hosts.joined(separator: ","))) }
        if ports.contains(where: { !$0.isEmpty }) { pairs.append(("port", ports.joined(separator: ","))) }
        if let database, !database.isEmpty {
            guard let decoded = percentDecoded(database) else { return failure("invalid percent-encoding in dbname") }
            pairs.append(("dbname", decoded))
        }
        for parameter in query.split(separator: "&") {
            guard let equals = parameter.firstIndex(of: "=") else {
                return failure("query parameter without \"=\"")
            }
            guard let key = percentDecoded(parameter[..<equals]),
                let value = percentDecoded(parameter[parameter.index(after: equals)...])
            else { return failure("invalid percent-encoding in query parameters") }
            guard ConnInfo.keywords.contains(key) else {
                return failure("unknown query parameter\(ConnInfo.suggestion(for: key))")
            }
            pairs.append((key, value))
        }
        return .success(pairs)
    }

    private static func failure(_ reason: String) -> Result<[(key: String, value: String)], ConnInfo.Failure> {
        .failure(ConnInfo.Failure(reason: reason))
    }

    /// Splits `host:port` or `[v6]:port`; nil when a bracket is left open or stray text follows it.
    private static func splitHostPort(_ entry: Substring) -> (Substring, Substring?)? {
        if entry.hasPrefix("[") {
            guard let close = entry.firstIndex(of: "]") else { return nil }
            let host = entry[entry.index(after: entry.startIndex)..<close]
            let after = entry[entry.index(after: close)...]
            if after.isEmpty { return (host, nil) }
            guard after.hasPrefix(":") else { return nil }
            return (host, after.dropFirst())
        }
        guard let colon = entry.firstIndex(of: ":") else { return (entry, nil) }
        return (entry[..<colon], entry[entry.index(after: colon)...])
    }

    /// `%XX` decoding; nil for a broken escape or bytes that are not UTF-8.
    static func percentDecoded(_ text: Substring) -> String? {
        var bytes: [UInt8] = []
        var iterator = text.utf8.makeIterator()
        while let byte = iterator.next() {
            guard byte == UInt8(ascii: "%") else {
                bytes.append(byte)
                continue
            }
            guard let high = iterator.next().flatMap(hexValue), let low = iterator.next().flatMap(hexValue) else {
                return nil
            }
            bytes.append(high << 4 | low)
        }
        return String(validating: bytes, as: UTF8.self)
    }

    private static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
        default: nil
        }
    }
}
