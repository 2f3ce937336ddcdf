/// One versioned, forward-only schema step.
public struct Migration: Sendable {
    /// Strictly increasing version number.
    public var version: Int
    /// A short name recorded with the version.
    public var name: String
    /// The SQL script, run inside the migration transaction.
    public var sql: String
}
