extension RegionSchema {
    /// The failsafe lease (one row in every region database). While the control database is
    /// unreachable, the active region's leader keeps acting only while a majority of the region
    /// databases, its own included, hold its unexpired row here, carrying the cluster epoch it last held
    /// the active-region lease at. A failover raises `revoked_below` to its new epoch in enough of them
    /// that every majority shares one, before it reads what is left of the lease and waits it out: a
    /// renewal with an older epoch is refused from then on.
    ///
    /// The fence records where the validity it carries came from (`control` or `failsafe`), since when
    /// the leader has acted on the failsafe lease, and which regions confirm it, for status.
    static let v7 = Migration(
        version: 7, name: "failsafe lease",
        sql: """
            CREATE TABLE switchyard.failsafe_lease (
                id int PRIMARY KEY CHECK (id = 1),
                region text,
                cluster_epoch bigint NOT NULL DEFAULT 0,
                holder text,
                renewed_at timestamptz,
                expires_at timestamptz,
                revoked_below bigint NOT NULL DEFAULT 0,
                revoked_by text,
                revoked_at timestamptz
            );
            INSERT INTO switchyard.failsafe_lease (id) VALUES (1);
            ALTER TABLE switchyard.fence ADD COLUMN validity_source text,
                ADD COLUMN failsafe_since timestamptz, ADD COLUMN failsafe_regions text[];
            """)
}
