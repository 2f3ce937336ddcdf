import Foundation
import Postgres
import SwitchyardCore
import SwitchyardRuntime
import Testing
import TestSupport

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
}
