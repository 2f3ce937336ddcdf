import Foundation

/// The host's boot clock (`CLOCK_BOOTTIME`) in nanoseconds: one clock every process on the host reads
/// alike, so a deadline can be handed to another process as an instant rather than as time left (which
/// the receiver would count from when it got it, after its own start-up or a slow read). It also runs
/// on while a host sleeps. The lab's clocks leave it alone: libfaketime with
/// `FAKETIME_DONT_FAKE_MONOTONIC` fakes neither it nor `CLOCK_MONOTONIC` (measured, Debian 12's 0.9.10,
/// and tested in `WorkerTests`).
enum BootClock {
    /// Now.
    static func nanoseconds() -> Int64 {
        var ts = timespec()
        clock_gettime(CLOCK_BOOTTIME, &ts)
        return Int64(ts.tv_sec) * 1_000_000_000 + Int64(ts.tv_nsec)
    }

    /// The boot-clock reading at `instant`, an instant of this process's continuous clock. The boot clock is
    /// read first: a delay between the two reads makes the result earlier, never later.
    static func nanoseconds(at instant: ContinuousClock.Instant) -> Int64 {
        let boot = nanoseconds()
        return boot + nanoseconds(of: instant - ContinuousClock.now)
    }

    /// This process's continuous-clock instant of the boot-clock reading `ns` (an earlier one for a delay
    /// between the two reads). A reading too far off to subtract is taken as already past.
    static func instant(atNanoseconds ns: Int64) -> ContinuousClock.Instant {
        let now = ContinuousClock.now
        let (offset, overflow) = ns.subtractingReportingOverflow(nanoseconds())
        return overflow ? now - .seconds(1) : now + .nanoseconds(offset)
    }

    static func nanoseconds(of duration: Duration) -> Int64 {
        let (seconds, attoseconds) = duration.components
        return seconds * 1_000_000_000 + attoseconds / 1_000_000_000
    }
}
