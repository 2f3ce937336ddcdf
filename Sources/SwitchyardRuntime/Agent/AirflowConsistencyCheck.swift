import Crypto
import Foundation
import Logging
import Postgres
import SwitchyardCore

/// The fingerprint of an Airflow Fernet key: `sha256:` and the first 16 hex digits of the SHA-256 of the
/// key (a 256-bit random key cannot be recovered from 64 bits of its hash). A rotation list (`new,old`,
/// Airflow's MultiFernet) is taken with its keys trimmed, in order: the first encrypts.
enum AirflowFernet {
    static func fingerprint(_ key: String) -> String? {
        let keys = key.split(separator: ",").map { $0.trimmingCharacters(in: .whitespacesAndNewlines) }.filter {
            !$0.isEmpty
        }
        guard !keys.isEmpty else { return nil }
        let digest = SHA256.hash(data: Data(keys.joined(separator: ",").utf8)).map { String(format: "%02x", $0) }
            .joined()
        return "sha256:" + digest.prefix(16)
    }
}

/// Reads an Airflow region's `AirflowInventory` from its metadata database. Values are hashed in the
/// database (`md5`, a digest, never the text), and an encrypted one is only marked as such.
enum AirflowInventoryReader {
    static func read(_ c: PostgresConnection, timeout: Duration) async throws -> AirflowInventory {
        let results = try await c.pipeline(
            [
                .init(
                    """
                    SELECT key || coalesce(' @' || team_name, '') AS key,
                           CASE WHEN is_encrypted THEN 'encrypted' ELSE md5(coalesce(val, '')) END AS digest
                    FROM public.variable
                    """),
                // Every field coalesced: concat_ws skips NULLs (a host and a schema could swap unseen), and one
                // region may store '' where the other has NULL (`--conn-uri` does).
                .init(
                    """
                    SELECT conn_id || coalesce(' @' || team_name, '') AS conn_id,
                           md5(concat_ws(chr(31), coalesce(conn_type, ''), coalesce(host, ''), coalesce(schema, ''),
                                         coalesce(login, ''), coalesce(port::text, '')))
                             || CASE WHEN coalesce(password, '') = '' THEN ' no-password' ELSE ' password' END
                             || CASE WHEN coalesce(extra, '') = '' THEN ''
                                     WHEN is_extra_encrypted THEN ' extra:encrypted'
                                     ELSE ' extra:' || md5(extra) END AS digest
                    FROM public.connection
                    """),
                .init(
                    """
                    SELECT pool || coalesce(' @' || team_name, '') AS pool,
                           slots::text || ' slots' || CASE WHEN include_deferred THEN ', deferred' ELSE '' END AS digest
                    FROM public.slot_pool WHERE pool IS NOT NULL
                    """),
                // Live nodes only: a node killed before a key rotation never marks itself stopped.
                .init(
                    """
                    SELECT DISTINCT airflow_fernet FROM switchyard.nodes
                    WHERE kind = 'scheduler' AND airflow_fernet IS NOT NULL AND role <> 'stopped'
                      AND last_heartbeat > now() - interval '60 seconds'
                    ORDER BY 1
                    """),
            ], timeout: timeout)
        func pairs(_ result: PostgresResult, _ name: String) throws -> [String: String] {
            var out: [String: String] = [:]
            for row in result.rows { out[try row[name].require(String.self)] = try row["digest"].require(String.self) }
            return out
        }
        return AirflowInventory(
            variables: try pairs(results[0], "key"), connections: try pairs(results[1], "conn_id"),
            pools: try pairs(results[2], "pool"),
            fernetKeys: try results[3].rows.map { try $0["airflow_fernet"].require(String.self) })
    }
}

extension Agent {
    /// The regions whose runs are Airflow's (`runs.preset: airflow`): the ones compared.
    var airflowRegions: [RegionConfig] { configuration.regions.filter { $0.runs.preset == .airflow } }

