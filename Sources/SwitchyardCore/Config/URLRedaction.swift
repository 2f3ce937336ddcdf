/// Hides passwords in URLs before they are shown: `redis://:pw@h` becomes `redis://:***@h`,
/// `http://u:pw@h` becomes `http://u:***@h`, and `password=` query parameters become `password=***`.
public enum URLRedaction {
    /// `url` with the password of its user info and any `password`/`sslpassword` query value replaced by `***`.
    ///
    /// Works on malformed URLs too, erring towards hiding more.
    public static func redacted(_ url: String) -> String {
        guard let schemeEnd = url.range(of: "://") else { return url }
        var head = String(url[..<schemeEnd.upperBound])
        var rest = url[schemeEnd.upperBound...]
        var query: Substring?
        if let mark = rest.firstIndex(of: "?") {
            query = rest[rest.index(after: mark)...]
            rest = rest[..<mark]
        }
        // The last "@" before the query ends the user info: an unencoded "@" or "/" in a password
        // then stays hidden rather than leaking.
        if let at = rest.lastIndex(of: "@") {
            let userInfo = rest[..<at]
            if let colon = userInfo.firstIndex(of: ":") {
                head += userInfo[...colon] + "***"
            } else {
                head += userInfo
            }
            rest = rest[at...]
        }
        var result = head + rest
        if let query {
            let parameters = query.split(separator: "&", omittingEmptySubsequences: false).map { parameter in
                let key = parameter.split(separator: "=", maxSplits: 1).first.map(String.init) ?? ""
                return ConnInfo.secretKeywords.contains(key) ? "\(key)=***" : String(parameter)
            }
            result += "?" + parameters.joined(separator: "&")
        }
        return result
    }
}
