extension RegionSchema {
    /// Each shadow row carries the cluster epoch its source region was active at when it was copied, and
    /// `shadow_sync` says when the last copy landed (on this database's clock), so a failover that
    /// migrates from the shadow takes only copies of the source's current active period and reports how
    /// old they are. A copy from an earlier period (the source failed over and back since) would move
    /// runs that finished long ago.
    static let v9 = Migration(
        version: 9, name: "shadow epochs",
        sql: """
            ALTER TABLE switchyard.shadow_dag_run ADD COLUMN source_epoch bigint;
            CREATE TABLE switchyard.shadow_sync (
                source_region text PRIMARY KEY,
                source_epoch bigint NOT NULL,
                rows int NOT NULL,
                synced_at timestamptz NOT NULL DEFAULT now()
            );
            """)
}
