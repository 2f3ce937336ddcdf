import Testing

@testable import SwitchyardCore

@Suite struct EnvironmentExpansionTests {
    static let environment = ["USER": "app", "EMPTY": ""]

    @Test(arguments: [
        ("plain", "plain"), ("${USER}", "app"), ("x-${USER}-y", "x-app-y"), ("${MISSING:-fallback}", "fallback"),
        ("${EMPTY:-fallback}", "fallback"), ("${USER:-fallback}", "app"), ("$$", "$"), ("a$$b", "a$b"),
        ("pa$word", "pa$word"), ("$${USER}", "${USER}"), ("${MISSING:-}", ""),
    ])
    func expands(text: String, expected: String) {
        #expect(EnvironmentExpansion.expand(text, environment: Self.environment) == .success(expected))
    }

    @Test(arguments: [
        ("${MISSING}", EnvironmentExpansion.Failure.unset("MISSING")), ("${USER", .unterminated), ("${1X}", .badName),
        ("${}", .badName),
    ])
    func rejects(text: String, failure: EnvironmentExpansion.Failure) {
        #expect(EnvironmentExpansion.expand(text, environment: Self.environment) == .failure(failure))
    }
}
