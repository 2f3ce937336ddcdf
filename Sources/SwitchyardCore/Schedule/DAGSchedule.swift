import Foundation

/// When a DAG gets a new run: a cron expression, a fixed interval, or only when triggered by hand.
public enum DAGSchedule: Sendable, Equatable {
    /// A cron schedule with the expression as written.
    case cron(CronSchedule, expression: String)
    /// `@every 30s`: a fixed interval aligned to the Unix epoch, so every node computes the same instants.
    case every(Duration)
    /// No schedule (absent, null or `none`): runs are only triggered by hand.
    case manual

    /// Reads a schedule as written in `dags.yaml`; nil or `none` is manual.
    public static func parse(_ text: String?) throws(CronParseError) -> DAGSchedule {
        guard let text = text?.trimmingCharacters(in: .whitespaces), !text.isEmpty, text.lowercased() != "none" else {
            return .manual
        }
        if text.lowercased().hasPrefix("@every") {
            let interval = text.dropFirst("@every".count).trimmingCharacters(in: .whitespaces)
            guard let duration = Duration.parse(interval), duration > .zero else {
                throw CronParseError(reason: "\"@every\" needs a positive duration such as \"@every 30s\"")
            }
            return .every(duration)
        }
        return .cron(try CronSchedule(parsing: text), expression: text)
    }

    /// The schedule as it is written in configuration.
    public var configText: String {
        switch self {
        case .cron(_, let expression): expression
        case .every(let interval): "@every \(interval.configText)"
        case .manual: "none"
        }
    }

    /// The next instant strictly after `date` at which a run is due, or nil for manual schedules.
    public func next(after date: Date) -> Date? {
        switch self {
        case .cron(let schedule, _):
            return schedule.next(after: date)
        case .every(let interval):
            let nanoseconds = Double(interval.totalNanoseconds)
            let now = date.timeIntervalSince1970 * 1e9
            let count = (now / nanoseconds).rounded(.down) + 1
            return Date(timeIntervalSince1970: count * nanoseconds / 1e9)
        case .manual:
            return nil
        }
    }
}
