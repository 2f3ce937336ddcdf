import Foundation
import Logging
import Postgres
import SwitchyardCore
import Synchronization

/// What the failover leader knows of incidents while it leads: the open ones (only the leader writes
/// them) and the notifications still to send, read once when it starts leading and then kept in step
/// with what it writes. A new leader reads them again, so an unsent notification is never lost.
final class IncidentBook: Sendable {
    struct Pending: Sendable, Hashable {
        var incident: Int
        var action: String
    }

    private struct State {
        var open: [Incidents.Open]?
        var pending: [Pending: IncidentRecord] = [:]
        var inFlight: Set<Pending> = []
        var draining = false
    }

    private let state = Mutex(State())

    /// The open incidents, or nil when they must be read again.
    var open: [Incidents.Open]? { state.withLock { $0.open } }

    /// Reads the open incidents and the unsent notifications (at the start, and after an error).
    func load(_ c: PostgresConnection) async throws {
        let open = try await ControlStore.openIncidents(c)
        let pending = try await ControlStore.pendingNotifications(c)
        state.withLock { s in
            s.open = open
            for (record, action) in pending { s.pending[Pending(incident: record.id, action: action)] = record }
        }
    }

    /// Forgets the open incidents: read them again before the next use.
    func invalidate() { state.withLock { $0.open = nil } }

    func update(_ change: (inout [Incidents.Open]) -> Void) {
        state.withLock { s in
            guard var open = s.open else { return }
            change(&open)
            s.open = open
        }
    }

    /// A notification to send.
    func enqueue(_ record: IncidentRecord, action: String) {
        state.withLock { $0.pending[Pending(incident: record.id, action: action)] = record }
    }

    /// Whether a drain should start now (none runs and something waits); marks it running.
    func startDraining() -> Bool {
        state.withLock { s in
            guard !s.draining, !s.pending.isEmpty else { return false }
            s.draining = true
            return true
        }
    }

    /// The next notification to send (marked in flight), oldest incident first; nil ends the drain.
    /// A resolve waits for its incident's trigger: a receiver must see them in order.
    func next(skipping tried: Set<Pending>) -> (Pending, IncidentRecord)? {
        state.withLock { s in
            let ready = s.pending.filter { key, _ in
                !s.inFlight.contains(key) && !tried.contains(key)
                    && !(key.action == "resolve"
                        && s.pending[Pending(incident: key.incident, action: "trigger")] != nil)
            }.min { ($0.key.incident, $0.key.action) < ($1.key.incident, $1.key.action) }
            guard let ready else {
                s.draining = false
                return nil
            }
            s.inFlight.insert(ready.key)
            return (ready.key, ready.value)
        }
    }

    /// A notification was sent and recorded (`done`), or must be tried again.
    func finished(_ key: Pending, done: Bool) {
        state.withLock { s in
            s.inFlight.remove(key)
            if done { s.pending[key] = nil }
        }
    }
}

