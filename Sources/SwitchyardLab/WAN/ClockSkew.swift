import Foundation
import SwitchyardCore

/// One region's wall clock in the lab: ahead of the host's by an offset, as two hosts' clocks differ.
/// A region's daemons (scheduler nodes, workers, agent, and every command they start) read it through
/// libfaketime (Debian `faketime`); its databases keep the host's clock, as database hosts of their own
/// would. Monotonic clocks are left alone: each process measures durations on its own, and no process
/// compares its instants with another's.
///
/// Offsets are at or ahead of the host's and carry no rate: libfaketime stalls a Swift process whose
/// wall clock runs behind the real one or at another rate (its timed waits never wake; measured with
/// 0.9.10), so regions differ from each other in both directions by being ahead of the host by
/// different amounts, and a step back is the end of a step forward. Rate errors are the subject of
/// `failover.max_clock_drift` (`SafetyTiming`).
public struct ClockSkew: Codable, Sendable, Equatable, CustomStringConvertible {
    /// How far the region's wall clock is ahead of the host's, in milliseconds (never negative).
    public var offsetMs: Double

    /// A skew of `offsetMs` (at least 0).
    public init(offsetMs: Double) {
        self.offsetMs = max(0, offsetMs)
    }

    /// The same clock stepped by `step` (never behind the host's).
    public func stepped(by step: Duration) -> ClockSkew {
        ClockSkew(offsetMs: offsetMs + step.secondsDouble * 1000)
    }

    /// libfaketime's relative specification: `+1.500`.
    public var faketimeSpec: String { String(format: "%+.3f", offsetMs / 1000) }

    /// `+1.500s` (as `--clock-skew` takes them).
    public var description: String { String(format: "%+.3fs", offsetMs / 1000) }

    /// Parses an offset ahead of the host's clock with a unit: `+1.5s`, `250ms`, `0s`.
    public static func parse(_ text: String) throws -> ClockSkew {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        if trimmed.hasPrefix("-") {
            throw DevError(
                "a lab clock runs at or ahead of the host's (libfaketime stalls a Swift process whose clock runs behind): "
                    + "make the other regions ahead instead, found \"\(text)\"")
        }
        let magnitude = trimmed.hasPrefix("+") ? String(trimmed.dropFirst()) : trimmed
        if magnitude.hasSuffix("ms"), let value = Double(magnitude.dropLast(2)), value >= 0 {
            return ClockSkew(offsetMs: value)
        }
        if magnitude.hasSuffix("s"), let value = Double(magnitude.dropLast(1)), value >= 0 {
            return ClockSkew(offsetMs: value * 1000)
        }
        throw DevError("a clock offset is a number of s or ms (\"+1.5s\", \"250ms\"), found \"\(text)\"")
    }

    /// Parses `REGION=OFFSET[,REGION=OFFSET…]` (`--clock-skew eu-west=+1.5s,ap-south=+3.5s`).
    public static func parseList(_ text: String) throws -> [String: ClockSkew] {
        var clocks: [String: ClockSkew] = [:]
        for entry in text.split(separator: ",") {
            let pair = entry.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
            guard pair.count == 2, !pair[0].isEmpty else {
                throw DevError("--clock-skew takes REGION=OFFSET,…, found \"\(entry)\"")
            }
            clocks[pair[0]] = try parse(pair[1])
        }
        return clocks
    }
}

/// The lab's per-region clocks: a libfaketime specification file per region that its daemons' libfaketime
/// reads again every second, so a drill can step a region's clock while it runs.
public enum LabClocks {
    /// Debian's `faketime` wrapper. A bare `LD_PRELOAD` of libfaketime leaves a Swift binary with no
    /// command-line arguments (measured); through the wrapper they arrive.
    public static let wrapper = "/usr/bin/faketime"

    /// True when the wrapper is installed (`apt-get install faketime`).
    public static var available: Bool { FileManager.default.isExecutableFile(atPath: wrapper) }

    /// The region's clock file in a deployment.
    public static func file(directory: String, region: String) -> String {
        directory + "/clocks/\(region).faketime"
    }

    /// Writes the region's clock (atomically: libfaketime never reads half a file).
    public static func write(_ skew: ClockSkew, directory: String, region: String) throws {
        try FileManager.default.createDirectory(atPath: directory + "/clocks", withIntermediateDirectories: true)
        try (skew.faketimeSpec + "\n").write(
            toFile: file(directory: directory, region: region), atomically: true, encoding: .utf8)
    }

    /// The variables that keep a process on its region's clock; a daemon passes them on to its commands.
    public static let variables = [
        "LD_PRELOAD", "FAKETIME_TIMESTAMP_FILE", "FAKETIME_DONT_FAKE_MONOTONIC", "FAKETIME_CACHE_DURATION",
        "FAKETIME_SHARED",
    ]

    /// `program arguments…` run on the region's clock: `env` sets libfaketime's controls and execs the
    /// wrapper, which forks the daemon with libfaketime preloaded; `env -u FAKETIME` drops the wrapper's
    /// own fixed specification so the file is read (and read again every second).
    public static func command(_ program: String, _ arguments: [String], clockFile: String) -> (String, [String]) {
        (
            "/usr/bin/env",
            [
                "FAKETIME_TIMESTAMP_FILE=\(clockFile)", "FAKETIME_DONT_FAKE_MONOTONIC=1", "FAKETIME_CACHE_DURATION=1",
                wrapper, "-f", "+0", "/usr/bin/env", "-u", "FAKETIME", program,
            ] + arguments
        )
    }

    /// The daemon the wrapper (`pid`) forked: it is what signals must reach (the wrapper only waits for it
    /// and exits with it). Waits, bounded, for the fork.
    public static func daemon(ofWrapper pid: pid_t) -> pid_t? {
        let deadline = ContinuousClock.now + .seconds(5)
        while ContinuousClock.now < deadline {
            if let child = Processes.children(of: pid).first { return child }
            if !Processes.isAlive(pid) { return nil }
            usleep(10_000)
        }
        return nil
    }
}
