extension RegionSchema {
    /// A worker that gates another executor's long-lived command (`switchyard worker --exec`: a Celery
    /// worker) says in its row whether that command may be running, so a failover's census knows whether
    /// the target must hold for it. It sets `command_running` in the same statement that checks the fence
    /// before it starts the command, and clears it only once the command has exited.
    static let v10 = Migration(
        version: 10, name: "gated commands",
        sql: """
            ALTER TABLE switchyard.nodes ADD COLUMN command_running boolean NOT NULL DEFAULT false;
            ALTER TABLE switchyard.nodes ADD COLUMN command_since timestamptz;
            """)
}
