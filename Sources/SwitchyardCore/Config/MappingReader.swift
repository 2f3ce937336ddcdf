import Yams

/// A YAML mapping being read as one configuration section: knows its field path and line, rejects
/// unknown keys, and fills defaults for absent keys while reporting every bad value.
struct MappingReader {
    private let entries: [(key: String, keyLine: Int, value: Node)]
    /// The line of the mapping itself, used for errors about keys that are missing.
    let line: Int
    let field: String
    let diagnostics: Diagnostics

    init(mapping: Node.Mapping, line: Int, field: String, diagnostics: Diagnostics) {
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
    init(emptyAt line: Int, field: String, diagnostics: Diagnostics) {
        self.entries = []
        self.line = line
        self.field = field
        self.diagnostics = diagnostics
    }

    /// Reports every key not in `allowed`, at the key's line.
    func allow(_ allowed: [String]) {
        for entry in entries where !allowed.contains(entry.key) {
            diagnostics.report(
                line: entry.keyLine, field: fieldPath(field, entry.key),
                "unknown key (allowed: \(allowed.joined(separator: ", ")))")
        }
    }

    var keys: [String] { entries.map(\.key) }

    func path(_ key: String) -> String { fieldPath(field, key) }

    /// The line of `key`'s value, or of this mapping when the key is absent.
    func line(of key: String) -> Int {
        guard let entry = entries.first(where: { $0.key == key }) else { return line }
        return ValueNode(node: entry.value, field: path(key), diagnostics: diagnostics, keyLine: entry.keyLine).line
    }

    func has(_ key: String) -> Bool { child(key) != nil }

    /// The value of `key`, or nil when it is absent or null.
    func child(_ key: String) -> ValueNode? {
        guard let entry = entries.first(where: { $0.key == key }) else { return nil }
        let value = ValueNode(node: entry.value, field: path(key), diagnostics: diagnostics, keyLine: entry.keyLine)
        return value.isNull ? nil : value
    }

    /// The value of `key`, reporting at this mapping's line when it is missing.
    func require(_ key: String) -> ValueNode? {
        guard let value = child(key) else {
            diagnostics.report(line: line, field: path(key), "required key is missing")
            return nil
        }
        return value
    }

    func fail(_ key: String, _ reason: String) {
        diagnostics.report(line: line(of: key), field: path(key), reason)
    }

    // MARK: Typed reads with defaults

    func string(_ key: String, default fallback: String) -> String {
        child(key)?.string() ?? fallback
    }

    func optionalString(_ key: String) -> String? {
        guard let text = child(key)?.string(), !text.isEmpty else { return nil }
        return text
    }

    func requiredString(_ key: String) -> String? {
        require(key)?.nonEmptyString()
    }

    func int(_ key: String, default fallback: Int, min: Int = 1, max: Int = Int.max) -> Int {
        child(key)?.int(min: min, max: max) ?? fallback
    }

    func bool(_ key: String, default fallback: Bool) -> Bool {
        child(key)?.bool() ?? fallback
    }

    func duration(_ key: String, default fallback: Duration, allowZero: Bool = false) -> Duration {
        child(key)?.duration(allowZero: allowZero) ?? fallback
    }

    func choice<T: RawRepresentable & CaseIterable>(_ key: String, default fallback: T) -> T
    where T.RawValue == String {
        child(key)?.choice(T.self) ?? fallback
    }

    /// A nested section; an absent or null one reads as empty so its defaults apply.
    func section(_ key: String) -> MappingReader {
        guard let value = child(key) else {
            return MappingReader(emptyAt: line(of: key), field: path(key), diagnostics: diagnostics)
        }
        return value.mapping() ?? MappingReader(emptyAt: value.line, field: path(key), diagnostics: diagnostics)
    }
}
