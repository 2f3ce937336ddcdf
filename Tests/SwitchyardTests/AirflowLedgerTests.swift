import Foundation
import SwitchyardLab
import Testing

/// The drill DAG's ledger judged without Airflow: lines as the DAG writes them, the verdicts the drill
/// reports.
@Suite("the Airflow drill ledger")
struct AirflowLedgerTests {
    /// One ledger line; `s` is seconds on both clocks (boot clock in nanoseconds).
    func line(_ event: String, _ run: String, _ task: String, try attempt: Int = 1, _ region: String, _ s: Double)
        -> String
    {
        """
        {"event": "\(event)", "dag": "switchyard_drill", "run": "\(run)", "task": "\(task)", "try": \(attempt), \
        "region": "\(region)", "at": \(1_800_000_000 + s), "boot_ns": \(Int64(s * 1e9))}
        """
    }

    /// An attempt from `from` to `to` seconds, beating every 250 ms, finished when `ends`.
    func attempt(
        _ run: String, _ task: String, try attempt: Int = 1, _ region: String, from: Double, to: Double,
        ends: Bool = true
    ) -> [String] {
        var lines = [line("start", run, task, try: attempt, region, from)]
        var at = from + 0.25
        while at < to {
            lines.append(line("beat", run, task, try: attempt, region, at))
            at += 0.25
        }
        if ends { lines.append(line("end", run, task, try: attempt, region, to)) }
        return lines
    }

    @Test func aCleanMoveHasNothingTwiceNothingAgainNothingLeft() {
        let lines =
            attempt("r1", "extract", "east", from: 0, to: 2)
            + attempt("r1", "transform", "east", from: 3, to: 5, ends: false)  // cut off at 5 s
            + attempt("r1", "transform", try: 2, "west", from: 9, to: 17)  // the next try, after the hold
            + attempt("r1", "load", try: 1, "west", from: 18, to: 20)
        let ledger = AirflowLedger(contents: lines.joined(separator: "\n"))
        #expect(ledger.attempts.count == 4)
        #expect(ledger.overlapping.isEmpty)
        #expect(ledger.rerunAfterFinishing.isEmpty)
        #expect(ledger.unfinished(runs: ["r1"], tasks: ["extract", "transform", "load"]).isEmpty)
        #expect(ledger.firstStart(in: "west", after: Date(timeIntervalSince1970: 1_800_000_000 + 6)) != nil)
        #expect(ledger.lastFinished == Date(timeIntervalSince1970: 1_800_000_020))
    }

    @Test func anAttemptStartedWhileACutOffOneStillBeatIsOverlapping() {
        // The old attempt's last beat is at 7.75 s; the target starts at 7.9 s, inside the beat slack.
        let lines =
            attempt("r1", "transform", "east", from: 0, to: 7.8, ends: false)
            + attempt("r1", "transform", try: 2, "west", from: 7.9, to: 16)
        let ledger = AirflowLedger(contents: lines.joined(separator: "\n"))
        #expect(ledger.overlapping == ["r1/transform"])
        #expect(ledger.rerunAfterFinishing.isEmpty)
    }

    @Test func anAttemptAfterOneThatFinishedIsARerunAndOneNeverFinishedIsCounted() {
        let lines =
            attempt("r1", "transform", "east", from: 0, to: 8)  // finished its work in the old region
            + attempt("r1", "transform", try: 2, "west", from: 20, to: 28)  // and ran again in the target
            + attempt("r2", "extract", "east", from: 0, to: 1, ends: false)
            + ["not json", line("beat", "r9", "extract", "east", 3)]
        let ledger = AirflowLedger(contents: lines.joined(separator: "\n"), runs: ["r1", "r2"])
        #expect(ledger.rerunAfterFinishing == ["r1/transform"])
        #expect(ledger.overlapping.isEmpty)
        #expect(
            ledger.unfinished(runs: ["r1", "r2"], tasks: ["extract", "transform"]) == [
                "r1/extract", "r2/extract", "r2/transform",
            ])
        #expect(!ledger.attempts.contains { $0.run == "r9" })
    }

    /// Moved from the shadow: a task that finished before its last copy and ran again is a fault; one that
    /// finished after it ran again because no copy could know (at least once), counted apart.
    @Test func aRerunAfterTheShadowsLastCopyIsCountedApart() {
        let lines =
            attempt("r1", "extract", "east", from: 0, to: 2)  // finished, then copied at 5 s
            + attempt("r1", "extract", try: 2, "west", from: 20, to: 22)  // and ran again: a fault
            + attempt("r2", "transform", "east", from: 0, to: 8)  // finished after the copy
            + attempt("r2", "transform", try: 2, "west", from: 20, to: 28)
        let ledger = AirflowLedger(contents: lines.joined(separator: "\n"))
        let split = ledger.rerun(finishedBy: Date(timeIntervalSince1970: 1_800_000_005))
        #expect(split.rerun == ["r1/extract"] && split.afterCopy == ["r2/transform"])
        #expect(ledger.rerun(finishedBy: nil).rerun == ["r1/extract", "r2/transform"])
    }
}
