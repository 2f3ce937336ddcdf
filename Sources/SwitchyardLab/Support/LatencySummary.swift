import SwitchyardCore
import SwitchyardRuntime

/// Percentiles of a set of latency samples, in milliseconds, for benchmark reports.
public struct LatencySummary: Codable, Sendable, Equatable {
    /// Number of samples.
    public var trials: Int
    /// Median.
    public var p50Ms: Double
    /// 99th percentile (nearest rank).
    public var p99Ms: Double
    /// Largest sample.
    public var maxMs: Double

    /// Summarizes samples; all zero when there are none.
    public init(_ samples: [Duration]) {
        let ms = samples.map { Double($0.components.seconds) * 1000 + Double($0.components.attoseconds) / 1e15 }
            .sorted()
        trials = ms.count
        func rank(_ q: Double) -> Double {
            guard !ms.isEmpty else { return 0 }
            let index = min(ms.count - 1, max(0, Int((q * Double(ms.count)).rounded(.up)) - 1))
            return (ms[index] * 1000).rounded() / 1000
        }
        p50Ms = rank(0.5)
        p99Ms = rank(0.99)
        maxMs = ((ms.last ?? 0) * 1000).rounded() / 1000
    }
}
