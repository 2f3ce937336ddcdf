import SwitchyardCore
import SwitchyardRuntime

extension FailoverRecord {
    /// The journal row as a drill report shows it.
    var drillSummary: DrillReport.FailoverSummary {
        .init(
            id: id, kind: kind.rawValue, from: fromRegion, to: toRegion, state: state.rawValue,
            runsMoved: runsMoved,
            runsSource: runsSource, leader: leader)
    }
}
