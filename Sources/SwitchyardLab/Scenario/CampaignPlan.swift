import SwitchyardCore
import SwitchyardRuntime

/// The sequence of faults a campaign injects: drawn from its fault kinds with a seeded generator, so
/// the same seed replays the same campaign.
public enum CampaignPlan {
    /// `count` faults drawn from `faults` with `seed`.
    public static func faults(_ campaign: DrillScenario.Campaign) -> [DrillFault] {
        var generator = SplitMix64(seed: campaign.seed)
        return (0..<campaign.count).map { _ in campaign.faults[Int(generator.next() % UInt64(campaign.faults.count))] }
    }
}

/// SplitMix64: a small, well-distributed seeded generator (Steele, Lea, Flood 2014).
public struct SplitMix64: RandomNumberGenerator, Sendable {
    private var state: UInt64

    /// Starts from `seed`.
    public init(seed: UInt64) { state = seed }

    /// The next 64 random bits.
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
