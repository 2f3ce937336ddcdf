extension ControlSchema {
    /// Incidents: one row per region failure from its first down to its resolution (`Incidents`), at
    /// most one open per region. `trigger_notified_at` and `resolve_notified_at` make it an outbox: a
    /// notification not yet sent (the leader stopped, a write failed) is sent by the next leader.
    static let v5 = Migration(
        version: 5, name: "incidents",
        sql: """
            CREATE TABLE switchyard.incidents (
                id bigserial PRIMARY KEY,
                region text NOT NULL,
                reason text NOT NULL,
                opened_at timestamptz NOT NULL DEFAULT now(),
                healthy_since timestamptz,
                recovered boolean NOT NULL DEFAULT false,
                resolved_at timestamptz,
                trigger_notified_at timestamptz,
                resolve_notified_at timestamptz,
                flaps integer NOT NULL DEFAULT 0,
                notifications integer NOT NULL DEFAULT 0,
                notify_failures integer NOT NULL DEFAULT 0
            );
            CREATE UNIQUE INDEX incidents_one_open ON switchyard.incidents (region) WHERE resolved_at IS NULL;
            """)
}
