import Foundation
import Postgres
import SwitchyardCore
import TestSupport
import Testing

@testable import SwitchyardRuntime

/// `ControlStore` owns the control database's statements; these check its records against a real
/// control database and its step results against their journal JSON.
@Suite("The control store")
struct ControlStoreTests {
    @Test func everyStepResultReadsBackAsWhatWasJournaled() throws {
        let hook = HookCaller.Result(
            name: "dns", url: "http://127.0.0.1:1/hook", required: true, succeeded: true, attempts: [])
        let report = RunMigrator.Report(
            from: "us-east", to: "eu-west", source: "table", dryRun: false, found: 3, copied: 3,
            alreadyPresent: 0, orphaned: [], columns: ["run_id"], durationMs: 12.5)
        let results: [StepResult] = [
            .begin(.init(epoch: 7, from: "us-east", to: "eu-west")),
            .fence(.init(fenced: false, leaseWaitedMs: 1500, reason: "connection refused")),
            .migrate(.skipped("no previous active region")),
            .migrate(.migrated(report)),
            .activate(.init(active: "eu-west", epoch: 7, dispatchHoldMs: 2250)),
            .route(.init(hooks: [hook])),
            .complete(.init(state: .completedWithErrors, notified: [hook])),
        ]
        for result in results {
            let json = try result.json()
            let decoded = try #require(StepResult.decode(result.step, json: json), "\(result.step): \(json)")
            #expect(try decoded.json() == json)
        }
        // What a journal written by hand or by an older version holds still reads.
        guard case .begin(let begin) = StepResult.decode(.begin, json: #"{"epoch": 2}"#) else {
            Issue.record("a begin result with only an epoch does not decode")
            return
        }
        #expect(begin == BeginResult(epoch: 2, from: nil, to: nil))
        #expect(StepResult.decode(.fence, json: "not json") == nil)
        #expect(StepResult.decode(.route, json: nil) == nil)
    }

    @Test func theJournalReadsBackAsTypedRecords() async throws {
        try await DevFixture.with(regions: 2, dags: "dags: []\n") { f in
            let control = try await f.connectControl()
            let before = try await ControlStore.cluster(control)
            #expect(before.activeRegion == "us-east")
            let (id, epoch) = try await control.transaction { c in
                let locked = try await ControlStore.lockCluster(c)
                return try await ControlStore.beginFailover(
                    c, locked: locked, kind: .switchover, from: "us-east", to: "eu-west", reason: "test",
                    leader: "tester", requestId: nil)
            }
            #expect(epoch == before.epoch + 1)
            #expect(try await ControlStore.runningFailoverId(control) == id)
            #expect(try await ControlStore.activeRegion(control) == nil)
            try await ControlStore.startStep(control, id: id, step: .fence)
            try await ControlStore.finishStep(
                control, id: id, result: .fence(.init(fenced: true, executionsStillRunning: 0)))

            let record = try #require(try await ControlStore.failover(control, id: id))
            #expect(record.kind == .switchover && record.state == .running && record.step == .migrate)
            #expect(
                record.fromRegion == "us-east" && record.toRegion == "eu-west" && record.epoch == epoch
                    && record.leader == "tester")
            let steps = try await ControlStore.steps(control, failover: id)
            // Finishing a step starts the next, in the same round trip.
            #expect(steps.map(\.step) == [.begin, .fence, .migrate])
            #expect(steps.last?.finishedAt == nil && steps[1].finishedAt != nil)
            guard case .begin(let begin) = steps.first?.result else {
                Issue.record("the begin step's result is not a BeginResult: \(String(describing: steps.first?.result))")
                return
            }
            #expect(begin == BeginResult(epoch: epoch, from: "us-east", to: "eu-west"))
            #expect(try await ControlStore.fenceResult(control, failover: id).0?.fenced == true)

            #expect(try await ControlStore.activate(control, region: "eu-west", epoch: epoch, failover: id))
            #expect(try await !ControlStore.activate(control, region: "eu-west", epoch: epoch - 1, failover: id))
            try await ControlStore.completeFailover(
                control, id: id, kind: .switchover, from: "us-east", to: "eu-west",
                state: .completed, error: nil)
            let done = try #require(try await ControlStore.failover(control, id: id))
            #expect(done.state == .completed && done.finishedAt != nil)
            #expect(try await ControlStore.runningFailoverId(control) == nil)
            #expect(try await ControlStore.latestFailoverId(control) == id)
            let latest = try await ControlStore.latestAndRunningFailovers(control)
            #expect(latest.latest?.id == id && latest.running == nil)
            #expect(latest.latest?.summary.state == "completed")

            // The events it wrote, in order, through the same store.
            let messages = try await ControlStore.events(control, after: 0).map(\.message)
            #expect(messages.contains("switchover \(id) begins: us-east -> eu-west at epoch \(epoch) (test)"))
            #expect(messages.contains("eu-west active at epoch \(epoch) (failover \(id))"))
            #expect(messages.last == "switchover \(id) completed: us-east -> eu-west")
        }
    }

    /// A queued request keeps its kind (a decision-checked `failover` was recorded as `forced` before
    /// control schema v4), and follows its failover's state.
    @Test func aQueuedRequestKeepsItsKind() async throws {
        try await DevFixture.with(regions: 2, dags: "dags: []\n") { f in
            let control = try await f.connectControl()
            for kind in FailoverKind.allCases {
                let id = try await ControlStore.enqueueRequest(
                    control, kind: kind, to: "eu-west", reason: "test \(kind)")
                let request = try #require(try await ControlStore.request(control, id: id))
                #expect(request.kind == kind && !request.picked && request.failoverId == nil)
            }
            let pending = try await ControlStore.pendingRequests(control)
            #expect(pending.map(\.kind) == FailoverKind.allCases)
            let first = try #require(pending.first)
            try await ControlStore.pickRequest(control, id: first.id)
            try await ControlStore.failRequest(control, id: first.id, "refused")
            let refused = try #require(try await ControlStore.request(control, id: first.id))
            #expect(refused.picked && refused.error == "refused")
            #expect(try await ControlStore.pendingRequests(control).count == FailoverKind.allCases.count - 1)
        }
    }
}
