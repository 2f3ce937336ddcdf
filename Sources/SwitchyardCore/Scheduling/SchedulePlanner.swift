import Foundation

/// Decides which scheduled run a DAG is due for, as a pure function of its schedule, the slot it
/// was waiting for and the time.
///
/// After downtime only the newest missed slot gets a run (no catch-up storm); the older ones are
/// skipped. Run ids are a function of the slot, so two leaders racing across a takeover compute
/// the same `run_id` and the unique key `(dag_id, run_id)` keeps one.
public enum SchedulePlanner {
    /// The outcome for one DAG.
    public struct Plan: Sendable, Equatable {
        /// The slot to create a run for now, if one is due.
        public var due: Date?
        /// The next slot to wait for (nil: never, for manual DAGs).
        public var next: Date?
        /// Creates a plan.
        public init(due: Date?, next: Date?) {
            self.due = due
            self.next = next
        }
    }

    /// Most slots walked when catching up; past it, the walk restarts from `now`.
    static let maximumWalk = 100_000

    /// Plans one DAG.
    /// - Parameter nextRunAfter: the slot the DAG was waiting for; nil when never planned (a new DAG
    ///   waits for its first slot after `now`, it does not run at once).
    public static func plan(schedule: DAGSchedule, nextRunAfter: Date?, now: Date) -> Plan {
        guard case .manual = schedule else {
            guard let waiting = nextRunAfter else { return Plan(due: nil, next: schedule.next(after: now)) }
            if waiting > now { return Plan(due: nil, next: waiting) }
            var slot = waiting
            var steps = 0
            while let following = schedule.next(after: slot), following <= now {
                slot = following
                steps += 1
                if steps >= maximumWalk {
                    // A tiny interval after a long outage: find the newest slot from just before now.
                    slot = latestSlot(schedule, before: now) ?? slot
                    break
                }
            }
            return Plan(due: slot, next: schedule.next(after: slot))
        }
        return Plan(due: nil, next: nil)
    }

    static func latestSlot(_ schedule: DAGSchedule, before now: Date) -> Date? {
        var probe: TimeInterval = 1
        while probe < 400 * 86_400 {
            if let candidate = schedule.next(after: now.addingTimeInterval(-probe)), candidate <= now {
                var slot = candidate
                while let following = schedule.next(after: slot), following <= now { slot = following }
                return slot
            }
            probe *= 2
        }
        return nil
    }

    /// `scheduled__2024-05-01T12:00:00+00:00`, Airflow's format for scheduled run ids.
    public static func runId(for slot: Date) -> String { "scheduled__" + isoSeconds(slot) }

    /// `manual__2024-05-01T12:00:00.123456+00:00`, Airflow's format for triggered run ids.
    public static func manualRunId(at date: Date) -> String {
        let micros = Int((date.timeIntervalSince1970 * 1_000_000).rounded()) % 1_000_000
        let base = isoSeconds(date).dropLast(6)
        return "manual__" + base + String(format: ".%06d", micros) + "+00:00"
    }

    static func isoSeconds(_ date: Date) -> String {
        var time = time_t(date.timeIntervalSince1970.rounded(.down))
        var parts = tm()
        gmtime_r(&time, &parts)
        return String(
            format: "%04d-%02d-%02dT%02d:%02d:%02d+00:00", Int(parts.tm_year) + 1900, Int(parts.tm_mon) + 1,
            Int(parts.tm_mday), Int(parts.tm_hour), Int(parts.tm_min), Int(parts.tm_sec))
    }
}
