import Foundation
import Testing

@testable import SwitchyardCore

@Suite("A command's environment: what it needs, what the operator lists, never Switchyard's secrets")
struct CommandEnvironmentTests {
    let parent = [
        "PATH": "/usr/bin", "HOME": "/home/airflow", "LC_ALL": "C.UTF-8", "AIRFLOW_HOME": "/srv/airflow",
        "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor", "AIRFLOW_CONN_WAREHOUSE": "postgres://w", "VIRTUAL_ENV": "/venv",
        "US_EAST_DB_PASSWORD": "region-secret", "SWITCHYARD_API_TOKEN": "api-secret", "PGPASSWORD": "pg-secret",
        "PGPASSFILE": "/etc/switchyard/pgpass", "HOOK_SECRET": "hook-secret", "AWS_SECRET_ACCESS_KEY": "cloud-secret",
        "DATA_BUCKET": "s3://data",
    ]
    let withheld: Set<String> = ["US_EAST_DB_PASSWORD", "SWITCHYARD_API_TOKEN", "HOOK_SECRET"]

    @Test func aCommandGetsWhatAProgramAndAirflowNeedAndNothingElse() throws {
        let built = CommandEnvironment().build(
            from: parent, withheld: withheld, adding: ["SWITCHYARD_REGION": "us-east"])
        #expect(
            built == [
                "PATH": "/usr/bin", "HOME": "/home/airflow", "LC_ALL": "C.UTF-8", "AIRFLOW_HOME": "/srv/airflow",
                "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor", "AIRFLOW_CONN_WAREHOUSE": "postgres://w",
                "VIRTUAL_ENV": "/venv", "SWITCHYARD_REGION": "us-east",
            ])
    }

    @Test func theOperatorPassesOnAndSetsVariablesByName() throws {
        let environment = try CommandEnvironment.parse(["DATA_BUCKET", "AWS_SECRET_ACCESS_KEY", "MODE=blue", "EMPTY="])
        #expect(environment.passed == ["DATA_BUCKET", "AWS_SECRET_ACCESS_KEY"])
        #expect(environment.set.map(\.name) == ["MODE", "EMPTY"])
        #expect(environment.set.map(\.value) == ["blue", ""])
        try environment.check(withheld: withheld)
        let built = environment.build(from: parent, withheld: withheld)
        #expect(built["DATA_BUCKET"] == "s3://data")
        #expect(built["AWS_SECRET_ACCESS_KEY"] == "cloud-secret")  // the operator's to give
        #expect(built["MODE"] == "blue")
        #expect(built["EMPTY"] == "")
        #expect(built["US_EAST_DB_PASSWORD"] == nil)
    }

    @Test func aSecretOfSwitchyardsIsWithheldEvenUnderAnAirflowName() throws {
        // An operator who reads the region database's password from an AIRFLOW__ variable in Switchyard's
        // configuration too: withheld, with the rest of Airflow's settings still passed.
        var parent = self.parent
        parent["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] = "postgresql://airflow:secret@db/airflow"
        let built = CommandEnvironment().build(
            from: parent, withheld: withheld.union(["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]))
        #expect(built["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] == nil)
        #expect(built["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor")
    }

    @Test(arguments: ["US_EAST_DB_PASSWORD", "SWITCHYARD_API_TOKEN", "PGPASSWORD", "PGPASSFILE"])
    func passingASecretOnIsRefusedWithTheNameNeverTheValue(_ specification: String) throws {
        let environment = try CommandEnvironment.parse([specification])
        let refusal = #expect(throws: CommandEnvironment.Refusal.self) {
            try environment.check(withheld: withheld, option: "--exec-env")
        }
        let name = String(specification.prefix { $0 != "=" })
        #expect(refusal?.description.hasPrefix("--exec-env \(name): Switchyard reads a secret") == true)
        #expect(refusal?.description.contains("secret\"") == false)
        for value in parent.values where value.contains("secret") {
            #expect(refusal?.description.contains(value) == false)
        }
    }

    /// A value of the operator's own under a withheld name gives away nothing of the daemon's: Airflow's own
    /// password file under libpq's name.
    @Test func settingAValueOfYourOwnUnderAWithheldNameIsAllowed() throws {
        let environment = try CommandEnvironment.parse(["PGPASSFILE=/etc/airflow/pgpass"])
        try environment.check(withheld: withheld)
        let built = environment.build(from: parent, withheld: withheld)
        #expect(built["PGPASSFILE"] == "/etc/airflow/pgpass")
        #expect(built["PGPASSWORD"] == nil)
    }

    @Test func caAndProxySettingsPass() {
        let built = CommandEnvironment().build(
            from: ["https_proxy": "http://proxy:3128", "NO_PROXY": "localhost", "REQUESTS_CA_BUNDLE": "/etc/ca.pem"],
            withheld: withheld)
        #expect(built.count == 3)
    }

    @Test(arguments: ["", "=x", "1ABC", "A-B", "A B=c"])
    func aMalformedSpecificationIsRefused(_ specification: String) {
        #expect(throws: CommandEnvironment.Refusal.self) { try CommandEnvironment.parse([specification]) }
    }

    @Test func theConfigurationNamesEverySecretItReads() throws {
        let fixture = try ConfigFixture([
            "controlplane.yaml": """
            control:
              dsn: "host=127.0.0.1 dbname=control password='${CONTROL_DB_PASSWORD}'"
            api:
              token_env: OPS_TOKEN
            """,
            "us-east.yaml": """
            name: us-east
            priority: 100
            database:
              dsn: "host=127.0.0.1 dbname=app password='${US_EAST_DB_PASSWORD:-}'"
            redis:
              sentinel:
                addresses: ["127.0.0.1:26379"]
                master: mymaster
                password_env: SENTINEL_PASSWORD
            routing:
              hooks:
                - name: dns
                  url: "http://127.0.0.1:9/route"
                  secret_env: ROUTE_HOOK_SECRET
            """,
        ])
        defer { fixture.remove() }
        let configuration = try ConfigLoader.load(
            directory: fixture.directory, environment: ["CONTROL_DB_PASSWORD": "c", "PATH": "/usr/bin"])
        #expect(configuration.referencedVariables == ["CONTROL_DB_PASSWORD", "US_EAST_DB_PASSWORD"])
        #expect(
            configuration.withheldVariables == [
                "CONTROL_DB_PASSWORD", "US_EAST_DB_PASSWORD", "OPS_TOKEN", "SENTINEL_PASSWORD", "ROUTE_HOOK_SECRET",
                "PGPASSWORD", "PGPASSFILE",
            ])
    }
}
