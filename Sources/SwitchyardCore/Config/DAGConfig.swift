import Foundation

/// One DAG from `dags.yaml`, applied to every region.
public struct DAGConfig: Sendable, Equatable {
    /// Identifier, `^[A-Za-z0-9_.-]{1,250}$`, unique.
    public var id: String
    /// When runs are created.
    public var schedule: DAGSchedule
    /// The shell command a worker runs.
    public var command: String
    /// Runs of this DAG allowed in `running` at once (16).
    public var maxActiveRuns: Int
    /// A run still going after this long is failed; nil means no limit.
    public var timeout: Duration?
    /// Whether scheduling is paused (false).
    public var paused: Bool

    /// Creates a DAG.
    public init(
        id: String, schedule: DAGSchedule = .manual, command: String, maxActiveRuns: Int = 16,
        timeout: Duration? = nil, paused: Bool = false
    ) {
        self.id = id
        self.schedule = schedule
        self.command = command
        self.maxActiveRuns = maxActiveRuns
        self.timeout = timeout
        self.paused = paused
    }

    /// Reads `dags.yaml`'s root mapping (`dags: [...]`).
    static func readAll(_ root: MappingReader) -> [DAGConfig] {
        root.allow(["dags"])
        guard let list = root.child("dags")?.sequence() else { return [] }
        var dags: [DAGConfig] = []
        var seen: [String: Int] = [:]
        for item in list {
            guard let dag = read(item) else { continue }
            if let first = seen[dag.id] {
                item.mapping()?.fail("id", "duplicate DAG id \"\(dag.id)\" (also dags[\(first)])")
                continue
            }
            seen[dag.id] = dags.count
            dags.append(dag)
        }
        return dags
    }

    private static func read(_ value: ValueNode) -> DAGConfig? {
        guard let dag = value.mapping() else { return nil }
        dag.allow(["id", "schedule", "command", "max_active_runs", "timeout", "paused"])
        let errorsBefore = dag.diagnostics.count
        var id: String?
        if let node = dag.require("id"), let text = node.string() {
            if text.range(of: "^[A-Za-z0-9_.-]{1,250}$", options: .regularExpression) != nil {
                id = text
            } else {
                node.fail("DAG ids match ^[A-Za-z0-9_.-]{1,250}$, found \"\(text.prefix(60))\"")
            }
        }
        var schedule = DAGSchedule.manual
        if let node = dag.child("schedule"), let text = node.string() {
            do { schedule = try DAGSchedule.parse(text) } catch { node.fail(error.reason) }
        }
        let command = dag.requiredString("command")
        let dagConfig = DAGConfig(
            id: id ?? "", schedule: schedule, command: command ?? "",
            maxActiveRuns: dag.int("max_active_runs", default: 16),
            timeout: dag.child("timeout")?.duration(), paused: dag.bool("paused", default: false))
        return dag.diagnostics.count == errorsBefore ? dagConfig : nil
    }
}
