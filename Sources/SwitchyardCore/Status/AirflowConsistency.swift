import Foundation

/// What one Airflow region holds that its tasks depend on and a failover does not carry: Variables,
/// Connections, Pools and the Fernet key. Only digests, never a value: a Variable's or Connection's
/// fields are hashed in its own database, and an encrypted value (Fernet tokens differ on every
/// encryption, even of the same text under the same key) is known only to be there.
public struct AirflowInventory: Codable, Sendable, Equatable {
    /// Variable key → digest of its value (`encrypted` when Fernet-encrypted).
    public var variables: [String: String]
    /// Connection id → digest of its type, host, schema, login and port, with whether it has a password
    /// and its extra's digest (`encrypted` when Fernet-encrypted).
    public var connections: [String: String]
    /// Pool name → its slots and whether deferred tasks count.
    public var pools: [String: String]
    /// A fingerprint of the Fernet key its Switchyard scheduler nodes give `airflow scheduler`
    /// (`sha256:` and 16 hex digits of its SHA-256); several when its nodes disagree, empty when none knows it
    /// (the key is in `airflow.cfg` or a secrets backend, not in the environment).
    public var fernetKeys: [String]

    /// Creates an inventory.
    public init(
        variables: [String: String] = [:], connections: [String: String] = [:], pools: [String: String] = [:],
        fernetKeys: [String] = []
    ) {
        self.variables = variables
        self.connections = connections
        self.pools = pools
        self.fernetKeys = fernetKeys
    }
}

/// Whether the Airflow regions agree on Variables, Connections, Pools and the Fernet key: a failover
/// to a region whose Connections or Variables differ fails every task that reads them.
public struct AirflowConsistency: Codable, Sendable, Equatable {
    /// When the regions were read.
    public var checkedAt: Date
    /// True when every region was read and nothing differs.
    public var consistent: Bool
    /// Per region: how many of each it holds, its Fernet key fingerprints, or why it could not be read.
    public var regions: [String: RegionSummary]
    /// What differs, sorted by kind and name.
    public var drift: [Drift]

    /// One region's side.
    public struct RegionSummary: Codable, Sendable, Equatable {
        /// How many Variables it holds.
        public var variables: Int?
        /// How many Connections.
        public var connections: Int?
        /// How many Pools.
        public var pools: Int?
        /// Its scheduler nodes' Fernet key fingerprints.
        public var fernetKeys: [String]?
        /// Why it could not be read.
        public var error: String?
    }

    /// One difference.
    public struct Drift: Codable, Sendable, Equatable, Comparable {
        /// `variable`, `connection`, `pool` or `fernet_key`.
        public var kind: String
        /// The Variable key, Connection id or Pool name (empty for the Fernet key).
        public var name: String
        /// The regions that lack it.
        public var missingIn: [String]
        /// The regions holding it, grouped by equal value, when they disagree (empty when they agree).
        public var differing: [[String]]

        /// By kind, then name.
        public static func < (a: Drift, b: Drift) -> Bool { (a.kind, a.name) < (b.kind, b.name) }

        /// One line for an event or a log.
        public var summary: String {
            let what = name.isEmpty ? kind.replacingOccurrences(of: "_", with: " ") : "\(kind) \(name)"
            var parts: [String] = []
            if !missingIn.isEmpty { parts.append("missing in \(missingIn.joined(separator: ", "))") }
            if !differing.isEmpty {
                parts.append("differs: " + differing.map { $0.joined(separator: "+") }.joined(separator: " vs "))
            }
            return what + " " + parts.joined(separator: "; ")
        }
    }

    /// A stable signature of the drift (what changed since the last warning).
    public var signature: String { drift.map(\.summary).joined(separator: "\n") }

    /// Compares the regions that could be read; those that could not are listed with their error and make
    /// the result inconsistent (unknown), without drift of their own.
    public static func compare(_ inventories: [String: AirflowInventory], errors: [String: String], at date: Date)
        -> AirflowConsistency
    {
        let names = inventories.keys.sorted()
        var drift: [Drift] = []
        func compareKind(_ kind: String, _ items: (AirflowInventory) -> [String: String]) {
            let all = Set(names.flatMap { items(inventories[$0]!).keys })
            for item in all.sorted() {
                var missing: [String] = []
                var groups: [String: [String]] = [:]
                for region in names {
                    if let value = items(inventories[region]!)[item] {
                        groups[value, default: []].append(region)
                    } else {
                        missing.append(region)
                    }
                }
                let differing = groups.count > 1 ? groups.values.map { $0.sorted() }.sorted { $0[0] < $1[0] } : []
                if !missing.isEmpty || !differing.isEmpty {
                    drift.append(Drift(kind: kind, name: item, missingIn: missing, differing: differing))
                }
            }
        }
        compareKind("variable", \.variables)
        compareKind("connection", \.connections)
        compareKind("pool", \.pools)
        // The Fernet key: regions that know their key's fingerprint must agree, and each region's nodes too.
        let known = names.filter { !(inventories[$0]!.fernetKeys.isEmpty) }
        var keyGroups: [String: [String]] = [:]
        for region in known {
            keyGroups[inventories[region]!.fernetKeys.joined(separator: ","), default: []].append(region)
        }
        let split = known.contains { inventories[$0]!.fernetKeys.count > 1 }
        if keyGroups.count > 1 || split {
            drift.append(
                Drift(
                    kind: "fernet_key", name: "", missingIn: [],
                    differing: keyGroups.values.map { $0.sorted() }.sorted { $0[0] < $1[0] }))
        }
        var regions: [String: RegionSummary] = [:]
        for (name, inventory) in inventories {
            regions[name] = RegionSummary(
                variables: inventory.variables.count, connections: inventory.connections.count,
                pools: inventory.pools.count, fernetKeys: inventory.fernetKeys, error: nil)
        }
        for (name, error) in errors { regions[name] = RegionSummary(error: error) }
        return AirflowConsistency(
            checkedAt: date, consistent: drift.isEmpty && errors.isEmpty, regions: regions, drift: drift.sorted())
    }
}
