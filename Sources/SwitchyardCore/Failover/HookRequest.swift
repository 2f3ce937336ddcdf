import Foundation

/// The values a routing or notification hook's body template may use.
public struct HookValues: Sendable, Equatable {
    /// The region traffic moves to.
    public var region: String
    /// The region it moves away from.
    public var previousRegion: String?
    /// The new cluster epoch.
    public var epoch: Int
    /// The failover's id (the idempotency key); 0 for an incident notification.
    public var failoverId: Int
    /// What is notified: `failover` (routing and notification hooks of a failover) or `incident`.
    public var event: Event
    /// PagerDuty's `event_action`: `trigger` (an incident opened, or a failover within it) or `resolve`
    /// (it recovered; also a failover outside any incident, such as a switchover, so that a paging
    /// receiver opens nothing for it).
    public var action: String
    /// The incident's key, the same from its trigger to its resolve (PagerDuty's `dedup_key`); for a
    /// failover, the key of the old region's open incident, else `switchyard-failover-ID`.
    public var incidentKey: String
    /// One line for a person.
    public var summary: String

    /// What a hook call notifies.
    public enum Event: String, Sendable, Equatable {
        /// A failover or switchover.
        case failover
        /// A region's incident opened or resolved.
        case incident
    }

    /// Values for a failover's hooks.
    public init(
        region: String, previousRegion: String?, epoch: Int, failoverId: Int, incidentKey: String? = nil,
        summary: String? = nil
    ) {
        self.region = region
        self.previousRegion = previousRegion
        self.epoch = epoch
        self.failoverId = failoverId
        event = .failover
        action = incidentKey == nil ? "resolve" : "trigger"
        self.incidentKey = incidentKey ?? "switchyard-failover-\(failoverId)"
        self.summary =
            summary ?? "Switchyard failover \(failoverId): \(previousRegion ?? "none") -> \(region) at epoch \(epoch)"
    }

    /// Values for an incident notification of `region`.
    public static func incident(region: String, epoch: Int, action: String, key: String, summary: String) -> HookValues
    {
        var values = HookValues(region: region, previousRegion: nil, epoch: epoch, failoverId: 0)
        values.event = .incident
        values.action = action
        values.incidentKey = key
        values.summary = summary
        return values
    }

    /// The body a hook without a template sends: `{"event", "event_action", "incident_key", "summary",
    /// "region", "previous_region", "epoch", "failover_id"}` (`previous_region` is "" when there was none,
    /// as the template gives it; `failover_id` is 0 for an incident).
    public var defaultBody: [UInt8] {
        struct Body: Encodable {
            var event: String
            var eventAction: String
            var incidentKey: String
            var summary: String
            var region: String
            var previousRegion: String
            var epoch: Int
            var failoverId: Int
        }
        let encoder = WireJSON.encoder()
        let body = Body(
            event: event.rawValue, eventAction: action, incidentKey: incidentKey, summary: summary, region: region,
            previousRegion: previousRegion ?? "", epoch: epoch, failoverId: failoverId)
        return Array((try? encoder.encode(body)) ?? Data("{}".utf8))
    }

    /// Fills `{{region}}`, `{{previous_region}}`, `{{epoch}}`, `{{failover_id}}`, `{{event}}`,
    /// `{{event_action}}`, `{{incident_key}}` and `{{summary}}` in a template.
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
            .replacingOccurrences(of: "{{event}}", with: event.rawValue)
            .replacingOccurrences(of: "{{event_action}}", with: escaped(action))
            .replacingOccurrences(of: "{{incident_key}}", with: escaped(incidentKey))
            .replacingOccurrences(of: "{{summary}}", with: escaped(summary))
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
