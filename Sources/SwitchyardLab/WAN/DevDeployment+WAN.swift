import Foundation

extension DevDeployment {
    /// Builds (or rebuilds, keeping its ports) the deployment's WAN: a link for every service a region's
    /// daemons reach in another site (each other region's Postgres and Redis, the control database and
    /// the routing stand-in in the control site), with the profile's delays. Stored in `wan.json` and
    /// named in the state; the relay (`dev relay`) serves it, and each region's daemons read a
    /// configuration of their own (`regions-<region>/`) that reaches other sites through their links.
    @discardableResult
    public static func setUpWAN(_ state: inout DevState, profile: WANProfile) throws -> WANLinks {
        let previous = try WANLinks.load(directory: state.directory)
        var links: [WANLinks.Link] = []
        func add(from: String, to: String, service: String, upstream: Int?) throws {
            guard let upstream else { return }
            let forward = profile.link(from: from, to: to)
            let backward = profile.link(from: to, to: from)
            let site = { (name: String) in name == WANProfile.control ? (profile.controlSite ?? name) : name }
            if site(from) == site(to) { return }  // same site: reached directly
            let port =
                try previous?.links.first { $0.from == from && $0.to == to && $0.service == service }?.listen
                ?? Ports.freeLoopbackPort()
            links.append(
                .init(
                    from: from, to: to, service: service, listen: port, upstream: upstream, forward: forward,
                    backward: backward))
        }
        for from in state.regions {
            for to in state.regions where to != from {
                try add(from: from, to: to, service: "postgres", upstream: state.postgres[to]?.port)
                try add(from: from, to: to, service: "redis", upstream: state.redis[to]?.port)
            }
            try add(from: from, to: WANProfile.control, service: "postgres", upstream: state.control.port)
            try add(from: from, to: WANProfile.control, service: "http", upstream: state.routerPort)
        }
        // A witness probes every region and reads and writes the control database from a site of its own, and
        // calls the routing hook when it leads a failover.
        if let witness = state.witness {
            for to in state.regions {
                try add(from: witness, to: to, service: "postgres", upstream: state.postgres[to]?.port)
                try add(from: witness, to: to, service: "redis", upstream: state.redis[to]?.port)
            }
            try add(from: witness, to: WANProfile.control, service: "postgres", upstream: state.control.port)
            try add(from: witness, to: WANProfile.control, service: "http", upstream: state.routerPort)
        }
        let table = WANLinks(profile: profile.name, links: links)
        try table.save(directory: state.directory)
        state.wan = profile.name
        try state.save()
        return table
    }

    /// Sets the regions' wall clocks (none when `clocks` is empty) and writes each region's clock file;
    /// daemons started from then on run on them, and running ones under libfaketime follow within a second.
    /// `wrapped`: every region's daemons run on a libfaketime clock of their own, even where no offset is
    /// given (at the host's time, so that a `clock_step` can move it); false: the host's clock, unwrapped.
    public static func setUpClocks(_ state: inout DevState, _ clocks: [String: ClockSkew], wrapped: Bool = true) throws
    {
        for region in clocks.keys.sorted() where !state.regions.contains(region) {
            throw DevError(
                "--clock-skew names \(region), not a region of this deployment (\(state.regions.joined(separator: ", ")))"
            )
        }
        if wrapped && !LabClocks.available {
            throw DevError("skewed clocks need Debian's faketime (\(LabClocks.wrapper)): apt-get install faketime")
        }
        for region in state.regions {
            try LabClocks.write(clocks[region] ?? ClockSkew(offsetMs: 0), directory: state.directory, region: region)
        }
        state.clocks = wrapped ? clocks : nil
        try state.save()
    }

    /// The configuration directory a region's daemons read in a WAN deployment.
    public static func wanConfigDirectory(_ state: DevState, region: String) -> String {
        state.directory + "/regions-\(region)"
    }

    /// Writes `regions-<region>/` for every region (and `regions-witness/` for a witness): the deployment's configuration with every address in
    /// another site replaced by the region's link to it. Rewritten at every daemon start, so it follows
    /// the canonical files (a routing hook added, a setting changed).
    static func writeWANConfigs(_ state: DevState, _ table: WANLinks) throws {
        let files = try FileManager.default.contentsOfDirectory(atPath: state.configDirectory)
            .filter { $0.hasSuffix(".yaml") }
        for region in state.regions + (state.witness.map { [$0] } ?? []) {
            let dir = wanConfigDirectory(state, region: region)
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            let mine = table.links.filter { $0.from == region }
            for file in files {
                var text = try String(contentsOfFile: state.configDirectory + "/" + file, encoding: .utf8)
                for link in mine {
                    text = replacingPort(link.upstream, with: link.listen, in: text)
                }
                try text.write(toFile: dir + "/" + file, atomically: true, encoding: .utf8)
            }
        }
    }

    /// Replaces a loopback port where a connection string or URL names it (`port=N`, `127.0.0.1:N`).
    static func replacingPort(_ port: Int, with relay: Int, in text: String) -> String {
        var out = text
        for prefix in ["port=", "127.0.0.1:"] {
            let pattern = NSRegularExpression.escapedPattern(for: prefix) + "\(port)(?![0-9])"
            guard let regex = try? NSRegularExpression(pattern: pattern) else { continue }
            out = regex.stringByReplacingMatches(
                in: out, range: NSRange(out.startIndex..., in: out), withTemplate: "\(prefix)\(relay)")
        }
        return out
    }
}
