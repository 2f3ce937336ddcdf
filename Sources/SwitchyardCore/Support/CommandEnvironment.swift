/// The environment a command Switchyard starts gets (a leader's `--exec`, a worker's DAG command): an
/// explicit one, as a systemd unit or a Kubernetes pod has, never the daemon's own.
///
/// The daemon's environment holds Switchyard's secrets: every variable its configuration reads (the
/// control and region databases' passwords through `${VAR}`, the API token, hook secrets, a Sentinel
/// password) and libpq's `PGPASSWORD` and `PGPASSFILE`. A command gets only what a program needs to run
/// (`PATH`, `HOME`, the locale, a Python virtualenv), Airflow's own settings (`AIRFLOW_HOME`,
/// `AIRFLOW__SECTION__KEY`, `AIRFLOW_CONN_*`, `AIRFLOW_VAR_*`), what the operator lists
/// (`--exec-env NAME` passes the daemon's `NAME` on, `--exec-env NAME=VALUE` sets it) and what the
/// daemon itself adds (`SWITCHYARD_REGION`, …). A variable Switchyard's configuration reads is withheld
/// even when it matches one of those, and passing one on by name is refused; setting it to a value of
/// the operator's (`NAME=VALUE`) gives away nothing of the daemon's and is allowed.
///
/// The environment is one way a command could read the daemon's secrets; the other is the daemon's
/// `/proc/PID/environ`, which a command running as the same user could read: every daemon makes itself
/// non-dumpable at start (`PR_SET_DUMPABLE`), which closes it.
public struct CommandEnvironment: Sendable, Equatable {
    /// Names passed on from the daemon's environment when set.
    public static let passedNames: Set<String> = [
        "PATH", "HOME", "USER", "LOGNAME", "SHELL", "LANG", "LANGUAGE", "TZ", "TMPDIR", "TERM", "VIRTUAL_ENV",
        "PYTHONPATH", "PYTHONHOME", "PYTHONUNBUFFERED", "PYTHONDONTWRITEBYTECODE", "AIRFLOW_HOME", "AIRFLOW_CONFIG",
        // A host behind a corporate CA or proxy: without these, tasks fail on TLS or the network in ways that
        // are hard to trace (a proxy URL can carry credentials: it is the host's, given to every program).
        "SSL_CERT_FILE", "SSL_CERT_DIR", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "http_proxy", "https_proxy",
        "no_proxy", "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY",
    ]
    /// Prefixes of names passed on: the locale, and Airflow's settings, connections and variables.
    public static let passedPrefixes = ["LC_", "AIRFLOW__", "AIRFLOW_CONN_", "AIRFLOW_VAR_"]
    /// Secrets of Switchyard's own that no configuration names: libpq reads them by itself.
    public static let alwaysWithheld: Set<String> = ["PGPASSWORD", "PGPASSFILE"]

    /// Names the operator passes on from the daemon's environment.
    public var passed: [String]
    /// Variables the operator sets, in order (a later one wins).
    public var set: [(name: String, value: String)]

    /// An environment with the operator's names and settings.
    public init(passed: [String] = [], set: [(name: String, value: String)] = []) {
        self.passed = passed
        self.set = set
    }

    /// Same names passed and same settings, in order.
    public static func == (a: CommandEnvironment, b: CommandEnvironment) -> Bool {
        a.passed == b.passed && a.set.map(\.name) == b.set.map(\.name) && a.set.map(\.value) == b.set.map(\.value)
    }

    /// Why an `--exec-env` could not be taken; names the variable, never a value.
    public struct Refusal: Error, Equatable, CustomStringConvertible {
        /// The reason, naming the option and the variable.
        public let description: String
    }

    /// Reads `NAME` and `NAME=VALUE` specifications.
    public static func parse(_ specifications: [String], option: String = "--exec-env") throws(Refusal) -> Self {
        var environment = CommandEnvironment()
        for specification in specifications {
            let name = specification.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)[0]
            guard EnvironmentExpansion.isVariableName(name) else {
                throw Refusal(
                    description:
                        "\(option) \"\(name.prefix(40))\": expected NAME or NAME=VALUE with a variable name such as AIRFLOW_HOME"
                )
            }
            if specification.count > name.count {
                environment.set.append((String(name), String(specification.dropFirst(name.count + 1))))
            } else {
                environment.passed.append(String(name))
            }
        }
        return environment
    }

    /// Refuses any name passed on that is one of Switchyard's secrets (`withheld`).
    public func check(withheld: Set<String>, option: String = "--exec-env") throws(Refusal) {
        let all = withheld.union(Self.alwaysWithheld)
        for name in passed where all.contains(name) {
            throw Refusal(
                description:
                    "\(option) \(name): Switchyard reads a secret of its own from it (a password, a token or a hook secret), and a command never gets those; give the command a value of its own (\(option) \(name)=VALUE) or a variable of its own"
            )
        }
    }

    /// The command's environment: what `parent` has of the names and prefixes passed by default and of the
    /// operator's names, except anything in `withheld` (or always withheld); then the operator's settings
    /// and `adding`, which are values of their own.
    public func build(from parent: [String: String], withheld: Set<String>, adding: [String: String] = [:])
        -> [String: String]
    {
        let all = withheld.union(Self.alwaysWithheld)
        var result: [String: String] = [:]
        for (name, value) in parent where !all.contains(name) {
            if Self.passedNames.contains(name) || Self.passedPrefixes.contains(where: { name.hasPrefix($0) })
                || passed.contains(name)
            {
                result[name] = value
            }
        }
        for (name, value) in set { result[name] = value }
        for (name, value) in adding { result[name] = value }
        return result
    }
}
