import ArgumentParser
import Foundation
import SwitchyardCore
import SwitchyardSimulation

extension BenchCommand {
    /// `switchyard bench simulate`: the failover decision under deterministic simulation.
    struct Simulate: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract:
                "Run seeded schedules of a simulated world through the real detection and decision code; prints JSON.",
            discussion: """
                Each seed makes a world within the documented assumptions (docs/geography.md): regions, their \
                observers, link delays and losses, crashes, hangs, dark regions, partitions, observer pauses \
                and cut-offs, clock drift. Every run is checked for no harm (no failover of a healthy active \
                region), a good target and liveness (a failover within the detection bound when one is due). \
                --replay SEED reruns one seed, shrinks it to the faults that matter and prints its trace; \
                --regression SEED prints that shrunk schedule as JSON for \
                Tests/SwitchyardSimulationTests/Regressions/.
                """)
        @Option(help: "Schedules to run.") var schedules = 100_000
        @Option(help: "The first seed (each schedule takes the next).") var seed: UInt64 = 1
        @Option(help: "Re-introduce a known bug: \(Simulator.Mutant.allCases.map(\.rawValue).joined(separator: ", ")).")
        var mutant: String?
        @Flag(help: "Generate worlds beyond the assumptions (longer pauses, slower and lossier links).")
        var beyond = false
        @Option(help: "Stop once this many schedules broke an invariant.") var stopAfter: Int?
        @Option(help: "Worker threads (default: every core).") var workers: Int?
        @Option(help: "Rerun one seed, shrink it, and print its trace.") var replay: UInt64?
        @Option(help: "Print one seed's shrunk schedule as a regression test file.") var regression: UInt64?

        func run() throws {
            var chosen: Simulator.Mutant?
            if let mutant {
                guard let m = Simulator.Mutant(rawValue: mutant) else {
                    throw ValidationError(
                        "--mutant: no mutant named \(mutant) (\(Simulator.Mutant.allCases.map(\.rawValue).joined(separator: ", ")))"
                    )
                }
                chosen = m
            }
            let campaign = Campaign(
                firstSeed: seed, schedules: schedules, mutant: chosen, beyond: beyond, stopAfter: stopAfter)
            if let one = replay ?? regression {
                let shrunk = campaign.simulator(seed: one).shrunk()
                if regression != nil {
                    try Output.json(Regression(mutant: chosen?.rawValue, schedule: shrunk.schedule))
                    return
                }
                let result = shrunk.traced().run()
                try Output.json(result)
                return
            }
            try Output.json(campaign.run(workers: workers ?? ProcessInfo.processInfo.activeProcessorCount))
        }
    }
}

/// A shrunk schedule kept as a regression test: it must break nothing on main.
struct Regression: Codable {
    var mutant: String?
    var schedule: Schedule
}
