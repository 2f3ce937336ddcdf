import Foundation

/// A geography for a local deployment: the one-way latency, jitter and loss of every link between two
/// sites (regions, and the control site that holds the control database and the routing stand-in).
/// Figures are typical public-cloud ones; a link's two directions may differ.
public struct WANProfile: Sendable, Equatable {
    /// One direction of one link.
    public struct Link: Codable, Sendable, Equatable {
        /// One-way delay in milliseconds.
        public var delayMs: Double
        /// Each chunk's delay varies uniformly by up to this (milliseconds), never reordering a stream.
        public var jitterMs: Double
        /// Percent of chunks delayed as if their segment was lost once (a retransmission: 200 ms plus a
        /// round trip), as TCP turns loss into delay.
        public var lossPercent: Double

        /// A link.
        public init(delayMs: Double, jitterMs: Double = 0, lossPercent: Double = 0) {
            self.delayMs = delayMs
            self.jitterMs = jitterMs
            self.lossPercent = lossPercent
        }
    }

    /// The profile's name (`lan`, `continental`, `global`, `harsh`).
    public var name: String
    /// The site the control database (and the routing stand-in) lives in: a region's name, or nil for a
    /// third site of its own.
    public var controlSite: String?
    /// One-way link from one site to another; a pair not listed falls back to `defaultLink`.
    public var links: [String: Link]
    /// The link between sites no entry names.
    public var defaultLink: Link
    /// The link from a region to a third-site control database.
    public var controlLink: Link
    /// The regions' wall clocks (`ClockSkew`), as hosts far apart keep them: a region not listed keeps
    /// the host's. Offsets of seconds, as NTP lost for a while or a VM resumed leaves them.
    public var clocks: [String: ClockSkew] = [:]

    /// The name of the control site in link keys.
    public static let control = "control"
    /// The name of a witness's site in link keys (`dev up --witness`): a site of its own, reaching every
    /// region and the control site over links of its own (`witness>…` entries, else `defaultLink`).
    public static let witness = "witness"

    static func key(_ from: String, _ to: String) -> String { "\(from)>\(to)" }

    /// The one-way link from site `from` to site `to` (a region or `control`); zero within a site.
    public func link(from: String, to: String) -> Link {
        let from = from == Self.control ? (controlSite ?? Self.control) : from
        let to = to == Self.control ? (controlSite ?? Self.control) : to
        if from == to { return Link(delayMs: 0) }
        if let link = links[Self.key(from, to)] { return link }
        if from == Self.control || to == Self.control { return controlLink }
        return defaultLink
    }

    /// The profiles by name.
    public static func named(_ name: String) -> WANProfile? {
        switch name {
        case "lan": return lan
        case "continental": return continental
        case "global": return global
        case "harsh": return harsh
        case "far-control": return farControl
        default: return nil
        }
    }

    /// Every profile's name.
    public static let names = ["lan", "continental", "global", "harsh", "far-control"]

    /// Loopback as it is: no delay (the relays are still in the path, so it measures their cost).
    public static let lan = WANProfile(
        name: "lan", controlSite: nil, links: [:], defaultLink: Link(delayMs: 0), controlLink: Link(delayMs: 0))

    /// Regions 20–40 ms apart one way (a continent), the control database 30 ms from each in a third site.
    public static let continental = WANProfile(
        name: "continental", controlSite: nil,
        links: symmetric([
            ("us-east", "eu-west", Link(delayMs: 20, jitterMs: 2)),
            ("us-east", "ap-south", Link(delayMs: 40, jitterMs: 4)),
            ("eu-west", "ap-south", Link(delayMs: 30, jitterMs: 3)),
            (witness, "us-east", Link(delayMs: 15, jitterMs: 2)),
            (witness, "eu-west", Link(delayMs: 25, jitterMs: 3)),
            (witness, "ap-south", Link(delayMs: 35, jitterMs: 4)),
            (witness, control, Link(delayMs: 20, jitterMs: 2)),
        ]),
        defaultLink: Link(delayMs: 30, jitterMs: 3), controlLink: Link(delayMs: 30, jitterMs: 3),
        clocks: ["eu-west": ClockSkew(offsetMs: 400), "ap-south": ClockSkew(offsetMs: 900)])

    /// Three continents: us-east–eu-west 38 ms, us-east–ap-south 100 ms, eu-west–ap-south 62 ms one
    /// way, with jitter; the control database in us-east. A witness sits in a third site between the
    /// Atlantic regions (a cloud's third region there): 30 ms from us-east, 45 ms from eu-west.
    public static let global = WANProfile(
        name: "global", controlSite: "us-east",
        links: symmetric([
            ("us-east", "eu-west", Link(delayMs: 38, jitterMs: 4, lossPercent: 0.1)),
            ("us-east", "ap-south", Link(delayMs: 100, jitterMs: 10, lossPercent: 0.2)),
            ("eu-west", "ap-south", Link(delayMs: 62, jitterMs: 6, lossPercent: 0.1)),
            (witness, "us-east", Link(delayMs: 30, jitterMs: 3, lossPercent: 0.1)),
            (witness, "eu-west", Link(delayMs: 45, jitterMs: 4, lossPercent: 0.1)),
            (witness, "ap-south", Link(delayMs: 90, jitterMs: 9, lossPercent: 0.2)),
        ]),
        defaultLink: Link(delayMs: 100, jitterMs: 10), controlLink: Link(delayMs: 100, jitterMs: 10),
        clocks: ["eu-west": ClockSkew(offsetMs: 1500), "ap-south": ClockSkew(offsetMs: 3500)])

    /// Where it should break: 150–250 ms one way, heavy jitter and 1 % loss, the control database in a
    /// third site 120 ms from everyone.
    public static let harsh = WANProfile(
        name: "harsh", controlSite: nil,
        links: symmetric([
            ("us-east", "eu-west", Link(delayMs: 150, jitterMs: 40, lossPercent: 1)),
            ("us-east", "ap-south", Link(delayMs: 250, jitterMs: 50, lossPercent: 1)),
            ("eu-west", "ap-south", Link(delayMs: 200, jitterMs: 40, lossPercent: 1)),
        ]),
        defaultLink: Link(delayMs: 200, jitterMs: 40, lossPercent: 1),
        controlLink: Link(delayMs: 120, jitterMs: 30, lossPercent: 1),
        clocks: [
            "us-east": ClockSkew(offsetMs: 4000), "eu-west": ClockSkew(offsetMs: 11000),
            "ap-south": ClockSkew(offsetMs: 34000),
        ])

    /// The regions side by side (relayed, no delay) and the control database at a site of its own 110 ms
    /// from each (a 220 ms round trip, us-east to ap-south): the far control database the detector must
    /// not mistake for lag (`far-control-database.yaml`).
    public static let farControl = WANProfile(
        name: "far-control", controlSite: nil, links: [:], defaultLink: Link(delayMs: 0),
        controlLink: Link(delayMs: 110, jitterMs: 10, lossPercent: 0.1))

    static func symmetric(_ pairs: [(String, String, Link)]) -> [String: Link] {
        var links: [String: Link] = [:]
        for (a, b, link) in pairs {
            links[key(a, b)] = link
            links[key(b, a)] = link
        }
        return links
    }
}
