import Foundation
import Logging
import Postgres
import SwitchyardCore
import SwitchyardRuntime
import TestSupport
import Testing

@Suite("Decision input read from the control database")
struct DecisionInputTests {
    @Test func observationsBecomeTheDecisionInputWithDownSinceAndLag() async throws {
        try await DevFixture.with(regions: 3, dags: "dags: []\n") { f in
            let control = try await f.connectControl()
            try await control.simpleQuery(
                """
                -- Live agents were seen "in the future" so that a CI machine stalling this test for seconds
                -- between insert and read cannot make them stale: the test is about which views count.
                INSERT INTO switchyard.agents (observer, host, pid, last_seen)
                VALUES ('a', 'h', 1, now() + interval '1 minute'), ('b', 'h', 2, now() + interval '1 minute'),
                    ('stale', 'h', 3, now() - interval '1 hour');
                INSERT INTO switchyard.observations (observer, region, component, state, since, detail) VALUES
                    ('a', 'us-east', 'database', 'down', now() - interval '10 seconds', '{}'),
                    ('a', 'us-east', 'redis', 'healthy', now() - interval '1 hour', '{}'),
                    ('a', 'us-east', 'schedulers', 'down', now() - interval '4 seconds', '{}'),
                    ('b', 'us-east', 'database', 'healthy', now(), '{}'),
                    ('a', 'eu-west', 'database', 'healthy', now(), '{"in_recovery": true, "replication_lag_seconds": 2.5}'),
                    ('b', 'eu-west', 'database', 'healthy', now(), '{"in_recovery": true, "replication_lag_seconds": 0.75}'),
                    ('stale', 'eu-west', 'database', 'healthy', now(), '{"replication_lag_seconds": 0.01}');
                """)
            let configuration = try ConfigLoader.load(directory: f.config)
            let input = try await DecisionInputReader.read(control, configuration: configuration)
            #expect(input.activeRegion == "us-east")
            #expect(input.knownObservers == 3)
            let east = try #require(input.regions.first { $0.name == "us-east" })
            let a = try #require(east.observations.first { $0.observer == "a" })
            #expect(a.health == .down && a.live)
            // Down since the longest-down critical component.
            let downFor = input.now.timeIntervalSince(try #require(a.downSince))
            #expect(downFor > 9 && downFor < 12)
            #expect(east.observations.first { $0.observer == "stale" } == nil)
            // The freshest live observers' lowest reported lag; the stale observer's report is ignored.
            #expect(input.regions.first { $0.name == "eu-west" }?.replicationLag == 0.75)
            #expect(input.regions.first { $0.name == "ap-south" }?.replicationLag == nil)
        }
    }

    /// The leader spends a round trip on reconciliation only while a finished shadow-sourced failover
    /// waits for one: the count rides the decision's pipelined read.
    @Test func theLeadersReadCountsFailoversAwaitingReconciliation() async throws {
        try await DevFixture.with(regions: 2, dags: "dags: []\n") { f in
            let control = try await f.connectControl()
            let configuration = try ConfigLoader.load(directory: f.config)
            #expect(
                try await DecisionInputReader.readForLeader(control, configuration: configuration).unreconciled == 0)
            try await control.simpleQuery(
                """
                INSERT INTO switchyard.failovers (kind, from_region, to_region, reason, state, epoch, runs_source)
                VALUES ('failover', 'us-east', 'eu-west', 'from the shadow', 'completed', 2, 'shadow'),
                    ('failover', 'eu-west', 'us-east', 'from the database', 'completed', 3, 'database'),
                    ('failover', 'us-east', 'eu-west', 'still running', 'running', 4, 'shadow');
                """)
            let (input, unreconciled) = try await DecisionInputReader.readForLeader(
                control, configuration: configuration)
            #expect(unreconciled == 1)
            #expect(input.recentFailovers.count == 3)
            try await control.simpleQuery("UPDATE switchyard.failovers SET reconciled_at = now() WHERE epoch = 2")
            #expect(
                try await DecisionInputReader.readForLeader(control, configuration: configuration).unreconciled == 0)
        }
    }

    @Test func evidenceLagAndUpSinceReachTheDecision() async throws {
        try await DevFixture.with(regions: 3, dags: "dags: []\n") { f in
            let control = try await f.connectControl()
            // a and b find us-east refusing (positive evidence, down for 5 s); b declares itself lagging;
            // c finds us-east and eu-west silent since the same moment. eu-west came back from down for a and b only
            // 100 ms ago.
            try await control.simpleQuery(
                """
                INSERT INTO switchyard.agents (observer, host, pid, last_seen, lagging, lag_reason, lag_ms)
                VALUES ('a', 'h', 1, now() + interval '1 minute', false, NULL, NULL),
                    ('b', 'h', 2, now() + interval '1 minute', true, 'a 100 ms timer took 2900 ms of a 100 ms budget', 2800),
                    ('c', 'h', 3, now() + interval '1 minute', false, NULL, NULL);
                INSERT INTO switchyard.observations (observer, region, component, state, since, detail, evidence, up_since, failing_since) VALUES
                    ('a', 'us-east', 'database', 'down', now() - interval '5 seconds', '{}', 'positive', NULL, NULL),
                    ('b', 'us-east', 'database', 'down', now() - interval '5 seconds', '{}', 'positive', NULL, NULL),
                    ('c', 'us-east', 'database', 'down', now() - interval '5 seconds', '{}', 'silence', NULL, now() - interval '6500 milliseconds'),
                    ('a', 'eu-west', 'database', 'healthy', now() - interval '100 milliseconds', '{}', NULL, now() - interval '100 milliseconds', NULL),
                    ('b', 'eu-west', 'database', 'healthy', now() - interval '100 milliseconds', '{}', NULL, now() - interval '100 milliseconds', NULL),
                    ('c', 'eu-west', 'database', 'suspect', now() - interval '1 second', '{}', 'silence', now() - interval '1 hour', now() - interval '6 seconds'),
                    ('a', 'ap-south', 'database', 'healthy', now() - interval '1 hour', '{}', NULL, now() - interval '1 hour', NULL),
                    ('b', 'ap-south', 'database', 'healthy', now() - interval '1 hour', '{}', NULL, now() - interval '1 hour', NULL),
                    ('c', 'ap-south', 'database', 'healthy', now() - interval '1 hour', '{}', NULL, now() - interval '1 hour', NULL);
                """)
            var configuration = try ConfigLoader.load(directory: f.config)
            configuration.controlPlane.failover.cooldown = .zero
            let input = try await DecisionInputReader.read(control, configuration: configuration)
            #expect(input.laggingObservers["b"]?.contains("timer took 2900 ms") == true)
            #expect(input.laggingObservers["a"] == nil && input.laggingObservers["c"] == nil)
            let east = try #require(input.regions.first { $0.name == "us-east" })
            #expect(east.observations.first { $0.observer == "a" }?.evidence == .positive)
            #expect(east.observations.first { $0.observer == "c" }?.evidence == .silence)
            let westA = try #require(
                input.regions.first { $0.name == "eu-west" }?.observations.first { $0.observer == "a" })
            #expect(westA.health == .healthy)
            let healthyFor = input.now.timeIntervalSince(try #require(westA.upSince))
            #expect(healthyFor < 1)
            // b is lagging: its vote does not count, nor does its view confirm anyone's. c finds us-east and
            // eu-west silent since the same moment, but a (live, not lagging) finds us-east down too: c's silence
            // towards us-east is confirmed, a fact about us-east, and a vote. a and c: two of two needed, and
            // eu-west only just turned healthy, so ap-south is the target.
            let (_, discounted) = FailoverDecision.downVotes(east, input)
            #expect(discounted.contains { $0.contains("b lagging") } && !discounted.contains { $0.hasPrefix("c ") })
            guard case .failover(let target, let reason) = FailoverDecision.decide(input) else {
                Issue.record("expected a failover: \(FailoverDecision.decide(input))")
                return
            }
            #expect(target == "ap-south" && reason.contains("(a, c) on evidence and silence"), "\(target): \(reason)")
            // c's two silences began half a second apart: together. Had eu-west gone silent long before (a dark
            // standby), c's silence towards us-east would be a vote of its own.
            let westC = try #require(
                input.regions.first { $0.name == "eu-west" }?.observations.first { $0.observer == "c" })
            #expect(input.now.timeIntervalSince(try #require(westC.failingSince)) > 5.5)
            // Were a to find us-east healthy, no one live and unlagged would confirm c's silences: they are c's own
            // (or its network's) problem, discounted, and nothing fails over.
            try await control.query(
                "UPDATE switchyard.observations SET state = 'healthy', evidence = NULL, up_since = now() - interval '1 hour' WHERE observer = 'a' AND region = 'us-east'"
            )
            let alone = try await DecisionInputReader.read(control, configuration: configuration)
            guard case .stay(let why) = FailoverDecision.decide(alone) else {
                Issue.record("expected stay: \(FailoverDecision.decide(alone))")
                return
            }
            #expect(why.contains("b lagging") && why.contains("c finds 2 of 3 regions silent"), "\(why)")
            await control.close()
        }
    }

    @Test func anAutomaticFailoverBeginsOnlyWhenAFreshReadInsideTheTransactionConfirmsIt() async throws {
        try await DevFixture.with(regions: 2, dags: "dags: []\n") { f in
            let control = try await f.connectControl()
            let configuration = try ConfigLoader.load(directory: f.config)
            let executor = FailoverExecutor(configuration: configuration, leader: "test", logger: Logger(label: "test"))
            let confirm = DecisionInputReader.confirmation(target: "eu-west", configuration: configuration)
            func cluster() async throws -> (String?, Int, Int) {
                let row = try await control.query(
                    "SELECT active_region, epoch, (SELECT count(*) FROM switchyard.failovers) AS n FROM switchyard.cluster_state"
                ).first
                return (
                    try row?["active_region"].optional(String.self), try row?["epoch"].require(Int.self) ?? -1,
                    try row?["n"].require(Int.self) ?? -1
                )
            }
            let before = try await cluster()
            // The views a decision was made on are gone by the time the transaction reads them: two
            // observers now see us-east healthy. The failover is refused and nothing is written.
            try await control.simpleQuery(
                """
                INSERT INTO switchyard.agents (observer, host, pid, last_seen) VALUES
                    ('a', 'h', 1, now() + interval '1 minute'), ('b', 'h', 2, now() + interval '1 minute');
                INSERT INTO switchyard.observations (observer, region, component, state, since, detail, evidence, up_since) VALUES
                    ('a', 'us-east', 'database', 'healthy', now(), '{}', NULL, now()),
                    ('b', 'us-east', 'database', 'healthy', now(), '{}', NULL, now()),
                    ('a', 'eu-west', 'database', 'healthy', now() - interval '1 hour', '{}', NULL, now() - interval '1 hour'),
                    ('b', 'eu-west', 'database', 'healthy', now() - interval '1 hour', '{}', NULL, now() - interval '1 hour');
                """)
            do {
                _ = try await executor.begin(
                    control, kind: .failover, to: "eu-west", reason: "stale view", confirm: confirm)
                Issue.record("a failover began on a view the fresh read does not confirm")
            } catch let refusal as FailoverExecutor.Refusal {
                #expect(refusal.description.contains("not confirmed on a fresh read"), "\(refusal)")
            }
            let after = try await cluster()
            #expect(after.0 == before.0 && after.1 == before.1 && after.2 == before.2)
            // Still the quorum on the fresh read: it begins.
            try await control.simpleQuery(
                """
                UPDATE switchyard.observations SET state = 'down', since = now() - interval '5 seconds', evidence = 'positive', up_since = NULL
                WHERE region = 'us-east';
                """)
            let id = try await executor.begin(
                control, kind: .failover, to: "eu-west", reason: "confirmed", confirm: confirm)
            #expect(id > 0)
            #expect(try await cluster().1 == before.1 + 1)
            await control.close()
        }
    }
}
