import Foundation

extension RegionConfig {
    /// Reads a region file's root mapping; nil when a required part is unusable. Every problem is reported.
    static func read(_ root: MappingReader, controlPlane: ControlPlaneConfig?) -> RegionConfig? {
        root.allow(["name", "priority", "database", "redis", "schedulers", "critical", "runs", "routing"])
        let errorsBefore = root.diagnostics.count
        var name: String?
        if let value = root.require("name"), let text = value.string() {
            if isValidName(text) {
                name = text
            } else {
                value.fail("region names match ^[a-z][a-z0-9-]{0,31}$, found \"\(text.prefix(40))\"")
            }
        }
        let priority = root.require("priority")?.int()
        var dsn: String?
        if let database = root.require("database")?.mapping() {
            database.allow(["dsn"])
            if let value = database.require("dsn"), let text = value.nonEmptyString() {
                if let reason = ConnInfo.validate(text) {
                    value.fail("invalid connection string: \(reason)")
                } else {
                    dsn = text
                }
            }
        }
        // Optional: a region whose runs Switchyard does not dispatch (Airflow with its LocalExecutor) needs no Redis.
        let hasRedis = root.has("redis")
        let redis = root.child("redis")?.mapping().flatMap(RedisConfig.read)
        let schedulers = readSchedulers(
            root.section("schedulers"), defaultStaleAfter: controlPlane?.probes.schedulerStaleAfter ?? .seconds(5))
        let critical = readCritical(root, hasRedis: hasRedis)
        let runs = readRuns(root.section("runs"))
        if !hasRedis, runs.dispatch {
            if let value = root.child("runs")?.mapping()?.child("dispatch") {
                value.fail("Switchyard dispatches runs through Redis: add a redis section, or set dispatch: false")
            } else {
                root.fail(
                    "redis",
                    "required while runs are dispatched through Redis (runs.preset builtin); set runs.dispatch: false to run without"
                )
            }
        }
        let routing = readRouting(root.section("routing"))
        guard root.diagnostics.count == errorsBefore, let name, let priority, let dsn, !hasRedis || redis != nil else {
            return nil
        }
        return RegionConfig(
            name: name, priority: priority, databaseDSN: dsn, redis: redis, schedulers: schedulers, critical: critical,
            runs: runs, routing: routing, file: root.diagnostics.file)
    }

    static func isValidName(_ name: String) -> Bool {
        name.range(of: "^[a-z][a-z0-9-]{0,31}$", options: .regularExpression) != nil
    }

    private static func readSchedulers(_ section: MappingReader, defaultStaleAfter: Duration) -> SchedulersConfig {
        section.allow(["probe", "url", "stale_after", "start_timeout"])
        let probe = section.choice("probe", default: SchedulersConfig.Probe.heartbeat)
        var url: String?
        if let value = section.child("url"), let text = value.nonEmptyString() {
            if probe != .http {
                value.fail("url is only used with probe: http")
            } else if let problem = HookConfig.httpURLProblem(text) {
                value.fail(problem)
            } else {
                url = text
            }
        } else if probe == .http, !section.has("url") {
            section.fail("url", "required when probe is http")
        }
        // Airflow heartbeats every ~5-11 s and calls a scheduler alive for 30 s: its threshold, not ours.
        let staleDefault = probe == .airflow ? SchedulersConfig.airflowDefaultStaleAfter : defaultStaleAfter
        if probe != .airflow, section.has("start_timeout") {
            section.fail("start_timeout", "is only used with probe: airflow")
        }
        return SchedulersConfig(
            probe: probe, url: url, staleAfter: section.duration("stale_after", default: staleDefault),
            leaderStaleAfter: defaultStaleAfter,
            startTimeout: section.duration("start_timeout", default: SchedulersConfig.airflowDefaultStartTimeout))
    }

    private static func readCritical(_ root: MappingReader, hasRedis: Bool) -> [RegionComponent] {
        let configured = RegionComponent.allCases.filter { $0 != .redis || hasRedis }
        guard let value = root.child("critical"), let list = value.sequence() else { return configured }
        guard !list.isEmpty else {
            value.fail("must name at least one of: \(configured.map(\.rawValue).joined(separator: ", "))")
            return configured
        }
        var components: [RegionComponent] = []
        for item in list {
            guard let component = item.choice(RegionComponent.self) else { continue }
            if component == .redis, !hasRedis { item.fail("redis is critical, but the region has no redis section") }
            if components.contains(component) { item.fail("\(component.rawValue) is listed twice") }
            components.append(component)
        }
        return components
    }

    private static func readRuns(_ section: MappingReader) -> RunsConfig {
        section.allow(["preset", "table", "dispatch"])
        let preset = section.choice("preset", default: RunsConfig.Preset.builtin)
        var table: String?
        if let value = section.child("table"), let text = value.string() {
            let identifier = "[A-Za-z_][A-Za-z0-9_]*"
            if text.range(of: "^\(identifier)(\\.\(identifier))?$", options: .regularExpression) != nil {
                table = text
            } else {
                value.fail("expected a table name such as schema.table, found \"\(text.prefix(60))\"")
            }
        }
        return RunsConfig(preset: preset, table: table, dispatch: section.child("dispatch").flatMap { $0.bool() })
    }

    private static func readRouting(_ section: MappingReader) -> RoutingConfig {
        section.allow(["hooks", "notify"])
        var routing = RoutingConfig()
        var seen: [String: String] = [:]
        for (key, required) in [("hooks", true), ("notify", false)] {
            guard let list = section.child(key)?.sequence() else { continue }
            for item in list {
                guard let hook = HookConfig.read(item, requiredByDefault: required) else { continue }
                if let first = seen[hook.name] {
                    item.mapping()?.fail("name", "duplicate hook name \"\(hook.name)\" (also \(first))")
                    continue
                }
                seen[hook.name] = item.field
                if key == "hooks" { routing.hooks.append(hook) } else { routing.notify.append(hook) }
            }
        }
        return routing
    }
}
