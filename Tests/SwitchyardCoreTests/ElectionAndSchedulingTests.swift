import Foundation
import SwitchyardCore
import Testing

@Suite("Leader deadline")
struct LeaderDeadlineTests {
    @Test func actsOnlyWithinStepDownAfterOfTheLastConfirmedSend() {
        let start = ContinuousClock.now
        var deadline = LeaderDeadline(stepDownAfter: .seconds(2))
        #expect(!deadline.allowsActing(at: start))
        deadline.confirm(sentAt: start)
        #expect(deadline.allowsActing(at: start + .milliseconds(1999)))
        #expect(!deadline.allowsActing(at: start + .seconds(2)))
        // An older confirmation arriving late never extends the deadline backwards or forwards.
        deadline.confirm(sentAt: start - .seconds(1))
        #expect(deadline.confirmedAt == start)
        deadline.confirm(sentAt: start + .seconds(1))
        #expect(deadline.allowsActing(at: start + .milliseconds(2999)))
        #expect(deadline.remaining(at: start + .seconds(2)) == .seconds(1))
        deadline.reset()
        #expect(!deadline.allowsActing(at: start + .seconds(1)))
        #expect(deadline.remaining(at: start) == .zero)
    }
}

@Suite("Schedule planner")
struct SchedulePlannerTests {
    let t0 = Date(timeIntervalSince1970: 1_700_000_000)  // 2023-11-14T22:13:20Z

    @Test func newDAGWaitsForItsFirstSlot() throws {
        let plan = SchedulePlanner.plan(schedule: .every(.seconds(10)), nextRunAfter: nil, now: t0)
        #expect(plan.due == nil)
        #expect(plan.next == Date(timeIntervalSince1970: 1_700_000_010))
    }

    @Test func dueSlotCreatesOneRunAndAdvances() {
        let slot = Date(timeIntervalSince1970: 1_700_000_010)
        let plan = SchedulePlanner.plan(
            schedule: .every(.seconds(10)), nextRunAfter: slot, now: slot.addingTimeInterval(3))
        #expect(plan.due == slot)
        #expect(plan.next == Date(timeIntervalSince1970: 1_700_000_020))
        let early = SchedulePlanner.plan(
            schedule: .every(.seconds(10)), nextRunAfter: slot, now: slot.addingTimeInterval(-1))
        #expect(early.due == nil && early.next == slot)
    }

    @Test func noCatchUpStormAfterDowntime() throws {
        let hourly = try DAGSchedule.parse("0 * * * *")
        let waiting = Date(timeIntervalSince1970: 1_699_999_200)  // 22:00Z
        let now = waiting.addingTimeInterval(3 * 86_400 + 1800)  // three days and a half hour later
        let plan = SchedulePlanner.plan(schedule: hourly, nextRunAfter: waiting, now: now)
        #expect(plan.due == waiting.addingTimeInterval(3 * 86_400))  // only the newest missed slot
        #expect(plan.next == waiting.addingTimeInterval(3 * 86_400 + 3600))
    }

    @Test func tinyIntervalAfterALongOutageStaysBounded() {
        let plan = SchedulePlanner.plan(
            schedule: .every(.seconds(1)), nextRunAfter: t0, now: t0.addingTimeInterval(30 * 86_400 + 0.5))
        #expect(plan.due == t0.addingTimeInterval(30 * 86_400))
    }

    @Test func manualDAGsNeverRun() {
        #expect(
            SchedulePlanner.plan(schedule: .manual, nextRunAfter: t0, now: t0.addingTimeInterval(99))
                == .init(due: nil, next: nil))
    }

    @Test func runIdsAreAFunctionOfTheSlot() {
        #expect(SchedulePlanner.runId(for: t0) == "scheduled__2023-11-14T22:13:20+00:00")
        #expect(SchedulePlanner.runId(for: t0) == SchedulePlanner.runId(for: t0.addingTimeInterval(0.4)))
        #expect(
            SchedulePlanner.manualRunId(at: t0.addingTimeInterval(0.25)) == "manual__2023-11-14T22:13:20.250000+00:00")
    }

    @Test func dispatchMessagesRoundTripAndRejectForeignEntries() {
        let m = DispatchMessage(region: "us-east", epoch: 7, dagId: "etl", runId: "scheduled__x", dispatchId: "d1")
        #expect(DispatchMessage(fields: Dictionary(uniqueKeysWithValues: m.fields)) == m)
        #expect(DispatchMessage(fields: ["hello": "world"]) == nil)
        #expect(
            DispatchMessage(fields: ["region": "r", "epoch": "x", "dag_id": "a", "run_id": "b", "dispatch_id": "c"])
                == nil)
        #expect(
            DispatchMessage(fields: ["region": "r", "epoch": "0", "dag_id": "a", "run_id": "b", "dispatch_id": "c"])
                == nil)
    }

    @Test func conninfoAppendingKeepsTheOperatorsStringAndAddsOurs() {
        let kv = ConnInfo.appending("host=a dbname=x", [("keepalives_idle", "2"), ("application_name", "sy o'k")])
        #expect(kv == "host=a dbname=x keepalives_idle='2' application_name='sy o\\'k'")
        let uri = ConnInfo.appending("postgresql://u@h/db?sslmode=prefer", [("keepalives", "1")])
        #expect(uri == "postgresql://u@h/db?sslmode=prefer&keepalives=1")
        #expect(
            ConnInfo.appending("postgres://h/db", [("connect_timeout", "2")]) == "postgres://h/db?connect_timeout=2")
    }
}
