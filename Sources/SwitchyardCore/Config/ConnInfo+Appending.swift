import Foundation

extension ConnInfo {
    /// Adds libpq keywords to a conninfo string or URI (later keywords win in libpq), so a component
    /// can impose its own timeouts and keepalives on whatever the operator configured.
    public static func appending(_ dsn: String, _ settings: [(key: String, value: String)]) -> String {
        if isURI(dsn) {
            let encoded = settings.map { key, value in
                key + "="
                    + (value.addingPercentEncoding(
                        withAllowedCharacters: .urlQueryAllowed.subtracting(CharacterSet(charactersIn: "&=+"))) ?? value)
            }.joined(separator: "&")
            return dsn + (dsn.contains("?") ? "&" : "?") + encoded
        }
        let quoted = settings.map { key, value in
            key + "='" + value.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "'", with: "\\'")
                + "'"
        }.joined(separator: " ")
        return dsn.trimmingCharacters(in: .whitespaces) + " " + quoted
    }
}
