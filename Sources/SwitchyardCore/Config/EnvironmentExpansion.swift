/// Expands `${VAR}` and `${VAR:-default}` in configuration strings; `$$` is a literal `$`.
///
/// A `$` followed by anything else stays as written, so passwords with a `$` need no escaping.
enum EnvironmentExpansion {
    /// Why a string could not be expanded; never contains the value of a variable.
    enum Failure: Error, Equatable {
        case unset(String)
        case unterminated
        case badName

        var reason: String {
            switch self {
            case .unset(let name): "environment variable \(name) is not set"
            case .unterminated: "unterminated \"${\" (write \"$$\" for a literal \"$\")"
            case .badName: "invalid environment variable name inside \"${…}\""
            }
        }
    }

    /// `used` is told every variable name the text reads (set or not).
    static func expand(_ text: String, environment: [String: String], used: (String) -> Void = { _ in }) -> Result<
        String, Failure
    > {
        guard text.contains("$") else { return .success(text) }
        var output = ""
        var index = text.startIndex
        while index < text.endIndex {
            let character = text[index]
            let next = text.index(after: index)
            guard character == "$", next < text.endIndex else {
                output.append(character)
                index = next
                continue
            }
            if text[next] == "$" {
                output.append("$")
                index = text.index(after: next)
                continue
            }
            guard text[next] == "{" else {
                output.append(character)
                index = next
                continue
            }
            let bodyStart = text.index(after: next)
            guard let close = text[bodyStart...].firstIndex(of: "}") else { return .failure(.unterminated) }
            let body = text[bodyStart..<close]
            let name: Substring
            let fallback: Substring?
            if let range = body.range(of: ":-") {
                name = body[..<range.lowerBound]
                fallback = body[range.upperBound...]
            } else {
                name = body
                fallback = nil
            }
            guard isVariableName(name) else { return .failure(.badName) }
            used(String(name))
            if let value = environment[String(name)], !(value.isEmpty && fallback != nil) {
                output += value
            } else if let fallback {
                output += fallback
            } else {
                return .failure(.unset(String(name)))
            }
            index = text.index(after: close)
        }
        return .success(output)
    }

    /// Whether `name` is a portable environment variable name (`[A-Za-z_][A-Za-z0-9_]*`).
    static func isVariableName(_ name: some StringProtocol) -> Bool {
        guard let first = name.unicodeScalars.first, first.isASCIILetter || first == "_" else { return false }
        return name.unicodeScalars.allSatisfy { $0.isASCIILetter || $0 == "_" || ("0"..."9").contains($0) }
    }
}

extension Unicode.Scalar {
    var isASCIILetter: Bool { ("a"..."z").contains(self) || ("A"..."Z").contains(self) }
    var isASCIIDigit: Bool { ("0"..."9").contains(self) }
}
