extension ControlSchema {
    /// An operator's request keeps its kind: a `failover` the decision agreed to when it was admitted
    /// is journaled as a `failover`, not as `forced`.
    static let v4 = Migration(
        version: 4, name: "failover requests keep their kind",
        sql: """
            ALTER TABLE switchyard.failover_requests DROP CONSTRAINT failover_requests_kind_check;
            ALTER TABLE switchyard.failover_requests ADD CONSTRAINT failover_requests_kind_check
                CHECK (kind IN ('failover', 'forced', 'switchover'));
            """)
}
