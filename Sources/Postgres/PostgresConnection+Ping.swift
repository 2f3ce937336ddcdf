import CLibPQ
import Foundation

extension PostgresConnection {
    /// What a ping of the server found (as `pg_isready` reports).
    public enum PingResult: Sendable, Equatable {
        /// The server answered a new connection's startup packet: it accepts connections.
        case accepting
        /// Nothing answered in time (a hung postmaster, a black-holed network).
        case noResponse
        /// The connection failed before the server answered (refused, no route).
        case unreachable(String)
    }

    /// Checks, on this connection's thread but with a separate socket, that the server still accepts
    /// new connections: the reused probe connection alone would not notice a hung postmaster, because
    /// an existing backend keeps answering. It stops as soon as the server answers the startup packet,
    /// so it needs no password and costs the server one short-lived backend.
    public func ping(timeout: Duration) -> PingResult {
        let deadline = ContinuousClock.now + timeout
        // Without credentials: the server's request for a password is its answer (two round trips, not four).
        guard let conn = PQconnectStart(ConnectionString.withoutCredentials(conninfo) ?? conninfo) else {
            return .unreachable("out of memory")
        }
        defer { PQfinish(conn) }
        var status = PGRES_POLLING_WRITING
        while true {
            let state = PQstatus(conn)
            if state == CONNECTION_BAD || status == PGRES_POLLING_FAILED {
                // A failure after the server answered (authentication, unknown database) still proves it is up.
                let message = PQerrorMessage(conn).map { String(cString: $0) } ?? ""
                let answered =
                    message.contains("authentication") || message.contains("does not exist")
                    || message.contains("password") || message.contains("too many clients")
                    || message.contains("starting up")
                return answered ? .accepting : .unreachable(scrub(message))
            }
            if status == PGRES_POLLING_OK { return .accepting }
            if state != CONNECTION_STARTED && state != CONNECTION_MADE && state != CONNECTION_AWAITING_RESPONSE
                && state != CONNECTION_SSL_STARTUP && state != CONNECTION_NEEDED && state != CONNECTION_GSS_STARTUP
            {
                return .accepting  // past the startup exchange: the server answered
            }
            let fd = PQsocket(conn)
            guard fd >= 0 else { return .unreachable("no socket") }
            var descriptor = pollfd(
                fd: fd, events: Int16(status == PGRES_POLLING_READING ? POLLIN : POLLOUT), revents: 0)
            let remaining = deadline - ContinuousClock.now
            if remaining <= .zero { return .noResponse }
            let (seconds, attoseconds) = remaining.components
            let ready = poll(&descriptor, 1, Int32(clamping: seconds * 1000 + attoseconds / 1_000_000_000_000_000 + 1))
            if ready == 0 { return .noResponse }
            status = PQconnectPoll(conn)
        }
    }
}
