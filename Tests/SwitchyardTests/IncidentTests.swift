import Foundation
import SwitchyardCore
import SwitchyardLab
import SwitchyardRuntime
import TestSupport
import Testing

@Suite("Incidents, not messages: one key from the first down to the recovery")
struct IncidentLogicTests {
    let t0 = Date(timeIntervalSince1970: 1_000_000)

    func input(_ views: [String: [HealthState]], at now: Date, downFor: TimeInterval = 10) -> FailoverDecision.Input {
        FailoverDecision.Input(
            now: now, activeRegion: "a",
            regions: views.sorted { $0.key < $1.key }.map { name, states in
                FailoverDecision.Region(
                    name: name, priority: 1, replicationLag: nil,
                    observations: states.enumerated().map { index, state in
                        FailoverDecision.Observation(
                            observer: "o\(index)", live: true, health: state,
                            downSince: state == .down ? now.addingTimeInterval(-downFor) : nil, evidence: .positive,
                            upSince: state == .healthy ? now.addingTimeInterval(-60) : nil)
                    })
            }, knownObservers: 3, quorum: .majority, failureGrace: .seconds(2), cooldown: .seconds(300),
            maxFailoversPerHour: 3, recentFailovers: [], paused: false, automatic: true,
            evidenceGrace: .milliseconds(500))
    }

    @Test func opensOnAQuorumOfDownVotesResolvesAfterAnUnbrokenRecoveryAndCountsFlaps() {
        let quorumDown = input(["a": [.healthy, .healthy, .healthy], "b": [.down, .down, .healthy]], at: t0)
        let verdicts = Incidents.verdicts(quorumDown)
        #expect(verdicts["a"] == .healthy)
        guard case .down(let reason) = verdicts["b"] else {
            Issue.record("b should be down: \(String(describing: verdicts["b"]))")
            return
        }
        #expect(reason.contains("2 of 3 observers (o0, o1)"))
        // One observer alone, or a down too recent for its grace, opens nothing.
        #expect(Incidents.verdicts(input(["b": [.down, .healthy, .healthy]], at: t0))["b"] == .healthy)
        #expect(Incidents.verdicts(input(["b": [.down, .down, .suspect]], at: t0, downFor: 0.1))["b"] == .unclear)

        let after = Duration.seconds(60)
        #expect(
            Incidents.changes(open: [], verdicts: verdicts, now: t0, resolveAfter: after) == [
                .open(region: "b", reason: reason)
            ])
        // Still down: nothing more (no second trigger).
        let open = Incidents.Open(id: 7, region: "b", healthySince: nil)
        #expect(Incidents.changes(open: [open], verdicts: verdicts, now: t0, resolveAfter: after).isEmpty)
        // Healthy: the resolve clock starts; it resolves only after `after` without a break.
        let healthy: [String: Incidents.Verdict] = ["b": .healthy]
        #expect(
            Incidents.changes(open: [open], verdicts: healthy, now: t0, resolveAfter: after) == [
                .recovering(id: 7, since: t0)
            ])
        var recovering = open
        recovering.healthySince = t0
        recovering.recovered = true
        #expect(
            Incidents.changes(open: [recovering], verdicts: healthy, now: t0 + 59, resolveAfter: after).isEmpty)
        #expect(
            Incidents.changes(open: [recovering], verdicts: healthy, now: t0 + 60, resolveAfter: after) == [
                .resolve(id: 7)
            ])
        // Down again before it resolved: a flap of the same incident, not a new one.
        #expect(
            Incidents.changes(open: [recovering], verdicts: verdicts, now: t0 + 30, resolveAfter: after) == [
                .flapped(id: 7)
            ])
        // Unclear (suspect, split, a down inside its grace) stops the clock without a flap; a down that
        // follows is still a flap: the region had recovered.
        #expect(
            Incidents.changes(open: [recovering], verdicts: ["b": .unclear], now: t0 + 30, resolveAfter: after) == [
                .recoveryInterrupted(id: 7)
            ])
        let interrupted = Incidents.Open(id: 7, region: "b", healthySince: nil, recovered: true)
        #expect(
            Incidents.changes(open: [interrupted], verdicts: verdicts, now: t0 + 31, resolveAfter: after) == [
                .flapped(id: 7)
            ])
        // A region no longer configured has no verdict: its incident closes.
        #expect(
            Incidents.changes(open: [open], verdicts: ["a": .healthy], now: t0, resolveAfter: after) == [
                .resolve(id: 7)
            ])
        #expect(Incidents.key(region: "b", id: 7) == "switchyard-b-7")
    }

    @Test func notificationBodiesCarryTheIncidentKeyForTemplatesAndByDefault() throws {
        let values = HookValues.incident(
            region: "eu-west", epoch: 4, action: "resolve", key: "switchyard-eu-west-3",
            summary: "eu-west \"recovered\"")
        let pagerDuty =
            "{\"routing_key\":\"R\",\"event_action\":\"{{event_action}}\",\"dedup_key\":\"{{incident_key}}\",\"payload\":{\"summary\":\"{{summary}}\",\"source\":\"{{region}}\"}}"
        let rendered = values.render(pagerDuty)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(rendered.utf8)) as? [String: Any])
        #expect(object["event_action"] as? String == "resolve")
        #expect(object["dedup_key"] as? String == "switchyard-eu-west-3")
        #expect((object["payload"] as? [String: Any])?["summary"] as? String == "eu-west \"recovered\"")
        let body = String(decoding: values.defaultBody, as: UTF8.self)
        #expect(body.contains("\"event\":\"incident\",\"event_action\":\"resolve\""), "\(body)")
        #expect(body.contains("\"incident_key\":\"switchyard-eu-west-3\""), "\(body)")
        let failover = HookValues(region: "eu-west", previousRegion: "us-east", epoch: 2, failoverId: 9)
        // A failover outside any incident (a switchover) pages nothing: its action is resolve.
        #expect(failover.incidentKey == "switchyard-failover-9" && failover.action == "resolve")
        let within = HookValues(
            region: "eu-west", previousRegion: "us-east", epoch: 2, failoverId: 9, incidentKey: "switchyard-us-east-4")
        #expect(within.action == "trigger" && within.incidentKey == "switchyard-us-east-4")
        #expect(String(decoding: failover.defaultBody, as: UTF8.self).contains("\"failover_id\":9"))
    }
}

