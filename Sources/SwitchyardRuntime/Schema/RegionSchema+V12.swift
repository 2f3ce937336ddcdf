extension RegionSchema {
    /// The shadow of an Airflow region: what a migration would read of it (the active runs with their
    /// task instances, the finished tasks' XComs and task maps, the schedule's tail and each DAG's
    /// next-run fields), one row per part as COPY text with its columns, so a failover whose old
    /// database is dead carries each run on from where the last copy left it, as it would from the
    /// database itself. `shadow_sync` still marks the copy's epoch and time.
    static let v12 = Migration(
        version: 12, name: "airflow shadow",
        sql: """
            CREATE TABLE switchyard.shadow_airflow (
                source_region text NOT NULL,
                source_epoch bigint NOT NULL,
                part text NOT NULL,
                columns text[] NOT NULL,
                data bytea NOT NULL,
                PRIMARY KEY (source_region, part)
            );
            """)
}
