extension ControlSchema {
    /// The evidence behind each failing observation (positive or silence) and each observer's
    /// self-health: an observer in self-declared lag casts no down vote.
    static let v3 = Migration(
        version: 3, name: "observation evidence and up-since, observer self-health",
        sql: """
            ALTER TABLE switchyard.observations ADD COLUMN evidence text CHECK (evidence IN ('positive', 'silence'));
            ALTER TABLE switchyard.observations ADD COLUMN inconclusive bigint NOT NULL DEFAULT 0;
            -- Since when the component has been up (healthy, or at most suspect) without being down.
            ALTER TABLE switchyard.observations ADD COLUMN up_since timestamptz;
            ALTER TABLE switchyard.agents ADD COLUMN lagging boolean NOT NULL DEFAULT false;
            ALTER TABLE switchyard.agents ADD COLUMN lag_reason text;
            ALTER TABLE switchyard.agents ADD COLUMN lag_ms double precision;
            """)
}
