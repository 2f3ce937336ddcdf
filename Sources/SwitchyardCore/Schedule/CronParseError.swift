/// Why a cron expression or DAG schedule could not be read.
public struct CronParseError: Error, Sendable, Equatable, CustomStringConvertible {
    /// What is wrong with the expression, for example `minute: 61 is outside 0-59`.
    public var reason: String

    /// Creates an error.
    public init(reason: String) {
        self.reason = reason
    }

    /// The reason.
    public var description: String { reason }
}
