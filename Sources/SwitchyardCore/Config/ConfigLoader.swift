import Foundation
import Yams

/// Loads and validates a `regions/` directory: `controlplane.yaml`, `dags.yaml`, and every other
/// `*.yaml` file as one region.
public enum ConfigLoader {
    /// The control-plane file name.
    public static let controlPlaneFile = "controlplane.yaml"
    /// The DAG definitions file name.
    public static let dagsFile = "dags.yaml"

    /// Loads `directory`, expanding `${VAR}` from `environment`, and reports every problem found at once.
    ///
    /// File names in errors are `directory` joined with the file name, exactly as given.
    public static func load(
        directory: String, environment: [String: String] = ProcessInfo.processInfo.environment
    ) throws(ConfigErrors) -> Configuration {
        var errors: [ConfigError] = []
        var referenced: Set<String> = []
        let names: [String]
        do {
            names = try FileManager.default.contentsOfDirectory(atPath: directory).sorted()
        } catch {
            throw ConfigErrors(errors: [
                ConfigError(
                    file: directory, line: 0, field: "directory", reason: "cannot read the configuration directory")
            ])
        }

        var controlPlane: ControlPlaneConfig?
        let controlPath = join(directory, controlPlaneFile)
        if names.contains(controlPlaneFile) {
            let (root, diagnostics) = readDocument(path: controlPath, environment: environment)
            if let root { controlPlane = ControlPlaneConfig.read(root) }
            errors += sortedByLine(diagnostics.errors)
            referenced.formUnion(diagnostics.referenced)
        } else {
            errors.append(
                ConfigError(file: controlPath, line: 0, field: "file", reason: "missing; every deployment needs one"))
        }

        var regions: [RegionConfig] = []
        var firstDefinition: [String: (file: String, line: Int)] = [:]
        for name in names where name.hasSuffix(".yaml") && name != controlPlaneFile && name != dagsFile {
            let path = join(directory, name)
            let (root, diagnostics) = readDocument(path: path, environment: environment)
            if let root, let region = RegionConfig.read(root, controlPlane: controlPlane) {
                let line = root.line(of: "name")
                if let first = firstDefinition[region.name] {
                    diagnostics.report(
                        line: line, field: "name",
                        "duplicate region name \"\(region.name)\" (also defined in \(first.file):\(first.line))")
                } else {
                    firstDefinition[region.name] = (path, line)
                    regions.append(region)
                }
            }
            errors += sortedByLine(diagnostics.errors)
            referenced.formUnion(diagnostics.referenced)
        }
        if regions.isEmpty && !errors.contains(where: { $0.file != controlPath }) {
            errors.append(
                ConfigError(
                    file: directory, line: 0, field: "regions",
                    reason: "no region files found (one <name>.yaml per region)"))
        }
        if let controlPlane, case .count(let count) = controlPlane.failover.quorum, count > regions.count,
            !regions.isEmpty
        {
            errors.append(
                ConfigError(
                    file: controlPath, line: 1, field: "failover.quorum",
                    reason: "quorum \(count) exceeds the number of regions (\(regions.count)), so it could never be met"
                ))
        }

        var dags: [DAGConfig] = []
        if names.contains(dagsFile) {
            let (root, diagnostics) = readDocument(path: join(directory, dagsFile), environment: environment)
            if let root { dags = DAGConfig.readAll(root) }
            errors += sortedByLine(diagnostics.errors)  // what a DAG command reads is no secret of Switchyard's
        }

        guard errors.isEmpty, let controlPlane else { throw ConfigErrors(errors: errors) }
        var configuration = Configuration(
            directory: directory, controlPlane: controlPlane, regions: regions, dags: dags)
        configuration.referencedVariables = referenced
        return configuration
    }

    static func join(_ directory: String, _ name: String) -> String {
        directory.isEmpty ? name : directory.hasSuffix("/") ? directory + name : "\(directory)/\(name)"
    }

    private static func sortedByLine(_ errors: [ConfigError]) -> [ConfigError] {
        errors.enumerated().sorted { ($0.element.line, $0.offset) < ($1.element.line, $1.offset) }.map(\.element)
    }

    /// Reads and composes one YAML file into its root mapping; syntax errors become `ConfigError`s.
    package static func readDocument(path: String, environment: [String: String]) -> (MappingReader?, Diagnostics) {
        let diagnostics = Diagnostics(file: path, environment: environment)
        guard let data = FileManager.default.contents(atPath: path) else {
            diagnostics.report(line: 0, field: "file", "cannot be read")
            return (nil, diagnostics)
        }
        guard let text = String(data: data, encoding: .utf8) else {
            diagnostics.report(line: 1, field: "file", "is not valid UTF-8")
            return (nil, diagnostics)
        }
        let node: Node?
        do {
            node = try Yams.compose(yaml: text)
        } catch let error as YamlError {
            let (line, reason) = describe(error)
            diagnostics.report(line: line, field: "yaml", reason)
            return (nil, diagnostics)
        } catch {
            diagnostics.report(line: 1, field: "yaml", "cannot be parsed")
            return (nil, diagnostics)
        }
        guard let node else { return (MappingReader(emptyAt: 1, field: "", diagnostics: diagnostics), diagnostics) }
        guard case .mapping(let mapping) = node else {
            diagnostics.report(
                line: node.mark?.line ?? 1, field: "document", "expected a mapping of keys at the top level")
            return (nil, diagnostics)
        }
        return (
            MappingReader(mapping: mapping, line: node.mark?.line ?? 1, field: "", diagnostics: diagnostics),
            diagnostics
        )
    }

    private static func describe(_ error: YamlError) -> (line: Int, reason: String) {
        func with(_ problem: String, _ context: YamlError.Context?) -> String {
            "syntax error: \(problem)" + (context.map { " (\($0.text) at line \($0.mark.line))" } ?? "")
        }
        switch error {
        case .scanner(let context, let problem, let mark, _): return (mark.line, with(problem, context))
        case .parser(let context, let problem, let mark, _): return (mark.line, with(problem, context))
        case .composer(let context, let problem, let mark, _): return (mark.line, with(problem, context))
        case .duplicatedKeysInMapping(let duplicates, let context):
            return (context.mark.line, "duplicate keys in a mapping: \(duplicates.joined(separator: ", "))")
        case .reader(let problem, _, _, _): return (1, "cannot read YAML: \(problem)")
        default: return (1, "cannot parse YAML")
        }
    }
}
