import Testing

@Test func placeholder_SwitchyardCoreTests() { #expect(Bool(true)) }
