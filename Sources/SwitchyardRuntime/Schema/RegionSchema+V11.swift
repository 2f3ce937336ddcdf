extension RegionSchema {
    /// A scheduler node that gives `airflow scheduler` a Fernet key in its environment records a
    /// fingerprint of it (never the key), so the agents can tell regions whose keys differ.
    static let v11 = Migration(
        version: 11, name: "airflow fernet fingerprints",
        sql: """
            ALTER TABLE switchyard.nodes ADD COLUMN airflow_fernet text;
            """)
}
