extension ControlSchema {
    /// A failover whose old database was unreachable moved the runs the target's shadow copy held; runs
    /// queued in the old region after the last copy stayed there. When that database answers again, the
    /// failover leader copies what the target still lacks (`FailoverExecutor.reconcile`) and records it here.
    static let v7 = Migration(
        version: 7, name: "failover reconciliation",
        sql: """
            ALTER TABLE switchyard.failovers ADD COLUMN reconciled_at timestamptz, ADD COLUMN reconciliation jsonb;
            """)
}
