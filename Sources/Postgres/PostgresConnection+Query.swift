import CLibPQ
import Foundation

extension PostgresConnection {
    /// Runs one statement with parameters (`$1`, `$2`, …) through the extended protocol.
    ///
    /// - Parameter timeout: the client-side deadline; past it the connection is closed and
    ///   `.timeout` thrown. Defaults to `defaultTimeout`.
    @discardableResult
    public func query(_ sql: String, _ parameters: [PostgresValue] = [], timeout: Duration? = nil)
        async throws(PostgresError) -> PostgresResult
    {
        let results = try exchange("query", timeout: timeout) { conn in
            Self.withParameters(parameters) { values, count in
                PQsendQueryParams(conn, sql, count, nil, values, nil, nil, 0)
            }
        }
        return results.last ?? PostgresResult(columns: [], columnTypes: [], rows: [], commandTag: "")
    }

    /// Runs a statement and returns the number of rows it affected.
    @discardableResult
    public func execute(_ sql: String, _ parameters: [PostgresValue] = [], timeout: Duration? = nil)
        async throws(PostgresError) -> Int
    {
        try await query(sql, parameters, timeout: timeout).affectedRows
    }

    /// Runs a script of several statements through the simple protocol (no parameters).
    @discardableResult
    public func simpleQuery(_ sql: String, timeout: Duration? = nil) async throws(PostgresError) -> [PostgresResult] {
        try exchange("simple query", timeout: timeout) { conn in PQsendQuery(conn, sql) }
    }

    /// Runs `body` inside BEGIN … COMMIT, rolling back when it throws. `timeout` bounds BEGIN, COMMIT and
    /// ROLLBACK as the body's statements are bounded (nil: the connection's default): a caller with a
    /// budget must not wait out the default on a peer gone silent.
    public func transaction<T: Sendable>(
        _ begin: String = "BEGIN", timeout: Duration? = nil,
        _ body: @Sendable (isolated PostgresConnection) async throws -> T
    ) async throws -> T {
        try await query(begin, timeout: timeout)
        do {
            let value = try await body(self)
            try await query("COMMIT", timeout: timeout)
            return value
        } catch {
            if isOpen { _ = try? await query("ROLLBACK", timeout: timeout) }
            throw error
        }
    }

    static func withParameters<R>(
        _ parameters: [PostgresValue], _ body: (UnsafePointer<UnsafePointer<CChar>?>?, Int32) -> R
    ) -> R {
        let encoded = parameters.map { $0.textEncoding.map { strdup($0) } ?? nil }
        defer { for pointer in encoded { free(pointer) } }
        let constants = encoded.map { UnsafePointer($0) }
        return constants.withUnsafeBufferPointer { buffer in body(buffer.baseAddress, Int32(parameters.count)) }
    }

    /// Sends a request with `send`, flushes it and collects every result until libpq has no more.
    func exchange(_ operation: String, timeout: Duration?, send: (OpaquePointer) -> Int32) throws(PostgresError)
        -> [PostgresResult]
    {
        let conn = try requireConnection(operation)
        let deadline = (timeout ?? defaultTimeout).map { ContinuousClock.now + $0 }
        cancelSent = false
        guard send(conn) == 1 else { throw failure(operation) }
        try flush(operation, deadline: deadline)
        var results: [PostgresResult] = []
        var firstError: PostgresError?
        while let result = try nextResult(operation, deadline: deadline) {
            defer { PQclear(result) }
            switch PQresultStatus(result) {
            case PGRES_COMMAND_OK, PGRES_TUPLES_OK, PGRES_EMPTY_QUERY:
                results.append(copyResult(result))
            case PGRES_COPY_IN, PGRES_COPY_OUT, PGRES_COPY_BOTH:
                // A COPY through query(): end it so the connection stays usable, and say what to use.
                if PQresultStatus(result) == PGRES_COPY_IN { PQputCopyEnd(conn, "use copyIn") }
                firstError =
                    firstError
                    ?? PostgresError(code: .other, operation: operation, message: "COPY needs copyIn or copyOut")
            default:
                firstError = firstError ?? resultError(operation, result)
            }
        }
        try checkAlive(operation, after: firstError)
        if let firstError { throw firstError }
        return results
    }

