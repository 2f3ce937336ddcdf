import Foundation
import SwitchyardCore
import Synchronization

/// Many schedules, one per seed from `firstSeed`, on every core: counts, coverage of the decision's
/// outcomes, and the seeds that broke an invariant (each reproducible alone).
public struct Campaign: Sendable {
    /// The first seed; each schedule takes the next.
    public var firstSeed: UInt64
    /// Schedules to run (in a report: run).
    public var schedules: Int
    /// The known bug re-introduced, if any.
    public var mutant: Simulator.Mutant?
    /// Generate worlds beyond the assumptions (to show what breaks there).
    public var beyond: Bool
    /// Stop once this many violations are found (a mutant's "schedules to catch it").
    public var stopAfter: Int?

    /// Creates it.
    public init(
        firstSeed: UInt64 = 1, schedules: Int, mutant: Simulator.Mutant? = nil, beyond: Bool = false,
        stopAfter: Int? = nil
    ) {
        self.firstSeed = firstSeed
        self.schedules = schedules
        self.mutant = mutant
        self.beyond = beyond
        self.stopAfter = stopAfter
    }

    /// What a campaign found.
    public struct Report: Sendable, Codable {
        /// Schedules to run (in a report: run).
        public var schedules: Int
        /// The first seed; each schedule takes the next.
        public var firstSeed: UInt64
        /// The known bug re-introduced, if any.
        public var mutant: String?
        /// Worlds generated beyond the assumptions.
        public var beyondAssumptions: Bool
        /// Wall time taken.
        public var seconds: Double
        /// Throughput on this machine, every core.
        public var schedulesPerSecond: Double
        /// Schedules in which a failover began.
        public var failovers: Int
        /// Decisions per outcome kind, and in how many schedules each was reached.
        public var decisions: [String: Int]
        /// For each outcome kind, the schedules in which the decision returned it at least once.
        public var schedulesReaching: [String: Int]
        /// The invariants broken (in a report: how many schedules broke one).
        public var violations: Int
        /// The first violating seeds with what broke (at most 20).
        public var violatingSeeds: [Violation]
        /// With `stopAfter`: the schedules run until the first violation (its seed's position + 1).
        public var schedulesToFirstViolation: Int?
        /// The detection bound the liveness check used (milliseconds).
        public var detectionBoundMs: Double
        /// Schedules of two regions and a witness.
        public var witnessSchedules: Int = 0
        /// Of the witness schedules, those in which a failover began.
        public var witnessFailovers: Int = 0
    }

    /// A seed that broke an invariant, and what broke.
    public struct Violation: Sendable, Codable {
        /// The seed (it reproduces the schedule exactly).
        public var seed: UInt64
        /// The invariants broken (in a report: how many schedules broke one).
        public var violations: [String]
    }

    /// The simulator of one seed of this campaign.
    public func simulator(seed: UInt64) -> Simulator {
        let assumptions = ProtocolAssumptions()
        let probe = Simulator(schedule: .generate(seed: seed, assumptions: assumptions, bound: 0), mutant: mutant)
        return Simulator(
            schedule: .generate(seed: seed, assumptions: assumptions, bound: probe.bound, beyond: beyond),
            mutant: mutant)
    }

    /// `run(workers:)` on threads of its own, awaited: a caller in Swift concurrency (a test) blocks none of
    /// the cooperative pool's few threads, which every other task on the host shares.
    public func runDetached(workers: Int = 1) async -> Report {
        await withCheckedContinuation { continuation in
            let thread = Thread {
                continuation.resume(returning: self.run(workers: workers))
            }
            thread.stackSize = 8 << 20
            thread.start()
        }
    }

