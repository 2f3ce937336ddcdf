import Foundation

extension HookConfig {
    /// Reads one hook mapping; nil when a required key is missing or invalid.
    static func read(_ value: ValueNode, requiredByDefault: Bool) -> HookConfig? {
        guard let hook = value.mapping() else { return nil }
        hook.allow([
            "name", "url", "method", "headers", "body", "secret_env", "timeout", "connect_timeout", "retries",
            "backoff", "max_backoff", "success_statuses", "required", "tls",
        ])
        let errorsBefore = hook.diagnostics.count
        let name = hook.requiredString("name")
        var url: String?
        if let node = hook.require("url"), let text = node.nonEmptyString() {
            if let problem = httpURLProblem(text) { node.fail(problem) } else { url = text }
        }
        var headers: [String: String] = [:]
        if let node = hook.child("headers"), let map = node.mapping() {
            for key in map.keys {
                guard let text = map.child(key)?.string() else { continue }
                if key.isEmpty || !key.unicodeScalars.allSatisfy(isHeaderNameCharacter) {
                    map.fail(key, "invalid HTTP header name")
                } else if text.contains(where: { $0 == "\r" || $0 == "\n" }) {
                    map.fail(key, "header values must not contain line breaks")
                } else {
                    headers[key] = text
                }
            }
        }
        var body: String?
        if let node = hook.child("body"), let text = node.string() {
            if let problem = templateProblem(text) { node.fail(problem) } else { body = text }
        }
        var secretEnv: String?
        if let node = hook.child("secret_env"), let text = node.string() {
            if EnvironmentExpansion.isVariableName(text) {
                secretEnv = text
            } else {
                node.fail("expected the NAME of an environment variable holding the secret, not the secret itself")
            }
        }
        var statuses: [Int]?
        if let list = hook.child("success_statuses")?.sequence() {
            statuses = list.compactMap { $0.int(min: 100, max: 599) }
            if list.isEmpty {
                hook.fail("success_statuses", "must list at least one status, or be omitted for any 2xx")
            }
        }
        let defaults = HookConfig(name: "", url: "")
        let result = HookConfig(
            name: name ?? "", url: url ?? "", method: hook.choice("method", default: defaults.method), headers: headers,
            body: body, secretEnv: secretEnv, timeout: hook.duration("timeout", default: defaults.timeout),
            connectTimeout: hook.duration("connect_timeout", default: defaults.connectTimeout),
            retries: hook.int("retries", default: defaults.retries, min: 0, max: 100),
            backoff: hook.duration("backoff", default: defaults.backoff, allowZero: true),
            maxBackoff: hook.duration("max_backoff", default: defaults.maxBackoff, allowZero: true),
            successStatuses: statuses, required: hook.bool("required", default: requiredByDefault),
            tls: readTLS(hook.section("tls")))
        guard hook.diagnostics.count == errorsBefore else { return nil }
        if result.maxBackoff < result.backoff {
            hook.fail("max_backoff", "must be at least backoff (\(result.backoff.configText))")
        }
        if result.connectTimeout > result.timeout {
            hook.fail("connect_timeout", "must not exceed timeout (\(result.timeout.configText))")
        }
        return hook.diagnostics.count == errorsBefore ? result : nil
    }

    private static func readTLS(_ section: MappingReader) -> HookTLSConfig {
        section.allow(["ca_file", "client_cert", "client_key", "verify"])
        let tls = HookTLSConfig(
            caFile: section.optionalString("ca_file"), clientCert: section.optionalString("client_cert"),
            clientKey: section.optionalString("client_key"), verify: section.bool("verify", default: true))
        if (tls.clientCert == nil) != (tls.clientKey == nil) {
            section.fail(tls.clientCert == nil ? "client_cert" : "client_key", "client_cert and client_key go together")
        }
        return tls
    }

    private static func isHeaderNameCharacter(_ scalar: Unicode.Scalar) -> Bool {
        scalar.isASCIILetter || scalar.isASCIIDigit || "!#$%&'*+-.^_`|~".unicodeScalars.contains(scalar)
    }

    /// Nil for an `http://` or `https://` URL with a host; otherwise a reason that does not quote the URL.
    static func httpURLProblem(_ url: String) -> String? {
        let lowered = url.lowercased()
        guard let scheme = ["http://", "https://"].first(where: { lowered.hasPrefix($0) }) else {
            let given = url.range(of: "://").map { "\"\(url[..<$0.lowerBound])\"" } ?? "none"
            return "URL scheme must be http or https (found \(given))"
        }
        var authority = url.dropFirst(scheme.count).prefix { $0 != "/" && $0 != "?" && $0 != "#" }
        if let at = authority.lastIndex(of: "@") { authority = authority[authority.index(after: at)...] }
        let host = authority.hasPrefix("[") ? authority.prefix { $0 != "]" } : authority.prefix { $0 != ":" }
        guard !host.isEmpty, !url.contains(where: \.isWhitespace) else { return "URL needs a host and no spaces" }
        if authority.count > host.count + (authority.hasPrefix("[") ? 1 : 0) {
            let port = authority.dropFirst(host.count + (authority.hasPrefix("[") ? 2 : 1))
            guard let number = Int(port), (1...65535).contains(number) else { return "URL port must be 1-65535" }
        }
        return nil
    }

    /// Nil when every `{{…}}` in `template` is a known placeholder.
    static func templateProblem(_ template: String) -> String? {
        var rest = Substring(template)
        while let open = rest.range(of: "{{") {
            guard let close = rest[open.upperBound...].range(of: "}}") else { return "unterminated \"{{\" in template" }
            let name = rest[open.upperBound..<close.lowerBound].trimmingCharacters(in: .whitespaces)
            guard placeholders.contains(name) else {
                let allowed = placeholders.map { "{{\($0)}}" }.joined(separator: ", ")
                return "unknown placeholder {{\(name.prefix(40))}} (allowed: \(allowed))"
            }
            rest = rest[close.upperBound...]
        }
        return nil
    }
}
