import Foundation
import Logging
import Metrics
import Postgres
import Prometheus
import SwitchyardCore
import Synchronization

/// `switchyard agent --observer NAME`: probes every region from this vantage point, records what it
/// sees in the control database, and serves the status API from an in-memory snapshot.
public final class Agent: Sendable {
    let configuration: Configuration
    let observer: String
    let host: String
    let port: Int
    let shutdown: ShutdownSignal
    let logger: Logger
    let store = SnapshotStore()
    let monitor: MonitorState
    let metrics: AgentMetrics
    /// This observer's judgement of itself (lag windows), shared by the probe, refresh and lag loops.
    let selfHealth: SelfHealthMonitor
    /// The active region as last read from the control database (its database must be primary).
    let activeRegion = SharedValue<String?>(nil)
    /// The last comparison of the Airflow regions (`airflowCheckLoop`).
    let airflowConsistency = SharedValue<AirflowConsistency?>(nil)

    /// Creates an agent; `run()` does the work.
    public init(
        configuration: Configuration, observer: String, host: String, port: Int, shutdown: ShutdownSignal,
        logger: Logger, registry: PrometheusCollectorRegistry
    ) {
        self.configuration = configuration
        self.observer = observer
        self.host = host
        self.port = port
        self.shutdown = shutdown
        var logger = logger
        logger[metadataKey: "switchyard.observer"] = .string(observer)
        self.logger = logger
        let probes = configuration.controlPlane.probes
        monitor = MonitorState(
            regions: configuration.regions,
            thresholds: .init(
                failuresToSuspect: probes.failuresToSuspect, failuresToDown: probes.failuresToDown,
                downAfter: probes.downAfter, successesToRecover: probes.successesToRecover))
        metrics = AgentMetrics(registry: registry, observer: observer)
        selfHealth = SelfHealthMonitor(ObserverSelfHealth(probes: probes))
    }