    /// Runs the schedules on `workers` threads.
    public func run(workers: Int = ProcessInfo.processInfo.activeProcessorCount) -> Report {
        let clock = ContinuousClock()
        let started = clock.now
        struct Totals {
            var done = 0
            var failovers = 0
            var decisions: [FailoverDecision.Outcome.Kind: Int] = [:]
            var reaching: [FailoverDecision.Outcome.Kind: Int] = [:]
            var violations = 0
            var seeds: [Violation] = []
            var firstViolationAt: Int?
            var witnesses = 0
            var witnessFailovers = 0
        }
        let totals = Mutex(Totals())
        let next = Atomic<Int>(0)
        let stop = Atomic<Bool>(false)
        let bound = simulator(seed: firstSeed).bound
        DispatchQueue.concurrentPerform(iterations: max(1, workers)) { _ in
            var local = Totals()
            while !stop.load(ordering: .relaxed) {
                let index = next.wrappingAdd(1, ordering: .relaxed).oldValue
                guard index < schedules else { break }
                let seed = firstSeed &+ UInt64(index)
                let simulator = simulator(seed: seed)
                let result = simulator.run()
                local.done += 1
                if result.failoverAt != nil { local.failovers += 1 }
                if (simulator.schedule.witnesses ?? 0) > 0 {
                    local.witnesses += 1
                    if result.failoverAt != nil { local.witnessFailovers += 1 }
                }
                for (kind, count) in result.outcomes {
                    local.decisions[kind, default: 0] += count
                    local.reaching[kind, default: 0] += 1
                }
                if !result.violations.isEmpty {
                    local.violations += 1
                    local.seeds.append(Violation(seed: seed, violations: result.violations))
                    local.firstViolationAt = min(local.firstViolationAt ?? index + 1, index + 1)
                    if let stopAfter, local.violations >= stopAfter { stop.store(true, ordering: .relaxed) }
                }
            }
            totals.withLock { t in
                t.done += local.done
                t.failovers += local.failovers
                for (k, v) in local.decisions { t.decisions[k, default: 0] += v }
                for (k, v) in local.reaching { t.reaching[k, default: 0] += v }
                t.violations += local.violations
                t.witnesses += local.witnesses
                t.witnessFailovers += local.witnessFailovers
                t.seeds += local.seeds
                if let at = local.firstViolationAt { t.firstViolationAt = min(t.firstViolationAt ?? at, at) }
            }
        }
        let seconds = (clock.now - started).secondsDouble
        return totals.withLock { t in
            Report(
                schedules: t.done, firstSeed: firstSeed, mutant: mutant?.rawValue, beyondAssumptions: beyond,
                seconds: (seconds * 100).rounded() / 100,
                schedulesPerSecond: (Double(t.done) / max(seconds, 0.001)).rounded(), failovers: t.failovers,
                decisions: Dictionary(uniqueKeysWithValues: t.decisions.map { ($0.key.rawValue, $0.value) }),
                schedulesReaching: Dictionary(uniqueKeysWithValues: t.reaching.map { ($0.key.rawValue, $0.value) }),
                violations: t.violations, violatingSeeds: Array(t.seeds.sorted { $0.seed < $1.seed }.prefix(20)),
                schedulesToFirstViolation: t.firstViolationAt,
                detectionBoundMs: Double(bound) / 1000, witnessSchedules: t.witnesses,
                witnessFailovers: t.witnessFailovers)
        }
    }
}

extension Simulator {
    /// A smaller schedule that breaks the same invariant (by its first word): faults, losses and drift
    /// removed one at a time while it still does. A failing seed's trace is then only what matters.
    public func shrunk() -> Simulator {
        func kinds(_ s: Simulator) -> Set<String> {
            Set(s.run().violations.map { String($0.prefix { $0 != ":" }) })
        }
        let wanted = kinds(self)
        guard !wanted.isEmpty else { return self }
        var current = schedule
        func still(_ candidate: Schedule) -> Bool {
            !kinds(with(candidate)).isDisjoint(with: wanted)
        }
        var changed = true
        while changed {
            changed = false
            for i in current.observerFaults.indices.reversed() {
                var c = current
                c.observerFaults.remove(at: i)
                if still(c) { current = c; changed = true }
            }
            for i in current.regionFaults.indices.reversed() where current.regionFaults.count > 1 {
                var c = current
                c.regionFaults.remove(at: i)
                if still(c) { current = c; changed = true }
            }
            if current.loss.joined().contains(where: { $0 > 0 }) {
                var c = current
                c.loss = c.loss.map { $0.map { _ in 0 } }
                if still(c) { current = c; changed = true }
            }
            if current.drift.contains(where: { $0 != 0 }) {
                var c = current
                c.drift = c.drift.map { _ in 0 }
                if still(c) { current = c; changed = true }
            }
        }
        return with(current)
    }

    /// This simulator on another schedule.
    public func with(_ schedule: Schedule) -> Simulator {
        Simulator(
            schedule: schedule, probes: probes, failover: failover, election: election, assumptions: assumptions,
            mutant: mutant, tracing: tracing)
    }

    /// The same run, tracing.
    public func traced() -> Simulator {
        Simulator(
            schedule: schedule, probes: probes, failover: failover, election: election, assumptions: assumptions,
            mutant: mutant, tracing: true)
    }
}
