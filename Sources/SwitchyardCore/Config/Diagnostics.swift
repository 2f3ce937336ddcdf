/// Collects the errors of one configuration file while its nodes are walked, so every problem is
/// reported at once instead of stopping at the first.
package final class Diagnostics {
    package let file: String
    package let environment: [String: String]
    package private(set) var errors: [ConfigError] = []
    /// Every environment variable the file's `${VAR}` read: Switchyard's secrets come from these.
    package var referenced: Set<String> = []

    package init(file: String, environment: [String: String]) {
        self.file = file
        self.environment = environment
    }

    package func report(line: Int, field: String, _ reason: String) {
        errors.append(ConfigError(file: file, line: line, field: field, reason: reason))
    }

    package var count: Int { errors.count }
}

/// Joins dotted field paths: `path("election", "lock_wait") == "election.lock_wait"`.
package func fieldPath(_ parent: String, _ key: String) -> String {
    parent.isEmpty ? key : "\(parent).\(key)"
}
