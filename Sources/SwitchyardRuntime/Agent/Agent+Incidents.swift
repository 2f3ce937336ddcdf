import Foundation
import Logging
import Postgres
import SwitchyardCore

extension Agent {
    /// While leading failovers: opens, counts and resolves incidents from the decision's input
    /// (`Incidents`), and sends each incident's trigger and resolve once through the region's
    /// notification hooks, in the background: a slow receiver never delays a decision.
    ///
    /// `known` caches the open incidents while this agent leads (only the leader writes them): read
    /// once when it starts leading, then kept in step with what this function writes.
    func handleIncidents(
        _ control: PostgresConnection, input: FailoverDecision.Input, known: inout [Incidents.Open]?
    ) async throws {
        if known == nil { known = try await ControlStore.openIncidents(control) }
        let open = known ?? []
        let changes = Incidents.changes(
            open: open, verdicts: Incidents.verdicts(input), now: input.now,
            resolveAfter: configuration.controlPlane.failover.incidentResolveAfter)
        for change in changes {
            switch change {
            case .open(let region, let reason):
                guard let incident = try await ControlStore.openIncident(control, region: region, reason: reason)
                else {
                    known = nil  // opened by someone else meanwhile: read again next time
                    continue
                }
                known?.append(Incidents.Open(id: incident.id, region: region, healthySince: nil))
                try await ControlStore.recordEvent(
                    control, kind: "incident", region: region, message: "incident \(incident.key) opened: \(reason)")
                try await notify(control, incident, action: "trigger", summary: "Switchyard: \(reason)")
            case .flapped(let id):
                try await ControlStore.countFlap(control, incident: id)
                update(&known, id) { $0.healthySince = nil }
                let region = open.first { $0.id == id }?.region
                try await ControlStore.recordEvent(
                    control, kind: "incident", region: region,
                    message:
                        "\(region ?? "a region") down again before incident \(Incidents.key(region: region ?? "", id: id)) resolved: counted, not notified"
                )
            case .recovering(let id, let since):
                try await ControlStore.setHealthySince(control, incident: id, since)
                update(&known, id) { $0.healthySince = since }
            case .recoveryInterrupted(let id):
                try await ControlStore.setHealthySince(control, incident: id, nil)
                update(&known, id) { $0.healthySince = nil }
            case .resolve(let id):
                known?.removeAll { $0.id == id }
                guard let incident = try await ControlStore.resolveIncident(control, incident: id) else { continue }
                let lasted = Int((incident.resolvedAt ?? input.now).timeIntervalSince(incident.openedAt).rounded())
                let flaps = incident.flaps == 0 ? "" : "; \(incident.flaps) repeated downs not notified"
                try await ControlStore.recordEvent(
                    control, kind: "incident", region: incident.region,
                    message: "incident \(incident.key) resolved after \(lasted) s\(flaps)")
                try await notify(
                    control, incident, action: "resolve",
                    summary: "Switchyard: \(incident.region) recovered after \(lasted) s\(flaps)")
            }
        }
    }

    private func update(_ known: inout [Incidents.Open]?, _ id: Int, _ change: (inout Incidents.Open) -> Void) {
        guard let index = known?.firstIndex(where: { $0.id == id }) else { return }
        change(&known![index])
    }

    /// Sends one incident notification through the region's notification hooks, in the background, and
    /// counts it on the incident (a failed hook is retried within its bounds, then reported as an event).
    func notify(_ control: PostgresConnection, _ incident: IncidentRecord, action: String, summary: String)
        async throws
    {
        let hooks = configuration.region(named: incident.region)?.routing.notify ?? []
        guard !hooks.isEmpty else { return }
        let values = HookValues.incident(
            region: incident.region, epoch: try await ControlStore.cluster(control).epoch, action: action,
            key: incident.key, summary: summary)
        let logger = logger
        Task {
            var failed: [String] = []
            for hook in hooks where !(await HookCaller.call(hook, values: values)).succeeded {
                failed.append(hook.name)
            }
            try? await ControlStore.recordNotification(control, incident: incident.id, failed: !failed.isEmpty)
            if !failed.isEmpty {
                logger.warning(
                    "incident notification failed", metadata: ["incident": "\(incident.key)", "hooks": "\(failed)"])
                try? await ControlStore.recordEvent(
                    control, kind: "warning", region: incident.region,
                    message:
                        "incident \(incident.key) \(action): notification hooks failed: \(failed.joined(separator: ", "))"
                )
            }
        }
    }
}
