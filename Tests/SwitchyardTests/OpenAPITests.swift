import Foundation
import HTTP
import SwitchyardCore
import SwitchyardLab
import SwitchyardRuntime
import TestSupport
import Testing

/// schemathesis and jsonschema, installed by `scripts/install-schemathesis.sh` (which `make test` runs)
/// into a cached virtualenv outside the clone.
enum FuzzerInstall {
    static let version = "4.32.5"

    static var venv: String {
        let env = ProcessInfo.processInfo.environment
        if let venv = env["SWITCHYARD_SCHEMATHESIS_VENV"], !venv.isEmpty { return venv }
        let cache =
            env["SWITCHYARD_CACHE"] ?? ((env["XDG_CACHE_HOME"] ?? (NSHomeDirectory() + "/.cache")) + "/switchyard")
        return cache + "/schemathesis-\(version)"
    }

    static var available: Bool {
        FileManager.default.fileExists(atPath: venv + "/.switchyard-installed")
            && FileManager.default.isExecutableFile(atPath: venv + "/bin/st")
    }

    static var skipReason: String {
        if let failed = try? String(contentsOfFile: venv + ".failed", encoding: .utf8) {
            return "schemathesis could not be installed: \(failed.trimmingCharacters(in: .whitespacesAndNewlines))"
        }
        return "schemathesis is not installed in \(venv): run scripts/install-schemathesis.sh (make test does)"
    }
}

@Suite(
    "The API matches its OpenAPI document", .serialized,
    .enabled(if: FuzzerInstall.available, Comment(rawValue: FuzzerInstall.skipReason)))
struct OpenAPITests {
    /// One recorded exchange, for `scripts/openapi-check.py`.
    struct Sample: Encodable {
        var method: String
        var template: String
        var path: String
        var status: Int
        var contentType: String?
        var body: String
    }

    static let document = OperatorKit.root + "/docs/openapi.json"

    func check(_ samples: [Sample], in directory: String) async throws -> (status: Int32, output: String) {
        let file = directory + "/samples-\(UUID().uuidString).json"
        try WireJSON.encoder().encode(samples).write(to: URL(fileURLWithPath: file))
        return try await OperatorKit.shell(
            "'\(FuzzerInstall.venv)/bin/python' '\(OperatorKit.root)/scripts/openapi-check.py' '\(Self.document)' '\(file)'"
        )
    }

