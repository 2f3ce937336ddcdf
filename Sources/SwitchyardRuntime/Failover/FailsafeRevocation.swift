import Foundation
import Postgres
import SwitchyardCore
import Synchronization

/// What a failover's revocation of failsafe leases found (journaled in the fence step's result).
public struct FailsafeRevocation: Codable, Sendable {
    /// An unexpired lease read where it was revoked.
    struct Lease: Sendable {
        var holder: String
        var until: ContinuousClock.Instant
    }
    /// The region databases that took the revocation.
    var revokedIn: [String]
    /// Those that did not answer in time.
    var unreachable: [String]
    /// The region whose unexpired failsafe lease the failover waited out, if any.
    var heldBy: String?
    /// How long that lease still had, at most, when read.
    var leftMs: Int?
    /// Every unexpired lease of another region read, not journaled.
    var leases: [Lease] = []

    enum CodingKeys: String, CodingKey { case revokedIn, unreachable, heldBy, leftMs }

    /// The deadline to wait for: the longest lease not held by `ignoring` (a region fenced in its own database).
    mutating func waitUntil(ignoring: String?) -> ContinuousClock.Instant? {
        let longest = leases.filter { $0.holder != ignoring }.max { $0.until < $1.until }
        heldBy = longest?.holder
        leftMs = longest.map { Int(max(.zero, $0.until - .now).wholeMilliseconds) }
        return longest?.until
    }
}

extension FailoverExecutor {
    /// Raises `revoked_below` to the failover's epoch in every region database it reaches, in parallel,
    /// until enough of them (`SafetyTiming.revocationQuorum`) took it that every majority which could
    /// confirm a failsafe lease shares one; then returns the unexpired leases found that a region other
    /// than the target holds at an older epoch. Each deadline runs from when its answer arrived, so it
    /// ends no earlier than the lease did. Retries the unreachable databases until `limit`, then refuses.
    func revokeFailsafeLeases(_ context: Context, limit: ContinuousClock.Instant) async throws -> FailsafeRevocation {
        let regions = configuration.regions.map(\.name)
        let needed = SafetyTiming.revocationQuorum(regions: regions.count)
        let timeout = configuration.controlPlane.failover.fenceTimeout
        let state = RevocationAnswers()
        var lastTry: [String: ContinuousClock.Instant] = [:]
        let by = "failover \(context.id) to \(context.to) at epoch \(context.epoch)"
        func result() -> FailsafeRevocation {
            let got = state.answers.withLock { $0 }
            return FailsafeRevocation(
                revokedIn: got.keys.sorted(), unreachable: regions.filter { got[$0] == nil },
                leases: got.values.compactMap { f in
                    f.until.map { FailsafeRevocation.Lease(holder: f.holder ?? "?", until: $0) }
                })
        }
        while true {
            for region in regions
            where state.answers.withLock({ $0[region] == nil }) && state.running.withLock({ !$0.contains(region) })
                && lastTry[region].map({ ContinuousClock.now - $0 >= .milliseconds(200) }) ?? true
            {
                lastTry[region] = .now
                state.running.withLock { _ = $0.insert(region) }
                Task {
                    defer { state.running.withLock { _ = $0.remove(region) } }
                    let row = Mutex<PostgresRow?>(nil)
                    guard
                        let c = try? await borrowOrConnect(
                            region, budget: timeout,
                            first: { c, t in
                                // Durable whatever the server-wide synchronous_commit says: a revocation lost in a crash
                                // would let the old region renew its lease there again.
                                // One round trip: across a WAN each statement of a transaction is one.
                                let answer = try await c.pipeline(
                                    [
                                        .init("BEGIN"), .init("SET LOCAL synchronous_commit = on"),
                                        .init(
                                            """
                                            UPDATE switchyard.failsafe_lease SET revoked_below = greatest(revoked_below, $1), revoked_by = $2, revoked_at = now()
                                            WHERE id = 1
                                            RETURNING region, cluster_epoch,
                                                CASE WHEN expires_at > now() THEN extract(epoch FROM expires_at - now())::float8 * 1000 END AS left_ms
                                            """, [.int(context.epoch), .text(by)]),
                                        .init("COMMIT"),
                                    ], timeout: t)[2].first
                                row.withLock { $0 = answer }
                            })
                    else { return }
                    let arrived = ContinuousClock.now
                    giveBack(region, c, healthy: true)
                    let answer = row.withLock { $0 }
                    let holder = (try? answer?["region"].optional(String.self)) ?? nil
                    let epoch = (try? answer?["cluster_epoch"].optional(Int.self)) ?? nil
                    let left = (try? answer?["left_ms"].optional(Double.self)) ?? nil
                    var found = RevocationAnswers.Found(holder: holder, until: nil)
                    if let left, let holder, holder != context.to, (epoch ?? 0) < context.epoch {
                        found.until = arrived + .milliseconds(Int64(left.rounded(.up)))
                    }
                    state.answers.withLock { $0[region] = found }
                }
            }
            if state.answers.withLock({ $0.count }) >= needed {
                // Enough answered for safety; a straggler (a hung database) only adds what it read: a short while.
                let deadline = ContinuousClock.now + .milliseconds(100)
                while state.running.withLock({ $0.count }) > 0, ContinuousClock.now < deadline {
                    try await Task.sleep(for: .milliseconds(10))
                }
                return result()
            }
            if ContinuousClock.now >= limit {
                let reached = state.answers.withLock { $0.keys.sorted() }
                throw Refusal(
                    description: "could not revoke failsafe leases in \(needed) of \(regions.count) region databases "
                        + "(reached: \(reached.isEmpty ? "none" : reached.joined(separator: ", "))): a region cut off from the control "
                        + "database could still be acting on one; not activating \(context.to)")
            }
            try await Task.sleep(for: .milliseconds(20))
        }
    }
}

/// What the revocation's per-database tasks found, shared with the loop that waits for a quorum.
final class RevocationAnswers: Sendable {
    struct Found: Sendable {
        var holder: String?
        var until: ContinuousClock.Instant?
    }

    let answers = Mutex<[String: Found]>([:])
    let running = Mutex<Set<String>>([])
}
