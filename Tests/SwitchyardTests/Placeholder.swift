import Testing

@Test func placeholder_SwitchyardTests() { #expect(Bool(true)) }
