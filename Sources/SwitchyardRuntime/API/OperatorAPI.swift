import Foundation
import Hummingbird
import NIOCore
import Postgres
import SwitchyardCore

/// `POST /switchover`, `/failover`, `/pause`, `/resume`: authenticated with a bearer token from the
/// environment (compared in constant time). Requests pass the same admission checks as the CLI's
/// (`OperatorRequests`) and are queued for the failover leader.
struct OperatorAPI: Sendable {
    let configuration: Configuration
    let token: String?
    let control: PostgresConnection

    struct Body: Decodable {
        var to: String?
        var reason: String?
        /// `/failover` only: fail over even when the decision would not (the target's health is still checked).
        var force: Bool?
    }

    func register(on router: Router<BasicRequestContext>) {
        for path in ["switchover", "failover", "pause", "resume"] {
            router.post(RouterPath(stringLiteral: "/" + path)) { request, _ in try await self.handle(path, request) }
        }
    }

    func handle(_ action: String, _ request: Request) async throws -> Response {
        guard let token else {
            throw APIError(
                status: .serviceUnavailable, code: "operator_api_disabled",
                message: "set \(configuration.controlPlane.api.tokenEnv) to enable the operator endpoints")
        }
        // The scheme is case-insensitive (RFC 9110): "Bearer x" and "bearer x" are the same.
        let presented =
            request.headers[.authorization].flatMap {
                $0.prefix(7).lowercased() == "bearer " ? String($0.dropFirst(7)) : nil
            } ?? ""
        guard Self.constantTimeEqual(presented, token) else {
            throw APIError(
                status: .unauthorized, code: "unauthorized", message: "a valid bearer token is required",
                headers: [.wwwAuthenticate: "Bearer realm=\"switchyard\""])
        }
        let buffer: ByteBuffer
        do {
            buffer = try await request.body.collect(upTo: Self.maximumBody)
        } catch is NIOTooManyBytesError {
            throw APIError(
                status: .contentTooLarge, code: "body_too_large", message: "the body must be at most 64 KiB")
        }
        let body: Body
        if buffer.readableBytes == 0 {
            body = Body()
        } else {
            guard let decoded = try? WireJSON.decoder().decode(Body.self, from: Data(buffer.readableBytesView)) else {
                throw APIError(
                    status: .badRequest, code: "bad_body",
                    message: "the body must be a JSON object like {\"to\": \"eu-west\"}")
            }
            body = decoded
        }
        let reason = body.reason ?? "requested through the API"
        do {
            return try await perform(action, body: body, reason: reason)
        } catch let error as PostgresError
            where [.connectionFailed, .connectionLost, .timeout, .closed, .cancelled].contains(error.code)
        {
            // The control database failed the request; the caller retries once it answers (pause, resume and
            // an already queued request are idempotent; a refused duplicate is a 409).
            throw APIError(
                status: .serviceUnavailable, code: "control_database_unavailable",
                message:
                    "the control database did not answer (\(error.sqlState ?? "no SQLSTATE")); retry when it answers")
        }
    }

    /// Largest body an operator request may carry.
    static let maximumBody = 64 * 1024

    func perform(_ action: String, body: Body, reason: String) async throws -> Response {
        if await !control.isOpen { try await control.reconnect(timeout: .seconds(3)) }
        let requests = OperatorRequests(configuration: configuration)
        switch action {
        case "pause", "resume":
            let changed = try await requests.setPaused(control, action == "pause", reason: reason)
            return StatusServer.json(encoding: ["paused": action == "pause", "changed": changed])
        default:
            guard let target = body.to, configuration.region(named: target) != nil else {
                throw APIError(
                    status: .badRequest, code: "unknown_region", message: "\"to\" must name a configured region")
            }
            let kind: OperatorRequests.Kind =
                action == "switchover" ? .switchover : (body.force == true ? .forced : .failover)
            do {
                try await requests.admit(control, kind: kind, to: target)
            } catch let refusal as OperatorRequests.Refusal {
                throw APIError(
                    status: .conflict, code: refusal.code, message: refusal.description, failoverId: refusal.failoverId)
            }
            let id = try await requests.enqueue(control, kind: kind, to: target, reason: reason)
            return StatusServer.json(encoding: ["request_id": id], status: .accepted)
        }
    }

    static func constantTimeEqual(_ a: String, _ b: String) -> Bool {
        let x = Array(a.utf8), y = Array(b.utf8)
        var difference = UInt8(x.count == y.count ? 0 : 1)
        for i in 0..<max(x.count, y.count) {
            difference |= (i < x.count ? x[i] : 0) ^ (i < y.count ? y[i] : 0)
        }
        return difference == 0
    }
}
