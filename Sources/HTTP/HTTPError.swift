import Redaction

/// A request that produced no HTTP response.
///
/// `url` is redacted (password and query values replaced by `***`) and `message` is scrubbed of the
/// same secrets, so the error can be logged, journaled or shown in `/status` as it is.
public struct HTTPError: Error, Sendable, CustomStringConvertible {
    /// What went wrong, coarsely, for retry decisions.
    public enum Kind: Sendable, Hashable, CustomStringConvertible {
        /// The total or connect timeout expired.
        case timeout
        /// No connection: refused, unreachable, or the host name did not resolve.
        case connect
        /// The TLS handshake or peer verification failed, or a certificate file is unusable.
        case tls
        /// The server answered something that is not HTTP, or closed mid-response.
        case malformedResponse
        /// The response body exceeded the client's `maxResponseBodyBytes`.
        case responseTooLarge
        /// The request itself is invalid (URL, scheme, method or header), so retrying is pointless.
        case invalidRequest
        /// The awaiting task was cancelled and the transfer aborted.
        case cancelled
        /// Anything else libcurl reported.
        case other

        /// The kind's name, as in the source.
        public var description: String {
            switch self {
            case .timeout: "timeout"
            case .connect: "connect"
            case .tls: "tls"
            case .malformedResponse: "malformedResponse"
            case .responseTooLarge: "responseTooLarge"
            case .invalidRequest: "invalidRequest"
            case .cancelled: "cancelled"
            case .other: "other"
            }
        }
    }

    /// What went wrong.
    public var kind: Kind
    /// The libcurl `CURLcode`, or 0 when the error was found before calling libcurl.
    public var curlCode: Int32
    /// The request method.
    public var method: String
    /// The request URL, redacted.
    public var url: String
    /// libcurl's explanation (or ours), scrubbed of the URL's secrets.
    public var message: String

    /// Makes an error; `url` may be the raw URL, it is redacted here and its secrets scrubbed from `message`.
    public init(kind: Kind, curlCode: Int32 = 0, method: String, url: String, message: String) {
        self.kind = kind
        self.curlCode = curlCode
        self.method = method
        self.url = URLRedaction.redacted(url)
        self.message = URLRedaction.scrub(message, secretsOf: url)
    }

    /// A one-line summary without secrets.
    public var description: String {
        let code = curlCode == 0 ? "" : " (curl \(curlCode))"
        return "HTTP \(method) \(url) failed: \(kind)\(code): \(message)"
    }
}
