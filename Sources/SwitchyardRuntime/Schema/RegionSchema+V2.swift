extension RegionSchema {
    /// Workers register in `nodes` too; runs remember which node created them.
    static let v2 = Migration(
        version: 2, name: "worker nodes",
        sql: """
            ALTER TABLE switchyard.nodes DROP CONSTRAINT nodes_role_check;
            ALTER TABLE switchyard.nodes ADD CONSTRAINT nodes_role_check
                CHECK (role IN ('leader', 'follower', 'stopped', 'worker'));
            ALTER TABLE switchyard.nodes ADD COLUMN kind text NOT NULL DEFAULT 'scheduler'
                CHECK (kind IN ('scheduler', 'worker'));
            ALTER TABLE switchyard.dag_run ADD COLUMN created_epoch bigint;
            """)
}
