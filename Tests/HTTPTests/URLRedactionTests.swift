import HTTP
import Testing

@Suite("HTTPError redaction")
struct URLRedactionTests {
    @Test(arguments: [
        ("https://user:pa55@hooks.example/x?sig=abc&v=1", "https://user:***@hooks.example/x?sig=***&v=***"),
        ("https://hooks.example/a/b", "https://hooks.example/a/b"),
        ("https://user@hooks.example/", "https://user@hooks.example/"),
        ("http://h/?token", "http://h/?***"),
        ("https://h/p#access_token=xyz", "https://h/p"),
        ("not a url :pa55@", "not a url :***@"),
    ])
    func urlIsRedacted(raw: String, redacted: String) {
        let error = HTTPError(kind: .other, method: "GET", url: raw, message: "failed for \(raw)")
        #expect(error.url == redacted)
        #expect(error.message == "failed for \(redacted)")
    }

    @Test func messageIsScrubbedOfSecretsEvenOutOfContext() {
        let error = HTTPError(
            kind: .other, method: "GET", url: "https://u:hunter2@h/?token=t0k", message: "bad auth hunter2 / t0k"
        )
        #expect(!error.description.contains("hunter2"))
        #expect(!error.description.contains("t0k"))
    }
}
