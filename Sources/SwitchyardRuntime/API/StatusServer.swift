import Foundation
import Hummingbird
import Logging
import NIOCore
import SwitchyardCore

/// The agent's HTTP API (Hummingbird). Reads only from the `SnapshotStore`.
public enum StatusServer {
    /// Builds the router: `/status`, `/healthz`, `/readyz`, `/regions/{name}/active`, `/metrics`,
    /// `/events`, `/history`, `/trends`, `/openapi.json`, `/`. Every error is a JSON body `{"error": {"code", "message"}}`.
    static func router(store: SnapshotStore, operatorAPI: OperatorAPI? = nil) -> Router<BasicRequestContext> {
        // HEAD answers every GET route, as HTTP asks (load balancers probe with it).
        let router = Router(options: .autoGenerateHeadEndpoints)
        router.add(middleware: JSONErrorMiddleware())
        operatorAPI?.register(on: router)
        router.get("/status") { _, _ in
            let (body, ready) = store.statusBody
            return json(body, status: ready ? .ok : .serviceUnavailable)
        }
        router.get("/healthz") { _, _ in json(encoding: ["status": "ok"]) }
        router.get("/readyz") { _, _ in
            let (ready, reason) = store.readiness
            return json(encoding: Readiness(ready: ready, reason: reason), status: ready ? .ok : .serviceUnavailable)
        }
        let active: @Sendable (Request, BasicRequestContext) async throws -> Response = { _, context in
            let name = context.parameters.get("name") ?? ""
            guard let answer = store.activeAndHealthy(name) else {
                // Before the first snapshot no region is known yet: not "no such region", but "ask again".
                guard store.document != nil else {
                    throw APIError(status: .serviceUnavailable, code: "starting", message: "no snapshot yet")
                }
                throw APIError(status: .notFound, code: "unknown_region", message: "no region named \(name)")
            }
            return json(
                encoding: ActiveAnswer(region: name, activeAndHealthy: answer),
                status: answer ? .ok : .serviceUnavailable)
        }
        router.get("/regions/:name/active", use: active)
        router.get("/metrics") { _, _ in
            Response(
                status: .ok, headers: [.contentType: "text/plain; version=0.0.4"],
                body: .init(byteBuffer: store.metricsBody))
        }
        router.get("/events") { request, _ in
            let query = request.uri.queryParameters
            var since = 0
            if let text = query.get("since") {
                guard let value = Int(text), value >= 0 else {
                    throw APIError(
                        status: .badRequest, code: "bad_parameter", message: "since must be a non-negative integer")
                }
                since = value
            }
            var limit = 200
            if let text = query.get("limit") {
                guard let value = Int(text), (1...1000).contains(value) else {
                    throw APIError(
                        status: .badRequest, code: "bad_parameter", message: "limit must be between 1 and 1000")
                }
                limit = value
            }
            let events = store.events(since: since, limit: limit)
            let body = try StatusDocument.encoder().encode(["events": events])
            return json(ByteBuffer(bytes: body))
        }
        router.get("/history") { request, _ in
            var limit = 10
            if let text = request.uri.queryParameters.get("limit") {
                guard let value = Int(text), (1...SnapshotStore.historyKept).contains(value) else {
                    throw APIError(
                        status: .badRequest, code: "bad_parameter",
                        message: "limit must be between 1 and \(SnapshotStore.historyKept)")
                }
                limit = value
            }
            return json(store.historyBody(limit: limit))
        }
        router.get("/trends") { _, _ in json(store.trendsBody()) }
        router.get("/openapi.json") { _, _ in
            json(ByteBuffer(bytes: PackageResources.openapi_json))
        }
        router.get("/") { _, _ in
            Response(
                status: .ok, headers: [.contentType: "text/html; charset=utf-8"],
                body: .init(byteBuffer: ByteBuffer(bytes: Dashboard.html)))
        }
        return router
    }

    static func json(_ body: ByteBuffer, status: HTTPResponse.Status = .ok) -> Response {
        Response(status: status, headers: [.contentType: "application/json"], body: .init(byteBuffer: body))
    }

