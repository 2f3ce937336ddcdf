import Foundation
import SwitchyardCore
import Testing

@Suite("Hook templates and retry schedule")
struct HookTemplateTests {
    @Test func placeholdersAreFilledAndEscaped() {
        let values = HookValues(region: "eu-west", previousRegion: "us-\"east\"", epoch: 7, failoverId: 42)
        let body = values.render(
            "{\"region\":\"{{region}}\",\"previous\":\"{{previous_region}}\",\"epoch\":{{epoch}},\"id\":{{failover_id}}}"
        )
        #expect(body == "{\"region\":\"eu-west\",\"previous\":\"us-\\\"east\\\"\",\"epoch\":7,\"id\":42}")
        #expect(
            HookValues(region: "a", previousRegion: nil, epoch: 1, failoverId: 2).render("{{previous_region}}") == "")
    }

    @Test func backoffDoublesIsCappedAndJittered() {
        let d = { (attempt: Int, jitter: Double) in
            RetrySchedule.delay(
                beforeAttempt: attempt, backoff: .milliseconds(200), maxBackoff: .seconds(1), jitter: jitter)
        }
        #expect(d(1, 1) == .zero)
        #expect(d(2, 1) == .milliseconds(200))
        #expect(d(3, 1) == .milliseconds(400))
        #expect(d(4, 1) == .milliseconds(800))
        #expect(d(5, 1) == .seconds(1))
        #expect(d(40, 1) == .seconds(1))
        #expect(d(3, 0) == .milliseconds(200))  // jitter scales into [0.5, 1]
        #expect(d(3, 0.5) == .milliseconds(300))
    }
}
