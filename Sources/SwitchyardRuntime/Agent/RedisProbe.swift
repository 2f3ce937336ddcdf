import Redis
import SwitchyardCore

/// Probes a region's Redis: PING latency, replication role and link; with Sentinel, the master
/// Sentinel reports, and a master that does not say it is one is a finding.
actor RedisProbe {
    let config: RedisConfig
    let region: String
    var connection: RedisConnection?
    var endpoint: RedisEndpoint?

    init(config: RedisConfig, region: String) {
        self.config = config
        self.region = region
    }

    func probe(timeout: Duration) async -> ProbeResult {
        let clock = ContinuousClock()
        let start = clock.now
        var detail = ComponentDetail()
        do {
            let target = try await RedisConnector.endpoint(for: config, timeout: timeout)
            if case .sentinel = config.connection { detail.sentinelMaster = target.displayAddress }
            if target != endpoint || connection == nil {
                await connection?.close()
                connection = .unconnected(
                    target, timeout: timeout, commandTimeout: timeout, name: "probe-redis-\(region)")
                endpoint = target
            }
            guard let connection else { return .failed("no connection") }
            if await !connection.isOpen { try await connection.reconnect() }
            let latency = try await connection.ping()
            let replication = try await connection.info("replication")["replication"] ?? [:]
            detail.role = replication["role"]
            detail.masterLinkStatus = replication["master_link_status"]
            if case .sentinel = config.connection, detail.role != "master" {
                detail.findings = [
                    "Sentinel reports \(target.displayAddress) as master but it says role:\(detail.role ?? "?")"
                ]
            }
            if detail.role == "slave", detail.masterLinkStatus != "up" {
                return .failed(
                    "replica link to its master is \(detail.masterLinkStatus ?? "unknown")", evidence: .positive,
                    latency: latency, detail)
            }
            return .ok(clock.now - start, detail)
        } catch {
            await connection?.close()
            let verdict = EvidenceClass.redis(error)
            return .failed("\(error)", evidence: verdict.evidence, ambiguity: verdict.ambiguity, latency: nil, detail)
        }
    }
}
