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
        #expect(ConnInfo.validate("hots=127.0.0.1") == "unknown keyword #1 (did you mean \"host\"?)")
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
        #expect(pairs.map(\.key) == ["host", "target_session_attrs", "options", "password"])
        #expect(pairs.map(\.value) == ["a,b", "read-write", "-c statement_timeout=5s", "a b'c"])
    }

    @Test func parsesURIs() throws {
        let pairs = try #require(ConnInfo.parse("postgresql://app:p%40ss@h1:5432,h2/db?application_name=x"))
        #expect(pairs.map(\.key) == ["user", "password", "host", "port", "dbname", "application_name"])
        #expect(pairs.map(\.value) == ["app", "p@ss", "h1,h2", "5432,", "db", "x"])
        #expect(ConnInfo.parse("host=h bogus") == nil)
    }

    @Test(arguments: [
        ("redis://:pw@127.0.0.1:6379/0", "redis://:***@127.0.0.1:6379/0"),
        ("http://u:pw@h/path", "http://u:***@h/path"),
        ("http://h/path?password=pw", "http://h/path?password=***"),
        ("redis://127.0.0.1:6379", "redis://127.0.0.1:6379"),
        ("redis://:p@w/rd@h:1", "redis://:***@h:1"),
    ])
    func redactsURLs(url: String, expected: String) {
        #expect(URLRedaction.redacted(url) == expected)
    }
}