    /// A JSON response with `value` encoded as its body.
    static func json(encoding value: some Encodable, status: HTTPResponse.Status = .ok) -> Response {
        json(ByteBuffer(bytes: (try? WireJSON.encoder().encode(value)) ?? Data("{}".utf8)), status: status)
    }

    /// `/readyz`'s body.
    struct Readiness: Encodable {
        var ready: Bool
        var reason: String
    }

    /// `/regions/{name}/active`'s body.
    struct ActiveAnswer: Encodable {
        var region: String
        var activeAndHealthy: Bool
    }

    /// Every error's body: `{"error": {"code", "message", "failover_id"?}}`.
    struct ErrorBody: Encodable {
        struct Detail: Encodable {
            var code: String
            var message: String
            var failoverId: Int?
        }
        var error: Detail

        init(code: String, message: String, failoverId: Int? = nil) {
            error = Detail(code: code, message: message, failoverId: failoverId)
        }
    }

    /// Runs the server until the task is cancelled; `onRunning` receives the bound port.
    static func run(
        store: SnapshotStore, operatorAPI: OperatorAPI?, host: String, port: Int, logger: Logger,
        onRunning: @escaping @Sendable (Int) async -> Void
    ) async throws {
        let app = Application(
            router: router(store: store, operatorAPI: operatorAPI),
            configuration: .init(address: .hostname(host, port: port), serverName: "switchyard", backlog: 1024),
            onServerRunning: { channel in await onRunning(channel.localAddress?.port ?? port) },
            logger: logger)
        try await app.run()
    }
}

/// A 4xx/5xx with a JSON body.
struct APIError: Error {
    var status: HTTPResponse.Status
    var code: String
    var message: String
    var failoverId: Int? = nil
    /// Extra response headers (`WWW-Authenticate` on a 401).
    var headers: HTTPFields = [:]
}

extension StatusServer {
    /// The methods each route answers, for a 405's `Allow` (the router itself only knows "no match").
    static func allowedMethods(_ path: String) -> [String]? {
        let parts = path.split(separator: "/", omittingEmptySubsequences: false)
        if parts.count == 4, parts[1] == "regions", parts[3] == "active", !parts[2].isEmpty { return ["GET", "HEAD"] }
        switch path {
        case "/", "/status", "/healthz", "/readyz", "/metrics", "/events", "/history", "/trends", "/openapi.json":
            return ["GET", "HEAD"]
        case "/switchover", "/failover", "/pause", "/resume": return ["POST"]
        default: return nil
        }
    }
}

/// Turns every error (unknown route, wrong method, our own) into a JSON error body.
struct JSONErrorMiddleware: RouterMiddleware {
    typealias Context = BasicRequestContext

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws
        -> Response
    {
        do {
            return try await next(request, context)
        } catch let error as APIError {
            var response = StatusServer.json(
                encoding: StatusServer.ErrorBody(
                    code: error.code, message: error.message, failoverId: error.failoverId),
                status: error.status)
            response.headers.append(contentsOf: error.headers)
            return response
        } catch let error as HTTPError {
            if error.status == .notFound, let allowed = StatusServer.allowedMethods(request.uri.path) {
                var response = Self.body(
                    .methodNotAllowed, "method_not_allowed",
                    "\(request.uri.path) answers \(allowed.joined(separator: ", ")), not \(request.method)")
                response.headers[.allow] = allowed.joined(separator: ", ")
                return response
            }
            let code =
                error.status == .notFound
                ? "not_found" : error.status == .methodNotAllowed ? "method_not_allowed" : "bad_request"
            let message =
                error.status == .notFound
                ? "no such endpoint: \(request.method) \(request.uri.path)" : (error.body ?? "\(error.status)")
            return Self.body(error.status, code, message)
        } catch {
            return Self.body(.internalServerError, "internal", "internal error")
        }
    }

    static func body(_ status: HTTPResponse.Status, _ code: String, _ message: String) -> Response {
        StatusServer.json(encoding: StatusServer.ErrorBody(code: code, message: message), status: status)
    }
}
