import HTTP
import SwitchyardCore

/// Probes a region's schedulers through an HTTP health URL (the `http` scheduler probe); the
/// `heartbeat` and `airflow` probes ride on the region's database probe.
struct HTTPSchedulerProbe: Sendable {
    let url: String
    let http = HTTPClient()

    func probe(timeout: Duration) async -> ProbeResult {
        let clock = ContinuousClock()
        let start = clock.now
        do {
            let response = try await http.send(HTTPRequest(url: url, timeout: timeout, connectTimeout: timeout))
            var detail = ComponentDetail()
            detail.httpStatus = response.status
            return response.isSuccess
                ? .ok(clock.now - start, detail)
                : .failed(
                    "health URL answered \(response.status)", evidence: .positive, latency: clock.now - start, detail)
        } catch {
            return .failed("\(error)", evidence: EvidenceClass.http(error))
        }
    }
}
