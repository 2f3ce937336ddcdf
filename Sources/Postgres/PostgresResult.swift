import Foundation

/// The rows and command status of one statement, copied out of libpq's `PGresult`.
public struct PostgresResult: Sendable {
    /// Column names in order.
    public var columns: [String]
    /// Column type OIDs in order.
    public var columnTypes: [UInt32]
    /// Rows, each cell in text format or nil for NULL.
    public var rows: [PostgresRow]
    /// The command tag (`INSERT 0 3`, `SELECT 2`, `COPY 100000`).
    public var commandTag: String

    /// Rows affected by INSERT/UPDATE/DELETE/COPY (or returned by SELECT), parsed from the command tag.
    public var affectedRows: Int { Int(commandTag.split(separator: " ").last ?? "") ?? rows.count }

    /// The first row, if any.
    public var first: PostgresRow? { rows.first }
}

/// One row of a result. Cells are looked up by index or column name.
public struct PostgresRow: Sendable {
    /// Column names shared with the result.
    public let columns: [String]
    /// Text cells; nil is NULL.
    public let values: [String?]

    /// The cell at `index`.
    public subscript(index: Int) -> PostgresCell {
        PostgresCell(column: columns[index], text: values[index])
    }

    /// The cell named `name`; a missing column reads as NULL with a decoding error on `require`.
    public subscript(name: String) -> PostgresCell {
        guard let index = columns.firstIndex(of: name) else {
            return PostgresCell(column: name, text: nil, missing: true)
        }
        return self[index]
    }
}

/// One value of a row in text format, with typed accessors.
public struct PostgresCell: Sendable {
    /// The column's name.
    public let column: String
    /// The text value, nil for NULL.
    public let text: String?
    let missing: Bool

    init(column: String, text: String?, missing: Bool = false) {
        self.column = column
        self.text = text
        self.missing = missing
    }

    /// True for SQL NULL.
    public var isNull: Bool { text == nil }
    /// The value as text.
    public var string: String? { text }
    /// The value as an integer (int2/int4/int8/numeric without fraction).
    public var int: Int? { text.flatMap { Int($0) } }
    /// The value as a boolean (`t`/`f`).
    public var bool: Bool? {
        switch text {
        case "t", "true": true
        case "f", "false": false
        default: nil
        }
    }
    /// The value as a double (float4/float8/numeric).
    public var double: Double? {
        guard let text else { return nil }
        switch text {
        case "NaN": return .nan
        case "Infinity": return .infinity
        case "-Infinity": return -.infinity
        default: return Double(text)
        }
    }
    /// The value as a point in time (timestamptz, timestamp as UTC, date at midnight UTC).
    public var date: Date? { text.flatMap(PostgresTimestamp.parse) }
    /// The raw JSON text of a json/jsonb value.
    public var json: String? { text }
    /// The value of a bytea column (hex output format).
    public var bytes: [UInt8]? {
        guard let text, text.hasPrefix("\\x") else { return nil }
        let hex = Array(text.utf8.dropFirst(2))
        guard hex.count % 2 == 0 else { return nil }
        var out: [UInt8] = []
        out.reserveCapacity(hex.count / 2)
        var i = 0
        while i < hex.count {
            guard let hi = Self.nibble(hex[i]), let lo = Self.nibble(hex[i + 1]) else { return nil }
            out.append(hi << 4 | lo)
            i += 2
        }
        return out
    }

    private static func nibble(_ c: UInt8) -> UInt8? {
        switch c {
        case 48...57: c - 48
        case 97...102: c - 87
        case 65...70: c - 55
        default: nil
        }
    }

    /// Decodes a non-NULL value as `T`, or throws a decoding error naming the column.
    public func require<T: PostgresDecodable>(_ type: T.Type = T.self) throws -> T {
        if missing {
            throw PostgresError(code: .decoding, operation: "decode", message: "no column named \(column)")
        }
        guard let text else {
            throw PostgresError(code: .decoding, operation: "decode", message: "column \(column) is NULL")
        }
        guard let value = T(postgresText: text) else {
            throw PostgresError(
                code: .decoding, operation: "decode", message: "column \(column) is not a valid \(T.self)")
        }
        return value
    }

    /// Decodes a value as `T?`, NULL giving nil; throws when a non-NULL value does not decode.
    public func optional<T: PostgresDecodable>(_ type: T.Type = T.self) throws -> T? {
        text == nil && !missing ? nil : try require(type)
    }
}

/// A type that decodes from Postgres's text output format.
public protocol PostgresDecodable: Sendable {
    /// Decodes the text, or returns nil when it is not a valid value of this type.
    init?(postgresText: String)
}

extension Int: PostgresDecodable {
    /// Decimal text.
    public init?(postgresText: String) { self.init(postgresText) }
}
extension Int32: PostgresDecodable {
    /// Decimal text.
    public init?(postgresText: String) { self.init(postgresText) }
}
extension String: PostgresDecodable {
    /// Any text.
    public init?(postgresText: String) { self = postgresText }
}
extension Bool: PostgresDecodable {
    /// `t` or `f`.
    public init?(postgresText: String) {
        guard let b = PostgresCell(column: "", text: postgresText).bool else { return nil }
        self = b
    }
}
extension Double: PostgresDecodable {
    /// Float text including NaN and infinities.
    public init?(postgresText: String) {
        guard let d = PostgresCell(column: "", text: postgresText).double else { return nil }
        self = d
    }
}
extension Date: PostgresDecodable {
    /// ISO timestamp text.
    public init?(postgresText: String) {
        guard let d = PostgresTimestamp.parse(postgresText) else { return nil }
        self = d
    }
}
