import Foundation

/// The values a routing or notification hook's body template may use.
public struct HookValues: Sendable, Equatable {
    /// The region traffic moves to.
    public var region: String
    /// The region it moves away from.
    public var previousRegion: String?
    /// The new cluster epoch.
    public var epoch: Int
    /// The failover's id (the idempotency key).
    public var failoverId: Int
    /// Creates values.
    public init(region: String, previousRegion: String?, epoch: Int, failoverId: Int) {
        self.region = region
        self.previousRegion = previousRegion
        self.epoch = epoch
        self.failoverId = failoverId
    }

    /// The body a hook without a template sends: `{"region", "previous_region", "epoch", "failover_id"}`
    /// (`previous_region` is "" when there was none, as the template gives it).
    public var defaultBody: [UInt8] {
        struct Body: Encodable {
            var region: String
            var previousRegion: String
            var epoch: Int
            var failoverId: Int
        }
        let encoder = WireJSON.encoder()
        let body = Body(region: region, previousRegion: previousRegion ?? "", epoch: epoch, failoverId: failoverId)
        return Array((try? encoder.encode(body)) ?? Data("{}".utf8))
    }

    /// Fills `{{region}}`, `{{previous_region}}`, `{{epoch}}` and `{{failover_id}}` in a template.
    /// Values are JSON-string-escaped (the templates are JSON bodies).
    public func render(_ template: String) -> String {
        func escaped(_ text: String) -> String {
            var out = ""
            for scalar in text.unicodeScalars {
                switch scalar {
                case "\"": out += "\\\""
                case "\\": out += "\\\\"
                case "\n": out += "\\n"
                case "\r": out += "\\r"
                case "\t": out += "\\t"
                default:
                    if scalar.value < 0x20 {
                        out += String(format: "\\u%04x", scalar.value)
                    } else {
                        out.unicodeScalars.append(scalar)
                    }
                }
            }
            return out
        }
        return
            template
            .replacingOccurrences(of: "{{region}}", with: escaped(region))
            .replacingOccurrences(of: "{{previous_region}}", with: escaped(previousRegion ?? ""))
            .replacingOccurrences(of: "{{epoch}}", with: String(epoch))
            .replacingOccurrences(of: "{{failover_id}}", with: String(failoverId))
    }
}

/// Exponential backoff with jitter between hook attempts, as a pure function.
public enum RetrySchedule {
    /// The pause before attempt `attempt` (2, 3, …): `backoff × 2^(attempt-2)` capped at `maxBackoff`,
    /// then scaled by `jitter` in [0.5, 1] so that many callers do not retry in step.
    public static func delay(beforeAttempt attempt: Int, backoff: Duration, maxBackoff: Duration, jitter: Double)
        -> Duration
    {
        guard attempt >= 2 else { return .zero }
        let exponent = min(attempt - 2, 30)
        var delay = backoff * (1 << exponent)
        if delay > maxBackoff { delay = maxBackoff }
        let factor = 0.5 + 0.5 * min(max(jitter, 0), 1)
        return delay * factor
    }
}
