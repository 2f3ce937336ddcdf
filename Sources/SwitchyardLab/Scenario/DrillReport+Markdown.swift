import SwitchyardCore
import SwitchyardRuntime

/// The Markdown form of a drill report: summary, expectations, timeline, and a campaign's rounds.
extension DrillReport {
    /// The report as Markdown.
    public var markdown: String {
        var lines: [String] = []
        func ms(_ value: Double?) -> String { value.map { "\(DrillExpectation.format($0)) ms" } ?? "—" }
        lines.append("# Drill report: \(scenario)")
        lines.append("")
        lines.append(
            "**\(skipped != nil ? "SKIPPED" : passed ? "PASSED" : "FAILED")** — fault `\(fault)`"
                + (activeBefore.map { ", active region before: `\($0)`" } ?? "")
                + (activeAfter.map { ", after: `\($0)`" } ?? ""))
        if let skipped { lines += ["", "Skipped: \(skipped)"] }
        lines.append("")
        lines.append("| figure | value |")
        lines.append("|---|---|")
        lines.append("| detection | \(ms(detectMs)) |")
        lines.append("| fence | \(ms(fenceMs)) |")
        lines.append("| activation | \(ms(activateMs)) |")
        lines.append("| RTO (last hook acknowledged) | \(ms(rtoMs)) |")
        lines.append("| failovers | \(failovers) |")
        lines.append("| runs in flight | \(runsInFlight) |")
        lines.append("| runs lost | \(runsLost) |")
        lines.append("| runs executed twice | \(runsTwice) |")
        if runsRerun > 0 {
            lines.append("| runs finished by the cut-off region and run again (at-least-once) | \(runsRerun) |")
        }
        lines.append("| runs executing in two regions at once | \(runsOverlapping) |")
        if let taskAttempts {
            lines.append("| task attempts (ledger) | \(taskAttempts) |")
            lines.append("| task instances in two regions at once | \(attemptsOverlapping ?? 0) |")
            lines.append("| task instances run again after finishing | \(tasksRerunAfterFinishing ?? 0) |")
            if let tasksRerunAfterShadowCopy {
                lines.append(
                    "| finished after the shadow's last copy, run again (at least once) | \(tasksRerunAfterShadowCopy) |"
                )
            }
            lines.append("| task instances never finished | \(tasksUnfinished ?? 0) |")
            lines.append("| last task finished | \(ms(lastTaskFinishedMs)) |")
        }
        lines.append("| dual-leader time | \(ms(dualLeaderMs)) |")
        lines.append("| hook failures | \(hookFailures) |")
        if let failover {
            lines.append(
                "| failover | #\(failover.id) \(failover.kind) \(failover.from ?? "—") → \(failover.to), \(failover.state)"
                    + (failover.runsMoved.map { ", \($0) runs moved from \(failover.runsSource ?? "?")" } ?? "")
                    + " |")
        }
        if let totals {
            lines += ["", "## Totals", "", "| total | value |", "|---|---|"]
            lines.append("| faults | \(totals.faults) (skipped \(totals.skipped)) |")
            lines.append("| recovered | \(totals.recovered) |")
            lines.append("| failovers | \(totals.failovers) |")
            lines.append("| false / missed failovers | \(totals.falseFailovers) / \(totals.missedFailovers) |")
            lines.append(
                "| RTO median / p99 / worst | \(ms(totals.rtoMedianMs)) / \(ms(totals.rtoP99Ms)) / \(ms(totals.rtoWorstMs)) |"
            )
            lines.append("| detection median | \(ms(totals.detectMedianMs)) |")
            lines.append(
                "| runs in flight / lost / twice | \(totals.runsInFlight) / \(totals.runsLost) / \(totals.runsTwice) |"
            )
            lines.append(
                "| dual-leader intervals (ms) | \(totals.dualLeaderIntervals) (\(DrillExpectation.format(totals.dualLeaderMs))) |"
            )
            lines.append(
                "| faults by kind | \(totals.byFault.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")) |"
            )
        }
        lines += ["", "## Expectations", "", "| expectation | bound | measured | held |", "|---|---|---|---|"]
        for e in expectations {
            lines.append(
                "| \(e.name) | \(e.bound) | \(e.measured.map(DrillExpectation.format) ?? "not measured") | "
                    + (e.held ? "yes" : "**no**" + (e.by.map { " (by \(DrillExpectation.format($0)))" } ?? "")) + " |")
        }
        if !dualLeader.isEmpty {
            lines += ["", "## Dual leaders", ""]
            lines += dualLeader.map { "- \($0)" }
        }
        if !timeline.isEmpty {
            lines += ["", "## Timeline", "", "| ms from fault | event |", "|---:|---|"]
            lines += timeline.map { "| \(DrillExpectation.format($0.atMs)) | \($0.event) |" }
        }
        if let rounds, !rounds.isEmpty {
            lines += [
                "", "## Rounds", "",
                "| # | fault | from → to | detect | RTO | in flight | lost | twice | dual | held |",
                "|---:|---|---|---:|---:|---:|---:|---:|---:|---|",
            ]
            for (i, r) in rounds.enumerated() {
                let route = r.failover.map { "\($0.from ?? "—") → \($0.to)" } ?? "—"
                lines.append(
                    "| \(i + 1) | \(r.fault) | \(route) | \(ms(r.detectMs)) | \(ms(r.rtoMs)) | \(r.runsInFlight) | \(r.runsLost) | "
                        + "\(r.runsTwice) | \(DrillExpectation.format(r.dualLeaderMs)) | \(r.skipped != nil ? "skipped" : r.passed ? "yes" : "**no**") |"
                )
            }
        }
        return lines.joined(separator: "\n") + "\n"
    }
}
