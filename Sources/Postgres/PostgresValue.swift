import Foundation

/// A query parameter, sent to the server in text format.
///
/// Parameters are untyped (OID 0) so the server infers each one's type from the statement, as it
/// does for literals; cast in SQL (`$1::jsonb`) where inference is ambiguous.
public enum PostgresValue: Sendable, Hashable {
    /// SQL NULL.
    case null
    /// Text.
    case text(String)
    /// A 64-bit integer.
    case int(Int)
    /// A double-precision float.
    case double(Double)
    /// A boolean.
    case bool(Bool)
    /// A point in time, sent as an ISO timestamp with time zone.
    case date(Date)
    /// A JSON document (text).
    case json(String)
    /// Raw bytes, sent as bytea hex.
    case bytes([UInt8])

    /// The text-format encoding libpq sends, or nil for NULL.
    public var textEncoding: String? {
        switch self {
        case .null: nil
        case .text(let s), .json(let s): s
        case .int(let i): String(i)
        case .double(let d):
            d.isNaN ? "NaN" : d.isInfinite ? (d < 0 ? "-Infinity" : "Infinity") : String(d)
        case .bool(let b): b ? "t" : "f"
        case .date(let d): PostgresTimestamp.format(d)
        case .bytes(let b): "\\x" + b.map { String(format: "%02x", $0) }.joined()
        }
    }
}

extension PostgresValue: ExpressibleByStringLiteral, ExpressibleByIntegerLiteral, ExpressibleByNilLiteral,
    ExpressibleByBooleanLiteral, ExpressibleByFloatLiteral
{
    /// A text literal.
    public init(stringLiteral value: String) { self = .text(value) }
    /// An integer literal.
    public init(integerLiteral value: Int) { self = .int(value) }
    /// NULL.
    public init(nilLiteral: ()) { self = .null }
    /// A boolean literal.
    public init(booleanLiteral value: Bool) { self = .bool(value) }
    /// A float literal.
    public init(floatLiteral value: Double) { self = .double(value) }
}

extension PostgresValue {
    /// Text, or NULL for nil.
    public static func optional(_ s: String?) -> PostgresValue { s.map { .text($0) } ?? .null }
    /// An integer, or NULL for nil.
    public static func optional(_ i: Int?) -> PostgresValue { i.map { .int($0) } ?? .null }
    /// A timestamp, or NULL for nil.
    public static func optional(_ d: Date?) -> PostgresValue { d.map { .date($0) } ?? .null }
}

extension PostgresValue {
    /// A one-dimensional array literal (`{"a","b",NULL}`) for a `text[]`, `float8[]` or `timestamptz[]`
    /// parameter: one statement then carries many rows through `unnest`.
    public static func array(_ elements: [PostgresValue]) -> PostgresValue {
        let items = elements.map { element -> String in
            guard let text = element.textEncoding else { return "NULL" }
            return "\"" + text.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"")
                + "\""
        }
        return .text("{" + items.joined(separator: ",") + "}")
    }
}
