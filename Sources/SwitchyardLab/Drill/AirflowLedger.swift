import Foundation

/// The drill DAG's ledger (`AirflowHome.drillDAG`), judged: every task attempt wrote a `start` line, a
/// `beat` line every 250 ms while it worked and an `end` line when its work was done, to one file outside
/// both regions. From it: attempts of one task instance that ran in two regions at once, task instances
/// run again after an attempt finished, and task instances never finished anywhere.
public struct AirflowLedger: Sendable, Equatable {
    /// One line of the ledger.
    public struct Line: Codable, Sendable, Equatable {
        /// `start`, `beat` or `end`.
        public var event: String
        /// The DAG.
        public var dag: String
        /// The run.
        public var run: String
        /// The task.
        public var task: String
        /// The try number Airflow gave the attempt.
        public var `try`: Int
        /// The region it ran in.
        public var region: String
        /// Wall time (seconds since 1970) on the region's clock.
        public var at: Double
        /// The host's boot clock (nanoseconds): comparable across regions of one host.
        public var bootNs: Int64

        enum CodingKeys: String, CodingKey {
            case event, dag, run, task, `try`, region, at
            case bootNs = "boot_ns"
        }
    }

    /// One attempt: a task instance's try in one region, from its first line to its last.
    public struct Attempt: Sendable, Equatable {
        /// Run and task: the task instance.
        public var run: String
        /// The task.
        public var task: String
        /// The try number.
        public var attempt: Int
        /// The region.
        public var region: String
        /// First line (boot clock).
        public var fromNs: Int64
        /// Last line (boot clock): its end, or the last beat of one cut off.
        public var toNs: Int64
        /// Wall time of its first line.
        public var startedAt: Date
        /// Wall time of its `end` line, when its work finished.
        public var finishedAt: Date?
    }

    /// Every attempt, in the order they started.
    public var attempts: [Attempt]

    /// Reads the ledger's lines of `runs` (all runs when nil); unreadable lines are skipped.
    public init(contents: String, runs: Set<String>? = nil) {
        let decoder = JSONDecoder()
        var byKey: [String: Attempt] = [:]
        for text in contents.split(separator: "\n") {
            guard let line = try? decoder.decode(Line.self, from: Data(text.utf8)),
                runs.map({ $0.contains(line.run) }) ?? true
            else { continue }
            let key = "\(line.run)\u{1}\(line.task)\u{1}\(line.try)\u{1}\(line.region)"
            let at = Date(timeIntervalSince1970: line.at)
            var attempt =
                byKey[key]
                ?? Attempt(
                    run: line.run, task: line.task, attempt: line.try, region: line.region, fromNs: line.bootNs,
                    toNs: line.bootNs, startedAt: at, finishedAt: nil)
            if line.bootNs < attempt.fromNs { (attempt.fromNs, attempt.startedAt) = (line.bootNs, at) }
            attempt.toNs = max(attempt.toNs, line.bootNs)
            if line.event == "end" { attempt.finishedAt = at }
            byKey[key] = attempt
        }
        attempts = byKey.values.sorted { ($0.fromNs, $0.run, $0.task) < ($1.fromNs, $1.run, $1.task) }
    }

    /// How far past its last line a cut-off attempt may have run unseen: one beat, and a beat's lateness.
    public static let beatSlackNs: Int64 = 500_000_000

    /// Task instances (`run/task`) with attempts in two regions whose times overlap: an attempt's interval
    /// runs from its first line to its last, plus `beatSlackNs` when it was cut off (its end unseen).
    public var overlapping: [String] {
        var found = Set<String>()
        let byInstance = Dictionary(grouping: attempts) { "\($0.run)/\($0.task)" }
        for (instance, list) in byInstance {
            for (i, a) in list.enumerated() {
                for b in list[(i + 1)...] where a.region != b.region {
                    let aEnd = a.toNs + (a.finishedAt == nil ? Self.beatSlackNs : 0)
                    let bEnd = b.toNs + (b.finishedAt == nil ? Self.beatSlackNs : 0)
                    if a.fromNs < bEnd && b.fromNs < aEnd { found.insert(instance) }
                }
            }
        }
        return found.sorted()
    }

    /// Task instances run again after an attempt finished its work: an attempt that started after
    /// another's `end`.
    public var rerunAfterFinishing: [String] { rerun(finishedBy: nil).rerun }

    /// `rerunAfterFinishing`, split at `copy` (the shadow's last copy, when a failover moved the runs from it):
    /// those whose work finished by then were known finished and ran again (`rerun`, a fault); those that
    /// finished after it ran again because no copy could know (`afterCopy`: at least once, as documented).
    public func rerun(finishedBy copy: Date?) -> (rerun: [String], afterCopy: [String]) {
        var rerun = Set<String>(), afterCopy = Set<String>()
        let byInstance = Dictionary(grouping: attempts) { "\($0.run)/\($0.task)" }
        for (instance, list) in byInstance {
            for a in list where a.finishedAt != nil {
                guard list.contains(where: { $0 != a && $0.fromNs > a.toNs }) else { continue }
                if let copy, let finished = a.finishedAt, finished > copy {
                    afterCopy.insert(instance)
                } else {
                    rerun.insert(instance)
                }
            }
        }
        return (rerun.sorted(), afterCopy.subtracting(rerun).sorted())
    }

    /// Task instances of `runs` × `tasks` never finished in any region.
    public func unfinished(runs: [String], tasks: [String]) -> [String] {
        let finished = Set(attempts.filter { $0.finishedAt != nil }.map { "\($0.run)/\($0.task)" })
        return runs.flatMap { run in tasks.map { "\(run)/\($0)" } }.filter { !finished.contains($0) }
    }

    /// The first attempt that started in `region` after `after`, and when the last work finished.
    public func firstStart(in region: String, after: Date) -> Date? {
        attempts.filter { $0.region == region && $0.startedAt > after }.map(\.startedAt).min()
    }

    /// When the last attempt's work finished.
    public var lastFinished: Date? { attempts.compactMap(\.finishedAt).max() }
}