    /// Flushes libpq's output buffer within the deadline.
    func flush(_ operation: String, deadline: ContinuousClock.Instant?) throws(PostgresError) {
        let conn = try requireConnection(operation)
        while true {
            let status = PQflush(conn)
            if status == 0 { return }
            if status < 0 { throw failure(operation) }
            guard waitSocket(read: true, write: true, deadline: deadline) else { throw timedOut(operation) }
            // Input may have arrived (a notice, an error): consume it so the server is not blocked writing.
            if PQconsumeInput(conn) == 0 { throw failure(operation) }
        }
    }

    /// Waits until libpq has a whole result (or knows there are none) and returns it; the caller clears it.
    func nextResult(_ operation: String, deadline: ContinuousClock.Instant?) throws(PostgresError) -> OpaquePointer? {
        let conn = try requireConnection(operation)
        while PQisBusy(conn) == 1 {
            guard waitSocket(read: true, write: false, deadline: deadline) else { throw timedOut(operation) }
            if PQconsumeInput(conn) == 0 { throw failure(operation) }
        }
        collectNotifications()
        return PQgetResult(conn)
    }

    /// Throws `.connectionLost` when libpq reports the connection bad after an exchange.
    func checkAlive(_ operation: String, after error: PostgresError?) throws(PostgresError) {
        guard let connection, PQstatus(connection) != CONNECTION_OK else { return }
        let message = error?.message ?? libpqMessage()
        let state = error?.sqlState
        close()
        throw PostgresError(code: .connectionLost, operation: operation, sqlState: state, message: message)
    }

    /// The error for a failed libpq call: the connection is lost when libpq says it is bad.
    func failure(_ operation: String) -> PostgresError {
        let message = libpqMessage()
        if let connection, PQstatus(connection) == CONNECTION_OK {
            return PostgresError(code: .other, operation: operation, message: message)
        }
        close()
        return PostgresError(code: .connectionLost, operation: operation, message: message)
    }

    func timedOut(_ operation: String) -> PostgresError {
        // The exchange is half done and cannot be resumed: close, and the caller reconnects.
        close()
        return PostgresError(code: .timeout, operation: operation, message: "no answer before the deadline")
    }

    func resultError(_ operation: String, _ result: OpaquePointer) -> PostgresError {
        func field(_ code: UInt8) -> String? {
            PQresultErrorField(result, Int32(code)).map { String(cString: $0) }
        }
        let state = field(UInt8(ascii: "C"))
        var message = field(UInt8(ascii: "M")) ?? PQresultErrorMessage(result).map { String(cString: $0) } ?? ""
        if let detail = field(UInt8(ascii: "D")) { message += " (\(detail))" }
        let code: PostgresError.Code = state == "57014" ? .cancelled : .server
        return PostgresError(code: code, operation: operation, sqlState: state, message: scrub(message))
    }

    func copyResult(_ result: OpaquePointer) -> PostgresResult {
        let fieldCount = Int(PQnfields(result))
        let rowCount = Int(PQntuples(result))
        var columns: [String] = []
        var types: [UInt32] = []
        columns.reserveCapacity(fieldCount)
        for f in 0..<fieldCount {
            columns.append(PQfname(result, Int32(f)).map { String(cString: $0) } ?? "?column?")
            types.append(UInt32(PQftype(result, Int32(f))))
        }
        var rows: [PostgresRow] = []
        rows.reserveCapacity(rowCount)
        for r in 0..<rowCount {
            var values: [String?] = []
            values.reserveCapacity(fieldCount)
            for f in 0..<fieldCount {
                if PQgetisnull(result, Int32(r), Int32(f)) == 1 {
                    values.append(nil)
                } else {
                    values.append(String(cString: PQgetvalue(result, Int32(r), Int32(f))))
                }
            }
            rows.append(PostgresRow(columns: columns, values: values))
        }
        let tag = PQcmdStatus(result).map { String(cString: $0) } ?? ""
        return PostgresResult(columns: columns, columnTypes: types, rows: rows, commandTag: tag)
    }
}
