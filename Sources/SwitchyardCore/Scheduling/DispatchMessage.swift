/// A run handed to the region's workers through its Redis stream. Every message carries the
/// region and the leadership epoch it was published under (the fencing token).
public struct DispatchMessage: Sendable, Equatable {
    /// The region whose leader published it.
    public var region: String
    /// The leadership epoch of the publisher.
    public var epoch: Int
    /// The DAG.
    public var dagId: String
    /// The run.
    public var runId: String
    /// Identifies this dispatch of the run; a worker claims the run only while it still matches.
    public var dispatchId: String

    /// Creates a message.
    public init(region: String, epoch: Int, dagId: String, runId: String, dispatchId: String) {
        self.region = region
        self.epoch = epoch
        self.dagId = dagId
        self.runId = runId
        self.dispatchId = dispatchId
    }

    /// Stream fields, in order.
    public var fields: [(String, String)] {
        [
            ("region", region), ("epoch", String(epoch)), ("dag_id", dagId), ("run_id", runId),
            ("dispatch_id", dispatchId),
        ]
    }

    /// Parses stream fields; nil when the entry is not a Switchyard dispatch.
    public init?(fields: [String: String]) {
        guard let region = fields["region"], let epochText = fields["epoch"], let epoch = Int(epochText), epoch > 0,
            let dagId = fields["dag_id"], !dagId.isEmpty, let runId = fields["run_id"], !runId.isEmpty,
            let dispatchId = fields["dispatch_id"], !dispatchId.isEmpty
        else { return nil }
        self.init(region: region, epoch: epoch, dagId: dagId, runId: runId, dispatchId: dispatchId)
    }
}
