import HTTP
import TestSupport
import Testing

@Suite("HTTPClient against a loopback server")
struct HTTPClientTests {
    let client = HTTPClient()

    @Test func getReturnsStatusBodyAndHeaders() async throws {
        let server = try LoopbackHTTPServer { _ in .ok("hello", headers: [("X-Region", "us-east")]) }
        defer { server.stop() }

        let response = try await client.send(HTTPRequest(url: server.baseURL + "/status?x=1"))

        #expect(response.status == 200)
        #expect(response.bodyText == "hello")
        #expect(response.header("x-region") == "us-east")
        #expect(response.header("Content-Length") == "5")
        #expect(response.duration > .zero)
        let request = try #require(server.requests.first)
        #expect(request.method == "GET")
        #expect(request.path == "/status?x=1")
    }

    @Test func postBodyAndHeadersArriveIntact() async throws {
        let server = try LoopbackHTTPServer { _ in .status(201) }
        defer { server.stop() }
        // NUL and high bytes too: the body must not be treated as a C string.
        let body: [UInt8] = Array(#"{"region":"eu-west"}"#.utf8) + [0, 255, 10]

        let response = try await client.send(
            HTTPRequest(
                method: "POST", url: server.baseURL + "/hooks/route",
                headers: [HTTPHeader("Content-Type", "application/json"), HTTPHeader("Idempotency-Key", "f-42")],
                body: body
            )
        )

        #expect(response.status == 201)
        let request = try #require(server.requests.first)
        #expect(request.method == "POST")
        #expect(request.path == "/hooks/route")
        #expect(request.body == body)
        #expect(request.header("content-type") == "application/json")
        #expect(request.header("Idempotency-Key") == "f-42")
        #expect(request.header("Content-Length") == "\(body.count)")
        #expect(request.header("Expect") == nil)
    }

    @Test func largeBodyIsSentWithoutExpectContinue() async throws {
        let server = try LoopbackHTTPServer { _ in .ok() }
        defer { server.stop() }
        // curl adds `Expect: 100-continue` on its own above a size threshold; the client must not.
        let body = (0..<(2 << 20)).map { UInt8(truncatingIfNeeded: $0 &* 31) }

        let response = try await client.send(HTTPRequest(method: "PUT", url: server.baseURL + "/blob", body: body))

        #expect(response.status == 200)
        let request = try #require(server.requests.first)
        #expect(request.header("Expect") == nil)
        #expect(request.body == body)
    }

    @Test(arguments: ["PUT", "PATCH", "DELETE"])
    func otherMethodsSendTheirBody(method: String) async throws {
        let server = try LoopbackHTTPServer { _ in .status(204) }
        defer { server.stop() }

        let response = try await client.send(
            HTTPRequest(method: method, url: server.baseURL + "/x", body: Array("payload".utf8)))

        #expect(response.status == 204)
        let request = try #require(server.requests.first)
        #expect(request.method == method)
        #expect(request.bodyText == "payload")
        // No invented form content type when the caller gave none.
        #expect(request.header("Content-Type") == nil)
    }

    @Test func emptyPostSendsZeroLength() async throws {
        let server = try LoopbackHTTPServer { _ in .ok() }
        defer { server.stop() }

        _ = try await client.send(HTTPRequest(method: "POST", url: server.baseURL + "/pause"))

        let request = try #require(server.requests.first)
        #expect(request.method == "POST")
        #expect(request.header("Content-Length") == "0")
        #expect(request.body.isEmpty)
    }

    @Test func serverErrorIsAResponseNotAnError() async throws {
        let server = try LoopbackHTTPServer { _ in .status(500, body: "boom") }
        defer { server.stop() }

        let response = try await client.send(HTTPRequest(url: server.baseURL + "/"))

        #expect(response.status == 500)
        #expect(response.bodyText == "boom")
        #expect(!response.isSuccess)
    }

    @Test func headHasHeadersAndNoBody() async throws {
        let server = try LoopbackHTTPServer { _ in .ok("active") }
        defer { server.stop() }

        let response = try await client.send(
            HTTPRequest(method: "HEAD", url: server.baseURL + "/regions/us-east/active"))

        #expect(response.status == 200)
        #expect(response.body.isEmpty)
        #expect(response.header("Content-Length") == "6")
        #expect(server.requests.first?.method == "HEAD")
    }

    @Test func redirectsAreNotFollowed() async throws {
        let server = try LoopbackHTTPServer { request in
            request.path == "/old" ? .status(302, headers: [("Location", "/new")]) : .ok("moved")
        }
        defer { server.stop() }

        let response = try await client.send(HTTPRequest(url: server.baseURL + "/old"))

        #expect(response.status == 302)
        #expect(response.header("location") == "/new")
        #expect(server.requests.count == 1)
    }

    @Test func thirtyTwoConcurrentRequestsAllSucceed() async throws {
        let server = try LoopbackHTTPServer { request in .ok(String(request.path.dropFirst())) }
        defer { server.stop() }
        let client = self.client

        let bodies = try await withThrowingTaskGroup(of: (Int, String).self) { group in
            for index in 0..<32 {
                group.addTask {
                    let response = try await client.send(HTTPRequest(url: server.baseURL + "/\(index)"))
                    #expect(response.status == 200)
                    return (index, response.bodyText)
                }
            }
            var bodies: [Int: String] = [:]
            for try await (index, body) in group { bodies[index] = body }
            return bodies
        }

        #expect(bodies.count == 32)
        for index in 0..<32 { #expect(bodies[index] == "\(index)") }
        #expect(server.requests.count == 32)
    }

    @Test func oversizedBodyFailsAsTooLarge() async throws {
        let server = try LoopbackHTTPServer { _ in
            .response(status: 200, headers: [], body: Array(repeating: 65, count: 4096))
        }
        defer { server.stop() }
        let small = HTTPClient(maxResponseBodyBytes: 1024)

        let error = await #expect(throws: HTTPError.self) {
            try await small.send(HTTPRequest(url: server.baseURL + "/big"))
        }

        #expect(error?.kind == .responseTooLarge)
    }
}
