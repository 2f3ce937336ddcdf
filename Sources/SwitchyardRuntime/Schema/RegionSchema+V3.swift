extension RegionSchema {
    /// A closed fence either drains (planned switchover: running commands finish, nothing new starts)
    /// or stops (failover: workers kill what they run, so no run executes in two regions at once).
    static let v3 = Migration(
        version: 3, name: "draining fence",
        sql: """
            ALTER TABLE switchyard.fence ADD COLUMN drain boolean NOT NULL DEFAULT false;
            """)
}
