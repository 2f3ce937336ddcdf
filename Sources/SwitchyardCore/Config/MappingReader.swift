import Yams

/// A YAML mapping being read as one configuration section: knows its field path and line, rejects
/// unknown keys, and fills defaults for absent keys while reporting every bad value.
package struct MappingReader {
    private let entries: [(key: String, keyLine: Int, value: Node)]
    /// The line of the mapping itself, used for errors about keys that are missing.
    package let line: Int
    package let field: String
    package let diagnostics: Diagnostics

    package init(mapping: Node.Mapping, line: Int, field: String, diagnostics: Diagnostics) {
        var entries: [(key: String, keyLine: Int, value: Node)] = []
        for (key, value) in mapping {
            let keyLine = key.mark?.line ?? line
            guard case .scalar(let scalar) = key else {
                diagnostics.report(line: keyLine, field: field.isEmpty ? "(key)" : field, "keys must be strings")
                continue
            }
            entries.append((scalar.string, keyLine, value))
        }
        self.entries = entries
        self.line = line
        self.field = field
        self.diagnostics = diagnostics
    }

    /// A section that is absent from the file: every read returns its default.
    package init(emptyAt line: Int, field: String, diagnostics: Diagnostics) {
        self.entries = []
        self.line = line
        self.field = field
        self.diagnostics = diagnostics
    }

    /// Reports every key not in `allowed`, at the key's line.
    package func allow(_ allowed: [String]) {
        for entry in entries where !allowed.contains(entry.key) {
            diagnostics.report(
                line: entry.keyLine, field: fieldPath(field, entry.key),
                "unknown key (allowed: \(allowed.joined(separator: ", ")))")
        }
    }

    package var keys: [String] { entries.map(\.key) }

    package func path(_ key: String) -> String { fieldPath(field, key) }

    /// The line of `key`'s value, or of this mapping when the key is absent.
    package func line(of key: String) -> Int {
        guard let entry = entries.first(where: { $0.key == key }) else { return line }
        return ValueNode(node: entry.value, field: path(key), diagnostics: diagnostics, keyLine: entry.keyLine).line
    }

    package func has(_ key: String) -> Bool { child(key) != nil }

    /// The value of `key`, or nil when it is absent or null.
    package func child(_ key: String) -> ValueNode? {
        guard let entry = entries.first(where: { $0.key == key }) else { return nil }
        let value = ValueNode(node: entry.value, field: path(key), diagnostics: diagnostics, keyLine: entry.keyLine)
        return value.isNull ? nil : value
    }

    /// The value of `key`, reporting at this mapping's line when it is missing.
    package func require(_ key: String) -> ValueNode? {
        guard let value = child(key) else {
            diagnostics.report(line: line, field: path(key), "required key is missing")
            return nil
        }
        return value
    }

    package func fail(_ key: String, _ reason: String) {
        diagnostics.report(line: line(of: key), field: path(key), reason)
    }

    // MARK: Typed reads with defaults

    package func string(_ key: String, default fallback: String) -> String {
        child(key)?.string() ?? fallback
    }

    package func optionalString(_ key: String) -> String? {
        guard let text = child(key)?.string(), !text.isEmpty else { return nil }
        return text
    }

    package func requiredString(_ key: String) -> String? {
        require(key)?.nonEmptyString()
    }

    package func int(_ key: String, default fallback: Int, min: Int = 1, max: Int = Int.max) -> Int {
        child(key)?.int(min: min, max: max) ?? fallback
    }

    package func bool(_ key: String, default fallback: Bool) -> Bool {
        child(key)?.bool() ?? fallback
    }

    package func duration(_ key: String, default fallback: Duration, allowZero: Bool = false) -> Duration {
        child(key)?.duration(allowZero: allowZero) ?? fallback
    }

    /// A duration that may be negative (`-30s`, `+1.5s`, `30s`); zero is refused.
    package func signedDuration(_ key: String, default fallback: Duration) -> Duration {
        guard let value = child(key), let text = value.string() else { return fallback }
        let negative = text.hasPrefix("-")
        let magnitude = text.hasPrefix("-") || text.hasPrefix("+") ? String(text.dropFirst()) : text
        guard let duration = Duration.parse(magnitude), duration > .zero else {
            value.fail(
                "invalid duration \"\(text.prefix(40))\" (a non-zero duration with an optional sign: -30s, +1500ms)")
            return fallback
        }
        return negative ? .zero - duration : duration
    }

    package func choice<T: RawRepresentable & CaseIterable>(_ key: String, default fallback: T) -> T
    where T.RawValue == String {
        child(key)?.choice(T.self) ?? fallback
    }

    /// A nested section; an absent or null one reads as empty so its defaults apply.
    package func section(_ key: String) -> MappingReader {
        guard let value = child(key) else {
            return MappingReader(emptyAt: line(of: key), field: path(key), diagnostics: diagnostics)
        }
        return value.mapping() ?? MappingReader(emptyAt: value.line, field: path(key), diagnostics: diagnostics)
    }
}