    /// Every `probes.airflow_check_interval`, reads every Airflow region's inventory and compares them; the
    /// status snapshot carries the result (`airflow_consistency`). Two regions at least, or nothing to do.
    func airflowCheckLoop() async {
        let regions = airflowRegions
        guard regions.count >= 2 else { return }
        let interval = configuration.controlPlane.probes.airflowCheckInterval
        while !shutdown.requested && !Task.isCancelled {
            let started = ContinuousClock.now
            var inventories: [String: AirflowInventory] = [:]
            var errors: [String: String] = [:]
            await withTaskGroup(of: (String, Result<AirflowInventory, Error>).self) { group in
                for region in regions {
                    group.addTask {
                        do {
                            let c = try await PostgresConnection.connect(
                                region.databaseDSN, timeout: .seconds(5), defaultTimeout: .seconds(10),
                                name: "agent-airflow-check")
                            return (
                                region.name,
                                .success(
                                    try await c.closeAfter {
                                        try await AirflowInventoryReader.read(c, timeout: .seconds(10))
                                    })
                            )
                        } catch {
                            return (region.name, .failure(error))
                        }
                    }
                }
                for await (name, result) in group {
                    switch result {
                    case .success(let inventory): inventories[name] = inventory
                    case .failure(let error): errors[name] = "\(error)"
                    }
                }
            }
            let result = AirflowConsistency.compare(inventories, errors: errors, at: Date())
            let previous = airflowConsistency.get()
            if result.signature != previous?.signature, !result.drift.isEmpty {
                logger.warning(
                    "Airflow regions differ",
                    metadata: ["drift": "\(result.drift.map(\.summary).joined(separator: "; "))"])
            }
            for (region, error) in errors where previous?.regions[region]?.error != error {
                logger.warning(
                    "cannot read a region's Airflow settings", metadata: ["region": "\(region)", "error": "\(error)"])
            }
            airflowConsistency.set(result)
            let left = interval - (ContinuousClock.now - started)
            if left > .zero { await shutdown.sleep(left) }
        }
    }

    /// While this agent leads failovers: a `warning` event when the Airflow regions' drift has something
    /// not reported since they last agreed (a drift that shrinks as an operator mends it, or an item that
    /// comes and goes, says nothing new), and an `airflow` event when they agree again, from this agent's
    /// own checks (none while a region cannot be read: its agents log that).
    func airflowDriftEvents() async {
        guard airflowRegions.count >= 2 else { return }
        // A connection of its own: the leader's is busy with its decisions.
        let control = PostgresConnection.unconnected(
            configuration.controlPlane.control.dsn, defaultTimeout: .seconds(5), name: "agent-airflow-events")
        defer { Task { await control.close() } }
        // What the last leader reported, so a new leader does not repeat it.
        var reported: Set<String>?
        while reported == nil, !shutdown.requested, !Task.isCancelled {
            do {
                if await !control.isOpen { try await control.reconnect(timeout: .seconds(3)) }
                let last = try await control.query(
                    "SELECT detail->>'signature' AS s FROM switchyard.events WHERE detail ? 'airflow_drift' ORDER BY id DESC LIMIT 1"
                ).first?["s"].string
                reported = Set((last ?? "").split(separator: "\n").map(String.init))
            } catch {
                await shutdown.sleep(.seconds(1))
            }
        }
        guard var reported else { return }
        while !shutdown.requested && !Task.isCancelled {
            if let current = airflowConsistency.get(), current.regions.values.allSatisfy({ $0.error == nil }) {
                let items = Set(current.drift.map(\.summary))
                let news = !items.subtracting(reported).isEmpty
                let agreed = items.isEmpty && !reported.isEmpty
                if news || agreed {
                    struct Detail: Encodable, Sendable {
                        var airflowDrift: [AirflowConsistency.Drift]
                        var signature: String
                    }
                    // What was reported so far this episode, so a later leader says nothing twice; the detail
                    // keeps the first 50 differences.
                    let message =
                        agreed
                        ? "the Airflow regions agree again on Variables, Connections, Pools and the Fernet key"
                        : "the Airflow regions differ (a failover would run tasks against other settings): "
                            + current.drift.prefix(5).map(\.summary).joined(separator: "; ")
                            + (current.drift.count > 5 ? "; and \(current.drift.count - 5) more" : "")
                    do {
                        if await !control.isOpen { try await control.reconnect(timeout: .seconds(3)) }
                        try await ControlStore.recordEvent(
                            control, kind: agreed ? "airflow" : "warning", message: message,
                            detail: Detail(
                                airflowDrift: Array(current.drift.prefix(50)),
                                signature: agreed ? "" : reported.union(items).sorted().joined(separator: "\n")))
                        reported = agreed ? [] : reported.union(items)
                    } catch {
                        logger.debug("Airflow drift event not written", metadata: ["error": "\(error)"])
                    }
                }
            }
            await shutdown.sleep(.seconds(1))
        }
    }
}
