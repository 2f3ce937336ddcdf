/// The one rule set that removes credentials from URLs (hook URLs, Redis and Postgres URIs) before
/// they reach an error, a log line, an event, the status or `config show`:
///
/// - the password of the user info becomes `***` (the last `@` before the query ends the user info,
///   so an unencoded `@` or `/` in a password stays hidden);
/// - every query value becomes `***` (a bare item too), except the values of connection options that
///   are never secret (`sslmode`, `application_name`, …), which an operator needs to see;
/// - the fragment is dropped.
///
/// Parsing is deliberately forgiving and errs towards hiding more: the input may be malformed,
/// which is exactly when it ends up in an error.
public enum URLRedaction {
    /// Query keys whose values are shown: libpq's connection options that carry no secret.
    /// `password` and `sslpassword` are not among them.
    public static let visibleQueryKeys: Set<String> = [
        "host", "hostaddr", "port", "dbname", "user", "connect_timeout", "client_encoding", "options",
        "application_name", "fallback_application_name", "keepalives", "keepalives_idle", "keepalives_interval",
        "keepalives_count", "tcp_user_timeout", "replication", "gssencmode", "sslmode", "sslcompression", "sslcert",
        "sslkey", "sslcertmode", "sslrootcert", "sslcrl", "sslcrldir", "sslsni", "requirepeer",
        "ssl_min_protocol_version", "ssl_max_protocol_version", "krbsrvname", "gsslib", "gssdelegation", "service",
        "target_session_attrs", "load_balance_hosts", "require_auth", "channel_binding",
    ]

    /// `url` with its password and every secret query value replaced by `***`, and no fragment.
    public static func redacted(_ url: String) -> String {
        let parts = Parts(url)
        var result = parts.prefix
        if let user = parts.user {
            result += user
            if parts.password != nil { result += ":***" }
            result += "@"
        }
        result += parts.hostAndPath
        if let query = parts.query {
            let items = query.split(separator: "&", omittingEmptySubsequences: false).map { item -> String in
                guard let equals = item.firstIndex(of: "=") else { return item.isEmpty ? "" : "***" }
                let key = item[..<equals]
                return visibleQueryKeys.contains(String(key)) ? String(item) : key + "=***"
            }
            result += "?" + items.joined(separator: "&")
        }
        return result
    }

    /// Only the URL's scheme, host and port (`https://hooks.example.com`): for places that need not
    /// say more and that others than operators read, since a webhook's path is often its secret.
    public static func origin(_ url: String) -> String {
        let parts = Parts(url)
        let host = parts.hostAndPath.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false).first
        return parts.prefix + String(host ?? "")
    }

    /// `text` with the raw URL replaced by its redacted form and every secret of the URL by `***`.
    public static func scrub(_ text: String, secretsOf url: String) -> String {
        var result = text
        if !url.isEmpty { result = result.replacing(url, with: redacted(url)) }
        for secret in secrets(in: url).sorted(by: { $0.count > $1.count }) {
            result = result.replacing(secret, with: "***")
        }
        return result
    }

    /// What `redacted(_:)` hides, when non-empty: the password, the whole query when any of it is
    /// hidden, each hidden query value and the fragment.
    public static func secrets(in url: String) -> [String] {
        let parts = Parts(url)
        var found: [String] = []
        if let password = parts.password, !password.isEmpty { found.append(password) }
        if let query = parts.query, !query.isEmpty {
            var hidden: [String] = []
            for item in query.split(separator: "&") {
                if let equals = item.firstIndex(of: "=") {
                    let value = item[item.index(after: equals)...]
                    if !value.isEmpty && !visibleQueryKeys.contains(String(item[..<equals])) {
                        hidden.append(String(value))
                    }
                } else {
                    hidden.append(String(item))
                }
            }
            if !hidden.isEmpty { found.append(query) }
            found += hidden
        }
        if let fragment = parts.fragment, !fragment.isEmpty { found.append(fragment) }
        return found
    }

    /// The pieces of a URL that redaction cares about.
    private struct Parts {
        var prefix = ""
        var user: String?
        var password: String?
        var hostAndPath = ""
        var query: String?
        var fragment: String?

        init(_ url: String) {
            var rest = Substring(url)
            if let hash = rest.firstIndex(of: "#") {
                fragment = String(rest[rest.index(after: hash)...])
                rest = rest[..<hash]
            }
            if let question = rest.firstIndex(of: "?") {
                query = String(rest[rest.index(after: question)...])
                rest = rest[..<question]
            }
            if let schemeEnd = rest.firstRange(of: "://") {
                prefix = String(rest[..<schemeEnd.upperBound])
                rest = rest[schemeEnd.upperBound...]
            }
            if let at = rest.lastIndex(of: "@") {
                let userinfo = rest[..<at]
                if let colon = userinfo.firstIndex(of: ":") {
                    user = String(userinfo[..<colon])
                    password = String(userinfo[userinfo.index(after: colon)...])
                } else {
                    user = String(userinfo)
                }
                rest = rest[rest.index(after: at)...]
            }
            hostAndPath = String(rest)
        }
    }
}
