/// A region's Redis: a direct URL or a Sentinel-managed master, plus the dispatch stream name.
public struct RedisConfig: Sendable, Equatable {
    /// How to reach Redis.
    public enum Connection: Sendable, Equatable {
        /// `redis://` or `unix://` URL (`rediss://` is refused: no TLS in the Redis client yet).
        case url(RedisURL)
        /// Ask Sentinels for the current master.
        case sentinel(SentinelConfig)
    }

    /// How to reach Redis.
    public var connection: Connection
    /// The stream runs are dispatched on (`switchyard:runs`).
    public var stream: String

    /// Creates the section.
    public init(connection: Connection, stream: String = "switchyard:runs") {
        self.connection = connection
        self.stream = stream
    }
}

/// `redis.sentinel`.
public struct SentinelConfig: Sendable, Equatable {
    /// Sentinel addresses.
    public var addresses: [HostPort]
    /// The monitored master's name.
    public var master: String
    /// Name of the environment variable holding the Redis password, if any.
    public var passwordEnv: String?

    /// Creates the section.
    public init(addresses: [HostPort], master: String, passwordEnv: String? = nil) {
        self.addresses = addresses
        self.master = master
        self.passwordEnv = passwordEnv
    }
}

/// A parsed Redis URL: `redis://[[user]:password@]host[:port][/db]`, `rediss://…` or `unix:///path[?db=N]`.
public struct RedisURL: Sendable, Equatable {
    /// Where the server listens.
    public enum Endpoint: Sendable, Equatable {
        /// TCP host and port (6379 when omitted).
        case tcp(host: String, port: Int)
        /// A Unix socket path.
        case unix(path: String)
    }

    /// The URL as written (contains the password; show `URLRedaction.redacted(text)` instead).
    public var text: String
    /// Where the server listens.
    public var endpoint: Endpoint
    /// ACL user name.
    public var username: String?
    /// Password for AUTH.
    public var password: String?
    /// Database index (0).
    public var database: Int

    /// Parses `text`; on failure the error's reason never contains the password.
    public static func parse(_ text: String) -> Result<RedisURL, InvalidValue> {
        var url = RedisURL(text: text, endpoint: .tcp(host: "", port: 6379), database: 0)
        if text.hasPrefix("unix://") {
            var rest = Substring(text.dropFirst("unix://".count))
            if let mark = rest.firstIndex(of: "?") {
                for parameter in rest[rest.index(after: mark)...].split(separator: "&") {
                    let parts = parameter.split(separator: "=", maxSplits: 1).map(String.init)
                    switch (parts.first, parts.count == 2 ? parts[1] : nil) {
                    case ("db", let value?):
                        guard let db = Int(value), db >= 0 else { return .failure("db must be a non-negative integer") }
                        url.database = db
                    case ("password", let value?): url.password = PercentDecoding.decoded(Substring(value))
                    default: return .failure("unknown unix socket URL parameter (allowed: db, password)")
                    }
                }
                rest = rest[..<mark]
            }
            guard rest.hasPrefix("/"), rest.count > 1 else {
                return .failure("unix:// URL needs an absolute socket path")
            }
            url.endpoint = .unix(path: String(rest))
            return .success(url)
        }
        let scheme: String
        if text.hasPrefix("redis://") {
            scheme = "redis://"
        } else if text.hasPrefix("rediss://") {
            // Refused here, with the file and line, rather than accepted and never connected: the
            // Redis client has no TLS (Debian 12's hiredis 0.14 is built without it).
            return .failure(
                "rediss:// (TLS) is not supported: terminate TLS in a local proxy (stunnel, a sidecar) and give its redis:// address"
            )
        } else {
            return .failure("expected a redis:// or unix:// URL")
        }
        var rest = Substring(text.dropFirst(scheme.count))
        if let at = rest.lastIndex(of: "@") {
            let userInfo = rest[..<at]
            rest = rest[rest.index(after: at)...]
            if let colon = userInfo.firstIndex(of: ":") {
                let user = userInfo[..<colon]
                url.username = user.isEmpty ? nil : PercentDecoding.decoded(user)
                guard let password = PercentDecoding.decoded(userInfo[userInfo.index(after: colon)...]) else {
                    return .failure("invalid percent-encoding in password")
                }
                url.password = password
            } else {
                url.username = PercentDecoding.decoded(userInfo)
            }
        }
        var authority = rest
        if let slash = rest.firstIndex(of: "/") {
            authority = rest[..<slash]
            let path = rest[rest.index(after: slash)...]
            if !path.isEmpty {
                guard let db = Int(path), db >= 0 else { return .failure("database must be a non-negative integer") }
                url.database = db
            }
        }
        guard !authority.isEmpty else { return .failure("missing host") }
        let withPort = authority.contains(":") && !authority.hasSuffix("]") ? String(authority) : "\(authority):6379"
        guard let address = HostPort.parse(withPort), address.port > 0 else {
            return .failure("expected host:port with a port between 1 and 65535")
        }
        url.endpoint = .tcp(host: address.host, port: address.port)
        return .success(url)
    }
}
