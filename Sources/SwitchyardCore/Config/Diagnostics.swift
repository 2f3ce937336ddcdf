/// Collects the errors of one configuration file while its nodes are walked, so every problem is
/// reported at once instead of stopping at the first.
final class Diagnostics {
    let file: String
    let environment: [String: String]
    private(set) var errors: [ConfigError] = []

    init(file: String, environment: [String: String]) {
        self.file = file
        self.environment = environment
    }

    func report(line: Int, field: String, _ reason: String) {
        errors.append(ConfigError(file: file, line: line, field: field, reason: reason))
    }

    var count: Int { errors.count }
}

/// Joins dotted field paths: `path("election", "lock_wait") == "election.lock_wait"`.
func fieldPath(_ parent: String, _ key: String) -> String {
    parent.isEmpty ? key : "\(parent).\(key)"
}
