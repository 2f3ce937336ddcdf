import Foundation
import SwitchyardCore

extension Simulator {
    /// The detection bound for this configuration (µs).
    public var bound: SimTime {
        SimTime.of(assumptions.detectionBound(probes: probes, failover: failover, election: election))
    }

    /// The invariants over the run's history.
    /// - No harm: a failover begins only when the active region had a fault within the bound before it.
    /// - A good target: never a region that had been failing for longer than the bound when it began.
    /// - Liveness: when the active region fails for good, no operator switch blocks failovers, a standby
    ///   stays healthy throughout, and a majority of the observers keeps running and reaching the others,
    ///   a failover begins within the bound.
    func check(_ result: Result, names: [String]) -> [String] {
        var violations: [String] = []
        let bound = self.bound
        let activeFaults = schedule.regionFaults.filter { $0.region == 0 }
        if let at = result.failoverAt {
            if !activeFaults.contains(where: { $0.start <= at && $0.end > at - bound }) {
                violations.append(
                    "no harm: failover at \(Double(at) / 1e6) s while \(names[0]) had no fault (\(result.reason ?? ""))"
                )
            }
            if let target = result.target, let g = names.firstIndex(of: target),
                let fault = schedule.regionFaults.first(where: {
                    $0.region == g && $0.covers(at) && $0.start <= at - bound
                })
            {
                violations.append("target: failover at \(Double(at) / 1e6) s to \(target), failing since \(fault)")
            }
        }
        if let lasting = activeFaults.first(where: { $0.end >= SimTime.forever }), livenessExpected(after: lasting) {
            let deadline = lasting.start + bound
            if result.failoverAt.map({ $0 > deadline }) ?? true {
                violations.append(
                    "liveness: \(lasting) (\(names[0])), a healthy standby and a majority of observers, but "
                        + (result.failoverAt.map { "the failover began only at \(Double($0) / 1e6) s" }
                            ?? "no failover by \(Double(schedule.horizon) / 1e6) s")
                        + " (bound \(Double(bound) / 1e6) s)")
            }
        }
        return violations
    }

    /// Whether the schedule obliges a failover after `fault`.
    func livenessExpected(after fault: RegionFault) -> Bool {
        guard !schedule.paused, schedule.automatic, !schedule.hourlyLimitReached else { return false }
        if let ago = schedule.recentFailoverAgo, fault.start + ago < SimTime.of(failover.cooldown) + bound {
            return false
        }
        let from = fault.start - bound
        let until = schedule.horizon
        func overlaps(_ start: SimTime, _ end: SimTime) -> Bool { start < until && end > from }
        // A standby no fault touches.
        let healthyStandby = (1..<schedule.regions).contains { g in
            !schedule.regionFaults.contains { $0.region == g && overlaps($0.start, $0.end) }
        }
        // Observers that run and reach the others throughout (their region neither dark nor cut off, their
        // own network whole); a bounded pause is allowed.
        let good = (0..<schedule.observers).filter { o in
            !schedule.regionFaults.contains {
                $0.region == o && ($0.kind == .dark || $0.kind == .partition) && overlaps($0.start, $0.end)
            }
                && !schedule.observerFaults.contains {
                    $0.observer == o && $0.kind == .cutOff && overlaps($0.start, $0.end)
                }
        }.count
        return healthyStandby && good >= FailoverDecision.needed(.majority, knownObservers: schedule.observers)
    }
}
