import SwitchyardCore
import SwitchyardRuntime

/// A brown-out that harms no region but starves the observers (see `Brownout` in the runtime):
/// detection must ride every one of them out without a failover.
public enum BrownoutKind: String, Sendable, CaseIterable, Codable, Equatable {
    /// Two of three agents frozen (SIGSTOP), then resumed.
    case freezeAgents = "freeze_agents"
    /// A connection and fork storm against every region's Postgres and Redis.
    case storm
    /// CPU hogs, one more than the cores.
    case cpu
    /// All three at once.
    case combined
}
