import Foundation

/// The path of the running `switchyard` binary, for the helpers it spawns (exec-guard, daemons).
///
/// After an in-place upgrade the kernel reports the old inode as `/path/switchyard (deleted)`; the
/// path itself then holds the new binary, whose internal commands are the same interface, so a
/// long-running worker keeps starting commands across an upgrade instead of failing every run.
public enum SelfExecutable {
    /// The binary's path.
    public static var path: String {
        guard var link = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe") else {
            return CommandLine.arguments[0]
        }
        if link.hasSuffix(" (deleted)") { link = String(link.dropLast(" (deleted)".count)) }
        return link
    }
}