    @Test func everyResponseOfALiveAgentMatchesTheDocumentItServes() async throws {
        try await DevFixture.with(regions: 2, dags: fastDAGs) { f in
            let token = "api-token-\(UInt32.random(in: 0...UInt32.max))"
            setenv("SWITCHYARD_API_TOKEN", token, 1)
            defer { unsetenv("SWITCHYARD_API_TOKEN") }
            for r in ["us-east", "eu-west"] {
                try f.start("s-\(r)", ["scheduler", "--region", r, "--node-id", "s-\(r)"])
            }
            let url = try await f.startAgent("us-east")
            try #require(await f.waitSteady(try await f.connectControl(), observers: 1))
            let client = HTTPClient()
            var samples: [Sample] = []
            func send(
                _ method: String, _ path: String, template: String? = nil, token: String? = nil, body: String? = nil
            ) async throws -> HTTPResponse {
                var headers: [HTTPHeader] = []
                if body != nil { headers.append(HTTPHeader("Content-Type", "application/json")) }
                if let token { headers.append(HTTPHeader("Authorization", "Bearer " + token)) }
                let response = try await client.send(
                    HTTPRequest(
                        method: method, url: url + path, headers: headers, body: body.map { Array($0.utf8) } ?? [],
                        timeout: .seconds(10), connectTimeout: .seconds(2)))
                samples.append(
                    Sample(
                        method: method, template: template ?? String(path.split(separator: "?")[0]), path: path,
                        status: response.status, contentType: response.header("content-type"),
                        body: response.bodyText))
                return response
            }

            // The document served is the one in the repository.
            let served = try await send("GET", "/openapi.json")
            #expect(served.body == Array(try Data(contentsOf: URL(fileURLWithPath: Self.document))))
            for path in [
                "/status", "/healthz", "/readyz", "/metrics", "/events", "/events?since=0&limit=5", "/history",
                "/history?limit=3", "/trends", "/",
            ] {
                #expect(try await send("GET", path).status == 200, "\(path)")
                #expect(try await send("HEAD", path).status == 200, "HEAD \(path)")
            }
            #expect(try await send("GET", "/events?since=-1").status == 400)
            #expect(try await send("GET", "/events?limit=0").status == 400)
            #expect(try await send("GET", "/history?limit=21").status == 400)
            let regions = "/regions/{name}/active"
            #expect(try await send("GET", "/regions/us-east/active", template: regions).status == 200)
            #expect(try await send("HEAD", "/regions/us-east/active", template: regions).status == 200)
            #expect(try await send("GET", "/regions/eu-west/active", template: regions).status == 503)
            #expect(try await send("GET", "/regions/atlantis/active", template: regions).status == 404)

            // The operator endpoints: refused without the token, with a bad body, a body too large, a conflict.
            let denied = try await send("POST", "/pause", body: "{}")
            #expect(denied.status == 401)
            #expect(denied.header("www-authenticate")?.hasPrefix("Bearer") == true)
            #expect(try await send("POST", "/pause", token: "wrong", body: "{}").status == 401)
            #expect(try await send("POST", "/pause", token: token, body: "{\"reason\":\"contract\"}").status == 200)
            #expect(try await send("POST", "/resume", token: token).status == 200)
            #expect(try await send("POST", "/switchover", token: token, body: "{\"to\":\"atlantis\"}").status == 400)
            #expect(try await send("POST", "/failover", token: token, body: "[1]").status == 400)
            let huge = "{\"reason\":\"" + String(repeating: "x", count: 70 * 1024) + "\"}"
            #expect(try await send("POST", "/pause", token: token, body: huge).status == 413)
            #expect(try await send("POST", "/switchover", token: token, body: "{\"to\":\"us-east\"}").status == 409)
            let queued = try await send("POST", "/failover", token: token, body: "{\"to\":\"eu-west\",\"force\":true}")
            #expect(queued.status == 202, "\(queued.bodyText)")
            // The failover the agent runs shows in /status as the last one.
            let finished = await f.waitUntil(timeout: .seconds(60)) {
                let state = try? await f.status(url).lastFailover?.state
                return state == "completed" || state == "completed_with_errors"
            }
            #expect(finished != nil)
            _ = try await send("GET", "/status")
            _ = try await send("GET", "/events?since=0")
            let history = try await send("GET", "/history")
            #expect(history.bodyText.contains("\"steps\":[{"), "\(history.bodyText)")
            _ = try await send("GET", "/trends")

            // Methods a route does not answer: 405 naming the ones it does (not in the document: no operation).
            let wrong = try await f.get(url, "/status", method: "DELETE")
            #expect(wrong.status == 405 && wrong.header("allow") == "GET, HEAD", "\(wrong.bodyText)")
            #expect(wrong.bodyText.hasPrefix("{\"error\":{\"code\":\"method_not_allowed\""))
            #expect(try await f.get(url, "/pause").status == 405)

            let result = try await check(samples, in: f.state.directory)
            print("openapi-check: \(result.output.split(separator: "\n").last ?? "")")
            #expect(result.status == 0, "\(result.output)")
            #expect(result.output.contains("\(samples.count) responses checked"), "\(result.output)")
            // The check can fail: a /status body with a key renamed breaks the schema.
            let status = try #require(samples.last { $0.template == "/status" && $0.method == "GET" })
            var broken = status
            broken.body = status.body.replacingOccurrences(of: "\"active_region\"", with: "\"activeRegion\"")
            let caught = try await check([broken], in: f.state.directory)
            #expect(caught.status != 0, "a renamed key passed: \(caught.output)")
        }
    }

    @Test func schemathesisFindsNoServerErrorAndNoSchemaBreakWithAndWithoutTheToken() async throws {
        try await DevFixture.with(regions: 2, dags: fastDAGs) { f in
            let token = "api-token-\(UInt32.random(in: 0...UInt32.max))"
            setenv("SWITCHYARD_API_TOKEN", token, 1)
            defer { unsetenv("SWITCHYARD_API_TOKEN") }
            let url = try await f.startAgent("us-east")
            for (label, header) in [
                ("without the token", ""), ("with the token", "-H 'Authorization: Bearer \(token)'"),
            ] {
                let run = try await OperatorKit.shell(
                    "cd '\(f.state.directory)' && '\(FuzzerInstall.venv)/bin/st'"
                        + " --config-file '\(OperatorKit.root)/scripts/schemathesis.toml'"
                        + " run '\(url)/openapi.json' \(header)"
                        + " --checks all --exclude-checks positive_data_acceptance"
                        + " --phases examples,coverage,fuzzing --max-examples 30 --workers 1 --request-timeout 10"
                        + " --no-color --seed 1")
                print("schemathesis \(label):\n\(run.output.suffix(1500))")
                #expect(run.status == 0, "schemathesis \(label): \(run.output.suffix(4000))")
            }
            #expect(!f.log("agent-us-east").contains(token))
        }
    }
}
