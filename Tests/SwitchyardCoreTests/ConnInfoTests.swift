import Redaction
import Testing

@testable import SwitchyardCore

@Suite struct ConnInfoTests {
    @Test(arguments: [
        "host=127.0.0.1 port=5432 dbname=app user=app password=secret",
        "host=a,b target_session_attrs=read-write",
        "host=a,b port=5432,5433 dbname=x",
        "options='-c statement_timeout=5s' host=h",
        "password='with spaces and \\' quote' host=h",
        "host = h port = 5432",
        "postgresql://app:secret@127.0.0.1:5432/app?sslmode=disable",
        "postgres://h1:5432,h2:5433/db?target_session_attrs=read-write",
        "postgresql:///app",
    ])
    func acceptsValidStrings(dsn: String) {
        #expect(ConnInfo.validate(dsn) == nil)
    }

    @Test(arguments: [
        ("host=h password=hunter2 bogus", "hunter2"),
        ("host=h passwrd=hunter2", "hunter2"),
        ("host=h password='hunter2", "hunter2"),
        ("host=h password=hun ter2", "ter2"),
        ("host=h port=abc password=hunter2", "hunter2"),
        ("postgresql://u:hunter2@h:99999/db", "hunter2"),
        ("postgresql://u:hunter2@h/db?bogus=1", "hunter2"),
        ("", "x"),
    ])
    func rejectsMalformedStringsWithoutLeakingThePassword(dsn: String, secret: String) throws {
        let reason = try #require(ConnInfo.validate(dsn))
        #expect(!reason.contains(secret))
    }

    @Test func suggestsTheKeywordForATypo() {
        #expect(ConnInfo.validate("hots=127.0.0.1") == "unknown keyword (did you mean \"host\"?)")
        #expect(
            ConnInfo.validate("postgresql://h/db?sslmod=require")
                == "unknown query parameter (did you mean \"sslmode\"?)")
    }

    @Test(arguments: [
        ("host=h password=secret user=u", "host=h password=*** user=u"),
        ("host=h password='se cret \\' x' user=u", "host=h password=*** user=u"),
        ("password = secret", "password=***"),
        ("host=h sslpassword=keypass", "host=h sslpassword=***"),
        ("postgresql://u:secret@h:5432/db", "postgresql://u:***@h:5432/db"),
        ("postgres://u@h/db?password=secret&sslmode=require", "postgres://u@h/db?password=***&sslmode=require"),
        ("host=h user=u", "host=h user=u"),
        ("host=h password='unterminated secret", "host=h password=***"),
    ])
    func redactsPasswords(dsn: String, expected: String) {
        #expect(ConnInfo.redacted(dsn) == expected)
    }

    @Test func parsesKeywordForm() throws {
        let pairs = try #require(
            ConnInfo.parse(
                "host=a,b target_session_attrs=read-write options='-c statement_timeout=5s' password='a b\\'c'"))
        // libpq's own parse: its keyword order, every value unquoted and unescaped.
        #expect(
            Dictionary(uniqueKeysWithValues: pairs.map { ($0.key, $0.value) }) == [
                "host": "a,b", "target_session_attrs": "read-write", "options": "-c statement_timeout=5s",
                "password": "a b'c",
            ])
    }

    @Test func parsesURIs() throws {
        let pairs = try #require(ConnInfo.parse("postgresql://app:p%40ss@h1:5432,h2/db?application_name=x"))
        #expect(
            Dictionary(uniqueKeysWithValues: pairs.map { ($0.key, $0.value) }) == [
                "user": "app", "password": "p@ss", "host": "h1,h2", "port": "5432,", "dbname": "db",
                "application_name": "x",
            ])
        #expect(ConnInfo.parse("host=h bogus") == nil)
    }

    @Test(arguments: [
        ("redis://:pw@127.0.0.1:6379/0", "redis://:***@127.0.0.1:6379/0"),
        ("http://u:pw@h/path", "http://u:***@h/path"),
        ("http://h/path?password=pw", "http://h/path?password=***"),
        ("redis://127.0.0.1:6379", "redis://127.0.0.1:6379"),
        ("redis://:p@w/rd@h:1", "redis://:***@h:1"),
        // One rule set for every URL: connection options stay readable, any other query value (a hook's
        // token or signature) and the fragment do not.
        (
            "postgresql://u:pw@h/db?sslmode=verify-full&application_name=sy&sslpassword=k&token=t#frag",
            "postgresql://u:***@h/db?sslmode=verify-full&application_name=sy&sslpassword=***&token=***"
        ),
        ("https://hooks.example/x?sig=abc&v=1&flag", "https://hooks.example/x?sig=***&v=***&***"),
    ])
    func redactsURLs(url: String, expected: String) {
        #expect(URLRedaction.redacted(url) == expected)
    }
}
