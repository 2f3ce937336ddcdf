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
                + (active_before.map { ", active region before: `\($0)`" } ?? "")
                + (active_after.map { ", after: `\($0)`" } ?? ""))
        if let skipped { lines += ["", "Skipped: \(skipped)"] }
        lines.append("")
        lines.append("| figure | value |")
        lines.append("|---|---|")
        lines.append("| detection | \(ms(detect_ms)) |")
        lines.append("| fence | \(ms(fence_ms)) |")
        lines.append("| activation | \(ms(activate_ms)) |")
        lines.append("| RTO (last hook acknowledged) | \(ms(rto_ms)) |")
        lines.append("| failovers | \(failovers) |")
        lines.append("| runs in flight | \(runs_in_flight) |")
        lines.append("| runs lost | \(runs_lost) |")
        lines.append("| runs executed twice | \(runs_twice) |")
        lines.append("| runs executing in two regions at once | \(runs_overlapping) |")
        lines.append("| dual-leader time | \(ms(dual_leader_ms)) |")
        lines.append("| hook failures | \(hook_failures) |")
        if let failover {
            lines.append(
                "| failover | #\(failover.id) \(failover.kind) \(failover.from ?? "—") → \(failover.to), \(failover.state)"
                    + (failover.runs_moved.map { ", \($0) runs moved from \(failover.runs_source ?? "?")" } ?? "")
                    + " |")
        }
        if let totals {
            lines += ["", "## Totals", "", "| total | value |", "|---|---|"]
            lines.append("| faults | \(totals.faults) (skipped \(totals.skipped)) |")
            lines.append("| recovered | \(totals.recovered) |")
            lines.append("| failovers | \(totals.failovers) |")
            lines.append("| RTO median / worst | \(ms(totals.rto_median_ms)) / \(ms(totals.rto_worst_ms)) |")
            lines.append("| detection median | \(ms(totals.detect_median_ms)) |")
            lines.append(
                "| runs in flight / lost / twice | \(totals.runs_in_flight) / \(totals.runs_lost) / \(totals.runs_twice) |"
            )
            lines.append(
                "| dual-leader intervals (ms) | \(totals.dual_leader_intervals) (\(DrillExpectation.format(totals.dual_leader_ms))) |"
            )
            lines.append(
                "| faults by kind | \(totals.by_fault.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")) |"
            )
        }
        lines += ["", "## Expectations", "", "| expectation | bound | measured | held |", "|---|---|---|---|"]
        for e in expectations {
            lines.append(
                "| \(e.name) | \(e.bound) | \(e.measured.map(DrillExpectation.format) ?? "not measured") | "
                    + (e.held ? "yes" : "**no**" + (e.by.map { " (by \(DrillExpectation.format($0)))" } ?? "")) + " |")
        }
        if !dual_leader.isEmpty {
            lines += ["", "## Dual leaders", ""]
            lines += dual_leader.map { "- \($0)" }
        }
        if !timeline.isEmpty {
            lines += ["", "## Timeline", "", "| ms from fault | event |", "|---:|---|"]
            lines += timeline.map { "| \(DrillExpectation.format($0.at_ms)) | \($0.event) |" }
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
                    "| \(i + 1) | \(r.fault) | \(route) | \(ms(r.detect_ms)) | \(ms(r.rto_ms)) | \(r.runs_in_flight) | \(r.runs_lost) | "
                        + "\(r.runs_twice) | \(DrillExpectation.format(r.dual_leader_ms)) | \(r.skipped != nil ? "skipped" : r.passed ? "yes" : "**no**") |"
                )
            }
        }
        return lines.joined(separator: "\n") + "\n"
    }
}
