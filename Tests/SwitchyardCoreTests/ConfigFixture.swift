import Foundation

/// A throwaway configuration directory: minimal valid files, overridden per test.
struct ConfigFixture {
    static let controlPlane = """
        control:
          dsn: "host=127.0.0.1 dbname=control"
        """
    static let region = """
        name: us-east
        priority: 100
        database:
          dsn: "host=127.0.0.1 dbname=app"
        redis:
          url: "redis://127.0.0.1:6379"
        """

    let directory: String

    /// Writes the base files plus `files` (a nil value deletes a base file) into a fresh directory.
    init(_ files: [String: String?]) throws {
        directory =
            FileManager.default.temporaryDirectory
            .appendingPathComponent("switchyard-config-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        var all: [String: String?] = ["controlplane.yaml": Self.controlPlane, "us-east.yaml": Self.region]
        all.merge(files) { _, new in new }
        for case let (name, contents?) in all {
            try Data((contents + "\n").utf8).write(to: URL(fileURLWithPath: "\(directory)/\(name)"))
        }
    }

    func remove() {
        try? FileManager.default.removeItem(atPath: directory)
    }
}
