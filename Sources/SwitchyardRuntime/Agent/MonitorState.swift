import Foundation
import SwitchyardCore
import Synchronization

/// The components this agent probes, with their hysteresis, shared between the region loops that
/// update them and the refresh loop that publishes them.
final class MonitorState: Sendable {
    struct Component: Sendable {
        var health: ComponentHealth
        var detail = ComponentDetail()
        /// Why its failures have been ambiguous (the target answered but refused this observer), while they are.
        var ambiguity: String?
    }

    /// A run of ambiguous failures began: said once as a warning event, not once per probe.
    struct Notice: Sendable {
        var region: String
        var component: String
        var message: String
    }

    struct Transition: Sendable {
        var region: String
        var component: String
        var to: HealthState
        var error: String?
    }

    private let state:
        Mutex<(components: [String: [String: Component]], transitions: [Transition], probing: Bool, notices: [Notice])>
    /// Rung when a state change is recorded: the refresh loop writes it at once instead of at its next interval.
    let transitionRecorded = Doorbell()

    init(regions: [RegionConfig], thresholds: ComponentHealth.Thresholds) {
        var components: [String: [String: Component]] = [:]
        for region in regions {
            for name in region.components.map(\.rawValue) {
                components[region.name, default: [:]][name] = Component(health: ComponentHealth(thresholds: thresholds))
            }
        }
        state = Mutex((components, [], false, []))
    }

    /// Records one probe's result; a silent failure the observer's own lag may explain (`inconclusive`)
    /// counts neither way.
    func record(
        region: String, component: String, result: ProbeResult, inconclusive: Bool = false,
        at instant: ContinuousClock.Instant, wallClock: Date
    ) {
        let recorded = state.withLock { s in
            guard var c = s.components[region]?[component] else { return false }
            var recorded = false
            if inconclusive && !result.success && result.evidence != .positive {
                c.health.recordInconclusive()
            } else if let changed = c.health.record(
                success: result.success, latency: result.latency, error: result.error,
                evidence: result.evidence ?? .silence, at: instant, wallClock: wallClock)
            {
                s.transitions.append(Transition(region: region, component: component, to: changed, error: result.error))
                recorded = true
            }
            if let why = result.ambiguity, c.ambiguity != why {
                s.notices.append(
                    Notice(
                        region: region, component: component,
                        message: "\(region) \(component): \(why); counted as silence, not as evidence of failure"
                            + (result.error.map { " (\($0))" } ?? "")))
            }
            c.ambiguity = result.success ? nil : result.ambiguity
            c.detail = result.detail
            s.components[region]?[component] = c
            s.probing = true
            return recorded
        }
        if recorded { transitionRecorded.ring() }
    }

    var components: [String: [String: Component]] { state.withLock { $0.components } }
    var probing: Bool { state.withLock { $0.probing } }
    /// True while a state change waits to be written (the refresh loop then writes at once).
    var hasTransitions: Bool { state.withLock { !$0.transitions.isEmpty } }

    /// The ambiguous-failure notices not yet written, emptied.
    func drainNotices() -> [Notice] {
        state.withLock { s in
            defer { s.notices = [] }
            return s.notices
        }
    }

    func drainTransitions() -> [Transition] {
        state.withLock { s in
            defer { s.transitions = [] }
            return s.transitions
        }
    }
}
