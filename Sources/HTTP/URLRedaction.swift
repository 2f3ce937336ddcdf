/// Removes credentials from URLs before they reach an error, a log line or an event.
///
/// A hook URL may carry a password (`https://user:secret@host/`) or a token in its query
/// (`?token=…`). Both are replaced by `***`; the fragment is dropped. Parsing is deliberately
/// forgiving: the input may be malformed, which is exactly when it ends up in an error.
enum URLRedaction {
    /// The URL with its password and every query value replaced by `***`, and no fragment.
    static func redact(_ url: String) -> String {
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
                return item[..<equals] + "=***"
            }
            result += "?" + items.joined(separator: "&")
        }
        return result
    }

    /// `text` with the raw URL replaced by its redacted form and every secret of the URL by `***`.
    static func scrub(_ text: String, secretsOf url: String) -> String {
        var result = text
        if !url.isEmpty { result = result.replacing(url, with: redact(url)) }
        for secret in secrets(in: url).sorted(by: { $0.count > $1.count }) {
            result = result.replacing(secret, with: "***")
        }
        return result
    }

    /// The password, the whole query, each query value and the fragment, when non-empty.
    static func secrets(in url: String) -> [String] {
        let parts = Parts(url)
        var found: [String] = []
        if let password = parts.password, !password.isEmpty { found.append(password) }
        if let query = parts.query, !query.isEmpty {
            found.append(query)
            for item in query.split(separator: "&") {
                if let equals = item.firstIndex(of: "=") {
                    let value = item[item.index(after: equals)...]
                    if !value.isEmpty { found.append(String(value)) }
                } else {
                    found.append(String(item))
                }
            }
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
            let authorityEnd = rest.firstIndex(of: "/") ?? rest.endIndex
            if let at = rest[..<authorityEnd].lastIndex(of: "@") {
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
