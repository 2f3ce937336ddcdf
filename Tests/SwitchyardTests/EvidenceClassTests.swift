import Postgres
import Redis
import SwitchyardCore
import Testing

@testable import SwitchyardRuntime

/// Only what the target says about its own death is positive evidence; a target that answered but
/// refused this observer (credentials, a missing role or database, an administrator ending the probe's
/// session while it still accepts connections) says nothing of its health and counts like silence.
@Suite("Evidence classes")
struct EvidenceClassTests {
    typealias V = EvidenceClass.Verdict

    static func pg(_ code: PostgresError.Code, _ state: String? = nil, _ message: String) -> PostgresError {
        PostgresError(code: code, operation: "probe", sqlState: state, message: message)
    }

    @Test(
        arguments: [
            (pg(.connectionFailed, nil, "connection to server failed: Connection refused"), "positive"),
            (pg(.connectionFailed, nil, "FATAL:  the database system is shutting down"), "positive"),
            (pg(.server, "57P03", "the database system is starting up"), "positive"),
            (pg(.server, "57P02", "terminating connection because of crash of another server process"), "positive"),
            (pg(.server, "25006", "cannot execute UPDATE in a read-only transaction"), "positive"),
            (pg(.connectionLost, nil, "server closed the connection unexpectedly"), "positive"),
            (pg(.timeout, nil, "query timed out after 800ms"), "silence"),
            (pg(.connectionLost, nil, "connection timed out"), "silence"),
            (pg(.connectionFailed, nil, "FATAL:  password authentication failed for user \"switchyard\""), "ambiguous"),
            (pg(.server, "28P01", "password authentication failed for user \"switchyard\""), "ambiguous"),
            (pg(.server, "28000", "role \"switchyard\" does not exist"), "ambiguous"),
            (pg(.connectionFailed, nil, "FATAL:  database \"switchyard_us\" does not exist"), "ambiguous"),
            (pg(.connectionFailed, nil, "FATAL:  no pg_hba.conf entry for host \"127.0.0.1\""), "ambiguous"),
            (pg(.server, "57P01", "terminating connection due to administrator command"), "ambiguous"),
            (
                pg(.connectionLost, nil, "FATAL:  terminating connection due to administrator command\nserver closed"),
                "ambiguous"
            ),
        ] as [(PostgresError, String)])
    func postgres(error: PostgresError, expected: String) {
        let verdict = EvidenceClass.postgres(error)
        switch expected {
        case "positive": #expect(verdict == V.positive, "\(error.message)")
        case "silence": #expect(verdict == V.silence, "\(error.message)")
        default:
            #expect(verdict.evidence == .silence && verdict.ambiguity != nil, "\(error.message)")
        }
    }

    @Test func redisCredentialsAreAmbiguousAndLoadingIsPositive() {
        let wrongpass = RedisError(
            code: .server, operation: "AUTH", message: "WRONGPASS invalid username-password pair or user is disabled.")
        #expect(EvidenceClass.redis(wrongpass).evidence == .silence)
        #expect(EvidenceClass.redis(wrongpass).ambiguity != nil)
        let noauth = RedisError(
            code: .connectionFailed, operation: "connect", message: "NOAUTH Authentication required.")
        #expect(EvidenceClass.redis(noauth).ambiguity != nil)
        let loading = RedisError(code: .server, operation: "PING", message: "LOADING Redis is loading the dataset")
        #expect(EvidenceClass.redis(loading) == V.positive)
        let refused = RedisError(code: .connectionFailed, operation: "connect", message: "Connection refused")
        #expect(EvidenceClass.redis(refused) == V.positive)
    }

    /// An ambiguous failure never becomes positive evidence in the hysteresis: a region whose observers'
    /// password was rotated goes down only on the silence grace, never on the evidence one.
    @Test func anAmbiguousFailureCountsOnlyLikeSilence() {
        let result = ProbeResult.failed("password authentication failed", evidence: .positive, ambiguity: "credentials")
        #expect(result.evidence == .silence)
        var health = ComponentHealth(
            thresholds: .init(failuresToSuspect: 1, failuresToDown: 3, downAfter: .seconds(3), successesToRecover: 2))
        let start = ContinuousClock.now
        for i in 0..<5 {
            health.record(
                success: false, latency: nil, error: result.error, evidence: result.evidence ?? .silence,
                at: start + .milliseconds(250 * i), wallClock: .now)
        }
        #expect(health.state == .suspect)
        #expect(health.evidence == .silence)
    }
}
