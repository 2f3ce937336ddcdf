import Foundation

/// Bounds how many local deployments (a Postgres per region plus control, a Redis per region, their
/// daemons) a test process runs at once. Suites run in parallel; on a 2-core machine a dozen
/// three-region deployments at once starve every one of them, and a starved deployment fails over a
/// healthy region or misses a deadline that says nothing about the code under test.
public actor DeploymentSlots {
    /// The per-process bound (`SWITCHYARD_TEST_DEPLOYMENTS`, default 3).
    public static let shared = DeploymentSlots(
        limit: ProcessInfo.processInfo.environment["SWITCHYARD_TEST_DEPLOYMENTS"].flatMap(Int.init).map { max(1, $0) }
            ?? 3)

    /// Deployments allowed at once.
    public let limit: Int
    private var inUse = 0
    private var waiting: [CheckedContinuation<Void, Never>] = []

    init(limit: Int) { self.limit = limit }

    /// Runs `body` holding one slot; the slot is given back when it returns or throws.
    public nonisolated func withSlot<T>(_ body: () async throws -> T) async throws -> T {
        await acquire()
        do {
            let result = try await body()
            await release()
            return result
        } catch {
            await release()
            throw error
        }
    }

    /// Waits for a free slot and takes it.
    public func acquire() async {
        if inUse < limit {
            inUse += 1
            return
        }
        await withCheckedContinuation { waiting.append($0) }
    }

    /// Gives a slot back.
    public func release() {
        if waiting.isEmpty {
            inUse -= 1
        } else {
            waiting.removeFirst().resume()  // the slot passes straight to the next waiter
        }
    }
}
