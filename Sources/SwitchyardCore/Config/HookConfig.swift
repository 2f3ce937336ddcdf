/// An HTTP hook called during failover (`routing.hooks`) or after it (`routing.notify`).
public struct HookConfig: Sendable, Equatable {
    /// HTTP methods a hook may use.
    public enum Method: String, Sendable, Equatable, CaseIterable {
        /// GET.
        case get = "GET"
        /// POST.
        case post = "POST"
        /// PUT.
        case put = "PUT"
        /// PATCH.
        case patch = "PATCH"
        /// DELETE.
        case delete = "DELETE"
    }

    /// Placeholders a body template may use.
    public static let placeholders = [
        "region", "previous_region", "epoch", "failover_id", "event", "event_action", "incident_key", "summary",
    ]

    /// Unique within the region.
    public var name: String
    /// `http://` or `https://` URL with a host.
    public var url: String
    /// Method (POST).
    public var method: Method
    /// Extra request headers.
    public var headers: [String: String]
    /// Body template using `{{region}}`, `{{previous_region}}`, `{{epoch}}`, `{{failover_id}}`.
    public var body: String?
    /// Name of the environment variable holding the HMAC secret; the value is read only when signing.
    public var secretEnv: String?
    /// Per-attempt timeout (2s).
    public var timeout: Duration
    /// Connect timeout (1s).
    public var connectTimeout: Duration
    /// Retries after the first attempt (3).
    public var retries: Int
    /// First retry delay, doubled each retry with jitter (200ms).
    public var backoff: Duration
    /// Upper bound on the retry delay (2s).
    public var maxBackoff: Duration
    /// Statuses that count as success; nil means any 2xx.
    public var successStatuses: [Int]?
    /// Whether the failover waits for and depends on this hook (true for hooks, false for notify).
    public var required: Bool
    /// TLS settings.
    public var tls: HookTLSConfig

    /// Creates a hook with defaults.
    public init(
        name: String, url: String, method: Method = .post, headers: [String: String] = [:], body: String? = nil,
        secretEnv: String? = nil, timeout: Duration = .seconds(2), connectTimeout: Duration = .seconds(1),
        retries: Int = 3, backoff: Duration = .milliseconds(200), maxBackoff: Duration = .seconds(2),
        successStatuses: [Int]? = nil, required: Bool = true, tls: HookTLSConfig = .init()
    ) {
        self.name = name
        self.url = url
        self.method = method
        self.headers = headers
        self.body = body
        self.secretEnv = secretEnv
        self.timeout = timeout
        self.connectTimeout = connectTimeout
        self.retries = retries
        self.backoff = backoff
        self.maxBackoff = maxBackoff
        self.successStatuses = successStatuses
        self.required = required
        self.tls = tls
    }

    /// Whether `status` counts as success for this hook.
    public func isSuccess(status: Int) -> Bool {
        successStatuses?.contains(status) ?? (200...299).contains(status)
    }
}

/// `tls` of a hook; empty paths mean "not set".
public struct HookTLSConfig: Sendable, Equatable {
    /// CA bundle to verify the server with (system default when nil).
    public var caFile: String?
    /// Client certificate for mutual TLS.
    public var clientCert: String?
    /// Client private key for mutual TLS.
    public var clientKey: String?
    /// Whether the server certificate is verified (true).
    public var verify: Bool

    /// Creates the section.
    public init(caFile: String? = nil, clientCert: String? = nil, clientKey: String? = nil, verify: Bool = true) {
        self.caFile = caFile
        self.clientCert = clientCert
        self.clientKey = clientKey
        self.verify = verify
    }
}
