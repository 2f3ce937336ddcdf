import CoreMetrics
import Foundation
import Metrics
import Prometheus
import SwitchyardCore
import Synchronization

/// The agent's metrics, through swift-metrics with a Prometheus factory bound to the agent's own
/// registry (served at `/metrics`): probe latency histograms, component up gauges, the active-region
/// gauge, the epoch, and a failovers counter.
final class AgentMetrics: Sendable {
    let registry: PrometheusCollectorRegistry
    let factory: PrometheusMetricsFactory
    let observer: String
    private let seenFailover = Mutex<Int?>(nil)

    init(registry: PrometheusCollectorRegistry, observer: String) {
        self.registry = registry
        var factory = PrometheusMetricsFactory(registry: registry)
        factory.defaultDurationHistogramBuckets = [
            .milliseconds(1), .milliseconds(2), .milliseconds(5), .milliseconds(10), .milliseconds(25),
            .milliseconds(50),
            .milliseconds(100), .milliseconds(250), .milliseconds(500), .seconds(1), .seconds(2),
        ]
        self.factory = factory
        self.observer = observer
    }

    func recordProbe(region: String, component: String, result: ProbeResult) {
        let dimensions = [("observer", observer), ("region", region), ("component", component)]
        Gauge(label: "switchyard_component_up", dimensions: dimensions, factory: factory).record(result.success ? 1 : 0)
        if result.ambiguity != nil {
            // The target answered but refused this observer: counted as silence, never as evidence.
            Counter(label: "switchyard_probe_ambiguous_failures_total", dimensions: dimensions, factory: factory)
                .increment()
        }
        if let latency = result.latency {
            Metrics.Timer(label: "switchyard_probe_latency_seconds", dimensions: dimensions, factory: factory)
                .recordNanoseconds(
                    latency.wholeMilliseconds * 1_000_000
                        + Int64(latency.components.attoseconds / 1_000_000_000 % 1_000_000))
        }
    }

    func recordCluster(regions: [String], active: String?, epoch: Int, latestFailoverId: Int?) {
        for region in regions {
            Gauge(label: "switchyard_active_region", dimensions: [("region", region)], factory: factory).record(
                region == active ? 1 : 0)
        }
        Gauge(label: "switchyard_epoch", factory: factory).record(epoch)
        let counter = Counter(label: "switchyard_failovers_total", factory: factory)
        seenFailover.withLock { seen in
            guard let latest = latestFailoverId else {
                if seen == nil { seen = 0 }
                return
            }
            // Count failovers started while this agent runs; the first read only sets the baseline.
            if let previous = seen, latest > previous { counter.increment(by: latest - previous) }
            seen = latest
        }
    }

    /// The observer's self-health: 1 while it declares itself lagging (it casts no down vote), the
    /// length of that lag, and its lag windows and inconclusive probes so far.
    func recordSelfHealth(lagging: Bool, lag: Duration?, lagEvents: Int, inconclusiveProbes: Int) {
        let dimensions = [("observer", observer)]
        Gauge(label: "switchyard_observer_lagging", dimensions: dimensions, factory: factory).record(lagging ? 1 : 0)
        Gauge(label: "switchyard_observer_lag_seconds", dimensions: dimensions, factory: factory).record(
            lag?.secondsDouble ?? 0)
        Gauge(label: "switchyard_observer_lag_events", dimensions: dimensions, factory: factory).record(lagEvents)
        Gauge(label: "switchyard_observer_inconclusive_probes", dimensions: dimensions, factory: factory).record(
            inconclusiveProbes)
    }

    /// Whether this observer reaches the control database, and which region acts on its failsafe lease.
    func recordControl(reachable: Bool, failsafe: StatusDocument.Failsafe?, regions: [String]) {
        Gauge(label: "switchyard_control_db_reachable", dimensions: [("observer", observer)], factory: factory).record(
            reachable ? 1 : 0)
        for region in regions {
            Gauge(label: "switchyard_failsafe_active", dimensions: [("region", region)], factory: factory)
                .record(failsafe?.region == region ? 1 : 0)
        }
    }

    /// This agent's quorum view of each region: 1 while it is healthy or suspect, 0 while down or unknown.
    func recordRegions(_ regions: [StatusDocument.Region]) {
        for region in regions {
            Gauge(
                label: "switchyard_region_healthy", dimensions: [("observer", observer), ("region", region.name)],
                factory: factory
            ).record(region.health == .healthy || region.health == .suspect ? 1 : 0)
        }
    }

    /// Whether a loss of the active region would be failed over automatically (`FailoverCapacity`): 1 or 0,
    /// with the observers that would remain and the healthy targets (the "no failover capacity" alert).
    func recordCapacity(_ capacity: FailoverCapacity) {
        let dimensions = [("observer", observer)]
        Gauge(label: "switchyard_failover_capacity", dimensions: dimensions, factory: factory).record(
            capacity.ready ? 1 : 0)
        Gauge(label: "switchyard_failover_observers_remaining", dimensions: dimensions, factory: factory).record(
            capacity.remainingIfActiveLost.count)
        Gauge(label: "switchyard_failover_targets", dimensions: dimensions, factory: factory).record(
            capacity.targets.count)
    }

    /// Whether a journaled failover is running, and how long its current step has been running (the
    /// "stuck in a step" alert); every other step reads 0.
    func recordFailover(running: Bool, step: FailoverStep?, stepSince: Date?, now: Date = Date()) {
        Gauge(label: "switchyard_failover_running", factory: factory).record(running ? 1 : 0)
        for candidate in FailoverStep.allCases {
            let age = candidate == step ? max(0, now.timeIntervalSince(stepSince ?? now)) : 0
            Gauge(
                label: "switchyard_failover_step_age_seconds", dimensions: [("step", candidate.rawValue)],
                factory: factory
            )
            .record(age)
        }
    }

    /// A routing or notification hook that failed in a failover this agent saw finish.
    func countHookFailure(hook: String) {
        Counter(label: "switchyard_hook_failures_total", dimensions: [("hook", hook)], factory: factory).increment()
    }

    func emit() -> [UInt8] { registry.emitToBuffer() }
}
