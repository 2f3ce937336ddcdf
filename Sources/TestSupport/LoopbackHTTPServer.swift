import Dispatch
import Foundation
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// A real HTTP/1.1 server on 127.0.0.1 for tests: it records every request and answers each through
/// a handler that can also misbehave (delay, hang, garbage, close).
///
/// Plain POSIX sockets, one thread for accepting and one per connection; every response carries
/// `Connection: close`. Bytes that are not an HTTP/1.x request (a TLS ClientHello, say) get a plain
/// 400 and are not recorded, as a real server would answer them. Every blocking wait also polls a wake pipe, so `stop()` ends hanging and
/// delayed replies at once and returns only after all threads have finished.
public final class LoopbackHTTPServer: Sendable {
    /// What the server does with one request.
    public indirect enum Reply: Sendable {
        /// A complete response. `Content-Length` and `Connection: close` are added when absent.
        case response(status: Int, headers: [(name: String, value: String)], body: [UInt8])
        /// Waits, then answers with `then`. A stop during the wait closes the connection.
        case delay(Duration, then: Reply)
        /// Writes these raw bytes instead of a response, then closes.
        case garbage([UInt8])
        /// Never answers; the connection stays open until the client leaves or the server stops.
        case hang
        /// Closes the connection without answering.
        case close

        /// A response with a UTF-8 body.
        public static func status(_ status: Int, headers: [(name: String, value: String)] = [], body: String = "")
            -> Reply
        {
            .response(status: status, headers: headers, body: Array(body.utf8))
        }

        /// A 200 response with a UTF-8 body.
        public static func ok(_ body: String = "", headers: [(name: String, value: String)] = []) -> Reply {
            .status(200, headers: headers, body: body)
        }

        /// A response with a JSON body and `Content-Type: application/json`.
        public static func json(_ status: Int = 200, _ body: String) -> Reply {
            .status(status, headers: [("Content-Type", "application/json")], body: body)
        }
    }

    /// A request as it arrived.
    public struct RecordedRequest: Sendable {
        /// The method, as sent.
        public var method: String
        /// The request target: path and query, as sent.
        public var path: String
        /// The header fields, in order, names as sent.
        public var headers: [(name: String, value: String)]
        /// The body, de-chunked when it was sent chunked.
        public var body: [UInt8]
        /// When the request was complete, for measuring retry spacing.
        public var receivedAt: ContinuousClock.Instant

        /// The value of the first header called `name`, compared case-insensitively.
        public func header(_ name: String) -> String? {
            let wanted = name.lowercased()
            return headers.first { $0.name.lowercased() == wanted }?.value
        }

        /// The body decoded as UTF-8.
        public var bodyText: String { String(decoding: body, as: UTF8.self) }
    }

    /// An error while opening the listening socket.
    public struct StartError: Error, CustomStringConvertible {
        /// The failing call.
        public var operation: String
        /// Its errno.
        public var code: Int32
        /// The call and the system's explanation.
        public var description: String { "\(operation) failed: \(String(cString: strerror(code)))" }
    }

    private struct State {
        var requests: [RecordedRequest] = []
        var stopped = false
    }

    /// The port the server listens on.
    public let port: Int
    private let listenSocket: Int32
    private let wakeRead: Int32
    private let wakeWrite: Int32
    private let handler: @Sendable (RecordedRequest) -> Reply
    private let state = Mutex(State())
    private let threads = DispatchGroup()

    /// Binds 127.0.0.1 on a free port and starts serving.
    public init(handler: @escaping @Sendable (RecordedRequest) -> Reply) throws {
        self.handler = handler
        let socket = try Self.openListeningSocket()
        var pipeEnds: [Int32] = [0, 0]
        guard pipe(&pipeEnds) == 0 else {
            let code = errno
            Glibc.close(socket.descriptor)
            throw StartError(operation: "pipe2", code: code)
        }
        for end in pipeEnds { _ = fcntl(end, F_SETFD, FD_CLOEXEC) }
        listenSocket = socket.descriptor
        port = socket.port
        wakeRead = pipeEnds[0]
        wakeWrite = pipeEnds[1]
        threads.enter()
        let thread = Thread { [self] in
            acceptLoop()
            threads.leave()
        }
        thread.name = "loopback-http-accept"
        thread.start()
    }

    deinit {
        stop()
    }

    /// "http://127.0.0.1:PORT".
    public var baseURL: String { "http://127.0.0.1:\(port)" }

    /// Every request received so far, in arrival order.
    public var requests: [RecordedRequest] {
        state.withLock { $0.requests }
    }

