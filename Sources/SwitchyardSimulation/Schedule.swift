import Foundation
import SwitchyardCore

/// A deterministic pseudo-random generator (SplitMix64): the same seed gives the same schedule on
/// every machine.
public struct SimRandom: Sendable {
    var state: UInt64
    /// Creates it.
    public init(seed: UInt64) { state = seed &+ 0x9E37_79B9_7F4A_7C15 }
    /// The next 64 random bits.
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    /// Uniform in [0, 1).
    public mutating func unit() -> Double { Double(next() >> 11) / Double(1 << 53) }
    /// Uniform in `range`.
    public mutating func int(_ range: ClosedRange<Int64>) -> Int64 {
        range.lowerBound + Int64(next() % UInt64(range.upperBound - range.lowerBound + 1))
    }
    /// True with probability `p`.
    public mutating func chance(_ p: Double) -> Bool { unit() < p }
    /// One of `items`, uniformly.
    public mutating func pick<T>(_ items: [T]) -> T { items[Int(next() % UInt64(items.count))] }
}

/// Virtual time: microseconds since the schedule's start.
public typealias SimTime = Int64

extension SimTime {
    static func ms(_ value: Int64) -> SimTime { value * 1000 }
    static func of(_ d: Duration) -> SimTime {
        let (seconds, attoseconds) = d.components
        return seconds * 1_000_000 + attoseconds / 1_000_000_000_000
    }
    /// Lasts until the end of the schedule.
    public static let forever = SimTime.max / 4
}

/// A fault of a whole region, over `[start, end)`.
public struct RegionFault: Sendable, Equatable, Codable, CustomStringConvertible {
    /// What kind of fault.
    public enum Kind: String, Sendable, Codable, CaseIterable {
        /// Its database refuses connections: probes fail at once, with positive evidence.
        case crash
        /// Its database stops answering: probes time out (silence); its observer still runs.
        case hang
        /// Every process of the region stops (silence), its observer included.
        case dark
        /// The region is cut off from every other site and the control database; it runs on.
        case partition
    }
    /// The region (0 is active at the start).
    public var region: Int
    /// What happens.
    public var kind: Kind
    /// When it begins (µs).
    public var start: SimTime
    /// When it ends (µs; `SimTime.forever` for a lasting fault).
    public var end: SimTime
    /// Creates it.
    public init(region: Int, kind: Kind, start: SimTime, end: SimTime) {
        (self.region, self.kind, self.start, self.end) = (region, kind, start, end)
    }
    func covers(_ t: SimTime) -> Bool { t >= start && t < end }
    /// A line for a trace.
    public var description: String {
        "\(kind.rawValue) region \(region) at \(Double(start) / 1e6) s"
            + (end >= SimTime.forever ? "" : " until \(Double(end) / 1e6) s")
    }
}

/// A fault of one observer (the agent process, not its region), over `[start, end)`.
public struct ObserverFault: Sendable, Equatable, Codable, CustomStringConvertible {
    /// What kind of fault.
    public enum Kind: String, Sendable, Codable {
        /// It stalls (a GC pause, CPU steal, SIGSTOP): nothing it does advances meanwhile.
        case pause
        /// It cannot reach the other regions (it still reaches its own and the control database): its
        /// network's fault, not theirs.
        case cutOff = "cut_off"
        /// It cannot reach the active region only (one-way: the others still reach it).
        case cutOffFromActive = "cut_off_from_active"
    }
    /// The observer (the agent of the region with the same index).
    public var observer: Int
    /// What happens.
    public var kind: Kind
    /// When it begins (µs).
    public var start: SimTime
    /// When it ends (µs; `SimTime.forever` for a lasting fault).
    public var end: SimTime
    /// Creates it.
    public init(observer: Int, kind: Kind, start: SimTime, end: SimTime) {
        (self.observer, self.kind, self.start, self.end) = (observer, kind, start, end)
    }
    func covers(_ t: SimTime) -> Bool { t >= start && t < end }
    /// A line for a trace.
    public var description: String {
        "\(kind.rawValue) observer \(observer) at \(Double(start) / 1e6) s until \(Double(end) / 1e6) s"
    }
}

