extension ControlSchema {
    /// Operators' failover and switchover requests, picked up by the failover leader.
    static let v2 = Migration(
        version: 2, name: "failover requests",
        sql: """
            CREATE TABLE switchyard.failover_requests (
                id bigserial PRIMARY KEY,
                kind text NOT NULL CHECK (kind IN ('forced', 'switchover')),
                to_region text NOT NULL,
                reason text NOT NULL,
                requested_at timestamptz NOT NULL DEFAULT now(),
                picked_at timestamptz,
                failover_id bigint REFERENCES switchyard.failovers (id),
                error text
            );
            ALTER TABLE switchyard.failovers ADD COLUMN request_id bigint;
            """)
}
