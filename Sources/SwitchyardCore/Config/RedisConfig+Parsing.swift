extension RedisConfig {
    /// Reads the `redis` section: exactly one of `url` and `sentinel`, plus an optional `stream`.
    static func read(_ section: MappingReader) -> RedisConfig? {
        section.allow(["url", "sentinel", "stream"])
        let stream = section.string("stream", default: "switchyard:runs")
        if stream.isEmpty { section.fail("stream", "must not be empty") }
        switch (section.child("url"), section.child("sentinel")) {
        case (nil, nil):
            section.diagnostics.report(
                line: section.line, field: section.field, "needs either url or sentinel")
            return nil
        case (.some, .some):
            section.fail("sentinel", "give either url or sentinel, not both")
            return nil
        case (let value?, nil):
            guard let text = value.nonEmptyString() else { return nil }
            switch RedisURL.parse(text) {
            case .success(let url): return RedisConfig(connection: .url(url), stream: stream)
            case .failure(let failure):
                value.fail("invalid Redis URL: \(failure.reason)")
                return nil
            }
        case (nil, let value?):
            guard let sentinel = value.mapping() else { return nil }
            return readSentinel(sentinel).map { RedisConfig(connection: .sentinel($0), stream: stream) }
        }
    }

    private static func readSentinel(_ section: MappingReader) -> SentinelConfig? {
        section.allow(["addresses", "master", "password_env"])
        let errorsBefore = section.diagnostics.count
        var addresses: [HostPort] = []
        if let value = section.require("addresses"), let list = value.sequence() {
            if list.isEmpty { value.fail("must list at least one sentinel address") }
            for item in list {
                guard let text = item.string() else { continue }
                if let address = HostPort.parse(text), address.port > 0 {
                    addresses.append(address)
                } else {
                    item.fail("expected host:port, found \"\(text.prefix(60))\"")
                }
            }
        }
        let master = section.requiredString("master")
        var passwordEnv: String?
        if let value = section.child("password_env"), let text = value.string() {
            if EnvironmentExpansion.isVariableName(text) {
                passwordEnv = text
            } else {
                value.fail("expected the NAME of an environment variable holding the password")
            }
        }
        guard section.diagnostics.count == errorsBefore, let master else { return nil }
        return SentinelConfig(addresses: addresses, master: master, passwordEnv: passwordEnv)
    }
}
