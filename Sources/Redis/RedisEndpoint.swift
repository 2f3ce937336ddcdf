import Foundation

/// Where a Redis server is and how to log in: parsed from `redis://` or `unix://` URLs.
public struct RedisEndpoint: Sendable, Equatable {
    /// TCP host and port, or a unix socket path.
    public enum Address: Sendable, Equatable {
        /// TCP.
        case tcp(host: String, port: Int)
        /// A unix domain socket path.
        case unix(path: String)
    }

    /// The address.
    public var address: Address
    /// ACL user name (Redis 6+), if any.
    public var username: String?
    /// Password for AUTH, if any. Never printed.
    public var password: String?
    /// Database index selected after connecting.
    public var database: Int

    /// Creates an endpoint.
    public init(address: Address, username: String? = nil, password: String? = nil, database: Int = 0) {
        self.address = address
        self.username = username
        self.password = password
        self.database = database
    }

    /// Parses `redis://[[user]:password@]host[:port][/db]` or `unix:///path[?db=N&password=…]`.
    public init(url: String) throws(RedisError) {
        func invalid(_ why: String) -> RedisError {
            RedisError(code: .invalidAddress, operation: "parse url", message: why)
        }
        guard let components = URLComponents(string: url), let scheme = components.scheme?.lowercased() else {
            throw invalid("not a URL")
        }
        let query = Dictionary(
            (components.queryItems ?? []).map { ($0.name, $0.value ?? "") }, uniquingKeysWith: { _, last in last })
        username = components.user.flatMap { $0.isEmpty ? nil : $0.removingPercentEncoding }
        password = components.password.flatMap { $0.removingPercentEncoding } ?? query["password"]
        switch scheme {
        case "redis":
            guard let host = components.host, !host.isEmpty else { throw invalid("missing host") }
            let port = components.port ?? 6379
            guard (1...65535).contains(port) else { throw invalid("port out of range") }
            address = .tcp(host: host, port: port)
            let path = components.path.trimmingCharacters(in: CharacterSet(charactersIn: "/"))
            if path.isEmpty {
                database = Int(query["db"] ?? "0") ?? 0
            } else {
                guard let db = Int(path), db >= 0 else { throw invalid("database must be a number") }
                database = db
            }
        case "unix":
            guard !components.path.isEmpty else { throw invalid("missing socket path") }
            address = .unix(path: components.path)
            guard let db = Int(query["db"] ?? "0"), db >= 0 else { throw invalid("database must be a number") }
            database = db
        default:
            throw invalid("scheme must be redis or unix")
        }
    }

    /// `host:port` or the socket path, never the password.
    public var displayAddress: String {
        switch address {
        case .tcp(let host, let port): "\(host):\(port)"
        case .unix(let path): path
        }
    }
}
