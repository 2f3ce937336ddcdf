/// Why a single configuration value (a URL, an address) was rejected; the reason never quotes secrets.
public struct InvalidValue: Error, Sendable, Equatable, ExpressibleByStringLiteral, CustomStringConvertible {
    /// What is wrong.
    public var reason: String

    /// Creates the error.
    public init(reason: String) {
        self.reason = reason
    }

    /// Creates the error from a literal reason.
    public init(stringLiteral reason: String) {
        self.reason = reason
    }

    /// The reason.
    public var description: String { reason }
}
