import Yams

/// One YAML value with the field path that leads to it; typed accessors report problems and return nil.
package struct ValueNode {
    package let node: Node
    package let field: String
    package let diagnostics: Diagnostics
    /// The line of the key this value belongs to; errors about a whole section point there.
    package var keyLine: Int? = nil

    /// The line of a scalar value, or of the key that introduces a mapping or list.
    package var line: Int {
        if case .scalar = node { return node.mark?.line ?? keyLine ?? 1 }
        return keyLine ?? node.mark?.line ?? 1
    }

    package func fail(_ reason: String) {
        diagnostics.report(line: line, field: field, reason)
    }

    /// A plain `null`, `~` or empty scalar.
    package var isNull: Bool {
        guard case .scalar(let scalar) = node, scalar.style == .plain else { return false }
        return ["", "~", "null", "Null", "NULL"].contains(scalar.string)
    }

    private var kind: String {
        switch node {
        case .scalar: "a scalar"
        case .mapping: "a mapping"
        case .sequence: "a list"
        case .alias: "an alias"
        }
    }

    /// The scalar as a string after `${VAR}` expansion.
    package func string() -> String? {
        guard case .scalar(let scalar) = node else {
            fail("expected a string, found \(kind)")
            return nil
        }
        switch EnvironmentExpansion.expand(
            scalar.string, environment: diagnostics.environment,
            used: { [diagnostics] in
                diagnostics.referenced.insert($0)
            })
        {
        case .success(let text): return text
        case .failure(let failure):
            fail(failure.reason)
            return nil
        }
    }

    /// A non-empty string.
    package func nonEmptyString() -> String? {
        guard let text = string() else { return nil }
        guard !text.isEmpty else {
            fail("must not be empty")
            return nil
        }
        return text
    }

    package func int(min: Int = Int.min, max: Int = Int.max) -> Int? {
        guard let text = string() else { return nil }
        guard let value = Int(text) else {
            fail("expected an integer, found \"\(text.prefix(40))\"")
            return nil
        }
        guard value >= min else {
            fail("must be at least \(min), found \(value)")
            return nil
        }
        guard value <= max else {
            fail("must be at most \(max), found \(value)")
            return nil
        }
        return value
    }

    package func bool() -> Bool? {
        guard let text = string() else { return nil }
        switch text.lowercased() {
        case "true", "yes", "on": return true
        case "false", "no", "off": return false
        default:
            fail("expected true or false, found \"\(text.prefix(40))\"")
            return nil
        }
    }

    package func duration(allowZero: Bool = false) -> Duration? {
        guard let text = string() else { return nil }
        guard let duration = Duration.parse(text) else {
            fail("invalid duration \"\(text.prefix(40))\" (write a number with a unit: 500ms, 3s, 2m, 1h, 1m30s)")
            return nil
        }
        guard allowZero || duration > .zero else {
            fail("must be greater than zero")
            return nil
        }
        return duration
    }

    package func choice<T: RawRepresentable & CaseIterable>(_ type: T.Type) -> T? where T.RawValue == String {
        guard let text = string() else { return nil }
        guard let value = T(rawValue: text) else {
            let allowed = T.allCases.map(\.rawValue).joined(separator: ", ")
            fail("unknown value \"\(text.prefix(40))\" (expected one of: \(allowed))")
            return nil
        }
        return value
    }

    /// The value as a mapping; `null` counts as an empty mapping.
    package func mapping() -> MappingReader? {
        if isNull { return MappingReader(emptyAt: line, field: field, diagnostics: diagnostics) }
        guard case .mapping(let mapping) = node else {
            fail("expected a mapping, found \(kind)")
            return nil
        }
        return MappingReader(mapping: mapping, line: line, field: field, diagnostics: diagnostics)
    }

    /// The value as a list; `null` counts as an empty list.
    package func sequence() -> [ValueNode]? {
        if isNull { return [] }
        guard case .sequence(let sequence) = node else {
            fail("expected a list, found \(kind)")
            return nil
        }
        return sequence.enumerated().map { index, element in
            ValueNode(node: element, field: "\(field)[\(index)]", diagnostics: diagnostics)
        }
    }
}
