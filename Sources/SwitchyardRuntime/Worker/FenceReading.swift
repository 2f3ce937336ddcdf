import Postgres
import SwitchyardCore

/// What one read of the region's fence says about running a command (a worker's run, or a gated
/// command such as a Celery worker).
enum FenceReading {
    /// A failover fenced the region (not a draining switchover): stop at once.
    case fenced
    /// The command may run until `until`, measured from `sent`, when the read was sent. `draining`: a
    /// switchover closed the fence and lets running work finish (a worker's run goes on; a gated command is
    /// told to stop gracefully, which for a Celery worker is the same thing). `bounded`: the fence carried a
    /// validity (a leader holding a lease pushed it); without one the trust is `unboundedFenceTrust`.
    case trusted(until: ContinuousClock.Instant, sent: ContinuousClock.Instant, draining: Bool, bounded: Bool)
    /// The fence is open but its validity has run out: no leader holds a lease.
    case lapsed(String)
    /// The database did not answer within the bound.
    case unanswered(String)

    /// Reads the region's fence once, within `fenceReconnectTimeout` plus `fenceQueryTimeout`.
    static func read(_ db: PostgresConnection, timing: SafetyTiming) async -> FenceReading {
        let sent = ContinuousClock.now
        // A query that timed out once (a blip of a loaded database) closed the connection: open it again,
        // within the same bound, instead of failing every later check and killing a command whose fence is fine.
        if await !db.isOpen { try? await db.reconnect(timeout: timing.fenceReconnectTimeout) }
        guard
            let fence = try? await db.query(
                "SELECT open, drain, extract(epoch FROM open_until - now())::float8 * 1000 AS valid_ms FROM switchyard.fence WHERE id = 1",
                timeout: timing.fenceQueryTimeout
            ).first
        else { return .unanswered("the region's database stopped confirming its fence") }
        if fence["open"].bool == false, fence["drain"].bool == false { return .fenced }
        // A draining switchover (a closed fence) lets commands finish; an open fence counts only while it is
        // valid, whatever a drain flag left from an earlier switchover says.
        let draining = fence["open"].bool == false && fence["drain"].bool == true
        let validMs = (try? fence["valid_ms"].optional(Double.self)) ?? nil
        let validity = validMs.map { Duration.milliseconds(Int64($0)) }
        guard draining || validity.map({ $0 > .zero }) ?? true else {
            return .lapsed(
                "the region's fence validity lapsed (no leader holds a lease: neither the control database nor a majority of region databases confirms it)"
            )
        }
        return .trusted(
            until: sent + timing.workerTrust(validityLeft: draining ? nil : validity), sent: sent, draining: draining,
            bounded: !draining && validity != nil)
    }
}
