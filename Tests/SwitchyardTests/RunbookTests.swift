import Foundation
import TestSupport
import Testing

/// Every `switchyard …` command shown in a runbook (or the README) is one the CLI accepts.
@Suite("Runbook commands parse")
struct RunbookTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    /// Command lines inside fenced code blocks whose program is `switchyard` (any path to it).
    static func commands(in file: String) -> [(line: Int, arguments: [String])] {
        guard let text = try? String(contentsOfFile: file, encoding: .utf8) else { return [] }
        var inBlock = false
        var found: [(Int, [String])] = []
        for (index, raw) in text.components(separatedBy: "\n").enumerated() {
            let line = raw.trimmingCharacters(in: .whitespaces)
            if line.hasPrefix("```") { inBlock.toggle(); continue }
            guard inBlock else { continue }
            let words = shellWords(line.components(separatedBy: " | ")[0].components(separatedBy: " > ")[0])
            guard let program = words.first, program == "switchyard" || program.hasSuffix("/switchyard") else {
                continue
            }
            found.append((index + 1, Array(words.dropFirst())))
        }
        return found
    }

    /// Splits like a shell: quotes group, `$VAR` stays as written.
    static func shellWords(_ line: String) -> [String] {
        var words: [String] = [], current = "", quote: Character?
        var started = false
        for c in line {
            if let q = quote {
                if c == q { quote = nil } else { current.append(c) }
            } else if c == "\"" || c == "'" {
                quote = c; started = true
            } else if c == " " {
                if started || !current.isEmpty { words.append(current) }
                current = ""; started = false
            } else if c == "#" && current.isEmpty && !started {
                break
            } else {
                current.append(c)
            }
        }
        if started || !current.isEmpty { words.append(current) }
        return words
    }

    static var files: [String] {
        let runbooks = root.appendingPathComponent("runbooks").path
        let names = (try? FileManager.default.contentsOfDirectory(atPath: runbooks)) ?? []
        return names.filter { $0.hasSuffix(".md") }.sorted().map { runbooks + "/" + $0 } + [
            root.appendingPathComponent("README.md").path
        ]
    }

    /// Every example that makes libpq verify the server's certificate names the CA file: libpq's default is
    /// `~/.postgresql/root.crt`, which the service user has not and `ProtectHome=yes` hides, so without
    /// `sslrootcert` every probe fails.
    @Test func everyVerifyingTLSExampleNamesItsCAFile() throws {
        let docs = Self.root.appendingPathComponent("docs").path
        let more = ((try? FileManager.default.contentsOfDirectory(atPath: docs)) ?? []).filter { $0.hasSuffix(".md") }
            .map { docs + "/" + $0 }
        var examples = 0
        for file in Self.files + more {
            let text = try String(contentsOfFile: file, encoding: .utf8)
            for (index, line) in text.components(separatedBy: "\n").enumerated()
            where line.contains("sslmode=verify-") {
                examples += 1
                #expect(line.contains("sslrootcert="), "\(file):\(index + 1): \(line)")
            }
        }
        #expect(examples >= 2)
    }

    @Test func everyRunbookTheIssueListsExists() {
        let names = Set(Self.files.map { URL(fileURLWithPath: $0).lastPathComponent })
        for wanted in [
            "failover.md", "switchover.md", "failback.md", "drills.md", "split-brain.md", "regions.md", "secrets.md",
            "postgres-upgrade.md",
        ] {
            #expect(names.contains(wanted), "runbooks/\(wanted) is missing")
        }
    }

    @Test(arguments: files)
    func everySwitchyardCommandParses(_ file: String) async throws {
        let commands = Self.commands(in: file)
        if file.hasSuffix("/runbooks/README.md") == false && file.contains("/runbooks/") {
            #expect(!commands.isEmpty, "\(file) shows no switchyard command")
        }
        for command in commands {
            let run = try await SwitchyardBinary.run(["parse-check"] + command.arguments)
            #expect(
                run.status == 0,
                "\(file):\(command.line): switchyard \(command.arguments.joined(separator: " ")): \(run.errors)")
        }
    }

    @Test func theCheckRejectsACommandThatDoesNotParse() async throws {
        #expect(try await SwitchyardBinary.run(["parse-check", "switchover", "--too", "eu-west"]).status == 2)
        #expect(try await SwitchyardBinary.run(["parse-check", "frobnicate"]).status == 2)
        #expect(
            Self.shellWords("switchyard pause --reason \"network maintenance\" # why") == [
                "switchyard", "pause", "--reason", "network maintenance",
            ])
    }
}
