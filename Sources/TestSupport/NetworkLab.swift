import Foundation
import SwitchyardRuntime

/// Two network namespaces of the test's own, joined by a veth pair: `server` (10.213.0.1) and
/// `client` (10.213.0.2). A partition is an nftables drop inside the client namespace. Needs root,
/// iproute2 and nftables; `available` says whether this machine has them.
public final class NetworkLab: Sendable {
    /// The server namespace's name.
    public let server: String
    /// The client namespace's name.
    public let client: String
    /// The server's address inside the lab.
    public static let serverAddress = "10.213.0.1"
    /// The client's address inside the lab.
    public static let clientAddress = "10.213.0.2"

    /// Root with `ip` and `nft`: partition tests run; otherwise they are skipped with this reason.
    public static var available: Bool {
        geteuid() == 0 && FileManager.default.isExecutableFile(atPath: "/usr/sbin/ip")
            && FileManager.default.isExecutableFile(atPath: "/usr/sbin/nft")
    }

    /// Creates the namespaces and the link between them.
    public init() async throws {
        let tag = "\(getpid() % 100_000)-\(UInt16.random(in: 0...UInt16.max))"
        server = "sy-srv-\(tag)"
        client = "sy-cli-\(tag)"
        let compact = tag.replacingOccurrences(of: "-", with: "")
        let a = String("sys\(compact)".prefix(15))
        let b = String("syc\(compact)".prefix(15))
        TestServers.registerNamespace(server)
        TestServers.registerNamespace(client)
        var commands: [[String]] = []
        commands.append(["netns", "add", server])
        commands.append(["netns", "add", client])
        commands.append(["link", "add", a, "type", "veth", "peer", "name", b])
        commands.append(["link", "set", a, "netns", server])
        commands.append(["link", "set", b, "netns", client])
        commands.append(["-n", server, "addr", "add", Self.serverAddress + "/24", "dev", a])
        commands.append(["-n", client, "addr", "add", Self.clientAddress + "/24", "dev", b])
        commands.append(["-n", server, "link", "set", a, "up"])
        commands.append(["-n", client, "link", "set", b, "up"])
        commands.append(["-n", server, "link", "set", "lo", "up"])
        commands.append(["-n", client, "link", "set", "lo", "up"])
        for command in commands { try await Subprocess.run("/usr/sbin/ip", command) }
    }

    /// Drops every packet between the client namespace and the server.
    public func partition() async throws {
        let rules: String =
            "add table inet sylab; "
            + "add chain inet sylab out { type filter hook output priority 0; policy accept; }; "
            + "add chain inet sylab in { type filter hook input priority 0; policy accept; }; "
            + "add rule inet sylab out ip daddr \(Self.serverAddress) drop; "
            + "add rule inet sylab in ip saddr \(Self.serverAddress) drop"
        try await Subprocess.run("/usr/sbin/ip", ["netns", "exec", client, "/usr/sbin/nft", rules])
    }

    /// Drops the client namespace's TCP traffic to these server ports only (a partial partition).
    public func partition(ports: [Int]) async throws {
        let list = ports.map(String.init).joined(separator: ", ")
        let rules: String =
            "add table inet sylab; "
            + "add chain inet sylab out { type filter hook output priority 0; policy accept; }; "
            + "add rule inet sylab out ip daddr \(Self.serverAddress) tcp dport { \(list) } drop"
        try await Subprocess.run("/usr/sbin/ip", ["netns", "exec", client, "/usr/sbin/nft", rules])
    }

    /// Removes the drop rules.
    public func heal() async throws {
        try await Subprocess.run("/usr/sbin/ip", ["netns", "exec", client, "/usr/sbin/nft", "delete table inet sylab"])
    }

    /// Deletes both namespaces (and the veth pair with them).
    public func tearDown() async {
        _ = try? await Subprocess.run("/usr/sbin/ip", ["netns", "del", server], check: false)
        _ = try? await Subprocess.run("/usr/sbin/ip", ["netns", "del", client], check: false)
    }
}