/// One schedule: the world a seed makes, within `ProtocolAssumptions` (unless generated beyond them).
public struct Schedule: Sendable, Equatable, Codable {
    /// The seed (it reproduces the schedule exactly).
    public var seed: UInt64
    /// Regions (each with one observer, its agent); region 0 is active at the start.
    public var regions: Int
    /// Witnesses: observers in a site of no region (`agent --witness`), numbered after the regions' observers;
    /// nil (none) in schedules recorded before they existed.
    public var witnesses: Int?
    /// Every observer: the regions' agents, then the witnesses.
    public var observers: Int { regions + (witnesses ?? 0) }
    /// Round-trip time from observer `o` to region `r` (µs).
    public var roundTrip: [[SimTime]]
    /// Share of probes lost from observer `o` to region `r`.
    public var loss: [[Double]]
    /// One-way trip of observer `o`'s writes to the control database (µs).
    public var controlTransit: [SimTime]
    /// Rate at which observer `o`'s clock runs fast (+) or slow (-) against true time.
    public var drift: [Double]
    /// Faults of whole regions.
    public var regionFaults: [RegionFault]
    /// Faults of observers.
    public var observerFaults: [ObserverFault]
    /// The operator's switches: failover paused, automatic failover off, a failover `recentFailoverAgo`
    /// before the start (cooldown), or as many in the last hour as the limit allows.
    public var paused: Bool
    /// Automatic failover is on.
    public var automatic: Bool
    /// A failover this long before the start (the cooldown may block the next).
    public var recentFailoverAgo: SimTime?
    /// As many failovers in the last hour as the limit allows.
    public var hourlyLimitReached: Bool
    /// Where the schedule ends.
    public var horizon: SimTime

    /// Creates it.
    public init(
        seed: UInt64, regions: Int, roundTrip: [[SimTime]], loss: [[Double]], controlTransit: [SimTime],
        drift: [Double], regionFaults: [RegionFault], observerFaults: [ObserverFault], paused: Bool, automatic: Bool,
        recentFailoverAgo: SimTime?, hourlyLimitReached: Bool, horizon: SimTime
    ) {
        self.seed = seed
        self.regions = regions
        self.roundTrip = roundTrip
        self.loss = loss
        self.controlTransit = controlTransit
        self.drift = drift
        self.regionFaults = regionFaults
        self.observerFaults = observerFaults
        self.paused = paused
        self.automatic = automatic
        self.recentFailoverAgo = recentFailoverAgo
        self.hourlyLimitReached = hourlyLimitReached
        self.horizon = horizon
    }

    /// Names of the regions (and their observers).
    public static let names = ["us-east", "eu-west", "ap-south", "sa-east", "af-south"]

    /// The observers' names: the regions', then `witness`, `witness-2`, ….
    public var observerNames: [String] {
        Array(Self.names.prefix(regions))
            + (0..<(witnesses ?? 0)).map { $0 == 0 ? "witness" : "witness-\($0 + 1)" }
    }
}

