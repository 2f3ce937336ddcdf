import Foundation
import SwitchyardCore
import Testing

@testable import SwitchyardRuntime

@Suite("The agent's in-memory trends for the dashboard")
struct TrendBufferTests {
    func document(_ regions: [(String, HealthState, Double?)]) -> StatusDocument {
        StatusDocument(
            generatedAt: Date(), observer: "o", controlDbReachable: true, activeRegion: regions.first?.0, epoch: 1,
            paused: false, failoverInProgress: nil, lease: nil,
            regions: regions.map { name, health, latency in
                StatusDocument.Region(
                    name: name, role: "standby", priority: 1, health: health, critical: [],
                    components: [
                        "database": .init(
                            state: health, latencyMs: latency, since: Date(), lastError: nil, detail: .init()),
                        "schedulers": .init(
                            state: .healthy, latencyMs: 2, since: Date(), lastError: nil, detail: .init()),
                    ], schedulerLeader: nil, schedulerEpoch: nil, observers: [], liveObservers: 1,
                    observersSeeingDown: 0)
            }, lastFailover: nil)
    }

    @Test func samplesAboutOncePerSpacingWithinTheWindowAndForgetsRemovedRegions() throws {
        var trends = TrendBuffer(window: .seconds(10), spacing: .seconds(1))
        let start = Date(timeIntervalSince1970: 1_000_000)
        for tenth in 0...300 {  // 30 s of publishes every 100 ms
            trends.record(
                document([("a", tenth < 150 ? .healthy : .down, tenth < 150 ? 1.25 : nil), ("b", .healthy, 3)]),
                at: start.addingTimeInterval(Double(tenth) / 10))
        }
        let a = try #require(trends.samples["a"])
        // One sample a second, only the last 10 s kept.
        #expect(a.count == 11, "\(a.count)")
        #expect(a.first!.at >= start.addingTimeInterval(20))
        #expect(zip(a, a.dropFirst()).allSatisfy { $1.at.timeIntervalSince($0.at) >= 0.9 })
        #expect(a.allSatisfy { $0.health == .down && $0.points.0?.latencyMs == nil && $0.points.1 == nil })

        trends.record(document([("b", .healthy, 3)]), at: start.addingTimeInterval(31))
        #expect(trends.samples["a"] == nil)
        let body = String(decoding: try StatusDocument.encoder().encode(trends.document), as: UTF8.self)
        #expect(body.hasPrefix("{\"regions\":[{\"name\":\"b\",\"samples\":[{\"at\":"), "\(body)")
        #expect(body.contains("\"components\":{\"database\":{\"latency_ms\":3,\"state\":\"healthy\"}"), "\(body)")
        #expect(body.hasSuffix("\"window_seconds\":10}"), "\(body)")
    }
}
