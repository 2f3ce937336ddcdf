/// A reply from Redis (RESP2: status, error, integer, bulk string, nil, nested arrays).
public indirect enum RedisReply: Sendable, Equatable {
    /// A simple status such as `OK` or `PONG`.
    case status(String)
    /// An error reply (`ERR …`, `NOSCRIPT …`); top-level errors are thrown, nested ones stay values.
    case error(String)
    /// An integer.
    case integer(Int)
    /// A binary-safe bulk string.
    case bulk([UInt8])
    /// The nil bulk string or nil array.
    case null
    /// An array, possibly nested.
    case array([RedisReply])

    /// The reply as text: a status, or a bulk string decoded as UTF-8.
    public var string: String? {
        switch self {
        case .status(let s): s
        case .bulk(let b): String(decoding: b, as: UTF8.self)
        default: nil
        }
    }

    /// The reply as an integer: an integer reply, or a bulk string holding digits.
    public var int: Int? {
        switch self {
        case .integer(let i): i
        case .bulk, .status: string.flatMap { Int($0) }
        default: nil
        }
    }

    /// The elements of an array reply.
    public var array: [RedisReply]? {
        if case .array(let a) = self { return a }
        return nil
    }

    /// True for the nil reply.
    public var isNull: Bool { self == .null }
}
