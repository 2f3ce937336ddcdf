/// One HTTP header field. Order and duplicates are kept as sent or received.
public struct HTTPHeader: Sendable, Hashable {
    /// The field name, as written (comparisons elsewhere are case-insensitive).
    public var name: String
    /// The field value, without surrounding whitespace.
    public var value: String

    /// Makes a header field.
    public init(name: String, value: String) {
        self.name = name
        self.value = value
    }

    /// Makes a header field: `HTTPHeader("Content-Type", "application/json")`.
    public init(_ name: String, _ value: String) {
        self.init(name: name, value: value)
    }
}

/// TLS settings for one request. Verification is on unless a caller turns it off on purpose.
public struct TLSOptions: Sendable, Hashable {
    /// A PEM bundle of trusted certificate authorities; the system store when nil.
    public var caFile: String?
    /// A PEM client certificate for mutual TLS.
    public var clientCertificate: String?
    /// The PEM private key of `clientCertificate`.
    public var clientKey: String?
    /// Whether the peer certificate and host name are checked (VERIFYPEER 1, VERIFYHOST 2).
    public var verify: Bool

    /// Makes TLS options; the defaults verify the peer against the system store.
    public init(caFile: String? = nil, clientCertificate: String? = nil, clientKey: String? = nil, verify: Bool = true)
    {
        self.caFile = caFile
        self.clientCertificate = clientCertificate
        self.clientKey = clientKey
        self.verify = verify
    }
}

/// A request for `HTTPClient.send`. Redirects are never followed.
public struct HTTPRequest: Sendable {
    /// The method, in upper case: GET, POST, PUT, PATCH, DELETE, HEAD, or any other token.
    public var method: String
    /// An absolute `http` or `https` URL. It may carry credentials; errors only show it redacted.
    public var url: String
    /// Header fields sent after curl's own. `Expect` is always suppressed.
    public var headers: [HTTPHeader]
    /// The request body; sent with a `Content-Length` when non-empty or when the method is POST.
    public var body: [UInt8]
    /// The limit on the whole transfer, connection included.
    public var timeout: Duration
    /// The limit on establishing the connection (TCP and TLS).
    public var connectTimeout: Duration
    /// TLS settings for `https` URLs.
    public var tls: TLSOptions

    /// Makes a request.
    public init(
        method: String = "GET",
        url: String,
        headers: [HTTPHeader] = [],
        body: [UInt8] = [],
        timeout: Duration = .seconds(5),
        connectTimeout: Duration = .seconds(2),
        tls: TLSOptions = .init()
    ) {
        self.method = method
        self.url = url
        self.headers = headers
        self.body = body
        self.timeout = timeout
        self.connectTimeout = connectTimeout
        self.tls = tls
    }

    /// Makes a request with a UTF-8 text body.
    public init(
        method: String,
        url: String,
        headers: [HTTPHeader] = [],
        text: String,
        timeout: Duration = .seconds(5),
        connectTimeout: Duration = .seconds(2),
        tls: TLSOptions = .init()
    ) {
        self.init(
            method: method, url: url, headers: headers, body: Array(text.utf8),
            timeout: timeout, connectTimeout: connectTimeout, tls: tls
        )
    }
}
