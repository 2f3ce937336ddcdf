import Foundation

/// The links of a deployment built with `dev up --wan PROFILE`: one relay listener per direction of use
/// (the site a client is in, the site and service it reaches), written to `<dir>/wan.json`. The relay
/// process (`switchyard dev relay`) re-reads the file, so a drill changes a link (black-holes it, or adds
/// latency) by rewriting it.
public struct WANLinks: Codable, Sendable, Equatable {
    /// One relayed path: clients in `from` reaching `to`'s `service` through `listen`.
    public struct Link: Codable, Sendable, Equatable {
        /// The site the clients are in (a region).
        public var from: String
        /// The site they reach (a region, or `control`).
        public var to: String
        /// `postgres`, `redis` or `http`.
        public var service: String
        /// The relay's loopback port.
        public var listen: Int
        /// The server's loopback port.
        public var upstream: Int
        /// Client to server.
        public var forward: WANProfile.Link
        /// Server to client.
        public var backward: WANProfile.Link
        /// Nothing crosses, in either direction, and nothing is refused: silence, as on a cut link.
        public var blackhole = false
        /// Added to both directions' delay (a latency spike), milliseconds.
        public var extraDelayMs: Double = 0

        /// The link's name in logs and faults: `from>to:service`.
        public var name: String { "\(from)>\(to):\(service)" }

        /// A link.
        public init(
            from: String, to: String, service: String, listen: Int, upstream: Int, forward: WANProfile.Link,
            backward: WANProfile.Link, blackhole: Bool = false, extraDelayMs: Double = 0
        ) {
            self.from = from
            self.to = to
            self.service = service
            self.listen = listen
            self.upstream = upstream
            self.forward = forward
            self.backward = backward
            self.blackhole = blackhole
            self.extraDelayMs = extraDelayMs
        }
    }

    /// A deployment's links.
    public init(profile: String, links: [Link]) {
        self.profile = profile
        self.links = links
    }

    /// The profile it was built from.
    public var profile: String
    /// Every link.
    public var links: [Link]

    /// The file in a deployment directory.
    public static func path(_ directory: String) -> String { directory + "/wan.json" }

    /// Reads a deployment's links (nil when it has none).
    public static func load(directory: String) throws -> WANLinks? {
        let path = path(directory)
        guard FileManager.default.fileExists(atPath: path) else { return nil }
        return try JSONDecoder().decode(WANLinks.self, from: Data(contentsOf: URL(fileURLWithPath: path)))
    }

    /// Writes them atomically (the relay never reads half a file).
    public func save(directory: String) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try encoder.encode(self).write(to: URL(fileURLWithPath: Self.path(directory)), options: .atomic)
    }

    /// The relay port that clients in `from` use to reach `to`'s `service` on `upstream`, nil when they
    /// reach it directly (same site).
    public func port(from: String, to: String, service: String) -> Int? {
        links.first { $0.from == from && $0.to == to && $0.service == service }?.listen
    }

    /// Changes every link between `a` and `b` (both directions of use; `b` may be `control`), or every
    /// link touching `a` when `b` is nil.
    public mutating func update(_ a: String, _ b: String?, _ change: (inout Link) -> Void) {
        for i in links.indices {
            let l = links[i]
            let touches =
                b.map { (l.from == a && l.to == $0) || (l.from == $0 && l.to == a) } ?? (l.from == a || l.to == a)
            if touches { change(&links[i]) }
        }
    }
}
