/// Checks a request before it reaches libcurl, so bad input fails as `.invalidRequest` and a header
/// value can never smuggle a second header or request line.
enum RequestValidation {
    /// A description of what is wrong with `request`, or nil when it can be sent.
    static func problem(in request: HTTPRequest) -> String? {
        let lowerURL = request.url.lowercased()
        guard lowerURL.hasPrefix("http://") || lowerURL.hasPrefix("https://") else {
            return "the URL must start with http:// or https://"
        }
        guard !request.url.utf8.contains(where: { $0 <= 0x20 || $0 == 0x7F }) else {
            return "the URL contains whitespace or control characters"
        }
        guard !request.method.isEmpty, request.method.utf8.allSatisfy(isTokenByte) else {
            return "the method is not an HTTP token"
        }
        for header in request.headers {
            guard !header.name.isEmpty, header.name.utf8.allSatisfy(isTokenByte) else {
                return "a header name is not an HTTP token"
            }
            guard !header.value.utf8.contains(where: { $0 == 0x0D || $0 == 0x0A || $0 == 0 }) else {
                return "the value of header \(header.name) contains a line break"
            }
        }
        guard request.timeout > .zero, request.connectTimeout > .zero else {
            return "timeouts must be positive"
        }
        return nil
    }

    /// RFC 9110 `tchar`.
    private static func isTokenByte(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
            UInt8(ascii: "0")...UInt8(ascii: "9"):
            true
        default:
            Array("!#$%&'*+-.^_`|~".utf8).contains(byte)
        }
    }
}