extension Schedule {
    /// The schedule of `seed`: a random world within `assumptions` (or beyond them, `beyond`).
    public static func generate(
        seed: UInt64, assumptions: ProtocolAssumptions, bound: SimTime, beyond: Bool = false
    ) -> Schedule {
        var r = SimRandom(seed: seed)
        let regions = r.chance(0.15) ? 2 : r.chance(0.1) ? 5 : 3
        let maxRTT = SimTime.of(assumptions.maxRoundTrip) * (beyond ? 3 : 1)
        var rtt = [[SimTime]](repeating: [SimTime](repeating: 0, count: regions), count: regions)
        for o in 0..<regions {
            for g in 0..<regions {
                rtt[o][g] = o == g ? r.int(200...2_000) : (g < o ? rtt[g][o] : r.int(.ms(10)...maxRTT))
            }
        }
        var loss = [[Double]](repeating: [Double](repeating: 0, count: regions), count: regions)
        for o in 0..<regions {
            for g in 0..<regions where r.chance(0.3) {
                loss[o][g] = r.unit() * assumptions.maxProbeLoss * (beyond ? 6 : 1)
            }
        }
        let transit = (0..<regions).map { _ in r.int(500...SimTime.of(assumptions.maxControlTransit)) }
        let drift = (0..<regions).map { _ in (r.unit() * 2 - 1) * assumptions.maxDriftRate }
        var faults: [RegionFault] = []
        // The active region's fault, if any: at least 8 s in (every observer has seen every standby
        // healthy for the failure grace by then), lasting or transient.
        let activeStart = r.int(.ms(8_000)...SimTime.ms(20_000))
        if r.chance(0.8) {
            let kind = r.pick(RegionFault.Kind.allCases)
            let end = r.chance(0.6) ? SimTime.forever : activeStart + r.int(.ms(200)...SimTime.ms(6_000))
            faults.append(RegionFault(region: 0, kind: kind, start: activeStart, end: end))
        }
        // A standby's: long before (a standby dark for a while), about when the active region's begins (two
        // faults at once), or at any time.
        if r.chance(0.4) {
            let standby = Int(r.int(1...Int64(regions - 1)))
            let kind = r.pick([RegionFault.Kind.crash, .hang, .dark])
            let start: SimTime
            switch r.int(0...2) {
            case 0: start = r.int(0...SimTime.ms(4_000))
            case 1: start = max(0, activeStart + r.int(-SimTime.ms(3_000)...SimTime.ms(3_000)))
            default: start = r.int(0...SimTime.ms(30_000))
            }
            let end = r.chance(0.6) ? SimTime.forever : start + r.int(.ms(500)...SimTime.ms(10_000))
            faults.append(RegionFault(region: standby, kind: kind, start: start, end: end))
        }
        var observerFaults: [ObserverFault] = []
        let maxPause = SimTime.of(assumptions.maxObserverPause) * (beyond ? 4 : 1)
        for _ in 0..<Int(r.int(0...2)) where r.chance(0.5) {
            let o = Int(r.int(0...Int64(regions - 1)))
            let start = r.int(.ms(1_000)...SimTime.ms(30_000))
            switch r.int(0...2) {
            case 0:
                observerFaults.append(
                    ObserverFault(observer: o, kind: .pause, start: start, end: start + r.int(.ms(50)...maxPause)))
            default:
                let kind: ObserverFault.Kind = o != 0 && r.chance(0.5) ? .cutOffFromActive : .cutOff
                let fault = ObserverFault(
                    observer: o, kind: kind, start: start, end: start + r.int(.ms(500)...SimTime.ms(20_000)))
                // Fewer than half the observers cut off at once (beyond the assumptions, any number).
                let overlapping = observerFaults.filter {
                    $0.kind != .pause && $0.observer != o && $0.start < fault.end && fault.start < $0.end
                }.count
                if beyond || overlapping + 1 <= ProtocolAssumptions.maxObserversCutOff(regions: regions) {
                    observerFaults.append(fault)
                }
            }
        }
        let switches = r.int(0...19)
        let latest = faults.map(\.start).max() ?? activeStart
        var schedule = Schedule(
            seed: seed, regions: regions, roundTrip: rtt, loss: loss, controlTransit: transit, drift: drift,
            regionFaults: faults, observerFaults: observerFaults, paused: switches == 0, automatic: switches != 1,
            recentFailoverAgo: switches == 2 ? r.int(0...SimTime.ms(250_000)) : nil, hourlyLimitReached: switches == 3,
            horizon: max(latest, activeStart) + bound + .ms(3_000))
        // Most two-region worlds have a witness (drawn last, so every draw above is the same as before witnesses).
        if regions == 2 && r.chance(0.7) {
            schedule.addWitness(&r, assumptions: assumptions, beyond: beyond)
        }
        return schedule
    }

    /// Adds a witness: an observer in a site of its own, far from every region, that may pause, be cut off, or be
    /// cut off from the active region only (it alone sees it silent).
    mutating func addWitness(_ r: inout SimRandom, assumptions: ProtocolAssumptions, beyond: Bool) {
        let w = observers
        witnesses = (witnesses ?? 0) + 1
        let maxRTT = SimTime.of(assumptions.maxRoundTrip) * (beyond ? 3 : 1)
        roundTrip.append((0..<regions).map { _ in r.int(.ms(10)...maxRTT) })
        loss.append(
            (0..<regions).map { _ in r.chance(0.3) ? r.unit() * assumptions.maxProbeLoss * (beyond ? 6 : 1) : 0 })
        controlTransit.append(r.int(500...SimTime.of(assumptions.maxControlTransit)))
        drift.append((r.unit() * 2 - 1) * assumptions.maxDriftRate)
        guard r.chance(0.6) else { return }
        let start = r.int(.ms(1_000)...SimTime.ms(30_000))
        switch r.int(0...2) {
        case 0:
            let maxPause = SimTime.of(assumptions.maxObserverPause) * (beyond ? 4 : 1)
            observerFaults.append(
                ObserverFault(observer: w, kind: .pause, start: start, end: start + r.int(.ms(50)...maxPause)))
        default:
            let kind: ObserverFault.Kind = r.chance(0.5) ? .cutOffFromActive : .cutOff
            let end = r.chance(0.3) ? SimTime.forever : start + r.int(.ms(500)...SimTime.ms(20_000))
            let fault = ObserverFault(observer: w, kind: kind, start: start, end: end)
            let overlapping = observerFaults.filter {
                $0.kind != .pause && $0.start < fault.end && fault.start < $0.end
            }.count
            if beyond || overlapping + 1 <= ProtocolAssumptions.maxObserversCutOff(regions: observers) {
                observerFaults.append(fault)
            }
        }
    }
}
