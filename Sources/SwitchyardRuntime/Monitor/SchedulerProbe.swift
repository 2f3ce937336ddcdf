import HTTP
import Postgres
import SwitchyardCore

/// Probes a region's schedulers: a leader with a fresh heartbeat in our node table; or Airflow's
/// `job` table (a running SchedulerJob with a recent heartbeat); or an HTTP health URL.
actor SchedulerProbe {
    let config: SchedulersConfig
    let connection: PostgresConnection
    let http = HTTPClient()

    init(dsn: String, config: SchedulersConfig, region: String) {
        self.config = config
        connection = .unconnected(
            ConnInfo.appending(dsn, [("application_name", "switchyard-probe")]), name: "probe-sched-\(region)")
    }

    func probe(timeout: Duration) async -> ProbeResult {
        let clock = ContinuousClock()
        let start = clock.now
        let stale = config.staleAfter.secondsDouble
        do {
            switch config.probe {
            case .http:
                let response = try await http.send(HTTPRequest(url: config.url ?? "", timeout: timeout, connectTimeout: timeout))
                var detail = ComponentDetail()
                detail.http_status = response.status
                return response.isSuccess ? .ok(clock.now - start, detail) : .failed("health URL answered \(response.status)", latency: clock.now - start, detail)
            case .heartbeat, .airflow:
                if await !connection.isOpen { try await connection.reconnect(timeout: timeout) }
                let remaining = max(.milliseconds(1), timeout - (clock.now - start))
                if config.probe == .airflow {
                    let row = try await connection.query(
                        """
                        SELECT count(*) AS n, extract(epoch FROM now() - max(latest_heartbeat))::float8 AS age FROM job
                        WHERE job_type = 'SchedulerJob' AND state = 'running' AND latest_heartbeat > now() - make_interval(secs => $1)
                        """, [.double(stale)], timeout: remaining).first
                    var detail = ComponentDetail()
                    detail.nodes = try row?["n"].require(Int.self)
                    detail.leader_heartbeat_age_seconds = try row?["age"].optional(Double.self)
                    return (detail.nodes ?? 0) > 0 ? .ok(clock.now - start, detail)
                        : .failed("no running SchedulerJob with a heartbeat in the last \(config.staleAfter)", latency: clock.now - start, detail)
                }
                let row = try await connection.query(
                    """
                    SELECT l.epoch, l.leader_node, extract(epoch FROM now() - l.heartbeat_at)::float8 AS age,
                           (SELECT count(*) FROM switchyard.nodes WHERE kind = 'scheduler' AND role <> 'stopped'
                              AND last_heartbeat > now() - make_interval(secs => $1)) AS nodes
                    FROM switchyard.leadership l WHERE l.id = 1
                    """, [.double(stale)], timeout: remaining).first
                var detail = ComponentDetail()
                detail.epoch = try row?["epoch"].require(Int.self)
                detail.leader = try row?["leader_node"].optional(String.self)
                detail.nodes = try row?["nodes"].require(Int.self)
                detail.leader_heartbeat_age_seconds = try row?["age"].optional(Double.self)
                guard detail.leader != nil, let age = detail.leader_heartbeat_age_seconds else {
                    return .failed("no scheduler leader", latency: clock.now - start, detail)
                }
                if age > stale {
                    return .failed("leader heartbeat is \(Int(age)) s old (stale after \(config.staleAfter))", latency: clock.now - start, detail)
                }
                return .ok(clock.now - start, detail)
            }
        } catch {
            await connection.close()
            return .failed("\(error)")
        }
    }
}
