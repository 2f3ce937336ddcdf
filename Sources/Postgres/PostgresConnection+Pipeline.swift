import CLibPQ

extension PostgresConnection {
    /// One statement of a pipeline.
    public struct Statement: Sendable {
        /// The SQL, with `$1`, `$2`, … placeholders.
        public var sql: String
        /// Its parameters.
        public var parameters: [PostgresValue]

        /// A statement.
        public init(_ sql: String, _ parameters: [PostgresValue] = []) {
            self.sql = sql
            self.parameters = parameters
        }
    }

    /// Runs every statement in one round trip (libpq's pipeline mode, one sync at the end) and returns
    /// one result per statement, in order. They form one implicit transaction: all commit, or the first
    /// error aborts the rest, rolls everything back and is thrown. Across a WAN this is the difference
    /// between one round trip and one per statement.
    public func pipeline(_ statements: [Statement], timeout: Duration? = nil) async throws(PostgresError)
        -> [PostgresResult]
    {
        let operation = "pipeline"
        let conn = try requireConnection(operation)
        guard !statements.isEmpty else { return [] }
        let deadline = (timeout ?? defaultTimeout).map { ContinuousClock.now + $0 }
        cancelSent = false
        guard PQenterPipelineMode(conn) == 1 else { throw failure(operation) }
        for statement in statements {
            let sent = Self.withParameters(statement.parameters) { values, count in
                PQsendQueryParams(conn, statement.sql, count, nil, values, nil, nil, 0)
            }
            guard sent == 1 else {
                // Half a pipeline cannot be taken back: close, and the caller reconnects.
                let error = failure(operation)
                close()
                throw error
            }
        }
        guard PQpipelineSync(conn) == 1 else {
            let error = failure(operation)
            close()
            throw error
        }
        do {
            try flush(operation, deadline: deadline)
        } catch {
            // Still in pipeline mode with statements unsent: no later use could read this connection right.
            close()
            throw error
        }
        var results: [PostgresResult] = []
        var current: PostgresResult?
        var firstError: PostgresError?
        var ends = 0
        // Each statement's results end with a NULL; the sync's own result ends the pipeline.
        while true {
            if let deadline, ContinuousClock.now > deadline { throw timedOut(operation) }
            guard let result = try nextResult(operation, deadline: deadline) else {
                ends += 1
                // More ends than statements, or a connection gone bad: no sync will come.
                if ends > statements.count || PQstatus(conn) != CONNECTION_OK
                    || PQpipelineStatus(conn) == PQ_PIPELINE_OFF
                {
                    let error = failure(operation)
                    close()
                    throw error
                }
                if let done = current {
                    results.append(done)
                } else if results.count < statements.count {
                    results.append(PostgresResult(columns: [], columnTypes: [], rows: [], commandTag: ""))
                }
                current = nil
                continue
            }
            defer { PQclear(result) }
            switch PQresultStatus(result) {
            case PGRES_PIPELINE_SYNC:
                guard PQexitPipelineMode(conn) == 1 else {
                    let error = failure(operation)
                    close()
                    throw error
                }
                try checkAlive(operation, after: firstError)
                if let firstError { throw firstError }
                return Array(results.prefix(statements.count))
            case PGRES_COMMAND_OK, PGRES_TUPLES_OK, PGRES_EMPTY_QUERY:
                current = copyResult(result)
            case PGRES_PIPELINE_ABORTED:
                current = nil
            default:
                firstError = firstError ?? resultError(operation, result)
                current = nil
            }
        }
    }
}
