import Foundation
import SwitchyardCore
import SwitchyardRuntime

/// The initdb'd template cluster every local cluster is copied from, made once per machine.
public enum PostgresTemplate {
    /// Where Postgres's server programs are: `$SWITCHYARD_PG_BIN`, the newest
    /// `/usr/lib/postgresql/N/bin`, or `pg_ctl` on PATH.
    public static func binaries() throws -> String {
        let fm = FileManager.default
        if let configured = ProcessInfo.processInfo.environment["SWITCHYARD_PG_BIN"] { return configured }
        if let versions = try? fm.contentsOfDirectory(atPath: "/usr/lib/postgresql") {
            for version in versions.compactMap(Int.init).sorted(by: >) {
                let bin = "/usr/lib/postgresql/\(version)/bin"
                if fm.isExecutableFile(atPath: bin + "/initdb") { return bin }
            }
        }
        if let pgCtl = Subprocess.which("pg_ctl") { return (pgCtl as NSString).deletingLastPathComponent }
        throw DevError("PostgreSQL server programs not found: install postgresql (apt-get install postgresql)")
    }

    /// The template's directory: `$SWITCHYARD_PG_TEMPLATE`, else under /var/tmp, keyed by version.
    static func location(bin: String) -> String {
        if let configured = ProcessInfo.processInfo.environment["SWITCHYARD_PG_TEMPLATE"] { return configured }
        let version = bin.split(separator: "/").dropLast().last.map(String.init) ?? "pg"
        return "/var/tmp/switchyard-pg-template-\(version)-uid\(geteuid())"
    }

    /// Makes the template if it does not exist yet and returns its path. Safe against concurrent callers:
    /// the template is built in a private directory and renamed into place.
    public static func ensure() async throws -> String {
        let bin = try binaries()
        let target = location(bin: bin)
        let fm = FileManager.default
        if fm.fileExists(atPath: target + "/PG_VERSION") { return target }
        let staging = target + ".building-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try fm.createDirectory(atPath: staging, withIntermediateDirectories: true)
        if Subprocess.isRoot { try await Subprocess.run("/bin/chown", ["postgres:postgres", staging]) }
        try await Subprocess.run(
            bin + "/initdb",
            [
                "-D", staging, "-U", LocalPostgres.user, "--auth=trust", "-E", "UTF8", "--locale=C.UTF-8", "--no-sync",
                "--no-instructions",
            ],
            asUser: Subprocess.isRoot ? "postgres" : nil)
        if rename(staging, target) != 0 {
            // Another process won the race: use its template.
            try? fm.removeItem(atPath: staging)
            guard fm.fileExists(atPath: target + "/PG_VERSION") else {
                throw DevError("could not install the Postgres template at \(target)")
            }
        }
        return target
    }
}

/// A failure of the local deployment, with a message for the operator.
public struct DevError: Error, CustomStringConvertible {
    /// What went wrong and what to do.
    public var description: String
    /// Creates an error.
    public init(_ description: String) { self.description = description }
}
