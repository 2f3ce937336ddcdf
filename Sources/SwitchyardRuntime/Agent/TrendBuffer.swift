import Foundation
import SwitchyardCore

/// The agent's recent view of every region, kept in memory for the dashboard's charts (`/trends`):
/// per region, about one sample per `spacing` over the last `window` — the region's health (the
/// quorum view) and each component's state and probe latency as this observer saw them.
///
/// Samples are small fixed-size values (no dictionaries), so 300 samples of 200 regions stay near 2 MB.
struct TrendBuffer: Sendable {
    /// The components a region has, in the order samples store them.
    static let components = ["database", "redis", "schedulers"]

    /// One component at one instant.
    struct Point: Sendable, Equatable {
        var state: HealthState
        var latencyMs: Float?
    }

    /// One region at one instant.
    struct Sample: Sendable, Equatable {
        var at: Date
        var health: HealthState
        /// Indexed like `TrendBuffer.components`; nil where the region has no such component.
        var points: (Point?, Point?, Point?)

        static func == (a: Sample, b: Sample) -> Bool {
            a.at == b.at && a.health == b.health && a.points.0 == b.points.0 && a.points.1 == b.points.1
                && a.points.2 == b.points.2
        }
    }

    let window: Duration
    let spacing: Duration
    private(set) var order: [String] = []
    private(set) var samples: [String: [Sample]] = [:]

    init(window: Duration = .seconds(300), spacing: Duration = .seconds(1)) {
        self.window = window
        self.spacing = spacing
    }

    /// Records the regions of a published status; a region sampled less than `spacing` ago is skipped.
    mutating func record(_ document: StatusDocument, at now: Date = Date()) {
        order = document.regions.map(\.name)
        let oldest = now.addingTimeInterval(-window.secondsDouble)
        let minimumGap = spacing.secondsDouble * 0.9
        for region in document.regions {
            var series = samples[region.name] ?? []
            // (A wall clock stepped back samples at once rather than pausing until it catches up.)
            if let last = series.last, now >= last.at, now.timeIntervalSince(last.at) < minimumGap { continue }
            func point(_ name: String) -> Point? {
                region.components[name].map { Point(state: $0.state, latencyMs: $0.latencyMs.map(Float.init)) }
            }
            series.append(
                Sample(
                    at: now, health: region.health,
                    points: (point(Self.components[0]), point(Self.components[1]), point(Self.components[2]))))
            if let firstKept = series.firstIndex(where: { $0.at >= oldest }), firstKept > 0 {
                series.removeFirst(firstKept)
            }
            samples[region.name] = series
        }
        for name in samples.keys where !order.contains(name) { samples[name] = nil }
    }

    /// `/trends`'s body.
    struct Document: Encodable {
        struct Component: Encodable {
            var state: HealthState
            var latencyMs: Double?
        }
        struct Sample: Encodable {
            var at: Date
            var health: HealthState
            var components: [String: Component]
        }
        struct Region: Encodable {
            var name: String
            var samples: [Sample]
        }
        var windowSeconds: Int
        var regions: [Region]
    }

    var document: Document {
        Document(
            windowSeconds: Int(window.secondsDouble),
            regions: order.map { name in
                Document.Region(
                    name: name,
                    samples: (samples[name] ?? []).map { sample in
                        var components: [String: Document.Component] = [:]
                        for (index, point) in [sample.points.0, sample.points.1, sample.points.2].enumerated() {
                            guard let point else { continue }
                            components[Self.components[index]] = Document.Component(
                                state: point.state,
                                latencyMs: point.latencyMs.map { (Double($0) * 1000).rounded() / 1000 })
                        }
                        return Document.Sample(at: sample.at, health: sample.health, components: components)
                    })
            })
    }
}