@Suite("Incident notifications through a region's notify hooks", .serialized)
struct IncidentNotificationTests {
    @Test func aFailingStandbyIsOneIncidentItsRepeatedDownsAreCountedAndARecoveryResolvesIt() async throws {
        let receiver = try LoopbackHTTPServer { _ in .status(202) }
        defer { receiver.stop() }
        try await DevFixture.with(
            regions: 2, dags: fastDAGs, settings: DevSettings(incidentResolveAfter: .seconds(4))
        ) { f in
            // eu-west's notifications go to the receiver, with the shipped PagerDuty Events v2 template.
            let template = try String(
                contentsOfFile: OperatorKit.root + "/deploy/notify/pagerduty-events-v2.json", encoding: .utf8)
            let body = template.replacingOccurrences(of: "${PAGERDUTY_ROUTING_KEY}", with: "test-routing-key")
                .replacingOccurrences(of: "\n", with: " ")
            let path = f.config + "/eu-west.yaml"
            try
                (try String(contentsOfFile: path, encoding: .utf8)
                + "routing:\n  notify:\n    - name: pager\n      url: \"\(receiver.baseURL)/v2/enqueue\"\n"
                + "      body: '\(body)'\n      retries: 1\n      backoff: 10ms\n")
                .write(toFile: path, atomically: true, encoding: .utf8)
            for r in ["us-east", "eu-west"] {
                try f.start("s-\(r)", ["scheduler", "--region", r, "--node-id", "s-\(r)"])
            }
            _ = try await f.startAgent("us-east")  // the only observer: it leads failovers and incidents
            let control = try await f.connectControl()
            try #require(await f.waitSteady(control, observers: 1))
            func sent() -> [[String: Any]] {
                receiver.requests.compactMap {
                    try? JSONSerialization.jsonObject(with: Data($0.bodyText.utf8)) as? [String: Any]
                }
            }
            // eu-west's incidents only: on a loaded machine the one observer may see us-east down for a
            // moment too, which is an incident of its own (and notifies nobody here).
            func incident() async throws -> (flaps: Int, healthy: Bool, resolved: Bool, count: Int) {
                let rows = try await control.query(
                    "SELECT flaps, healthy_since IS NOT NULL AS healthy, resolved_at IS NOT NULL AS resolved FROM switchyard.incidents WHERE region = 'eu-west' ORDER BY id DESC"
                )
                let row = rows.first
                return (
                    try row?["flaps"].require(Int.self) ?? 0, row?["healthy"].bool ?? false,
                    row?["resolved"].bool ?? false, rows.rows.count
                )
            }

            // First down: one trigger.
            await f.state.redis["eu-west"]!.stop()
            try #require(await f.waitUntil(timeout: .seconds(60)) { sent().count == 1 } != nil)
            let trigger = try #require(sent().first)
            #expect(trigger["event_action"] as? String == "trigger")
            let key = try #require(trigger["dedup_key"] as? String)
            #expect(key.hasPrefix("switchyard-eu-west-"))
            #expect(trigger["routing_key"] as? String == "test-routing-key")

            // Back up, and down again before it resolved: the same incident, counted, nothing sent.
            try await f.state.redis["eu-west"]!.start()
            let recovered = await f.waitUntil(timeout: .seconds(60)) { (try? await incident().healthy) == true }
            try #require(recovered != nil, "\(f.log("agent-us-east").suffix(3000))")
            await f.state.redis["eu-west"]!.stop()
            try #require(
                await f.waitUntil(timeout: .seconds(60)) { try await incident().flaps == 1 } != nil,
                "\(f.log("agent-us-east").suffix(2000))")

            // Recovered for incident_resolve_after: one resolve with the same key.
            try await f.state.redis["eu-west"]!.start()
            try #require(await f.waitUntil(timeout: .seconds(60)) { sent().count == 2 } != nil)
            let resolve = try #require(sent().last)
            #expect(resolve["event_action"] as? String == "resolve")
            #expect(resolve["dedup_key"] as? String == key)
            let state = try await incident()
            #expect(state.resolved && state.flaps == 1 && state.count == 1)
            // Nothing more was sent for it: exactly one trigger and one resolve.
            #expect(sent().count == 2)
            let events = try await control.query(
                "SELECT message FROM switchyard.events WHERE kind = 'incident' ORDER BY id"
            ).rows.compactMap { $0["message"].string }
            #expect(events.contains { $0.contains("counted, not notified") }, "\(events)")
            #expect(events.last?.contains("resolved: eu-west recovered after") == true, "\(events)")

            // A new failure is a new incident with a new key.
            await f.state.redis["eu-west"]!.stop()
            try #require(await f.waitUntil(timeout: .seconds(60)) { sent().count == 3 } != nil)
            let next = try #require(sent().last)
            #expect(next["event_action"] as? String == "trigger")
            #expect((next["dedup_key"] as? String).map { $0 != key } == true)
        }
    }

    /// The active region fails: its incident opens before the failover begins, and the failover's own
    /// notification carries the same key, so a receiver files both under one incident.
    @Test func anAutomaticFailoverIsNotifiedUnderTheIncidentThatCausedIt() async throws {
        let receiver = try LoopbackHTTPServer { _ in .status(202) }
        defer { receiver.stop() }
        try await DevFixture.with(
            regions: 2, dags: fastDAGs, settings: DevSettings(incidentResolveAfter: .seconds(4))
        ) { f in
            let body =
                "'{\"event\": \"{{event}}\", \"event_action\": \"{{event_action}}\", \"dedup_key\": \"{{incident_key}}\"}'"
            for region in ["us-east", "eu-west"] {
                let path = f.config + "/\(region).yaml"
                try
                    (try String(contentsOfFile: path, encoding: .utf8)
                    + "routing:\n  notify:\n    - name: chat\n      url: \"\(receiver.baseURL)/\(region)\"\n"
                    + "      body: \(body)\n      retries: 1\n      backoff: 10ms\n")
                    .write(toFile: path, atomically: true, encoding: .utf8)
                try f.start("s-\(region)", ["scheduler", "--region", region, "--node-id", "s-\(region)"])
            }
            _ = try await f.startAgent("us-east")
            let control = try await f.connectControl()
            try #require(await f.waitSteady(control, observers: 1))
            func sent() -> [[String: Any]] {
                receiver.requests.compactMap {
                    try? JSONSerialization.jsonObject(with: Data($0.bodyText.utf8)) as? [String: Any]
                }
            }
            await f.state.redis["us-east"]!.stop()
            // On a loaded machine a probe of the standby can time out and open an incident of its own
            // (with its own key); the one this test is about is the active region's.
            func isActiveIncident(_ body: [String: Any]) -> Bool {
                body["event"] as? String == "incident"
                    && (body["dedup_key"] as? String)?.hasPrefix("switchyard-us-east-") == true
            }
            let both = await f.waitUntil(timeout: .seconds(60)) {
                sent().contains { $0["event"] as? String == "failover" } && sent().contains(where: isActiveIncident)
            }
            try #require(both != nil, "\(sent())")
            let all = sent()
            // The failover carries the key of an incident that was open when it began (the two are sent
            // by different tasks, so their order at the receiver is not theirs to promise).
            let incident = try #require(all.first(where: isActiveIncident))
            let failover = try #require(all.first { $0["event"] as? String == "failover" })
            let key = try #require(incident["dedup_key"] as? String)
            #expect(incident["event_action"] as? String == "trigger")
            #expect(failover["dedup_key"] as? String == key, "\(all)")
            #expect(failover["event_action"] as? String == "trigger")
        }
    }
}
