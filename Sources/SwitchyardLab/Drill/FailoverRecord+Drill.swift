import SwitchyardCore
import SwitchyardRuntime

extension FailoverRecord {
    /// The journal row as a drill report shows it.
    var drillSummary: DrillReport.FailoverSummary {
        .init(
            id: id, kind: kind.rawValue, from: from_region, to: to_region, state: state.rawValue,
            runs_moved: runs_moved,
            runs_source: runs_source)
    }
}
