import Foundation
import SwitchyardLab
import SwitchyardRuntime

extension DevFixture {
    /// A real Airflow over `region`'s database (its tables beside the `switchyard` schema), migrated,
    /// with `dags` (file name → source) serialized; every Airflow process from it is stopped, awaited,
    /// at teardown and killed when the test process exits.
    public func airflow(_ region: String, dags: [String: String]) async throws -> AirflowHome {
        guard let pg = state.postgres[region] else { throw DevError("no region \(region)") }
        let home = try AirflowHome(
            directory: state.directory + "/airflow-\(region)", port: pg.port, database: LocalPostgres.database,
            user: LocalPostgres.user, passfile: state.passfile, dags: dags)
        TestServers.registerAirflowHome(home.directory)
        lock.withLock { airflowHomes.append(home) }
        try await home.migrateDatabase()
        if !dags.isEmpty { try await home.reserializeDAGs() }
        return home
    }
}
