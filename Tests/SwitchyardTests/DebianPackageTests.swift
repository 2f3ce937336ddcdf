import Foundation
import SwitchyardLab
import TestSupport
import Testing

/// Installing Switchyard does no harm to the host: building needs no server, and the Debian package installs,
/// upgrades and purges with `dpkg` without starting, stopping or disabling anything.
@Suite("Installing Switchyard: dependencies by purpose and the Debian package", .serialized)
struct DebianPackageTests {
    /// Packages that run a server when installed the distribution's way.
    static let servers = [
        "postgresql", "postgresql-15", "redis-server", "redis", "nginx", "nginx-light", "prometheus", "etcd-server",
    ]

    static func packages(_ purpose: String) async throws -> (required: [String], optional: [String]) {
        let list = try await OperatorKit.shell("'\(OperatorKit.root)/scripts/install-deps.sh' --list \(purpose)")
        try #require(list.status == 0, "\(list.output)")
        func field(_ name: String) -> [String] {
            let line = list.output.split(separator: "\n").first { $0.hasPrefix(name + ":") } ?? ""
            return line.dropFirst(name.count + 1).split(separator: " ").map(String.init)
        }
        return (field("required"), field("optional"))
    }

    @Test func buildingAndInstallingNeedNoServerWhileTheDemoAndTestsHaveTheirs() async throws {
        for purpose in ["build", "runtime"] {
            let (required, optional) = try await Self.packages(purpose)
            #expect(!required.isEmpty, "\(purpose)")
            let servers = (required + optional).filter { Self.servers.contains($0) }
            #expect(servers.isEmpty, "\(purpose) would install the servers \(servers)")
        }
        for purpose in ["demo", "test"] {
            let required = try await Self.packages(purpose).required
            #expect(required.contains("postgresql") && required.contains("redis-server"), "\(purpose): \(required)")
        }
        let unknown = try await OperatorKit.shell("'\(OperatorKit.root)/scripts/install-deps.sh' --list everything")
        #expect(unknown.status == 2, "\(unknown.output)")
        // What `make install` and `make deb` would run: the build's dependencies, and nothing that stops, starts
        // or disables a service.
        for target in ["install", "deb", "release"] {
            let plan = try await OperatorKit.shell("make --no-print-directory -n -C '\(OperatorKit.root)' \(target)")
            try #require(plan.status == 0, "\(plan.output)")
            #expect(plan.output.contains("scripts/install-deps.sh build"), "make \(target): \(plan.output)")
            for forbidden in ["install-deps.sh test", "install-deps.sh demo", "systemctl", "service "] {
                #expect(!plan.output.contains(forbidden), "make \(target) runs \(forbidden): \(plan.output)")
            }
        }
        // The binary's version is the repository's, which names the package.
        let version = try String(contentsOfFile: OperatorKit.root + "/VERSION", encoding: .utf8)
        let reported = try await OperatorKit.shell("'\(SwitchyardBinary.path)' --version")
        #expect(
            reported.output.trimmingCharacters(in: .whitespacesAndNewlines)
                == version.trimmingCharacters(in: .whitespacesAndNewlines))
        // The runtime purpose is what the release binary really links, as dpkg-shlibdeps resolves it.
        let linked = try await OperatorKit.shell(
            "ldd '\(SwitchyardBinary.path)' | awk '{print $3}' | grep ^/ | while read f; do dpkg -S \"$f\" 2>/dev/null"
                + " || dpkg -S \"/usr$f\" 2>/dev/null; done | cut -d: -f1 | sort -u"
        )
        let runtime = try await Self.packages("runtime").required
        for library in ["libpq5", "libhiredis0.14", "libcurl4"] {
            #expect(linked.output.split(separator: "\n").contains(Substring(library)), "\(library): \(linked.output)")
            #expect(runtime.contains(library))
        }
    }

    /// Cleanup that must run from a `defer`, where nothing can be awaited.
    static func runNow(_ program: String, _ arguments: [String]) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: program)
        process.arguments = arguments
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        guard (try? process.run()) != nil else { return }
        process.waitUntilExit()
    }

    /// What a package install could disturb on this host, read before and after.
    struct HostServers: Equatable {
        var harnessPostgres: Int32?
        var harnessRedis: Int32?
        /// `service <name> status` exit codes of the distribution's servers.
        var services: [String: Int32]
        /// Processes running the packaged binary.
        var packagedProcesses: Int
        /// Units named switchyard* that systemd knows as loaded or active (only where systemd runs).
        var units: String

        static func read(postgres: TestPostgres, redis: LocalRedis) async throws -> HostServers {
            var services: [String: Int32] = [:]
            for name in ["postgresql", "redis-server", "nginx", "prometheus"] {
                services[name] = try await OperatorKit.shell("service \(name) status >/dev/null").status
            }
            let processes = try await OperatorKit.shell(
                "for p in /proc/[0-9]*; do readlink \"$p/exe\"; done 2>/dev/null | grep -c '^/usr/bin/switchyard' || true"
            )
            let units =
                FileManager.default.fileExists(atPath: "/run/systemd/system")
                ? try await OperatorKit.shell("systemctl list-units --all --no-legend 'switchyard*'").output : ""
            return HostServers(
                harnessPostgres: postgres.pid, harnessRedis: redis.pid, services: services,
                packagedProcesses: Int(processes.output.trimmingCharacters(in: .whitespacesAndNewlines)) ?? -1,
                units: units)
        }
    }

    @Test(
        .enabled(if: geteuid() == 0, "installs a package with dpkg: needs root"),
        .timeLimit(.minutes(5)))
    func thePackageInstallsUpgradesAndPurgesWithoutTouchingAServer() async throws {
        for (tool, package) in [("dpkg-deb", "dpkg"), ("dpkg-shlibdeps", "dpkg-dev"), ("fakeroot", "fakeroot")] {
            try await OperatorKit.require(tool, package: package)
        }
        // Never on a host where an operator installed Switchyard: this test removes the package.
        let present = try await OperatorKit.shell("dpkg-query -W -f='${Status}' switchyard")
        try #require(
            !present.output.contains("install ok installed"), "a switchyard package is installed here; not touching it")
        let userBefore = try await OperatorKit.shell("getent passwd switchyard").status == 0
        let stage = NSTemporaryDirectory() + "switchyard-deb-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: stage) }
        let version = try String(contentsOfFile: OperatorKit.root + "/VERSION", encoding: .utf8)
            .trimmingCharacters(in: .whitespacesAndNewlines)
        // Two versions of the package around the binary this suite built (a release build would add minutes to
        // the suite; `make deb` packages the static release binary the same way).
        var debs: [String] = []
        for v in [version + "~test1", version + "~test2"] {
            let build = try await OperatorKit.shell(
                "'\(OperatorKit.root)/scripts/build-deb.sh' --binary '\(SwitchyardBinary.path)' --version '\(v)'"
                    + " --out '\(stage)' --compression gzip --level 1")
            try #require(build.status == 0, "\(build.output)")
            debs.append(try #require(build.output.split(separator: "\n").last.map(String.init)))
        }
        let info = try await OperatorKit.shell("dpkg-deb --info '\(debs[0])'; dpkg-deb --contents '\(debs[0])'")
        for expected in [
            "Depends: ", "libpq5", "libhiredis0.14", "libcurl4", "./usr/bin/switchyard",
            "./lib/systemd/system/switchyard-agent@.service", "./usr/lib/sysusers.d/switchyard.conf",
            "./usr/lib/tmpfiles.d/switchyard.conf", "./etc/switchyard/switchyard.env.example",
            "./usr/share/doc/switchyard/copyright",
        ] {
            #expect(info.output.contains(expected), "\(expected) not in the package: \(info.output)")
        }
        // lintian: no error. The one this suite's debug binary brings (its RUNPATH into the toolchain) is the
        // debug build's; the static release binary `make deb` packages has none.
        if try await OperatorKit.shell("command -v lintian").status == 0 {
            let lint = try await OperatorKit.shell("lintian '\(debs[0])'")
            let errors = lint.output.split(separator: "\n").filter {
                $0.hasPrefix("E:") && !$0.contains("custom-library-search-path RUNPATH /opt/swift")
            }
            #expect(errors.isEmpty, "lintian: \(lint.output)")
        } else {
            try await OperatorKit.require("lintian", package: "lintian")
        }
        // The man page names every command the binary has.
        let help = try await OperatorKit.shell("'\(SwitchyardBinary.path)' --help")
        let manual = try await OperatorKit.shell(
            "dpkg-deb --fsys-tarfile '\(debs[0])' | tar -xO ./usr/share/man/man1/switchyard.1.gz | gzip -d")
        let commands =
            help.output.components(separatedBy: "SUBCOMMANDS:").last?.split(separator: "\n")
            .compactMap { line -> String? in
                guard line.hasPrefix("  "), !line.hasPrefix("   ") else { return nil }
                return line.split(separator: " ").first.map(String.init)
            } ?? []
        #expect(commands.count >= 15, "\(help.output)")
        for command in commands where command != "See" {
            #expect(
                manual.output.contains(".B " + command.replacingOccurrences(of: "-", with: "\\-")),
                "man page: \(command)")
        }
        #expect(manual.output.contains("switchyard \(version)~test1"))
        let conffiles = try await OperatorKit.shell("dpkg-deb --ctrl-tarfile '\(debs[0])' | tar -xO ./conffiles")
        #expect(conffiles.output.contains("/etc/switchyard/switchyard.env.example"), "\(conffiles.output)")

        let postgres = try await TestServers.shared.postgres()
        let redis = try await TestServers.shared.redis()
        let before = try await HostServers.read(postgres: postgres, redis: redis)
        #expect(before.packagedProcesses == 0)

        var installed = false
        defer {
            if installed {
                Self.runNow("/usr/bin/dpkg", ["--purge", "switchyard"])
            }
            if !userBefore {
                Self.runNow("/usr/sbin/userdel", ["switchyard"])
            }
        }
        // Install.
        let install = try await OperatorKit.shell("dpkg -i '\(debs[0])'")
        installed = true
        try #require(install.status == 0, "\(install.output)")
        #expect(try await HostServers.read(postgres: postgres, redis: redis) == before, "installing touched a server")
        let binary = try await OperatorKit.shell("/usr/bin/switchyard --version")
        #expect(binary.output.trimmingCharacters(in: .whitespacesAndNewlines) == version, "\(binary.output)")
        let user = try await OperatorKit.shell("getent passwd switchyard")
        #expect(user.output.contains(":/var/lib/switchyard:/usr/sbin/nologin"), "\(user.output)")
        let state = try await OperatorKit.shell("stat -c '%U %G %a' /var/lib/switchyard")
        #expect(state.output.trimmingCharacters(in: .whitespacesAndNewlines) == "switchyard switchyard 750")
        let unit = try String(contentsOfFile: "/lib/systemd/system/switchyard-agent@.service", encoding: .utf8)
        #expect(unit.contains("ExecStart=/usr/bin/switchyard agent --config /etc/switchyard/regions"))
        #expect(!unit.contains("/usr/local/bin"))

        // The operator edits a conffile and writes their own configuration; the upgrade keeps both.
        let example = "/etc/switchyard/switchyard.env.example"
        try (try String(contentsOfFile: example, encoding: .utf8) + "\n# edited by the operator\n")
            .write(toFile: example, atomically: true, encoding: .utf8)
        try "SWITCHYARD_API_TOKEN=operator-owned\n".write(
            toFile: "/etc/switchyard/switchyard.env", atomically: true, encoding: .utf8)
        let upgrade = try await OperatorKit.shell("dpkg -i --force-confold '\(debs[1])'")
        try #require(upgrade.status == 0, "\(upgrade.output)")
        let status = try await OperatorKit.shell("dpkg-query -W -f='${Version}' switchyard")
        #expect(status.output == version + "~test2")
        #expect(try String(contentsOfFile: example, encoding: .utf8).contains("# edited by the operator"))
        #expect(FileManager.default.fileExists(atPath: "/etc/switchyard/switchyard.env"))
        #expect(try await HostServers.read(postgres: postgres, redis: redis) == before, "upgrading touched a server")

        // Purge: the package's files and state go; the operator's own file stays.
        let purge = try await OperatorKit.shell("dpkg --purge switchyard")
        try #require(purge.status == 0, "\(purge.output)")
        installed = false
        for gone in [
            "/usr/bin/switchyard", "/lib/systemd/system/switchyard-agent@.service", example, "/var/lib/switchyard",
            "/usr/lib/sysusers.d/switchyard.conf",
        ] {
            #expect(!FileManager.default.fileExists(atPath: gone), "\(gone) survived the purge")
        }
        #expect(
            FileManager.default.fileExists(atPath: "/etc/switchyard/switchyard.env"),
            "purge removed the operator's file")
        try? FileManager.default.removeItem(atPath: "/etc/switchyard")
        #expect(try await HostServers.read(postgres: postgres, redis: redis) == before, "purging touched a server")
        // The harness's own servers still answer.
        let connection = try await postgres.connect()
        _ = try await connection.query("SELECT 1")
        await connection.close()
    }
}
