import Foundation
import SwitchyardLab
import SwitchyardRuntime

/// Two network namespaces of the test's own, joined by a veth pair: `server` and `client`. It is the
/// lab's one partition tool (`DevNetwork`) in its smallest layout: the server is its hub and the
/// client its one region. A partition is an nftables drop inside the client namespace. Needs root,
/// iproute2 and nftables; `available` says whether this machine has them.
public final class NetworkLab: Sendable {
    /// The server namespace's name.
    public let server: String
    /// The client namespace's name.
    public let client: String
    let network: DevNetwork
    /// The server's address inside the lab.
    public static let serverAddress = DevNetwork.subnet + ".1"
    /// The client's address inside the lab.
    public static let clientAddress = DevNetwork.subnet + ".10"

    /// Root with `ip` and `nft`: partition tests run; otherwise they are skipped with this reason.
    public static var available: Bool { DevNetwork.unavailableReason == nil }

    /// Creates the namespaces and the link between them.
    public init() async throws {
        // The owner's pid is the third field: the cleanup script deletes a dead owner's namespaces.
        let tag = "\(getpid() % 100_000)-\(UInt16.random(in: 0...UInt16.max))"
        server = "sy-srv-\(tag)"
        client = "sy-cli-\(tag)"
        network = DevNetwork.pair(server: server, client: client)
        TestServers.registerNamespace(server)
        TestServers.registerNamespace(client)
        try await network.create()
    }

    /// Drops every packet between the client namespace and the server.
    public func partition() async throws {
        try await network.partition("client")
    }

    /// Drops the client namespace's TCP traffic to these server ports only (a partial partition).
    public func partition(ports: [Int]) async throws {
        try await network.partition("client", ports: ports)
    }

    /// Removes the drop rules.
    public func heal() async {
        await network.heal("client")
    }

    /// Deletes both namespaces (and the veth pair with them).
    public func tearDown() async {
        await network.destroy()
    }
}
