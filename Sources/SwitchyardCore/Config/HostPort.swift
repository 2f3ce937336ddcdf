/// A `host:port` address (`[v6]:port` for IPv6 literals).
public struct HostPort: Sendable, Equatable, CustomStringConvertible {
    /// Host name or IP address, without brackets.
    public var host: String
    /// Port, 0-65535.
    public var port: Int

    /// Creates an address.
    public init(host: String, port: Int) {
        self.host = host
        self.port = port
    }

    /// Parses `host:port` or `[v6]:port`; nil when either part is missing or the port is out of range.
    public static func parse(_ text: String) -> HostPort? {
        let host: Substring
        let port: Substring
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]") else { return nil }
            host = text[text.index(after: text.startIndex)..<close]
            let after = text[text.index(after: close)...]
            guard after.hasPrefix(":") else { return nil }
            port = after.dropFirst()
        } else {
            guard let colon = text.lastIndex(of: ":") else { return nil }
            host = text[..<colon]
            port = text[text.index(after: colon)...]
            guard !host.contains(":") else { return nil }
        }
        guard !host.isEmpty, !host.contains(where: { $0.isWhitespace || $0 == "/" || $0 == "@" }),
            port.allSatisfy(\.isASCII), let number = Int(port), (0...65535).contains(number)
        else { return nil }
        return HostPort(host: String(host), port: number)
    }

    /// `host:port`, bracketing IPv6 literals.
    public var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }
}
