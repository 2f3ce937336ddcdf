extension RegionSchema {
    /// A leader that stopped its `--exec` command before releasing its lock records its epoch here, so
    /// its successor may start its own at once; any other successor waits until the predecessor's
    /// command can no longer be running (its guard's bound from the last heartbeat, plus its grace).
    static let v8 = Migration(
        version: 8, name: "exec hand-off",
        sql: """
            ALTER TABLE switchyard.leadership ADD COLUMN exec_stopped_epoch bigint;
            """)
}
