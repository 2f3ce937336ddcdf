import Foundation
import SwitchyardCore
import SwitchyardRuntime
import Synchronization

/// Processes a benchmark started, so they are stopped (with its deployment) however it ends.
final class SharedPIDs: Sendable {
    private let pids = Mutex<[pid_t]>([])

    func add(_ pid: pid_t) { pids.withLock { $0.append(pid) } }

    /// Kills every recorded process with everything it started (nginx's workers) and removes the
    /// deployment in `directory`.
    func cleanUp(directory: String) async {
        for pid in pids.withLock({ $0 }) {
            await Processes.terminateFamily(pid, signal: SIGKILL, timeout: .seconds(2))
        }
        _ = try? await DevDeployment.down(directory: directory, purge: true) { _ in }
    }
}
