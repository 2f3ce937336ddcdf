import Foundation
import SwitchyardCore
import SwitchyardRuntime

/// The network of a partitionable local deployment (`switchyard dev up --netns`): every region in a
/// network namespace of its own, joined to a hub namespace by a veth pair on a bridge. The hub holds
/// the control database and the routing stand-in (a "third site"). Every address lives inside these
/// namespaces (10.214.0.0/24, which the host never routes); tools on the host reach the servers
/// through their unix sockets and run configuration-driven commands inside the hub.
///
/// A partition is an nftables table inside the region's namespace that drops everything on its link,
/// so the region keeps its own database, Redis and daemons but reaches nothing else, and nothing
/// reaches it: packets vanish (no reset), as on a real cut link.
public struct DevNetwork: Codable, Sendable, Equatable {
    /// The hub namespace (control database, router).
    public var hub: String
    /// Region name → its namespace.
    public var namespaces: [String: String]
    /// Region name → its address; `control` → the hub's.
    public var addresses: [String: String]

    /// The network's /24: the hub is `.1`, regions `.10` onwards.
    public static let subnet = "10.214.0"
    static let table = "switchyard_partition"
    static let ip = "/usr/sbin/ip"
    static let nft = "/usr/sbin/nft"

    /// Why this machine cannot build the network, or nil when it can (root, iproute2, nftables).
    public static var unavailableReason: String? {
        if geteuid() != 0 { return "network namespaces and nftables need root" }
        if !FileManager.default.isExecutableFile(atPath: ip) { return "iproute2 (\(ip)) is not installed" }
        if !FileManager.default.isExecutableFile(atPath: nft) { return "nftables (\(nft)) is not installed" }
        return nil
    }

    /// The layout for a deployment directory (names only; `create()` builds it).
    public static func layout(directory: String, regions: [String]) -> DevNetwork {
        let key = String(SHA1Key.of(directory).prefix(6))
        var namespaces: [String: String] = [:]
        var addresses: [String: String] = ["control": subnet + ".1"]
        for (index, region) in regions.enumerated() {
            namespaces[region] = "sy-\(key)-r\(index + 1)"
            addresses[region] = subnet + ".\(10 + index)"
        }
        return DevNetwork(hub: "sy-\(key)-hub", namespaces: namespaces, addresses: addresses)
    }

    /// Two namespaces and the link between them, for a test: `server` is the hub (`subnet.1`) and
    /// `client` its one region, named `client` (`subnet.10`). The names carry the test's own tag, so
    /// an interrupted run's cleanup finds them.
    public static func pair(server: String, client: String) -> DevNetwork {
        DevNetwork(
            hub: server, namespaces: ["client": client],
            addresses: ["control": subnet + ".1", "client": subnet + ".10"])
    }

    /// The namespace a region's (or `control`'s) processes run in.
    public func namespace(of region: String) -> String { namespaces[region] ?? hub }

    /// The address of a region (or `control`) inside the network.
    public func address(of region: String) -> String { addresses[region] ?? addresses["control"] ?? Self.subnet + ".1" }

    /// True when the namespace exists.
    static func exists(_ namespace: String) -> Bool {
        FileManager.default.fileExists(atPath: "/run/netns/" + namespace)
    }

