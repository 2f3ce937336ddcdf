/// One problem found in a configuration file, located by file, line and dotted field path.
///
/// The reason never contains a secret: values that may carry passwords are described, not quoted.
public struct ConfigError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The file, as the directory given to the loader joined with the file name (`regions/us-east.yaml`).
    public var file: String
    /// The 1-based line of the offending value, or of the mapping that lacks a required key.
    public var line: Int
    /// The dotted field path with list indices, such as `routing.hooks[1].url`.
    public var field: String
    /// What is wrong, in words an operator can act on.
    public var reason: String

    /// Creates an error.
    public init(file: String, line: Int, field: String, reason: String) {
        self.file = file
        self.line = line
        self.field = field
        self.reason = reason
    }

    /// `file:line: field: reason`.
    public var description: String { "\(file):\(line): \(field): \(reason)" }
}

/// Every problem found while loading a configuration directory; loading reports all of them at once.
public struct ConfigErrors: Error, Sendable, Equatable, CustomStringConvertible {
    /// The problems, ordered by file and line.
    public var errors: [ConfigError]

    /// Creates the collection.
    public init(errors: [ConfigError]) {
        self.errors = errors
    }

    /// One `file:line: field: reason` per line.
    public var description: String { errors.map(\.description).joined(separator: "\n") }
}
