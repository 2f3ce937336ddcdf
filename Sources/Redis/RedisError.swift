/// An error from the Redis client. Messages never contain the password.
public struct RedisError: Error, Sendable, CustomStringConvertible {
    /// Coarse classification for retry and reconnect decisions.
    public enum Code: String, Sendable {
        /// The URL or address could not be parsed.
        case invalidAddress
        /// Connecting failed (refused, no such socket, auth failed).
        case connectionFailed
        /// The server did not answer within the timeout; the connection was closed.
        case timeout
        /// The connection broke (server gone, reset).
        case connectionLost
        /// The server answered with an error reply.
        case server
        /// The reply did not have the expected shape.
        case unexpectedReply
        /// The connection was already closed.
        case closed
    }

    /// The classification.
    public var code: Code
    /// What the client was doing (`connect`, the command name, …).
    public var operation: String
    /// hiredis's or the server's message.
    public var message: String

    /// Creates an error.
    public init(code: Code, operation: String, message: String) {
        self.code = code
        self.operation = operation
        self.message = message
    }

    /// True when the connection must be re-established before the next command.
    public var closesConnection: Bool {
        switch code {
        case .server, .unexpectedReply: false
        default: true
        }
    }

    /// `redis OPERATION: code: message`.
    public var description: String { "redis \(operation): \(code.rawValue): \(message)" }
}
