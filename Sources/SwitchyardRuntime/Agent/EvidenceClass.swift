import HTTP
import Postgres
import Redis
import SwitchyardCore

/// Sorts a probe's failure into positive evidence (the target said it is dead or unfit) or silence
/// (nothing answered in time): the decision waits much longer on silence, which a slow observer or
/// network can produce, than on evidence, which only the target can.
enum EvidenceClass {
    /// Words of libpq and the server that only a live kernel or server on the target says.
    static let postgresMarkers = [
        "connection refused", "connection reset", "server closed the connection", "terminating connection",
        "shutting down", "starting up", "in recovery", "not yet accepting connections", "authentication failed",
        "password", "no pg_hba.conf entry", "does not exist", "read-only",
    ]

    static func postgres(_ message: String) -> Evidence {
        let text = message.lowercased()
        if text.contains("timed out") || text.contains("timeout") { return .silence }
        return postgresMarkers.contains { text.contains($0) } ? .positive : .silence
    }

    static func postgres(_ error: Error) -> Evidence {
        guard let error = error as? PostgresError else { return .silence }
        switch error.code {
        case .timeout, .cancelled, .closed, .decoding, .other, .invalidConnectionString: return .silence
        case .connectionFailed: return postgres(error.message)
        case .connectionLost: return error.message.lowercased().contains("timed out") ? .silence : .positive
        case .server:
            // 57P01-03: admin or crash shutdown, cannot connect now; 25006: read-only; 28xxx: authentication.
            guard let state = error.sqlState else { return .silence }
            return state.hasPrefix("57P") || state == "25006" || state.hasPrefix("28") ? .positive : .silence
        }
    }

    static func redis(_ error: Error) -> Evidence {
        guard let error = error as? RedisError else { return .silence }
        let text = error.message.lowercased()
        switch error.code {
        case .timeout, .closed, .invalidAddress, .unexpectedReply: return .silence
        case .connectionLost: return text.contains("timed out") ? .silence : .positive
        case .connectionFailed:
            let markers = [
                "connection refused", "connection reset", "no such file", "wrongpass", "noauth", "invalid password",
                "loading", "masterdown",
            ]
            return markers.contains { text.contains($0) } ? .positive : .silence
        case .server:
            // LOADING (the dataset is not in memory yet), MASTERDOWN (a replica lost its master), BUSY, auth.
            return ["loading", "masterdown", "busy", "noauth", "wrongpass", "readonly"].contains {
                text.hasPrefix($0) || text.contains($0)
            }
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
