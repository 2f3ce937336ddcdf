/// An error from the Postgres client.
///
/// `description` names the operation, the code, the SQLSTATE and the server's message; it never
/// contains the password of the connection string (every message libpq gives is scrubbed first).
public struct PostgresError: Error, Sendable, CustomStringConvertible {
    /// What went wrong, coarsely, so callers can decide to retry or reconnect.
    public enum Code: String, Sendable {
        /// The connection string could not be parsed.
        case invalidConnectionString
        /// Connecting failed (refused, bad host, authentication, …).
        case connectionFailed
        /// An open connection broke (backend terminated, socket closed).
        case connectionLost
        /// The operation's deadline passed; the connection was closed.
        case timeout
        /// The statement was cancelled (PQcancel or task cancellation).
        case cancelled
        /// The server rejected the statement; see `sqlState`.
        case server
        /// A value could not be decoded into the requested type.
        case decoding
        /// The connection was already closed.
        case closed
        /// Anything libpq reports that fits nowhere else.
        case other
    }

    /// The coarse classification.
    public var code: Code
    /// What the client was doing (`connect`, `query`, `copy in`, …).
    public var operation: String
    /// Five-character SQLSTATE when the server sent one.
    public var sqlState: String?
    /// The server's or libpq's message, scrubbed of secrets.
    public var message: String

    /// Creates an error.
    public init(code: Code, operation: String, sqlState: String? = nil, message: String) {
        self.code = code
        self.operation = operation
        self.sqlState = sqlState
        self.message = message
    }

    /// True when the connection can no longer be used and must be re-established.
    public var closesConnection: Bool {
        switch code {
        case .connectionFailed, .connectionLost, .timeout, .closed, .invalidConnectionString: true
        case .server:
            // Class 57 (operator intervention, e.g. terminated by administrator) and 08 (connection exception).
            sqlState.map { $0.hasPrefix("57P") || $0.hasPrefix("08") } ?? false
        case .cancelled, .decoding, .other: false
        }
    }

    /// `operation: code [SQLSTATE] message`.
    public var description: String {
        let state = sqlState.map { " [\($0)]" } ?? ""
        return "postgres \(operation): \(code.rawValue)\(state): \(message)"
    }
}
