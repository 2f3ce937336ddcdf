import CLibPQ

extension PostgresConnection {
    /// Runs `COPY … FROM STDIN` and streams `data` (COPY text or CSV, as the statement says).
    ///
    /// - Returns: the number of rows the server copied.
    @discardableResult
    public func copyIn(_ sql: String, data: [UInt8], chunkSize: Int = 256 * 1024, timeout: Duration? = nil)
        async throws(PostgresError) -> Int
    {
        try copyInBlocking(sql, data: data, chunkSize: chunkSize, timeout: timeout)
    }

    private func copyInBlocking(_ sql: String, data: [UInt8], chunkSize: Int, timeout: Duration?) throws(PostgresError)
        -> Int
    {
        let operation = "copy in"
        let conn = try requireConnection(operation)
        let deadline = (timeout ?? defaultTimeout).map { ContinuousClock.now + $0 }
        cancelSent = false
        guard PQsendQuery(conn, sql) == 1 else { throw failure(operation) }
        try flush(operation, deadline: deadline)
        guard let start = try nextResult(operation, deadline: deadline) else { throw failure(operation) }
        let startStatus = PQresultStatus(start)
        if startStatus != PGRES_COPY_IN {
            let error =
                startStatus == PGRES_FATAL_ERROR
                ? resultError(operation, start)
                : PostgresError(code: .other, operation: operation, message: "statement is not COPY FROM STDIN")
            PQclear(start)
            try drain(operation, deadline: deadline)
            throw error
        }
        PQclear(start)
        var offset = 0
        var sendError: String?
        try data.withUnsafeBufferPointer { (buffer) throws(PostgresError) in
            while offset < buffer.count {
                let length = min(chunkSize, buffer.count - offset)
                let pointer = UnsafeRawPointer(buffer.baseAddress! + offset).assumingMemoryBound(to: CChar.self)
                let status = PQputCopyData(conn, pointer, Int32(length))
                if status == 1 {
                    offset += length
                } else if status == 0 {
                    guard waitSocket(read: false, write: true, deadline: deadline) else { throw timedOut(operation) }
                } else {
                    sendError = libpqMessage()
                    return
                }
            }
        }
        if let sendError {
            close()
            throw PostgresError(code: .connectionLost, operation: operation, message: sendError)
        }
        while true {
            let status = PQputCopyEnd(conn, nil)
            if status == 1 { break }
            if status < 0 { throw failure(operation) }
            guard waitSocket(read: false, write: true, deadline: deadline) else { throw timedOut(operation) }
        }
        try flush(operation, deadline: deadline)
        var copied = 0
        var firstError: PostgresError?
        while let result = try nextResult(operation, deadline: deadline) {
            if PQresultStatus(result) == PGRES_COMMAND_OK {
                copied = copyResult(result).affectedRows
            } else {
                firstError = firstError ?? resultError(operation, result)
            }
            PQclear(result)
        }
        try checkAlive(operation, after: firstError)
        if let firstError { throw firstError }
        return copied
    }

    /// Runs `COPY … TO STDOUT` and returns everything the server sent.
    public func copyOut(_ sql: String, timeout: Duration? = nil) async throws(PostgresError) -> [UInt8] {
        try copyOutBlocking(sql, timeout: timeout)
    }

    private func copyOutBlocking(_ sql: String, timeout: Duration?) throws(PostgresError) -> [UInt8] {
        let operation = "copy out"
        let conn = try requireConnection(operation)
        let deadline = (timeout ?? defaultTimeout).map { ContinuousClock.now + $0 }
        cancelSent = false
        guard PQsendQuery(conn, sql) == 1 else { throw failure(operation) }
        try flush(operation, deadline: deadline)
        guard let start = try nextResult(operation, deadline: deadline) else { throw failure(operation) }
        if PQresultStatus(start) != PGRES_COPY_OUT {
            let error =
                PQresultStatus(start) == PGRES_FATAL_ERROR
                ? resultError(operation, start)
                : PostgresError(code: .other, operation: operation, message: "statement is not COPY TO STDOUT")
            PQclear(start)
            try drain(operation, deadline: deadline)
            throw error
        }
        PQclear(start)
        var output: [UInt8] = []
        while true {
            var buffer: UnsafeMutablePointer<CChar>?
            let length = PQgetCopyData(conn, &buffer, 1)
            if length > 0, let buffer {
                buffer.withMemoryRebound(to: UInt8.self, capacity: Int(length)) {
                    output.append(contentsOf: UnsafeBufferPointer(start: $0, count: Int(length)))
                }
                PQfreemem(buffer)
            } else if length == 0 {
                guard waitSocket(read: true, write: false, deadline: deadline) else { throw timedOut(operation) }
                if PQconsumeInput(conn) == 0 { throw failure(operation) }
            } else if length == -1 {
                break
            } else {
                throw failure(operation)
            }
        }
        var firstError: PostgresError?
        while let result = try nextResult(operation, deadline: deadline) {
            if PQresultStatus(result) != PGRES_COMMAND_OK { firstError = firstError ?? resultError(operation, result) }
            PQclear(result)
        }
        try checkAlive(operation, after: firstError)
        if let firstError { throw firstError }
        return output
    }

    /// Reads and discards remaining results so the connection is ready for the next statement.
    private func drain(_ operation: String, deadline: ContinuousClock.Instant?) throws(PostgresError) {
        while let result = try nextResult(operation, deadline: deadline) { PQclear(result) }
        try checkAlive(operation, after: nil)
    }
}
