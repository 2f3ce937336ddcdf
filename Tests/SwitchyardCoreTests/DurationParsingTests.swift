import Testing

@testable import SwitchyardCore

@Suite struct DurationParsingTests {
    @Test(arguments: [
        ("500ms", Duration.milliseconds(500)), ("3s", .seconds(3)), ("2m", .seconds(120)), ("1h", .seconds(3600)),
        ("1m30s", .seconds(90)), ("250us", .microseconds(250)), ("1.5s", .milliseconds(1500)),
        ("0s", .zero), ("1h2m3s4ms", .milliseconds(3_723_004)), ("10ns", .nanoseconds(10)),
    ])
    func parsesValidDurations(text: String, expected: Duration) {
        #expect(Duration.parse(text) == expected)
    }

    @Test(arguments: [
        "", "3", "-1s", "1.5.s", "s", "3 s", "1s1m", "1s1s", "3sec", "1.s", ".5s", "99999999999999999999h",
    ])
    func rejectsInvalidDurations(text: String) {
        #expect(Duration.parse(text) == nil)
    }

    @Test(arguments: [
        (Duration.milliseconds(500), "500ms"), (.seconds(3), "3s"), (.seconds(120), "2m"), (.seconds(90), "1m30s"),
        (.seconds(3600), "1h"), (.milliseconds(1500), "1s500ms"), (.zero, "0s"), (.microseconds(250), "250us"),
    ])
    func formatsDurations(duration: Duration, expected: String) {
        #expect(duration.configText == expected)
        #expect(Duration.parse(duration.configText) == duration)
    }
}