    /// Builds the namespaces, the bridge and the links; idempotent (what exists is kept). A namespace
    /// whose setup fails half way is deleted again, so a retry builds it whole.
    public func create() async throws {
        if let reason = Self.unavailableReason { throw DevError("--netns: \(reason)") }
        func build(_ namespace: String, _ commands: [[String]]) async throws {
            do {
                for command in commands { try await Subprocess.run(Self.ip, command) }
            } catch {
                _ = try? await Subprocess.run(Self.ip, ["netns", "del", namespace], check: false)
                throw error
            }
        }
        if !Self.exists(hub) {
            try await build(
                hub,
                [
                    ["netns", "add", hub],
                    ["-n", hub, "link", "set", "lo", "up"],
                    ["-n", hub, "link", "add", "sybr", "type", "bridge"],
                    ["-n", hub, "addr", "add", address(of: "control") + "/24", "dev", "sybr"],
                    ["-n", hub, "link", "set", "sybr", "up"],
                ])
        }
        for region in namespaces.keys.sorted() {
            let namespace = namespaces[region]!
            if Self.exists(namespace) { continue }
            let hubSide = "v-" + namespace.suffix(2)
            try await build(
                namespace,
                [
                    ["netns", "add", namespace],
                    ["-n", namespace, "link", "set", "lo", "up"],
                    [
                        "link", "add", "name", hubSide, "netns", hub, "type", "veth", "peer", "name", "eth0", "netns",
                        namespace,
                    ],
                    ["-n", hub, "link", "set", hubSide, "master", "sybr"],
                    ["-n", hub, "link", "set", hubSide, "up"],
                    ["-n", namespace, "addr", "add", address(of: region) + "/24", "dev", "eth0"],
                    ["-n", namespace, "link", "set", "eth0", "up"],
                ])
        }
    }

    /// Deletes every namespace (and the links with them). Processes still inside keep running cut off;
    /// stop them first.
    public func destroy() async {
        for namespace in namespaces.values.sorted() + [hub] where Self.exists(namespace) {
            _ = try? await Subprocess.run(Self.ip, ["netns", "del", namespace], check: false)
        }
    }

    /// Cuts a region off: its namespace drops every packet in or out of its link, or with `onlyFrom`
    /// only the packets to and from that address (the control database's, say).
    public func partition(_ region: String, onlyFrom address: String? = nil) async throws {
        guard let namespace = namespaces[region] else { throw DevError("no namespace for region \(region)") }
        let match = address.map { ("ip saddr \($0) ", "ip daddr \($0) ") } ?? ("", "")
        let rules =
            "add table inet \(Self.table); "
            + "add chain inet \(Self.table) in { type filter hook input priority 0; policy accept; }; "
            + "add chain inet \(Self.table) out { type filter hook output priority 0; policy accept; }; "
            + "add rule inet \(Self.table) in iifname \"eth0\" \(match.0)drop; "
            + "add rule inet \(Self.table) out oifname \"eth0\" \(match.1)drop"
        try await Subprocess.run(Self.ip, ["netns", "exec", namespace, Self.nft, rules])
    }

    /// Cuts a region's TCP connections to these ports only (a partial partition): what it sends to
    /// them on its link is dropped, everything else passes.
    public func partition(_ region: String, ports: [Int]) async throws {
        guard let namespace = namespaces[region] else { throw DevError("no namespace for region \(region)") }
        let list = ports.map(String.init).joined(separator: ", ")
        let rules =
            "add table inet \(Self.table); "
            + "add chain inet \(Self.table) out { type filter hook output priority 0; policy accept; }; "
            + "add rule inet \(Self.table) out oifname \"eth0\" tcp dport { \(list) } drop"
        try await Subprocess.run(Self.ip, ["netns", "exec", namespace, Self.nft, rules])
    }

    /// Removes a region's partition, if any.
    public func heal(_ region: String) async {
        guard let namespace = namespaces[region] else { return }
        _ = try? await Subprocess.run(
            Self.ip, ["netns", "exec", namespace, Self.nft, "delete table inet \(Self.table)"], check: false)
    }

    /// Heals every region.
    public func healAll() async {
        for region in namespaces.keys.sorted() { await heal(region) }
    }

    /// The program and arguments that run `program arguments` inside a region's (or the hub's) namespace.
    public func command(in region: String?, _ program: String, _ arguments: [String]) -> (String, [String]) {
        (Self.ip, ["netns", "exec", region.map(namespace(of:)) ?? hub, program] + arguments)
    }
}
