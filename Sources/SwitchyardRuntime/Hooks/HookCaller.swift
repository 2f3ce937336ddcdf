import Crypto
import Foundation
import HTTP
import Redaction
import SwitchyardCore

/// Calls one routing or notification hook: the rendered JSON body, an `Idempotency-Key` with the
/// failover id, an HMAC-SHA256 signature over `timestamp.body` with the secret from the environment,
/// a per-attempt timeout, and bounded retries with exponential backoff and jitter. The result, not
/// an error, says how it went; it never contains the secret.
public enum HookCaller {
    /// One attempt.
    public struct Attempt: Codable, Sendable, Equatable {
        /// The HTTP status, when one came back.
        public var status: Int?
        /// Why the attempt failed, secrets scrubbed.
        public var error: String?
        /// How long the attempt took.
        public var latencyMs: Double
    }

    /// The outcome of a hook, journaled with the failover.
    public struct Result: Codable, Sendable, Equatable {
        /// The hook's name.
        public var name: String
        /// Its URL, redacted.
        public var url: String
        /// A failure makes the failover `completed_with_errors`.
        public var required: Bool
        /// An attempt got a 2xx.
        public var succeeded: Bool
        /// Every attempt, in order.
        public var attempts: [Attempt]
    }

    /// Header names.
    public static let signatureHeader = "X-Switchyard-Signature"
    /// The header carrying the signed timestamp.
    public static let timestampHeader = "X-Switchyard-Timestamp"

    /// `sha256=<hex>` of HMAC-SHA256(secret, "<timestamp>.<body>").
    public static func signature(secret: String, timestamp: String, body: [UInt8]) -> String {
        let key = SymmetricKey(data: Array(secret.utf8))
        let mac = HMAC<SHA256>.authenticationCode(for: Array((timestamp + ".").utf8) + body, using: key)
        return "sha256=" + mac.map { String(format: "%02x", $0) }.joined()
    }

    /// Calls the hook until it succeeds or its retries are spent.
    public static func call(
        _ hook: HookConfig, values: HookValues, environment: [String: String] = ProcessInfo.processInfo.environment,
        client: HTTPClient = HTTPClient(), jitter: @Sendable () -> Double = { Double.random(in: 0...1) }
    ) async -> Result {
        var result = Result(
            name: hook.name, url: URLRedaction.redacted(hook.url), required: hook.required, succeeded: false,
            attempts: [])
        var secret: String?
        if let name = hook.secretEnv {
            guard let value = environment[name], !value.isEmpty else {
                result.attempts.append(
                    Attempt(
                        status: nil, error: "the signing secret's environment variable \(name) is not set",
                        latencyMs: 0))
                return result
            }
            secret = value
        }
        let body = hook.body.map { Array(values.render($0).utf8) } ?? values.defaultBody
        for attempt in 1...(hook.retries + 1) {
            if attempt > 1 {
                try? await Task.sleep(
                    for: RetrySchedule.delay(
                        beforeAttempt: attempt, backoff: hook.backoff, maxBackoff: hook.maxBackoff, jitter: jitter()))
            }
            let timestamp = String(Int(Date().timeIntervalSince1970))
            var headers = [
                HTTPHeader("Content-Type", "application/json"),
                HTTPHeader("Idempotency-Key", "switchyard-failover-\(values.failoverId)"),
                HTTPHeader(timestampHeader, timestamp), HTTPHeader("User-Agent", "switchyard"),
            ]
            if let secret {
                headers.append(HTTPHeader(signatureHeader, signature(secret: secret, timestamp: timestamp, body: body)))
            }
            for (name, value) in hook.headers.sorted(by: { $0.key < $1.key }) {
                headers.append(HTTPHeader(name, values.render(value)))
            }
            let request = HTTPRequest(
                method: hook.method.rawValue, url: hook.url, headers: headers, body: hook.method == .get ? [] : body,
                timeout: hook.timeout, connectTimeout: hook.connectTimeout,
                tls: TLSOptions(
                    caFile: hook.tls.caFile, clientCertificate: hook.tls.clientCert, clientKey: hook.tls.clientKey,
                    verify: hook.tls.verify))
            let clock = ContinuousClock()
            let start = clock.now
            do {
                let response = try await client.send(request)
                let latency = ((clock.now - start).secondsDouble * 100_000).rounded() / 100
                result.attempts.append(Attempt(status: response.status, error: nil, latencyMs: latency))
                if hook.isSuccess(status: response.status) {
                    result.succeeded = true
                    return result
                }
            } catch {
                let latency = ((clock.now - start).secondsDouble * 100_000).rounded() / 100
                result.attempts.append(Attempt(status: nil, error: "\(error)", latencyMs: latency))
            }
        }
        return result
    }
}
