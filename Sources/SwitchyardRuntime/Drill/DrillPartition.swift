import Foundation

/// Cutting a region off from the others. Not available on the loopback dev deployment yet: every
/// process there shares the host's network namespace, so no packet filter can separate one region's
/// traffic from another's; a partition drill needs each region's servers and daemons in a network
/// namespace of the drill's own.
struct DrillPartition: Sendable {
    /// Why a partition cannot be injected here, or nil when it can.
    static var unavailableReason: String? {
        if geteuid() != 0 { return "partition drills need root (network namespaces and nftables)" }
        return "partitioning one region of the loopback dev deployment needs its processes in their own network namespace, which the dev deployment does not do yet"
    }

    static func cut(region: String, target: DrillTarget) async throws -> DrillPartition {
        throw DrillError(unavailableReason ?? "partition unavailable")
    }

    func heal() async {}
}
