import Foundation
import Testing

@testable import SwitchyardCore

@Suite struct CronScheduleTests {
    /// Parses `yyyy-MM-dd HH:mm[:ss]` in UTC.
    static func utc(_ text: String) -> Date {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = text.count > 16 ? "yyyy-MM-dd HH:mm:ss" : "yyyy-MM-dd HH:mm"
        return formatter.date(from: text)!
    }

    @Test(arguments: [
        "* * * * *", "0 * * * *", "*/15 9-17 * * mon-fri", "0 0 1,15 * *", "5 4 * jan-mar,dec sun", "0 0 * * 7",
        "@hourly", "@daily", "@weekly", "@monthly", "@yearly", "@annually", "10-50/20 * * * *", "0 12 * * 1/2",
    ])
    func parsesValidExpressions(expression: String) throws {
        _ = try CronSchedule(parsing: expression)
    }

    @Test(arguments: [
        "61 * * * *", "* * *", "*/0 * * * *", "a b c d e", "* 24 * * *", "* * 0 * *", "* * * 13 *", "* * * * 8",
        "5-1 * * * *", "1,,2 * * * *", "@reboot", "", "* * * * * *", "1/2/3 * * * *",
    ])
    func rejectsInvalidExpressions(expression: String) {
        #expect(throws: CronParseError.self) { try CronSchedule(parsing: expression) }
    }

    @Test func errorNamesTheField() {
        #expect(throws: CronParseError(reason: "minute: 61 is outside 0-59")) {
            try CronSchedule(parsing: "61 * * * *")
        }
    }

    @Test func macrosEqualTheirExpansions() throws {
        #expect(try CronSchedule(parsing: "@daily") == CronSchedule(parsing: "0 0 * * *"))
        #expect(try CronSchedule(parsing: "0 0 * * 7") == CronSchedule(parsing: "0 0 * * sun"))
    }

    @Test(arguments: [
        ("0 * * * *", "2024-05-10 10:00", "2024-05-10 11:00"),
        ("0 * * * *", "2024-05-10 10:59:59", "2024-05-10 11:00"),
        ("*/15 * * * *", "2024-05-10 10:07", "2024-05-10 10:15"),
        ("30 6 * * mon-fri", "2024-05-10 07:00", "2024-05-13 06:30"),  // Friday after 06:30 → Monday
        ("0 0 31 * *", "2024-04-15 00:00", "2024-05-31 00:00"),  // April has no 31st
        ("0 0 L * *".replacingOccurrences(of: "L", with: "29"), "2023-02-01 00:00", "2023-03-29 00:00"),
        ("0 0 29 2 *", "2024-03-01 00:00", "2028-02-29 00:00"),
        ("0 0 1 jan *", "2024-12-31 23:59", "2025-01-01 00:00"),
        ("59 23 * * *", "2024-12-31 23:59", "2025-01-01 23:59"),
        // Both day fields restricted: the 13th OR a Friday (Vixie semantics).
        ("0 0 13 * fri", "2024-09-01 00:00", "2024-09-06 00:00"),
        ("0 0 13 * fri", "2024-09-07 00:00", "2024-09-13 00:00"),
        // Day of week starred by a step: AND semantics, so only the 1st when it is also any day.
        ("0 0 1 * */1", "2024-09-02 00:00", "2024-10-01 00:00"),
        ("0 12 * 6 sun", "2024-01-01 00:00", "2024-06-02 12:00"),
        ("@weekly", "2024-05-10 10:00", "2024-05-12 00:00"),
        ("@monthly", "2024-01-31 00:00", "2024-02-01 00:00"),
    ])
    func findsTheNextRun(expression: String, after: String, expected: String) throws {
        let schedule = try CronSchedule(parsing: expression)
        #expect(schedule.next(after: Self.utc(after)) == Self.utc(expected))
    }

    @Test func impossibleDatesNeverMatch() throws {
        #expect(try CronSchedule(parsing: "0 0 30 2 *").next(after: Self.utc("2024-01-01 00:00")) == nil)
    }

    @Test func everyIsAlignedToTheEpoch() throws {
        let schedule = try DAGSchedule.parse("@every 30s")
        #expect(schedule == .every(.seconds(30)))
        #expect(schedule.next(after: Self.utc("2024-05-10 10:00:07")) == Self.utc("2024-05-10 10:00:30"))
        #expect(schedule.next(after: Self.utc("2024-05-10 10:00:30")) == Self.utc("2024-05-10 10:01:00"))
        let sevenMinutes = try DAGSchedule.parse("@every 7m")
        // 2024-05-10 10:00 is minute 28_588_920 of the epoch = 7 × 4_084_131 + 3, so the next tick is 4 minutes on.
        #expect(sevenMinutes.next(after: Self.utc("2024-05-10 10:00")) == Self.utc("2024-05-10 10:04"))
    }

    @Test func parsesDAGSchedules() throws {
        #expect(try DAGSchedule.parse(nil) == .manual)
        #expect(try DAGSchedule.parse("none") == .manual)
        #expect(try DAGSchedule.parse("@daily").configText == "@daily")
        #expect(throws: CronParseError.self) { try DAGSchedule.parse("@every 0s") }
        #expect(throws: CronParseError.self) { try DAGSchedule.parse("@every soon") }
        #expect(DAGSchedule.manual.next(after: Date()) == nil)
    }
}