    /// Runs the probes, the refresh loop and the API until shutdown.
    public func run(onListening: @escaping @Sendable (Int) async -> Void = { _ in }) async throws {
        logger.info("agent starting", metadata: ["regions": "\(configuration.regions.count)"])
        let apiURL = SharedValue<String?>(nil)
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                let token = ProcessInfo.processInfo.environment[self.configuration.controlPlane.api.tokenEnv].flatMap {
                    $0.isEmpty ? nil : $0
                }
                let control = PostgresConnection.unconnected(
                    self.configuration.controlPlane.control.dsn, defaultTimeout: .seconds(5), name: "agent-api")
                let operatorAPI = OperatorAPI(configuration: self.configuration, token: token, control: control)
                try await StatusServer.run(
                    store: self.store, operatorAPI: operatorAPI, host: self.host, port: self.port, logger: self.logger
                ) { bound in
                    apiURL.set("http://\(self.host):\(bound)")
                    self.logger.notice("status API listening", metadata: ["url": "http://\(self.host):\(bound)"])
                    await onListening(bound)
                }
            }
            for region in configuration.regions {
                group.addTask { await self.probeLoop(region) }
            }
            group.addTask { await self.lagLoop() }
            group.addTask { await self.refreshLoop(apiURL: { apiURL.get() }) }
            group.addTask { await self.failoverLoop() }
            group.addTask { await self.airflowCheckLoop() }
            await shutdown.wait()
            group.cancelAll()
        }
        logger.info("agent stopped")
    }

    /// Probes one region every interval; its probes run concurrently, each with its own deadline,
    /// so one hung component (or region) delays nothing else. A silent failure that overlaps a lag of
    /// this observer is inconclusive: the observer's starvation is never charged to the target. After
    /// a failure the next round comes after a quarter of the interval, so positive evidence is
    /// confirmed (or refuted) quickly.
    func probeLoop(_ region: RegionConfig) async {
        let probes = configuration.controlPlane.probes
        let timing = SafetyTiming(configuration.controlPlane)
        let database = PostgresProbe(
            dsn: region.databaseDSN, region: region.name, schedulers: region.schedulers,
            execStartWindow: timing.stepDownAfter + timing.execGrace + timing.guardSlack, runsTable: region.runs.table)
        let redis = region.redis.map { RedisProbe(config: $0, region: region.name) }
        let http = region.schedulers.probe == .http ? HTTPSchedulerProbe(url: region.schedulers.url ?? "") : nil
        let confirmInterval = max(probes.interval / 4, .milliseconds(50))
        while !shutdown.requested && !Task.isCancelled {
            let started = ContinuousClock.now
            let reconnectsBefore = await database.reconnects
            let mustBePrimary = activeRegion.get() == region.name
            async let d = database.probe(
                timeout: probes.timeout, connectTimeout: probes.connectTimeout, mustBePrimary: mustBePrimary)
            async let r = redis?.probe(timeout: probes.timeout)
            async let h = http?.probe(timeout: probes.timeout)
            let (db, sched) = await d
            var results = [("database", db), ("schedulers", await h ?? sched ?? .failed("no scheduler probe"))]
            if let redisResult = await r { results.insert(("redis", redisResult), at: 1) }
            let now = ContinuousClock.now
            let wall = Date()
            // The probes' own budget: a ping, a reconnect and a query, each with the probe timeout; a round
            // that had to reconnect gave the connect twice it.
            let reconnected = await database.reconnects > reconnectsBefore
            selfHealth.measured(
                "probe round of \(region.name)", expected: probes.timeout * (reconnected ? 4 : 3),
                actual: now - started,
                endedAt: now)
            let inconclusive = selfHealth.taints(start: started, end: now)
            for (component, result) in results {
                monitor.record(
                    region: region.name, component: component, result: result, inconclusive: inconclusive, at: now,
                    wallClock: wall)
                metrics.recordProbe(region: region.name, component: component, result: result)
            }
            let failing = results.contains { !$0.1.success }
            let elapsed = ContinuousClock.now - started
            let pause = failing ? confirmInterval : probes.interval
            if elapsed < pause { await shutdown.sleep(pause - elapsed) }
        }
        await database.close()
    }

    /// Sentinel's TILT check: a short timer whose overshoot is this observer's own lag (a busy host,
    /// a stop signal). Lag windows make overlapping probes inconclusive and the observer lagging.
    func lagLoop() async {
        let tick = Duration.milliseconds(100)
        while !shutdown.requested && !Task.isCancelled {
            let started = ContinuousClock.now
            try? await Task.sleep(for: tick)
            let now = ContinuousClock.now
            if selfHealth.measured("a \(tick) timer", expected: tick, actual: now - started, endedAt: now) {
                logger.warning(
                    "observer lagging: its own timer overshot; probes in that window are inconclusive",
                    metadata: ["lag_ms": "\(Int(((now - started) - tick).secondsDouble * 1000))"])
            }
        }
    }
}

/// The observer's self-health behind a mutex.
final class SelfHealthMonitor: Sendable {
    private let storage: Mutex<ObserverSelfHealth>
    init(_ initial: ObserverSelfHealth) { storage = Mutex(initial) }

    @discardableResult
    func measured(_ what: String, expected: Duration, actual: Duration, endedAt end: ContinuousClock.Instant) -> Bool {
        storage.withLock { $0.measured(what, expected: expected, actual: actual, endedAt: end) }
    }

    @discardableResult
    func measuredAgainstBaseline(
        _ what: String, key: String, budget: Duration, actual: Duration, endedAt end: ContinuousClock.Instant
    ) -> Bool {
        storage.withLock {
            $0.measuredAgainstBaseline(what, key: key, budget: budget, actual: actual, endedAt: end)
        }
    }

    func taints(start: ContinuousClock.Instant, end: ContinuousClock.Instant) -> Bool {
        storage.withLock { $0.taints(start: start, end: end) }
    }

    /// Why the observer is lagging now (nil when it is not), and the length of that lag.
    func lagging(at now: ContinuousClock.Instant = .now) -> (reason: String, lag: Duration)? {
        storage.withLock { s in s.lagging(at: now).map { ($0, s.lag(at: now) ?? .zero) } }
    }

    var lagEvents: Int { storage.withLock { $0.lagEvents } }
}

/// A value shared between tasks behind a mutex.
final class SharedValue<Value: Sendable>: Sendable {
    private let storage: Mutex<Value>
    init(_ value: Value) { storage = Mutex(value) }
    func get() -> Value { storage.withLock { $0 } }
    func set(_ value: Value) { storage.withLock { $0 = value } }
}
