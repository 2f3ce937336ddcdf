import CLibPQ
import Foundation
import Threading

/// One libpq connection, driven through libpq's non-blocking API on a dedicated thread.
///
/// Every method runs on the connection's own `ThreadExecutor`, never on Swift's cooperative pool.
/// Each operation has a deadline enforced with `poll(2)` on the socket, so a hung or partitioned
/// server cannot block a caller past it: when a deadline passes the connection is closed (a
/// half-finished protocol exchange cannot be resumed safely) and the caller reconnects.
///
/// A connection serves one logical caller at a time; statements from concurrent callers interleave.
public actor PostgresConnection {
    private let executor: ThreadExecutor
    /// The executor that runs this actor: the connection's dedicated thread.
    public nonisolated var unownedExecutor: UnownedSerialExecutor { executor.asUnownedSerialExecutor() }

    var connection: OpaquePointer?
    let conninfo: String
    var secrets: [String] = []
    var pendingNotifications: [PostgresNotification] = []
    let cancelToken = CancelToken()
    /// Set once the running statement has been cancelled because its task was.
    var cancelSent = false
    /// Default deadline for statements that pass no timeout of their own; nil waits as long as the server does.
    public var defaultTimeout: Duration?

    /// Sets the deadline of statements that give none (a pooled connection takes its borrower's).
    public func setDefaultTimeout(_ timeout: Duration?) { defaultTimeout = timeout }

    private init(conninfo: String, name: String, defaultTimeout: Duration?) {
        self.conninfo = conninfo
        self.defaultTimeout = defaultTimeout
        self.executor = ThreadExecutor(name: name)
    }

    isolated deinit {
        if let connection { PQfinish(connection) }
        executor.shutdown()
    }

    /// Connects with a libpq conninfo string or URI, passed to libpq untouched.
    ///
    /// - Parameters:
    ///   - timeout: the connect deadline; by default the string's `connect_timeout`, else 10 s.
    ///   - defaultTimeout: the deadline of statements that give none.
    public static func connect(
        _ conninfo: String, timeout: Duration? = nil, defaultTimeout: Duration? = nil, name: String = "postgres"
    ) async throws(PostgresError) -> PostgresConnection {
        let connection = PostgresConnection(conninfo: conninfo, name: name, defaultTimeout: defaultTimeout)
        try await connection.open(timeout: timeout)
        return connection
    }

    /// A connection object that is not connected yet: `reconnect` opens it. Long-lived users (probes)
    /// keep one object, and so one thread, for life instead of one per attempt.
    public static func unconnected(_ conninfo: String, defaultTimeout: Duration? = nil, name: String = "postgres")
        -> PostgresConnection
    {
        PostgresConnection(conninfo: conninfo, name: name, defaultTimeout: defaultTimeout)
    }

    /// Closes the connection if open and connects again within `timeout`.
    public func reconnect(timeout: Duration? = nil) throws(PostgresError) {
        close()
        secrets.removeAll()
        try open(timeout: timeout)
    }

    /// True while the connection is open and libpq reports it healthy.
    public var isOpen: Bool {
        guard let connection else { return false }
        return PQstatus(connection) == CONNECTION_OK
    }

    /// The server process id serving this connection (for `pg_terminate_backend`, `pg_locks`).
    public var backendPID: Int32 { connection.map { PQbackendPID($0) } ?? 0 }

    /// Closes the connection; later calls fail with `.closed`. Safe to call twice.
    public func close() {
        cancelToken.reset(to: nil)
        if let connection { PQfinish(connection) }
        connection = nil
    }

    /// Cancels the statement running on this connection, from any task (`PQcancel`).
    ///
    /// Runs on a thread of its own: the connection's thread is busy with the statement.
    public nonisolated func cancel() async {
        let token = cancelToken
        _ = try? await runOnDedicatedThread(name: "postgres-cancel") { token.cancel() }
    }

    func open(timeout: Duration?) throws(PostgresError) {
        let connectTimeout = try inspectConnectionString()
        let deadline = ContinuousClock.now + (timeout ?? connectTimeout ?? .seconds(10))
        guard let conn = PQconnectStart(conninfo) else {
            throw PostgresError(code: .connectionFailed, operation: "connect", message: "out of memory")
        }
        connection = conn
        var status = PGRES_POLLING_WRITING
        var pollSteps = 0
        while true {
            if PQstatus(conn) == CONNECTION_BAD || status == PGRES_POLLING_FAILED {
                let message = libpqMessage()
                close()
                throw PostgresError(code: .connectionFailed, operation: "connect", message: message)
            }
            if status == PGRES_POLLING_OK { break }
            let ready = waitSocket(
                read: status == PGRES_POLLING_READING, write: status == PGRES_POLLING_WRITING,
                deadline: deadline, abandonOnCancel: true)
            if !ready, Task.isCancelled {
                close()
                throw PostgresError(code: .cancelled, operation: "connect", message: "the connect was cancelled")
            }
            if !ready {
                // Where the handshake stopped tells a silent network (no TCP) from a slow server or a long
                // path (an answer awaited after several poll steps, most of them a round trip).
                let phase = Self.phase(PQstatus(conn))
                close()
                throw PostgresError(
                    code: .timeout, operation: "connect",
                    message: "no answer before the connect deadline (\(phase), after \(pollSteps) poll steps)")
            }
            pollSteps += 1
            status = PQconnectPoll(conn)
        }
        PQsetnonblocking(conn, 1)
        // libpq prints NOTICEs to stderr by default; a daemon's output is its log, not the server's chatter.
        PQsetNoticeReceiver(conn, { _, _ in }, nil)
        cancelToken.reset(to: conn)
    }

    /// The step of libpq's connection handshake a connect was in.
    static func phase(_ status: ConnStatusType) -> String {
        switch status {
        case CONNECTION_STARTED: "waiting for TCP"
        case CONNECTION_MADE: "TCP made, sending the startup"
        case CONNECTION_SSL_STARTUP: "negotiating TLS"
        case CONNECTION_GSS_STARTUP: "negotiating GSSAPI"
        case CONNECTION_AWAITING_RESPONSE: "awaiting the server's answer (startup or authentication)"
        case CONNECTION_AUTH_OK: "authenticated, awaiting the backend's start"
        case CONNECTION_SETENV, CONNECTION_CONSUME, CONNECTION_CHECK_WRITABLE, CONNECTION_CHECK_TARGET,
            CONNECTION_CHECK_STANDBY:
            "checking the server (read-write or standby)"
        default: "handshake step \(status.rawValue)"
        }
    }

    /// Reads the password (to scrub it from every message) and `connect_timeout` out of the string.
    private func inspectConnectionString() throws(PostgresError) -> Duration? {
        var errorMessage: UnsafeMutablePointer<CChar>?
        guard let options = PQconninfoParse(conninfo, &errorMessage) else {
            if let errorMessage { PQfreemem(errorMessage) }
            // libpq quotes fragments of the string in its parse errors, and a fragment can be the password.
            throw PostgresError(
                code: .invalidConnectionString, operation: "connect", message: "malformed connection string")
        }
        defer { PQconninfoFree(options) }
        var timeout: Duration?
        var option = options
        while let keyword = option.pointee.keyword {
            if let value = option.pointee.val {
                let key = String(cString: keyword)
                let text = String(cString: value)
                if key == "password" || key == "sslpassword", !text.isEmpty { secrets.append(text) }
                if key == "connect_timeout", let seconds = Int(text), seconds > 0 {
                    timeout = .seconds(max(seconds, 2))
                }
            }
            option += 1
        }
        return timeout
    }

    func requireConnection(_ operation: String) throws(PostgresError) -> OpaquePointer {
        guard let connection else {
            throw PostgresError(code: .closed, operation: operation, message: "connection is closed")
        }
        return connection
    }

    /// libpq's current error message for this connection, trimmed and scrubbed of secrets.
    func libpqMessage() -> String {
        guard let connection, let raw = PQerrorMessage(connection) else { return "unknown error" }
        return scrub(String(cString: raw))
    }

    func scrub(_ message: String) -> String {
        var text = message.trimmingCharacters(in: .whitespacesAndNewlines)
        for secret in secrets { text = text.replacingOccurrences(of: secret, with: "***") }
        return text
    }

    /// Waits until the socket is readable/writable or the deadline passes; false on deadline, and
    /// with `abandonOnCancel` (a connect: nothing runs on the server to cancel) when the task is cancelled.
    func waitSocket(read: Bool, write: Bool, deadline: ContinuousClock.Instant?, abandonOnCancel: Bool = false) -> Bool
    {
        guard let connection else { return true }
        let fd = PQsocket(connection)
        guard fd >= 0 else { return true }  // libpq reports the broken socket on the next call
        var events: Int16 = 0
        if read { events |= Int16(POLLIN) }
        if write { events |= Int16(POLLOUT) }
        while true {
            // Wake at least every 50 ms to notice task cancellation: the statement is then cancelled on
            // the server and its result (SQLSTATE 57014) collected as usual.
            if abandonOnCancel, Task.isCancelled { return false }
            if !cancelSent, Task.isCancelled {
                cancelSent = true
                cancelToken.cancel()
            }
            var timeoutMilliseconds: Int32 = 50
            if let deadline {
                let remaining = deadline - ContinuousClock.now
                if remaining <= .zero { return false }
                let (seconds, attoseconds) = remaining.components
                timeoutMilliseconds = min(50, Int32(clamping: seconds * 1000 + attoseconds / 1_000_000_000_000_000 + 1))
            }
            var descriptor = pollfd(fd: fd, events: events, revents: 0)
            let result = poll(&descriptor, 1, timeoutMilliseconds)
            if result > 0 { return true }
            if result == 0 { continue }  // re-check the deadline; poll may wake early by rounding
            if errno != EINTR { return true }
        }
    }
}
