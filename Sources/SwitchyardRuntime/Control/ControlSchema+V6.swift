extension ControlSchema {
    /// When each failing component's run of failed probes began, on the control database's clock: the
    /// decision tells silences that began together (a partition of the observer) from a region that went
    /// dark long before another went silent.
    static let v6 = Migration(
        version: 6, name: "observation failing-since",
        sql: """
            ALTER TABLE switchyard.observations ADD COLUMN failing_since timestamptz;
            """)
}
