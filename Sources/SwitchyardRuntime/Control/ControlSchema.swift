/// The control database: cluster state, the active-region lease, observations, the failover
/// journal and events. Everything lives in the `switchyard` schema.
public enum ControlSchema {
    /// Every step, in order. Append; never edit a released step.
    public static let migrations: [Migration] = [
        Migration(
            version: 1, name: "cluster state, lease, observations, journal, events",
            sql: """
                CREATE TABLE switchyard.cluster_state (
                    id int PRIMARY KEY DEFAULT 1 CHECK (id = 1),
                    active_region text,
                    epoch bigint NOT NULL DEFAULT 0,
                    paused boolean NOT NULL DEFAULT false,
                    failover_id bigint,
                    updated_at timestamptz NOT NULL DEFAULT now()
                );
                INSERT INTO switchyard.cluster_state (id) VALUES (1);

                CREATE TABLE switchyard.regions (
                    name text PRIMARY KEY,
                    priority int NOT NULL,
                    added_at timestamptz NOT NULL DEFAULT now()
                );

                -- The active region's scheduler leader renews this; without a fresh lease it stops scheduling.
                CREATE TABLE switchyard.active_lease (
                    id int PRIMARY KEY DEFAULT 1 CHECK (id = 1),
                    region text,
                    epoch bigint NOT NULL DEFAULT 0,
                    holder text,
                    renewed_at timestamptz,
                    expires_at timestamptz
                );
                INSERT INTO switchyard.active_lease (id) VALUES (1);

                CREATE TABLE switchyard.agents (
                    observer text PRIMARY KEY,
                    host text,
                    pid int,
                    api_url text,
                    started_at timestamptz NOT NULL DEFAULT now(),
                    last_seen timestamptz NOT NULL DEFAULT now()
                );

                CREATE TABLE switchyard.observations (
                    observer text NOT NULL,
                    region text NOT NULL,
                    component text NOT NULL,
                    state text NOT NULL CHECK (state IN ('healthy', 'suspect', 'down', 'unknown')),
                    since timestamptz NOT NULL,
                    latency_ms double precision,
                    last_error text,
                    detail jsonb,
                    observed_at timestamptz NOT NULL DEFAULT now(),
                    PRIMARY KEY (observer, region, component)
                );

                CREATE TABLE switchyard.failovers (
                    id bigserial PRIMARY KEY,
                    kind text NOT NULL CHECK (kind IN ('failover', 'switchover', 'forced')),
                    from_region text,
                    to_region text NOT NULL,
                    reason text NOT NULL,
                    state text NOT NULL DEFAULT 'running'
                        CHECK (state IN ('running', 'completed', 'completed_with_errors', 'aborted')),
                    step text NOT NULL DEFAULT 'begin',
                    epoch bigint,
                    leader text,
                    runs_moved int,
                    runs_source text,
                    error text,
                    started_at timestamptz NOT NULL DEFAULT now(),
                    finished_at timestamptz
                );
                -- At most one failover runs at a time.
                CREATE UNIQUE INDEX failovers_one_running ON switchyard.failovers ((true)) WHERE state = 'running';

                CREATE TABLE switchyard.failover_steps (
                    failover_id bigint NOT NULL REFERENCES switchyard.failovers (id),
                    step text NOT NULL,
                    started_at timestamptz NOT NULL DEFAULT now(),
                    finished_at timestamptz,
                    result jsonb,
                    PRIMARY KEY (failover_id, step)
                );

                CREATE TABLE switchyard.events (
                    id bigserial PRIMARY KEY,
                    at timestamptz NOT NULL DEFAULT now(),
                    kind text NOT NULL,
                    region text,
                    message text NOT NULL,
                    detail jsonb
                );
                CREATE INDEX events_at ON switchyard.events (at);
                """),
        v2,
        v3,
        v4,
        v5,
        v6,
        v7,
    ]
}
