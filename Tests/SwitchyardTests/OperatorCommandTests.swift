import Foundation
import Postgres
import SwitchyardRuntime
import TestSupport
import Testing

@Suite("pause, resume and history through the binary", .serialized)
struct OperatorCommandTests {
    @Test func pauseResumeAndHistory() async throws {
        try await DevFixture.with(regions: 2, dags: fastDAGs) { f in
            let control = try await f.connectControl()
            func paused() async throws -> Bool {
                try await control.query("SELECT paused FROM switchyard.cluster_state").first?["paused"].require(
                    Bool.self) ?? false
            }
            #expect(
                try await SwitchyardBinary.run(["pause", "--config", f.config, "--reason", "maintenance"]).output
                    .contains("paused"))
            #expect(try await paused())
            #expect(try await SwitchyardBinary.run(["pause", "--config", f.config]).output.contains("already paused"))
            #expect(try await SwitchyardBinary.run(["resume", "--config", f.config]).status == 0)
            #expect(try await !paused())
            let events = try await control.query(
                "SELECT message FROM switchyard.events WHERE kind IN ('paused', 'resumed') ORDER BY id"
            ).rows
                .map { try $0["message"].require(String.self) }
            #expect(events == ["automatic failover paused: maintenance", "automatic failover resumed: operator"])

            #expect(
                try await SwitchyardBinary.run(["history", "--config", f.config]).output.contains("no failovers yet"))
            // A journal as the failover executor writes it.
            let id =
                try await control.query(
                    """
                    INSERT INTO switchyard.failovers (kind, from_region, to_region, reason, state, step, epoch, runs_moved, runs_source, finished_at)
                    VALUES ('forced', 'us-east', 'eu-west', 'drill', 'completed', 'complete', 2, 5, 'table', now()) RETURNING id
                    """
                ).first?["id"].require(Int.self) ?? 0
            try await control.query(
                """
                INSERT INTO switchyard.failover_steps (failover_id, step, started_at, finished_at, result)
                VALUES ($1, 'begin', now() - interval '2 seconds', now() - interval '1 second', '{"epoch": 2}'),
                       ($1, 'fence', now() - interval '1 second', now(), '{"fenced": true}')
                """, [.int(id)])
            let history = try await SwitchyardBinary.run(["history", "--config", f.config, "--json"])
            #expect(history.status == 0, "\(history.errors)")
            let text = history.output
            #expect(text.contains("\"to_region\" : \"eu-west\""))
            #expect(text.contains("\"runs_moved\" : 5"))
            #expect(text.contains("\"step\" : \"fence\""))
            let table = try await SwitchyardBinary.run(["history", "--config", f.config]).output
            #expect(table.contains("#\(id) forced us-east -> eu-west completed (drill)"))
        }
    }
}
