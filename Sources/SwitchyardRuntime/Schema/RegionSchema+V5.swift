extension RegionSchema {
    /// An open fence is good for claiming new work only until `open_until`, which every fenced tick of
    /// the acting leader (holding a fresh active-region lease) pushes to the end of its lease (now + what is left of it). A region
    /// whose database died during a failover keeps `open = true` (nobody could write the fence), but
    /// when it comes back its `open_until` has passed, so its workers do not claim their old runs again
    /// (they run in the new active region). NULL means no expiry (a fence just opened, before a tick).
    static let v5 = Migration(
        version: 5, name: "fence validity",
        sql: """
            ALTER TABLE switchyard.fence ADD COLUMN open_until timestamptz;
            """)
}
