import Foundation

#if canImport(Glibc)
    import Glibc
#endif

extension LoopbackHTTPServer {
    /// Opens a listening TCP socket on 127.0.0.1 with a kernel-chosen port.
    static func openListeningSocket() throws -> (descriptor: Int32, port: Int) {
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard descriptor >= 0 else { throw StartError(operation: "socket", code: errno) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = 0
        address.sin_addr.s_addr = UInt32(0x7F00_0001).bigEndian
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { generic in
                bind(descriptor, generic, length) == 0 && listen(descriptor, 128) == 0
                    && getsockname(descriptor, generic, &length) == 0
            }
        }
        guard bound else {
            let code = errno
            close(descriptor)
            throw StartError(operation: "bind/listen", code: code)
        }
        return (descriptor, Int(UInt16(bigEndian: address.sin_port)))
    }

    /// The bytes of a response with `Connection: close` and, unless given, `Content-Length`.
    static func encode(status: Int, headers: [(name: String, value: String)], body: [UInt8], head: Bool) -> [UInt8] {
        var text = "HTTP/1.1 \(status) \(reasonPhrase(status))\r\n"
        let names = Set(headers.map { $0.name.lowercased() })
        for header in headers { text += "\(header.name): \(header.value)\r\n" }
        let bodyless = status == 204 || status == 304 || (100..<200).contains(status)
        if !names.contains("content-length") && !names.contains("transfer-encoding") && !bodyless {
            text += "Content-Length: \(body.count)\r\n"
        }
        if !names.contains("connection") { text += "Connection: close\r\n" }
        text += "\r\n"
        return Array(text.utf8) + (head || bodyless ? [] : body)
    }

    private static func reasonPhrase(_ status: Int) -> String {
        switch status {
        case 200: "OK"
        case 201: "Created"
        case 202: "Accepted"
        case 204: "No Content"
        case 301: "Moved Permanently"
        case 302: "Found"
        case 400: "Bad Request"
        case 401: "Unauthorized"
        case 403: "Forbidden"
        case 404: "Not Found"
        case 409: "Conflict"
        case 429: "Too Many Requests"
        case 500: "Internal Server Error"
        case 502: "Bad Gateway"
        case 503: "Service Unavailable"
        case 504: "Gateway Timeout"
        default: "Status \(status)"
        }
    }

    /// Reads one request from a connection: head, then a `Content-Length` or chunked body.
    struct RequestReader {
        static let maxHeadBytes = 1 << 20
        static let maxBodyBytes = 64 << 20

        let connection: Int32
        /// Blocks until the connection is readable; false when the server is stopping.
        let waitReadable: () -> Bool
        private var buffer: [UInt8] = []
        /// Set when the client sent something that is not an HTTP/1.x request (a TLS ClientHello, say).
        private(set) var malformed = false

        init(connection: Int32, waitReadable: @escaping () -> Bool) {
            self.connection = connection
            self.waitReadable = waitReadable
        }

        /// The request, or nil when the client left, sent something unparsable, or the server stopped.
        mutating func read() -> RecordedRequest? {
            var headEnd: Int?
            while true {
                if let first = buffer.first, !(UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(first) {
                    // No method starts like this; answer now instead of waiting for a head that never ends.
                    malformed = true
                    return nil
                }
                headEnd = Self.find([13, 10, 13, 10], in: buffer)
                if headEnd != nil { break }
                guard buffer.count < Self.maxHeadBytes, receiveMore() else { return nil }
            }
            let head = String(decoding: buffer[..<headEnd!], as: UTF8.self)
            buffer.removeFirst(headEnd! + 4)
            var lines = head.split(separator: "\r\n", omittingEmptySubsequences: false).map(String.init)
            let requestLine = lines.removeFirst().split(separator: " ")
            guard requestLine.count == 3, requestLine[2].hasPrefix("HTTP/1.") else {
                malformed = true
                return nil
            }
            var headers: [(name: String, value: String)] = []
            for line in lines {
                guard let colon = line.firstIndex(of: ":") else {
                    malformed = true
                    return nil
                }
                let value = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
                headers.append((String(line[..<colon]), value))
            }
            let lookup = { (name: String) in headers.first { $0.name.lowercased() == name }?.value }
            if lookup("expect")?.lowercased() == "100-continue" {
                let reply = Array("HTTP/1.1 100 Continue\r\n\r\n".utf8)
                _ = reply.withUnsafeBytes { send(connection, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            }
            let body: [UInt8]
            if lookup("transfer-encoding")?.lowercased().contains("chunked") == true {
                guard let chunked = readChunkedBody() else { return nil }
                body = chunked
            } else {
                let length = Int(lookup("content-length") ?? "0") ?? -1
                guard length >= 0, length <= Self.maxBodyBytes else { return nil }
                while buffer.count < length {
                    guard receiveMore() else { return nil }
                }
                body = Array(buffer[..<length])
            }
            return RecordedRequest(
                method: String(requestLine[0]), path: String(requestLine[1]), headers: headers, body: body,
                receivedAt: .now
            )
        }

        private mutating func readChunkedBody() -> [UInt8]? {
            var body: [UInt8] = []
            while true {
                guard let line = readLine() else { return nil }
                let sizeText = line.split(separator: ";").first.map(String.init) ?? ""
                guard let size = Int(sizeText.trimmingCharacters(in: .whitespaces), radix: 16), size >= 0,
                    body.count + size <= Self.maxBodyBytes
                else { return nil }
                if size == 0 {
                    // Trailer fields, up to the empty line.
                    while let trailer = readLine(), !trailer.isEmpty {}
                    return body
                }
                while buffer.count < size + 2 {
                    guard receiveMore() else { return nil }
                }
                body += buffer[..<size]
                buffer.removeFirst(size + 2)
            }
        }

        private mutating func readLine() -> String? {
            while true {
                if let end = Self.find([13, 10], in: buffer) {
                    let line = String(decoding: buffer[..<end], as: UTF8.self)
                    buffer.removeFirst(end + 2)
                    return line
                }
                guard buffer.count < Self.maxHeadBytes, receiveMore() else { return nil }
            }
        }

        private mutating func receiveMore() -> Bool {
            guard waitReadable() else { return false }
            var chunk = [UInt8](repeating: 0, count: 65_536)
            let count = chunk.withUnsafeMutableBytes { recv(connection, $0.baseAddress, $0.count, 0) }
            guard count > 0 else { return false }
            buffer += chunk[..<count]
            return true
        }

        private static func find(_ pattern: [UInt8], in bytes: [UInt8]) -> Int? {
            guard bytes.count >= pattern.count else { return nil }
            for start in 0...(bytes.count - pattern.count)
            where bytes[start..<start + pattern.count].elementsEqual(pattern) {
                return start
            }
            return nil
        }
    }
}
