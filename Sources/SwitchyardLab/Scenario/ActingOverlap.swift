import Foundation
import SwitchyardCore
import SwitchyardRuntime

/// The interval in which one leader acted: one region, one leadership epoch, one cluster epoch,
/// from its first to its last fenced tick (from the region database's acting records).
public struct ActingInterval: Sendable, Equatable {
    /// The region.
    public var region: String
    /// The leadership epoch (fencing token) of the leader.
    public var epoch: Int
    /// The cluster epoch its fence was open with.
    public var clusterEpoch: Int
    /// The node that acted, when recorded.
    public var node: String?
    /// First fenced tick.
    public var from: Date
    /// Last fenced tick.
    public var to: Date

    /// Creates an interval.
    public init(region: String, epoch: Int, clusterEpoch: Int, node: String? = nil, from: Date, to: Date) {
        self.region = region
        self.epoch = epoch
        self.clusterEpoch = clusterEpoch
        self.node = node
        self.from = from
        self.to = to
    }
}

/// Overlaps between acting intervals: two leaders of one region, or leaders of two regions, acting at
/// the same time. Safety invariants 1 and 4 say the total is zero.
public enum ActingOverlap {
    /// One overlap found.
    public struct Finding: Sendable, Equatable {
        /// `region` (two leaders in one region) or `cluster` (two active regions).
        public var scope: String
        /// The two intervals.
        public var first: ActingInterval
        /// The second interval.
        public var second: ActingInterval
        /// Length of the overlap in milliseconds.
        public var milliseconds: Double
        /// One line for the report.
        public var description: String {
            let a = "\(first.region)#\(first.epoch)@\(first.clusterEpoch)"
            let b = "\(second.region)#\(second.epoch)@\(second.clusterEpoch)"
            return
                "\(scope == "region" ? "two leaders in \(first.region)" : "two active regions"): \(a) and \(b) acted together for \(Int(milliseconds.rounded())) ms"
        }
    }

    /// Every pairwise overlap among intervals of different (region, epoch, cluster epoch).
    public static func findings(_ intervals: [ActingInterval]) -> [Finding] {
        var found: [Finding] = []
        let sorted = intervals.sorted { ($0.from, $0.region, $0.epoch) < ($1.from, $1.region, $1.epoch) }
        for (i, a) in sorted.enumerated() {
            for b in sorted[(i + 1)...] {
                if b.from > a.to { continue }
                let sameRegion = a.region == b.region
                if sameRegion && a.epoch == b.epoch { continue }  // one leader, re-opened under a new cluster epoch
                let start = max(a.from, b.from), end = min(a.to, b.to)
                guard end >= start else { continue }
                // Two single ticks at the same instant still overlap: count them as at least 1 ms.
                let ms = max(end.timeIntervalSince(start) * 1000, 1)
                found.append(Finding(scope: sameRegion ? "region" : "cluster", first: a, second: b, milliseconds: ms))
            }
        }
        return found
    }

    /// Total overlap in milliseconds.
    public static func totalMilliseconds(_ intervals: [ActingInterval]) -> Double {
        findings(intervals).reduce(0) { $0 + $1.milliseconds }
    }
}
