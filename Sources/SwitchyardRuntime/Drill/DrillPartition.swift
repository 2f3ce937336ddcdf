import Foundation

/// Cutting a region off from the others: not available on the loopback dev deployment yet. Every
/// process there shares the host's network namespace, so no packet filter can separate one region's
/// traffic from another's; a partition drill needs each region's servers and daemons in a network
/// namespace of the drill's own. Until then the drill reports the fault as skipped, with this reason.
enum DrillPartition {
    /// Why a partition cannot be injected here.
    static var unavailableReason: String {
        if geteuid() != 0 { return "partition drills need root (network namespaces and nftables)" }
        return "partitioning one region of the loopback dev deployment needs its processes in their own network namespace, which the dev deployment does not do yet"
    }
}
