extension RegionSchema {
    /// The acting record behind the dual-leader check of drills: every tick that passes the epoch and
    /// fence check stamps the interval its leader acted in, per (leadership epoch, cluster epoch). Two
    /// intervals that overlap in one region, or across regions, would be two acting leaders; the
    /// records come from the fenced transactions themselves, not from logs.
    static let v4 = Migration(
        version: 4, name: "acting terms",
        sql: """
            CREATE TABLE switchyard.acting_terms (
                epoch bigint NOT NULL,
                cluster_epoch bigint NOT NULL,
                node_id text,
                first_acted_at timestamptz NOT NULL,
                last_acted_at timestamptz NOT NULL,
                ticks bigint NOT NULL DEFAULT 1,
                PRIMARY KEY (epoch, cluster_epoch)
            );
            """)
}
