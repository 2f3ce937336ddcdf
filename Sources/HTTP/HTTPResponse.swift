/// A complete HTTP response. Any status, 4xx and 5xx included, is a response, not an error.
public struct HTTPResponse: Sendable {
    /// The status code of the final response.
    public var status: Int
    /// The header fields of the final response, in the order received.
    public var headers: [HTTPHeader]
    /// The body, at most the client's `maxResponseBodyBytes` long. Empty for HEAD.
    public var body: [UInt8]
    /// The total time of the transfer as measured by libcurl.
    public var duration: Duration

    /// Makes a response.
    public init(status: Int, headers: [HTTPHeader], body: [UInt8], duration: Duration) {
        self.status = status
        self.headers = headers
        self.body = body
        self.duration = duration
    }

    /// The value of the first header field called `name`, compared case-insensitively.
    public func header(_ name: String) -> String? {
        let wanted = name.lowercased()
        return headers.first { $0.name.lowercased() == wanted }?.value
    }

    /// The body decoded as UTF-8, invalid sequences replaced.
    public var bodyText: String {
        String(decoding: body, as: UTF8.self)
    }

    /// Whether the status is 2xx.
    public var isSuccess: Bool {
        (200..<300).contains(status)
    }
}
