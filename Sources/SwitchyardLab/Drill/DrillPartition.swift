import Foundation
import SwitchyardCore
import SwitchyardRuntime

/// Cutting the active region off from the others needs its processes in a network namespace of their
/// own: every process of a loopback deployment shares the host's network, where no packet filter can
/// separate one region's traffic from another's. A partitionable deployment (`switchyard dev up
/// --netns`) runs each region in its own namespace; a partition drill against a loopback deployment
/// brings one up beside it (same number of regions), runs there, and takes it down afterwards.
public enum DrillPartition {
    /// Why a partition cannot be injected on this machine, or nil when it can.
    public static var unavailableReason: String? {
        DevNetwork.unavailableReason.map { "partition drills need network namespaces and nftables: \($0)" }
    }

    /// The reason reported when a partition fault meets a deployment without namespaces.
    static var skippedReason: String {
        unavailableReason
            ?? "this local deployment shares the host's loopback; partition drills run on one started with `switchyard dev up --daemons --netns`"
    }

    /// The directory of the partitionable deployment a drill brings up beside a loopback one.
    public static func labDirectory(beside directory: String) -> String { directory + "-netns" }

    /// Brings up (or reuses) a partitionable deployment with daemons beside the loopback deployment of
    /// `target`, through `switchyard dev up --netns --daemons`, and returns it as the drill's target;
    /// `created` is false when it was already there (then the drill leaves it up). A lab this call
    /// started is taken down again when it cannot be brought up whole.
    public static func lab(beside target: DrillTarget, progress: @Sendable (String) -> Void) async throws -> (
        target: DrillTarget, created: Bool
    ) {
        guard let directory = target.devDirectory, let state = try DevState.load(directory: directory) else {
            throw DrillError("a partition lab needs a local deployment")
        }
        let lab = labDirectory(beside: directory)
        let existed = try DevState.load(directory: lab) != nil
        progress(
            "bringing up a partitionable \(state.regions.count)-region deployment (one network namespace per region) in \(lab)"
        )
        do {
            let outcome = try await Subprocess.run(
                target.binary,
                ["dev", "up", "--netns", "--daemons", "--regions", String(state.regions.count), "--dir", lab],
                check: false)
            guard outcome.status == 0 else {
                throw DrillError(
                    "could not bring up the partitionable deployment in \(lab): \(outcome.output.suffix(600))")
            }
            return (
                try DrillTarget.resolve(.dev(directory: lab), directory: lab, config: nil, binary: target.binary),
                !existed
            )
        } catch {
            if !existed { _ = try? await DevDeployment.down(directory: lab, purge: true) { _ in } }
            throw error
        }
    }

    /// Stops the partition lab and deletes its data and namespaces.
    public static func tearDown(_ lab: DrillTarget, progress: @Sendable (String) -> Void) async {
        guard let directory = lab.devDirectory else { return }
        progress("taking the partitionable deployment in \(directory) down")
        _ = try? await DevDeployment.down(directory: directory, purge: true) { _ in }
    }
}
