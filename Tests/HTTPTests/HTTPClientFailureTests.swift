import HTTP
import TestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

@Suite("HTTPClient failures")
struct HTTPClientFailureTests {
    let client = HTTPClient()

    /// Sends `request`, expects an `HTTPError`, and returns it with the wall-clock time it took.
    func failure(of request: HTTPRequest) async throws -> (error: HTTPError, elapsed: Duration) {
        let clock = ContinuousClock()
        let start = clock.now
        let result: Result<HTTPResponse, HTTPError>
        do {
            result = .success(try await client.send(request))
        } catch {
            result = .failure(error)
        }
        let elapsed = clock.now - start
        if case .failure(let error) = result { return (error, elapsed) }
        let response = try result.get()
        Issue.record("expected an error, got status \(response.status)")
        throw CancellationError()
    }

    @Test func slowEndpointTimesOut() async throws {
        let server = try LoopbackHTTPServer { _ in .delay(.seconds(30), then: .ok("late")) }
        defer { server.stop() }

        let (error, elapsed) = try await failure(
            of: HTTPRequest(url: server.baseURL + "/slow", timeout: .milliseconds(300))
        )

        #expect(error.kind == .timeout)
        #expect(error.curlCode == 28)
        #expect(elapsed >= .milliseconds(250))
        // The server answers after 30 s: well under that is the client's own timeout, even on a loaded machine.
        #expect(elapsed < .seconds(15))
    }

    @Test func hangingEndpointTimesOut() async throws {
        let server = try LoopbackHTTPServer { _ in .hang }
        defer { server.stop() }

        let (error, elapsed) = try await failure(
            of: HTTPRequest(
                method: "POST", url: server.baseURL + "/hang", body: [1, 2, 3], timeout: .milliseconds(300))
        )

        #expect(error.kind == .timeout)
        #expect(elapsed < .seconds(15))  // the server never answers
        #expect(server.requests.count == 1)
    }

    @Test func nothingListeningFailsToConnectQuickly() async throws {
        let refusing = try Self.closedLoopbackPort()

        // A refusal ends the request at once: it is a connect error, never the 30 s timeout. (A wall-clock
        // bound near the real figure fails on a loaded 2-core run: a CI run took 1.19 s.)
        let (error, elapsed) = try await failure(
            of: HTTPRequest(url: "http://127.0.0.1:\(refusing.port)/", timeout: .seconds(30)))

        #expect(error.kind == .connect)
        #expect(error.curlCode == 7)
        #expect(elapsed < .seconds(15))
        withExtendedLifetime(refusing) {}  // the port stays bound (refusing) until here
    }

    @Test(arguments: [
        "this is not http\r\n\r\n",
        "HTTP/1.1 abc def\r\n\r\n",
        "\u{1}\u{2}\u{3}garbage",
    ])
    func garbageReplyIsMalformed(garbage: String) async throws {
        let server = try LoopbackHTTPServer { _ in .garbage(Array(garbage.utf8)) }
        defer { server.stop() }

        let (error, _) = try await failure(of: HTTPRequest(url: server.baseURL + "/"))

        #expect(error.kind == .malformedResponse, "\(error)")
    }

    @Test func closeWithoutAnswerIsMalformed() async throws {
        let server = try LoopbackHTTPServer { _ in .close }
        defer { server.stop() }

        let (error, _) = try await failure(of: HTTPRequest(url: server.baseURL + "/"))

        #expect(error.kind == .malformedResponse, "\(error)")
    }

    @Test func tlsToAPlainHTTPServerFailsAsTLS() async throws {
        let server = try LoopbackHTTPServer { _ in .ok() }
        defer { server.stop() }
        let url = "https://127.0.0.1:\(server.port)/"

        let plain = try await failure(of: HTTPRequest(url: url))
        let badCA = try await failure(of: HTTPRequest(url: url, tls: TLSOptions(caFile: "/nonexistent/ca.pem")))

        #expect(plain.error.kind == .tls, "\(plain.error)")
        #expect(badCA.error.kind == .tls, "\(badCA.error)")
    }

    @Test func errorsNeverContainURLSecrets() async throws {
        let refusing = try Self.closedLoopbackPort()
        let port = refusing.port
        let url = "http://hook:secret@127.0.0.1:\(port)/route?token=tok3n&region=x#frag"

        let (error, _) = try await failure(of: HTTPRequest(url: url))

        #expect(error.kind == .connect)
        for text in [error.description, error.url, error.message, String(reflecting: error)] {
            #expect(!text.contains("secret"), "\(text)")
            #expect(!text.contains("tok3n"), "\(text)")
        }
        #expect(error.url == "http://hook:***@127.0.0.1:\(port)/route?token=***&region=***")
        withExtendedLifetime(refusing) {}
    }

    @Test func invalidRequestsFailBeforeSending() async throws {
        let server = try LoopbackHTTPServer { _ in .ok() }
        defer { server.stop() }

        let badScheme = try await failure(of: HTTPRequest(url: "ftp://user:secret@127.0.0.1/"))
        let injected = try await failure(
            of: HTTPRequest(url: server.baseURL, headers: [HTTPHeader("X-A", "1\r\nX-Injected: yes")])
        )

        #expect(badScheme.error.kind == .invalidRequest)
        #expect(!badScheme.error.description.contains("secret"))
        #expect(injected.error.kind == .invalidRequest)
        #expect(server.requests.isEmpty)
    }

    @Test func cancellingTheTaskAbortsTheTransfer() async throws {
        let server = try LoopbackHTTPServer { _ in .hang }
        defer { server.stop() }
        let client = self.client
        let clock = ContinuousClock()
        let start = clock.now

        let task = Task { try await client.send(HTTPRequest(url: server.baseURL, timeout: .seconds(60))) }
        _ = await server.waitForRequests(count: 1)
        task.cancel()
        let result = await task.result

        #expect(throws: HTTPError.self) { try result.get() }
        #expect((try? result.get()) == nil)
        if case .failure(let error as HTTPError) = result { #expect(error.kind == .cancelled) }
        #expect(clock.now - start < .seconds(30))  // the cancellation, not the 60 s timeout, ended it
    }

    /// A loopback port that was just free: bound, then closed, so nothing listens on it.
    /// A port that refuses connections for the whole test (bound, never listening).
    static func closedLoopbackPort() throws -> RefusingPort { try RefusingPort() }
}