extension Agent {
    /// While leading failovers: opens, counts and resolves incidents from the decision's input
    /// (`Incidents`), before any failover that input leads to, and sends each incident's trigger and
    /// resolve through the region's notification hooks in the background (`IncidentBook` is the
    /// outbox): a slow receiver never delays a decision.
    func handleIncidents(_ control: PostgresConnection, input: FailoverDecision.Input, book: IncidentBook)
        async throws
    {
        if book.open == nil { try await book.load(control) }
        let open = book.open ?? []
        let changes = Incidents.changes(
            open: open, verdicts: Incidents.verdicts(input), now: input.now,
            resolveAfter: configuration.controlPlane.failover.incidentResolveAfter)
        for change in changes {
            switch change {
            case .open(let region, let reason):
                guard let incident = try await ControlStore.openIncident(control, region: region, reason: reason)
                else {
                    book.invalidate()  // opened by someone else meanwhile: read again next time
                    continue
                }
                book.update { $0.append(Incidents.Open(id: incident.id, region: region, healthySince: nil)) }
                book.enqueue(incident, action: "trigger")
                try await ControlStore.recordEvent(
                    control, kind: "incident", region: region, message: "incident \(incident.key) opened: \(reason)")
            case .flapped(let id):
                try await ControlStore.countFlap(control, incident: id)
                book.update { open in
                    open.indices.filter { open[$0].id == id }.forEach {
                        open[$0].healthySince = nil
                        open[$0].recovered = false
                    }
                }
                let region = open.first { $0.id == id }?.region ?? ""
                try await ControlStore.recordEvent(
                    control, kind: "incident", region: region,
                    message:
                        "\(region) down again before incident \(Incidents.key(region: region, id: id)) resolved: counted, not notified"
                )
            case .recovering(let id, let since):
                try await ControlStore.setHealthySince(control, incident: id, since)
                book.update { open in
                    open.indices.filter { open[$0].id == id }.forEach {
                        open[$0].healthySince = since
                        open[$0].recovered = true
                    }
                }
            case .recoveryInterrupted(let id):
                try await ControlStore.setHealthySince(control, incident: id, nil)
                book.update { open in open.indices.filter { open[$0].id == id }.forEach { open[$0].healthySince = nil }
                }
            case .resolve(let id):
                book.update { $0.removeAll { $0.id == id } }
                guard let incident = try await ControlStore.resolveIncident(control, incident: id) else { continue }
                book.enqueue(incident, action: "resolve")
                try await ControlStore.recordEvent(
                    control, kind: "incident", region: incident.region,
                    message:
                        "incident \(incident.key) resolved: \(incident.summary(action: "resolve").dropFirst("Switchyard: ".count))"
                )
            }
        }
        sendNotifications(book)
    }

    /// Sends the unsent notifications in the background, one after another on one connection of its
    /// own (the leader's connection is for its decisions; a burst of incidents opens no burst of
    /// connections): the region's notification hooks are called (each retried within its bounds), then
    /// the incident records it as sent. One that could not be recorded is tried again on a later tick.
    func sendNotifications(_ book: IncidentBook) {
        guard book.startDraining() else { return }
        let logger = logger
        let dsn = configuration.controlPlane.control.dsn
        let configuration = configuration
        Task {
            var tried: Set<IncidentBook.Pending> = []
            var connection: PostgresConnection?
            while let (key, incident) = book.next(skipping: tried) {
                tried.insert(key)
                do {
                    let c: PostgresConnection
                    if let open = connection {
                        c = open
                    } else {
                        c = try await PostgresConnection.connect(
                            dsn, timeout: .seconds(3), defaultTimeout: .seconds(5))
                        connection = c
                    }
                    let hooks = configuration.region(named: incident.region)?.routing.notify ?? []
                    let values = HookValues.incident(
                        region: incident.region, epoch: try await ControlStore.cluster(c).epoch,
                        action: key.action, key: incident.key, summary: incident.summary(action: key.action))
                    var failed: [String] = []
                    for hook in hooks where !(await HookCaller.call(hook, values: values)).succeeded {
                        failed.append(hook.name)
                    }
                    try await ControlStore.markNotified(
                        c, incident: incident.id, action: key.action, failed: !failed.isEmpty)
                    book.finished(key, done: true)
                    if !failed.isEmpty {
                        logger.warning(
                            "incident notification failed",
                            metadata: ["incident": "\(incident.key)", "hooks": "\(failed)"])
                        try await ControlStore.recordEvent(
                            c, kind: "warning", region: incident.region,
                            message:
                                "incident \(incident.key) \(key.action): notification hooks failed after their retries: \(failed.joined(separator: ", "))"
                        )
                    }
                } catch {
                    logger.warning(
                        "incident notification not recorded; retrying",
                        metadata: ["incident": "\(incident.key)", "error": "\(error)"])
                    book.finished(key, done: false)
                    if let c = connection { await c.close() }
                    connection = nil
                }
            }
            if let c = connection { await c.close() }
        }
    }
}