    /// Waits until at least `count` requests have arrived or `timeout` passes; returns what arrived.
    public func waitForRequests(count: Int, timeout: Duration = .seconds(5)) async -> [RecordedRequest] {
        let deadline = ContinuousClock.now + timeout
        while true {
            let received = requests
            if received.count >= count || ContinuousClock.now >= deadline { return received }
            try? await Task.sleep(for: .milliseconds(5))
        }
    }

    /// Stops accepting, ends every open connection (hanging ones included) and waits for the threads.
    public func stop() {
        let first = state.withLock { state in
            defer { state.stopped = true }
            return !state.stopped
        }
        guard first else { return }
        var byte: UInt8 = 1
        _ = Glibc.write(wakeWrite, &byte, 1)
        // Every thread polls the wake pipe, so this returns promptly; the pipe is only closed when
        // no thread can still be polling it.
        if threads.wait(timeout: .now() + .seconds(10)) == .success {
            Glibc.close(wakeRead)
            Glibc.close(wakeWrite)
        }
    }

    /// A handler that answers with `replies` in order and repeats the last one ("500 twice, then 200").
    public static func sequence(_ replies: [Reply]) -> @Sendable (RecordedRequest) -> Reply {
        precondition(!replies.isEmpty, "a sequence needs at least one reply")
        let next = Counter()
        return { _ in replies[min(next.increment(), replies.count - 1)] }
    }

    private final class Counter: Sendable {
        private let value = Atomic<Int>(0)

        /// The value before incrementing.
        func increment() -> Int { value.wrappingAdd(1, ordering: .relaxed).oldValue }
    }

    // MARK: Serving

    private func acceptLoop() {
        defer { Glibc.close(listenSocket) }
        while waitReadable(listenSocket) {
            let connection = accept(listenSocket, nil, nil)
            if connection < 0 {
                if errno == EINTR || errno == EAGAIN || errno == ECONNABORTED { continue }
                return
            }
            _ = fcntl(connection, F_SETFD, FD_CLOEXEC)
            threads.enter()
            let thread = Thread { [self] in
                serve(connection)
                threads.leave()
            }
            thread.name = "loopback-http-connection"
            thread.start()
        }
    }

    private func serve(_ connection: Int32) {
        defer { Glibc.close(connection) }
        var reader = RequestReader(connection: connection) { [self] in waitReadable(connection) }
        guard let request = reader.read() else {
            if reader.malformed {
                sendAll(
                    Self.encode(status: 400, headers: [], body: Array("bad request\n".utf8), head: false),
                    on: connection)
            }
            return
        }
        state.withLock { $0.requests.append(request) }
        perform(handler(request), on: connection, for: request)
    }

    private func perform(_ reply: Reply, on connection: Int32, for request: RecordedRequest) {
        switch reply {
        case .response(let status, let headers, let body):
            sendAll(
                Self.encode(status: status, headers: headers, body: body, head: request.method == "HEAD"),
                on: connection)
        case .delay(let duration, let next):
            if sleepUnlessStopped(duration) { perform(next, on: connection, for: request) }
        case .garbage(let bytes):
            sendAll(bytes, on: connection)
        case .hang:
            // Returns when the client closes (or sends more) or the server stops.
            _ = waitReadable(connection)
        case .close:
            return
        }
    }

    /// Waits for `descriptor` to become readable; false when the server is stopping instead.
    private func waitReadable(_ descriptor: Int32, timeoutMilliseconds: Int32 = -1) -> Bool {
        var fds = [
            pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0),
            pollfd(fd: wakeRead, events: Int16(POLLIN), revents: 0),
        ]
        while true {
            let ready = poll(&fds, 2, timeoutMilliseconds)
            if ready < 0 && errno == EINTR { continue }
            if ready <= 0 { return false }
            return fds[1].revents == 0
        }
    }

    /// Sleeps for `duration`; false when the server stopped first.
    private func sleepUnlessStopped(_ duration: Duration) -> Bool {
        let deadline = ContinuousClock.now + duration
        while true {
            let left = deadline - ContinuousClock.now
            if left <= .zero { return true }
            var wake = pollfd(fd: wakeRead, events: Int16(POLLIN), revents: 0)
            let milliseconds = max(
                1, Int32(clamping: left.components.seconds * 1000 + left.components.attoseconds / 1_000_000_000_000_000)
            )
            let ready = poll(&wake, 1, milliseconds)
            if ready > 0 { return false }
        }
    }

    private func sendAll(_ bytes: [UInt8], on connection: Int32) {
        var offset = 0
        while offset < bytes.count {
            let sent = bytes[offset...].withUnsafeBytes {
                Glibc.send(connection, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL))
            }
            if sent < 0 && errno == EINTR { continue }
            if sent <= 0 { return }
            offset += sent
        }
    }
}
