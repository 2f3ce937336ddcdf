import CHiredis
import Foundation
import Threading

/// One hiredis connection on a dedicated thread, with a connect timeout and a per-command timeout.
///
/// After a timeout or an I/O error hiredis's context is unusable: the connection closes itself and
/// the caller reconnects (`reconnect()` or a new connection).
public actor RedisConnection {
    private let executor: ThreadExecutor
    /// The connection's own thread.
    public nonisolated var unownedExecutor: UnownedSerialExecutor { executor.asUnownedSerialExecutor() }

    private var context: UnsafeMutablePointer<redisContext>?
    /// Where this connection goes.
    public let endpoint: RedisEndpoint
    private let connectTimeout: Duration
    /// Timeout of each command (socket send and receive timeout).
    public private(set) var commandTimeout: Duration

    private init(endpoint: RedisEndpoint, connectTimeout: Duration, commandTimeout: Duration, name: String) {
        self.endpoint = endpoint
        self.connectTimeout = connectTimeout
        self.commandTimeout = commandTimeout
        self.executor = ThreadExecutor(name: name)
    }

    isolated deinit {
        if let context { redisFree(context) }
        executor.shutdown()
    }

    /// Connects, authenticates and selects the database.
    public static func connect(
        _ endpoint: RedisEndpoint, timeout: Duration = .seconds(2), commandTimeout: Duration = .seconds(2),
        name: String = "redis"
    ) async throws(RedisError) -> RedisConnection {
        let connection = RedisConnection(
            endpoint: endpoint, connectTimeout: timeout, commandTimeout: commandTimeout, name: name)
        try await connection.reconnect()
        return connection
    }

    /// A connection object that is not connected yet: `reconnect()` opens it (probes keep one for life).
    public static func unconnected(
        _ endpoint: RedisEndpoint, timeout: Duration, commandTimeout: Duration, name: String = "redis"
    ) -> RedisConnection {
        RedisConnection(endpoint: endpoint, connectTimeout: timeout, commandTimeout: commandTimeout, name: name)
    }

    /// Connects to a `redis://` or `unix://` URL.
    public static func connect(
        url: String, timeout: Duration = .seconds(2), commandTimeout: Duration = .seconds(2)
    ) async throws(RedisError) -> RedisConnection {
        try await connect(RedisEndpoint(url: url), timeout: timeout, commandTimeout: commandTimeout)
    }

    /// True while a context is open and has no error.
    public var isOpen: Bool { context.map { sy_redis_err($0) == 0 } ?? false }

    /// Closes the connection.
    public func close() {
        if let context { redisFree(context) }
        context = nil
    }

    /// (Re)opens the connection: connect, AUTH, SELECT.
    public func reconnect() throws(RedisError) {
        close()
        let timeout = Self.timeval(connectTimeout)
        let opened: UnsafeMutablePointer<redisContext>? =
            switch endpoint.address {
            case .tcp(let host, let port): redisConnectWithTimeout(host, Int32(port), timeout)
            case .unix(let path): redisConnectUnixWithTimeout(path, timeout)
            }
        guard let opened else {
            throw RedisError(code: .connectionFailed, operation: "connect", message: "cannot allocate context")
        }
        if sy_redis_err(opened) != 0 {
            let message = String(cString: sy_redis_errstr(opened))
            redisFree(opened)
            let code: RedisError.Code = message.contains("timed out") ? .timeout : .connectionFailed
            throw RedisError(code: code, operation: "connect", message: "\(endpoint.displayAddress): \(message)")
        }
        context = opened
        // Fails, and poisons the context, on unix sockets
        if case .tcp = endpoint.address { _ = redisEnableKeepAlive(opened) }
        _ = redisSetTimeout(opened, Self.timeval(commandTimeout))
        do {
            if let password = endpoint.password {
                var auth = ["AUTH"]
                if let username = endpoint.username { auth.append(username) }
                auth.append(password)
                _ = try run(auth.map { Array($0.utf8) }, operation: "AUTH")
            }
            if endpoint.database != 0 {
                _ = try run(["SELECT", String(endpoint.database)].map { Array($0.utf8) }, operation: "SELECT")
            }
        } catch {
            close()
            throw RedisError(code: .connectionFailed, operation: "connect", message: error.message)
        }
    }

    /// Changes the per-command timeout of this connection.
    public func setCommandTimeout(_ timeout: Duration) {
        commandTimeout = timeout
        if let context { _ = redisSetTimeout(context, Self.timeval(timeout)) }
    }

    /// Sends a command of text arguments; an error reply is thrown as `.server`.
    @discardableResult
    public func command(_ arguments: [String]) throws(RedisError) -> RedisReply {
        try run(arguments.map { Array($0.utf8) }, operation: arguments.first?.uppercased() ?? "command")
    }

    /// Sends a binary-safe command (`redisCommandArgv`); an error reply is thrown as `.server`.
    @discardableResult
    public func command(binary arguments: [[UInt8]]) throws(RedisError) -> RedisReply {
        let name = arguments.first.map { String(decoding: $0, as: UTF8.self).uppercased() } ?? "command"
        return try run(arguments, operation: name)
    }

    private func run(_ arguments: [[UInt8]], operation: String) throws(RedisError) -> RedisReply {
        guard let context else {
            throw RedisError(code: .closed, operation: operation, message: "connection is closed")
        }
        let lengths = arguments.map(\.count)
        // Copy every argument into one buffer so the argv pointers stay valid for the call.
        var storage = [UInt8]()
        storage.reserveCapacity(lengths.reduce(0, +))
        for argument in arguments { storage.append(contentsOf: argument) }
        let raw: UnsafeMutableRawPointer? = storage.withUnsafeBufferPointer { buffer in
            var pointers: [UnsafePointer<CChar>?] = []
            var offset = 0
            let base = buffer.baseAddress.map { UnsafeRawPointer($0) } ?? UnsafeRawPointer(bitPattern: 1)!
            for length in lengths {
                pointers.append((base + offset).assumingMemoryBound(to: CChar.self))
                offset += length
            }
            return pointers.withUnsafeMutableBufferPointer { argv in
                lengths.withUnsafeBufferPointer { argvlen in
                    redisCommandArgv(context, Int32(arguments.count), argv.baseAddress, argvlen.baseAddress)
                }
            }
        }
        guard let raw else {
            let failure = ioFailure(operation, context: context)
            close()
            throw failure
        }
        let reply = raw.assumingMemoryBound(to: redisReply.self)
        defer { freeReplyObject(raw) }
        let value = Self.convert(reply)
        if case .error(let message) = value {
            throw RedisError(code: .server, operation: operation, message: message)
        }
        return value
    }

    private func ioFailure(_ operation: String, context: UnsafeMutablePointer<redisContext>) -> RedisError {
        let err = sy_redis_err(context)
        let message = String(cString: sy_redis_errstr(context))
        let timedOut =
            err == REDIS_ERR_IO && (message.contains("temporarily unavailable") || message.contains("timed out"))
        let code: RedisError.Code = timedOut ? .timeout : .connectionLost
        return RedisError(code: code, operation: operation, message: "\(endpoint.displayAddress): \(message)")
    }

    private static func convert(_ reply: UnsafeMutablePointer<redisReply>) -> RedisReply {
        let r = reply.pointee
        switch r.type {
        case REDIS_REPLY_STATUS: return .status(text(r))
        case REDIS_REPLY_ERROR: return .error(text(r))
        case REDIS_REPLY_INTEGER: return .integer(Int(r.integer))
        case REDIS_REPLY_NIL: return .null
        case REDIS_REPLY_STRING:
            guard let str = r.str else { return .bulk([]) }
            return .bulk(
                str.withMemoryRebound(to: UInt8.self, capacity: r.len) {
                    Array(UnsafeBufferPointer(start: $0, count: r.len))
                })
        case REDIS_REPLY_ARRAY:
            guard let elements = r.element else { return .array([]) }
            return .array((0..<r.elements).map { i in elements[i].map(convert) ?? .null })
        default: return .error("unknown reply type \(r.type)")
        }
    }

    private static func text(_ r: redisReply) -> String {
        guard let str = r.str else { return "" }
        return str.withMemoryRebound(to: UInt8.self, capacity: r.len) {
            String(decoding: UnsafeBufferPointer(start: $0, count: r.len), as: UTF8.self)
        }
    }

    static func timeval(_ duration: Duration) -> Glibc.timeval {
        let (seconds, attoseconds) = duration.components
        return sy_timeval_ms(seconds * 1000 + attoseconds / 1_000_000_000_000_000)
    }
}
