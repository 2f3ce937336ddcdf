import Threading

/// An HTTP/1.1 client on libcurl for routing and notification hooks.
///
/// Each `send` runs one easy handle on a dedicated OS thread, so concurrent sends from many tasks
/// share no handle and never block the cooperative pool. Connections are not reused: hooks are
/// rare, and a fresh connection per attempt is what a retry after a failure needs anyway.
public final class HTTPClient: Sendable {
    /// The largest response body accepted; a larger one fails with `.responseTooLarge`.
    public let maxResponseBodyBytes: Int

    /// Makes a client; 8 MiB bodies by default.
    public init(maxResponseBodyBytes: Int = 8 * 1024 * 1024) {
        self.maxResponseBodyBytes = maxResponseBodyBytes
    }

    /// Sends `request` and returns the response, whatever its status.
    ///
    /// Cancelling the task aborts the transfer within about a second (libcurl's progress interval).
    public func send(_ request: HTTPRequest) async throws(HTTPError) -> HTTPResponse {
        let cancellation = CancellationFlag()
        let transfer = CurlTransfer(
            request: request, maxResponseBodyBytes: maxResponseBodyBytes, cancellation: cancellation)
        let result: Result<HTTPResponse, HTTPError>
        do {
            result = try await withTaskCancellationHandler {
                try await runOnDedicatedThread(name: "switchyard-http") { transfer.perform() }
            } onCancel: {
                cancellation.raise()
            }
        } catch {
            // `perform` never throws; the thread runner's signature does.
            throw HTTPError(kind: .other, method: request.method, url: request.url, message: "\(type(of: error))")
        }
        return try result.get()
    }

    /// Sends `request` on the calling thread, blocking it for up to `request.timeout`.
    ///
    /// For code that already runs on a thread it owns; never call it from a task.
    public func sendBlocking(_ request: HTTPRequest) throws(HTTPError) -> HTTPResponse {
        let transfer = CurlTransfer(
            request: request, maxResponseBodyBytes: maxResponseBodyBytes, cancellation: CancellationFlag())
        return try transfer.perform().get()
    }
}
