extension RegionSchema {
    /// A region activated by a failover that could not fence the old region in its own database (the
    /// database was dead, hung or cut off) holds its dispatches until `hold_until`: the old region's
    /// workers may still be running their commands until their fence validity has lapsed (it ends with
    /// the old region's lease) and they have noticed. Until then the new leader dispatches nothing and
    /// workers claim nothing, so no run executes in two regions at once, even across a partition.
    static let v6 = Migration(
        version: 6, name: "dispatch hold after an unfenced failover",
        sql: """
            ALTER TABLE switchyard.fence ADD COLUMN hold_until timestamptz;
            """)
}
