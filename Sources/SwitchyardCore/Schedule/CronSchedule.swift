import Foundation

/// A five-field cron schedule (`minute hour day-of-month month day-of-week`) evaluated in UTC.
///
/// Fields take `*`, numbers, ranges `a-b`, steps `*/n` and `a-b/n`, comma lists, and the names
/// `jan`…`dec` and `sun`…`sat` (day of week 0 or 7 is Sunday). As in Vixie cron, when both the
/// day-of-month and day-of-week fields are restricted (neither starts with `*`), a day matches if
/// either matches. The macros `@hourly`, `@daily`, `@midnight`, `@weekly`, `@monthly`, `@yearly` and
/// `@annually` stand for their usual expansions.
public struct CronSchedule: Sendable, Equatable {
    private var minutes: UInt64
    private var hours: UInt64
    private var daysOfMonth: UInt64
    private var months: UInt64
    private var daysOfWeek: UInt64
    private var dayOfMonthIsStar: Bool
    private var dayOfWeekIsStar: Bool

    private struct Field {
        let name: String
        let range: ClosedRange<Int>
        let names: [String]
        let nameBase: Int
    }

    private static let fields = [
        Field(name: "minute", range: 0...59, names: [], nameBase: 0),
        Field(name: "hour", range: 0...23, names: [], nameBase: 0),
        Field(name: "day of month", range: 1...31, names: [], nameBase: 0),
        Field(
            name: "month", range: 1...12,
            names: ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"], nameBase: 1),
        Field(
            name: "day of week", range: 0...7, names: ["sun", "mon", "tue", "wed", "thu", "fri", "sat"], nameBase: 0),
    ]

    private static let macros = [
        "@yearly": "0 0 1 1 *", "@annually": "0 0 1 1 *", "@monthly": "0 0 1 * *", "@weekly": "0 0 * * 0",
        "@daily": "0 0 * * *", "@midnight": "0 0 * * *", "@hourly": "0 * * * *",
    ]

    /// Parses a cron expression or macro; the error names the field and the problem.
    public init(parsing expression: String) throws(CronParseError) {
        var text = expression.trimmingCharacters(in: .whitespaces)
        if text.hasPrefix("@") {
            guard let expansion = Self.macros[text.lowercased()] else {
                throw CronParseError(
                    reason: "unknown macro \"\(text)\" (expected @hourly, @daily, @weekly, @monthly or @yearly)")
            }
            text = expansion
        }
        let parts = text.split(whereSeparator: { $0 == " " || $0 == "\t" })
        guard parts.count == 5 else {
            throw CronParseError(
                reason: "expected 5 fields (minute hour day-of-month month day-of-week), found \(parts.count)")
        }
        var sets: [UInt64] = []
        for (part, field) in zip(parts, Self.fields) {
            sets.append(try Self.parseField(String(part), field))
        }
        minutes = sets[0]
        hours = sets[1]
        daysOfMonth = sets[2]
        months = sets[3]
        // Sunday may be written 7; fold it onto 0.
        daysOfWeek = (sets[4] | (sets[4] >> 7)) & 0x7F
        dayOfMonthIsStar = parts[2].hasPrefix("*")
        dayOfWeekIsStar = parts[4].hasPrefix("*")
    }

    private static func parseField(_ text: String, _ field: Field) throws(CronParseError) -> UInt64 {
        var set: UInt64 = 0
        for item in text.split(separator: ",", omittingEmptySubsequences: false) {
            guard !item.isEmpty else { throw CronParseError(reason: "\(field.name): empty list item in \"\(text)\"") }
            let pieces = item.split(separator: "/", omittingEmptySubsequences: false)
            guard pieces.count <= 2 else {
                throw CronParseError(reason: "\(field.name): malformed step in \"\(item)\"")
            }
            var step = 1
            if pieces.count == 2 {
                guard let value = Int(pieces[1]), value > 0 else {
                    throw CronParseError(reason: "\(field.name): step must be a positive integer in \"\(item)\"")
                }
                step = value
            }
            let base = pieces[0]
            var low: Int
            var high: Int
            if base == "*" {
                low = field.range.lowerBound
                high = field.range.upperBound
            } else if let dash = base.firstIndex(of: "-") {
                low = try value(base[..<dash], field)
                high = try value(base[base.index(after: dash)...], field)
                guard low <= high else {
                    throw CronParseError(reason: "\(field.name): range \"\(base)\" runs backwards")
                }
            } else {
                low = try value(base, field)
                // "a/n" means from a to the end of the field, as in cronie.
                high = pieces.count == 2 ? field.range.upperBound : low
            }
            for number in stride(from: low, through: high, by: step) { set |= 1 << UInt64(number) }
        }
        return set
    }

    private static func value(_ text: Substring, _ field: Field) throws(CronParseError) -> Int {
        if let index = field.names.firstIndex(of: text.lowercased()) { return index + field.nameBase }
        guard let number = Int(text) else {
            throw CronParseError(reason: "\(field.name): \"\(text)\" is not a number or name")
        }
        guard field.range.contains(number) else {
            throw CronParseError(
                reason: "\(field.name): \(number) is outside \(field.range.lowerBound)-\(field.range.upperBound)")
        }
        return number
    }

    private func matchesDay(_ date: CivilTime) -> Bool {
        let dayOfMonthMatches = daysOfMonth & (1 << UInt64(date.day)) != 0
        let dayOfWeekMatches = daysOfWeek & (1 << UInt64(date.weekday)) != 0
        if dayOfMonthIsStar || dayOfWeekIsStar { return dayOfMonthMatches && dayOfWeekMatches }
        return dayOfMonthMatches || dayOfWeekMatches
    }

    /// The first matching minute strictly after `date`, or nil if none comes within ten years
    /// (for example `0 0 30 2 *`).
    public func next(after date: Date) -> Date? {
        let startMinute = Int64((date.timeIntervalSince1970 / 60).rounded(.down)) + 1
        var time = CivilTime(minutesSinceEpoch: startMinute)
        let lastYear = time.year + 10
        while time.year <= lastYear {
            if months & (1 << UInt64(time.month)) == 0 {
                time = time.startOfNextMonth()
            } else if !matchesDay(time) {
                time = time.startOfNextDay()
            } else if hours & (1 << UInt64(time.hour)) == 0 {
                time = time.startOfNextHour()
            } else if minutes & (1 << UInt64(time.minute)) == 0 {
                time = CivilTime(minutesSinceEpoch: time.minutesSinceEpoch + 1)
            } else {
                return Date(timeIntervalSince1970: TimeInterval(time.minutesSinceEpoch) * 60)
            }
        }
        return nil
    }
}
