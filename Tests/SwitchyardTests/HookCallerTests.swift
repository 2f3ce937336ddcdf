import Crypto
import Foundation
import SwitchyardCore
import SwitchyardRuntime
import TestSupport
import Testing

@Suite("Routing hooks against a real loopback HTTP server")
struct HookCallerTests {
    let values = HookValues(region: "eu-west", previousRegion: "us-east", epoch: 3, failoverId: 17)

    @Test func signedCallSucceedsAfterTwo500s() async throws {
        let server = try LoopbackHTTPServer(
            handler: LoopbackHTTPServer.sequence([.status(500), .status(500), .status(204)]))
        defer { server.stop() }
        let secret = "hook-Secret-\(UInt32.random(in: 0...UInt32.max))"
        let hook = HookConfig(
            name: "dns", url: server.baseURL + "/dns", headers: ["X-Team": "platform"],
            body:
                "{\"region\":\"{{region}}\",\"previous\":\"{{previous_region}}\",\"epoch\":{{epoch}},\"failover\":{{failover_id}}}",
            secretEnv: "SY_TEST_HOOK_SECRET", timeout: .seconds(2), retries: 3, backoff: .milliseconds(50),
            maxBackoff: .milliseconds(200))
        let result = await HookCaller.call(hook, values: values, environment: ["SY_TEST_HOOK_SECRET": secret])
        #expect(result.succeeded)
        #expect(result.attempts.map(\.status) == [500, 500, 204])
        let requests = server.requests
        #expect(requests.count == 3)
        for request in requests {
            #expect(request.method == "POST" && request.path == "/dns")
            #expect(request.bodyText == "{\"region\":\"eu-west\",\"previous\":\"us-east\",\"epoch\":3,\"failover\":17}")
            #expect(request.header("Idempotency-Key") == "switchyard-failover-17")
            #expect(request.header("X-Team") == "platform")
            // The receiver can verify the signature with the shared secret.
            let timestamp = try #require(request.header(HookCaller.timestampHeader))
            let mac = HMAC<SHA256>.authenticationCode(
                for: Array((timestamp + "." + request.bodyText).utf8), using: SymmetricKey(data: Array(secret.utf8)))
            #expect(
                request.header(HookCaller.signatureHeader) == "sha256="
                    + mac.map { String(format: "%02x", $0) }.joined())
        }
        // Backoff separates the attempts.
        #expect(requests[1].receivedAt - requests[0].receivedAt >= .milliseconds(24))
        let journal = String(decoding: try WireJSON.encoder().encode(result), as: UTF8.self)
        #expect(!journal.contains(secret))
    }

    @Test func hangingEndpointIsAbandonedAfterItsTimeoutAndReported() async throws {
        let server = try LoopbackHTTPServer { _ in .hang }
        defer { server.stop() }
        let hook = HookConfig(
            name: "lb", url: server.baseURL + "/lb", timeout: .milliseconds(300), connectTimeout: .milliseconds(200),
            retries: 1, backoff: .milliseconds(10), maxBackoff: .milliseconds(10))
        let clock = ContinuousClock()
        let start = clock.now
        let result = await HookCaller.call(hook, values: values, environment: [:])
        let elapsed = clock.now - start
        #expect(!result.succeeded)
        #expect(result.attempts.count == 2)
        #expect(result.attempts.allSatisfy { $0.status == nil && ($0.error ?? "").contains("timeout") })
        #expect(elapsed < .seconds(15))  // the endpoint hangs for ever: the timeouts ended both attempts
    }

    @Test func garbageAndMissingSecretAreFailuresNotCrashes() async throws {
        let server = try LoopbackHTTPServer { _ in .garbage(Array("not http at all\r\n\r\n".utf8)) }
        defer { server.stop() }
        let garbage = await HookCaller.call(
            HookConfig(
                name: "g", url: server.baseURL, retries: 1, backoff: .milliseconds(1), maxBackoff: .milliseconds(1)),
            values: values, environment: [:])
        #expect(!garbage.succeeded && garbage.attempts.count == 2)
        let unsigned = await HookCaller.call(
            HookConfig(name: "s", url: server.baseURL, secretEnv: "SY_TEST_MISSING_SECRET"), values: values,
            environment: [:])
        #expect(!unsigned.succeeded)
        #expect(unsigned.attempts.first?.error?.contains("SY_TEST_MISSING_SECRET") == true)
        #expect(server.requests.count == 2)  // the unsigned hook was never called
    }
}
