import HTTP
import Postgres
import Redis
import SwitchyardCore

/// Sorts a probe's failure into positive evidence (the target said it is dead or unfit) or silence
/// (nothing answered in time): the decision waits much longer on silence, which a slow observer or
/// network can produce, than on evidence, which only the target can.
enum EvidenceClass {
    /// A failure's class: the evidence it counts as, and, when the target answered but said nothing of
    /// its health (it refused our credentials, does not know our role or database, or an administrator
    /// ended our session while it still accepts connections), why it is ambiguous. An ambiguous failure
    /// counts only like silence: rotating a password on the observers' side, or a DBA killing sessions,
    /// must never fail a healthy region over in a second. It raises an event and a metric instead.
    struct Verdict: Equatable {
        var evidence: Evidence
        var ambiguity: String?

        static let positive = Verdict(evidence: .positive)
        static let silence = Verdict(evidence: .silence)
        static func ambiguous(_ why: String) -> Verdict { Verdict(evidence: .silence, ambiguity: why) }
    }

    /// Words of libpq and the server that say the target answered but refused this observer for a reason
    /// of its own, with what they mean; checked before the positive markers.
    static let postgresAmbiguous: [(marker: String, why: String)] = [
        ("administrator command", "an administrator ended the probe's session"),
        ("authentication failed", "the server refused the observer's credentials"),
        ("password", "the server refused the observer's credentials"),
        ("no pg_hba.conf entry", "the server's pg_hba.conf does not admit the observer"),
        ("does not exist", "the observer's role or database does not exist there"),
    ]

    /// Words of libpq and the server that only a live kernel or server on the target says, and that say
    /// it is dead or unfit.
    static let postgresMarkers = [
        "connection refused", "connection reset", "server closed the connection", "terminating connection",
        "shutting down", "starting up", "in recovery", "not yet accepting connections", "read-only",
    ]

    static func postgres(_ message: String) -> Verdict {
        let text = message.lowercased()
        if text.contains("timed out") || text.contains("timeout") { return .silence }
        if let hit = postgresAmbiguous.first(where: { text.contains($0.marker) }) { return .ambiguous(hit.why) }
        return postgresMarkers.contains { text.contains($0) } ? .positive : .silence
    }

    static func postgres(_ error: Error) -> Verdict {
        guard let error = error as? PostgresError else { return .silence }
        switch error.code {
        case .timeout, .cancelled, .closed, .decoding, .other, .invalidConnectionString: return .silence
        case .connectionFailed: return postgres(error.message)
        case .connectionLost:
            let text = error.message.lowercased()
            if text.contains("timed out") { return .silence }
            if text.contains("administrator command") {
                return .ambiguous("an administrator ended the probe's session")
            }
            return .positive
        case .server:
            guard let state = error.sqlState else { return .silence }
            // 57P01 is pg_terminate_backend as much as a shutdown: the next probe's ping tells them apart
            // (a shutting-down server refuses it). 28xxx: authentication; 3D000: no such database.
            if state == "57P01" { return .ambiguous("an administrator ended the probe's session") }
            if state.hasPrefix("28") { return .ambiguous("the server refused the observer's credentials") }
            if state == "3D000" { return .ambiguous("the observer's database does not exist there") }
            // 57P02-03: crash shutdown, cannot connect now; 25006: read-only.
            return state.hasPrefix("57P") || state == "25006" ? .positive : .silence
        }
    }

    static func redis(_ error: Error) -> Verdict {
        guard let error = error as? RedisError else { return .silence }
        let text = error.message.lowercased()
        let credentials = ["wrongpass", "noauth", "invalid password", "invalid username-password"]
        if credentials.contains(where: { text.contains($0) }) {
            return .ambiguous("the server refused the observer's credentials")
        }
        switch error.code {
        case .timeout, .closed, .invalidAddress, .unexpectedReply: return .silence
        case .connectionLost: return text.contains("timed out") ? .silence : .positive
        case .connectionFailed:
            let markers = ["connection refused", "connection reset", "no such file", "loading", "masterdown"]
            return markers.contains { text.contains($0) } ? .positive : .silence
        case .server:
            // LOADING (the dataset is not in memory yet), MASTERDOWN (a replica lost its master), BUSY, READONLY.
            return ["loading", "masterdown", "busy", "readonly"].contains { text.hasPrefix($0) || text.contains($0) }
                ? .positive : .silence
        }
    }

    static func http(_ error: Error) -> Evidence {
        guard let error = error as? HTTPError else { return .silence }
        if case .connect = error.kind {
            let text = "\(error)".lowercased()
            return text.contains("refused") || text.contains("reset") ? .positive : .silence
        }
        return .silence
    }
}
