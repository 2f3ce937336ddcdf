extension PostgresConnection {
    /// Opens a connection, runs `body` with it, and closes it, awaited, whether `body` returns or
    /// throws: nothing of the connection is left running when the caller goes on (or exits).
    public static func with<T>(
        _ conninfo: String, timeout: Duration? = nil, defaultTimeout: Duration? = nil, name: String = "postgres",
        isolation: isolated (any Actor)? = #isolation, _ body: (PostgresConnection) async throws -> T
    ) async throws -> T {
        let connection = try await connect(conninfo, timeout: timeout, defaultTimeout: defaultTimeout, name: name)
        return try await connection.closeAfter { try await body(connection) }
    }

    /// Runs `body`, then closes this connection, awaited, whether `body` returns or throws.
    public func closeAfter<T>(isolation: isolated (any Actor)? = #isolation, _ body: () async throws -> T) async throws
        -> T
    {
        do {
            let result = try await body()
            await close()
            return result
        } catch {
            await close()
            throw error
        }
    }
}
