import Postgres

extension ControlStore {
    /// What an observer reads back in its refresh.
    struct Refresh {
        var cluster: ClusterState
        var lease: LeaseRecord?
        var failovers: (latest: FailoverRecord?, running: FailoverRecord?)
        var observations: [ObservationRecord]
        var events: [SnapshotStore.Event]
        /// Observers that wrote within the day: the quorum's denominator, as the failover decision counts it.
        var knownObservers: Int
    }

    /// An observer's whole refresh in one round trip (a pipeline, one implicit transaction): `writes`
    /// (its observations, its row and its events), then the cluster state, the active-region lease, the
    /// latest and running failovers, every observer's view and the events after `sinceEvent`. An observer
    /// 100 ms from the control database pays 200 ms for it, not two seconds.
    static func refresh(
        _ c: PostgresConnection, writes: [PostgresConnection.Statement], sinceEvent: Int, liveWithin: Duration
    ) async throws -> Refresh {
        let reads: [PostgresConnection.Statement] = [
            .init(clusterSQL), .init(activeLeaseSQL), .init(latestAndRunningSQL),
            observationsStatement(liveWithin: liveWithin), eventsStatement(after: sinceEvent),
            observerCountStatement(seenWithin: .seconds(86_400)),
        ]
        let results = Array(try await c.pipeline(writes + reads).suffix(reads.count))
        return Refresh(
            cluster: try cluster(from: results[0]), lease: try activeLease(from: results[1]),
            failovers: try latestAndRunningFailovers(from: results[2]),
            observations: try observations(from: results[3]),
            events: try events(from: results[4]), knownObservers: try observerCount(from: results[5]))
    }
}
