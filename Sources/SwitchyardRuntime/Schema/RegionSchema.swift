/// A region database: scheduler nodes, the leadership epoch, the region fence, DAGs, runs (with
/// Apache Airflow's column names for the columns it shares), shadow runs and the execution log.
public enum RegionSchema {
    /// Every step, in order. Append; never edit a released step.
    public static let migrations: [Migration] = [
        Migration(
            version: 1, name: "nodes, leadership, fence, dags, dag_run, shadow runs, executions",
            sql: """
                CREATE TABLE switchyard.nodes (
                    node_id text PRIMARY KEY,
                    host text NOT NULL,
                    pid int NOT NULL,
                    role text NOT NULL DEFAULT 'follower' CHECK (role IN ('leader', 'follower', 'stopped')),
                    epoch bigint,
                    started_at timestamptz NOT NULL DEFAULT now(),
                    last_heartbeat timestamptz NOT NULL DEFAULT now()
                );

                -- Winning the advisory lock increments epoch here, in the lock session: the fencing token.
                CREATE TABLE switchyard.leadership (
                    id int PRIMARY KEY DEFAULT 1 CHECK (id = 1),
                    epoch bigint NOT NULL DEFAULT 0,
                    leader_node text,
                    since timestamptz,
                    heartbeat_at timestamptz
                );
                INSERT INTO switchyard.leadership (id) VALUES (1);

                -- The cluster epoch this region was last fenced or opened with. Only an open fence lets the
                -- region's leader act; a failover closes it with a higher epoch.
                CREATE TABLE switchyard.fence (
                    id int PRIMARY KEY DEFAULT 1 CHECK (id = 1),
                    cluster_epoch bigint NOT NULL DEFAULT 0,
                    open boolean NOT NULL DEFAULT false,
                    reason text,
                    updated_at timestamptz NOT NULL DEFAULT now()
                );
                INSERT INTO switchyard.fence (id) VALUES (1);

                CREATE TABLE switchyard.dags (
                    dag_id text PRIMARY KEY,
                    schedule text,
                    command text NOT NULL,
                    max_active_runs int NOT NULL DEFAULT 16,
                    timeout_seconds double precision,
                    is_paused boolean NOT NULL DEFAULT false,
                    next_run_after timestamptz,
                    updated_at timestamptz NOT NULL DEFAULT now()
                );

                CREATE TABLE switchyard.dag_run (
                    id bigserial PRIMARY KEY,
                    dag_id text NOT NULL,
                    run_id text NOT NULL,
                    run_type text NOT NULL DEFAULT 'scheduled',
                    state text NOT NULL DEFAULT 'queued' CHECK (state IN ('queued', 'running', 'success', 'failed')),
                    logical_date timestamptz,
                    run_after timestamptz NOT NULL DEFAULT now(),
                    data_interval_start timestamptz,
                    data_interval_end timestamptz,
                    queued_at timestamptz DEFAULT now(),
                    start_date timestamptz,
                    end_date timestamptz,
                    conf jsonb,
                    triggered_by text,
                    last_scheduling_decision timestamptz,
                    updated_at timestamptz NOT NULL DEFAULT now(),
                    dispatch_epoch bigint,
                    dispatch_id text,
                    attempt int NOT NULL DEFAULT 0,
                    worker text,
                    note text,
                    migrated_from text,
                    UNIQUE (dag_id, run_id)
                );
                CREATE INDEX dag_run_active ON switchyard.dag_run (dag_id, state) WHERE state IN ('queued', 'running');

                -- Standby copy of another region's active runs, kept by the failover leader.
                CREATE TABLE switchyard.shadow_dag_run (
                    source_region text NOT NULL,
                    dag_id text NOT NULL,
                    run_id text NOT NULL,
                    run_type text NOT NULL,
                    state text NOT NULL,
                    logical_date timestamptz,
                    run_after timestamptz NOT NULL,
                    data_interval_start timestamptz,
                    data_interval_end timestamptz,
                    queued_at timestamptz,
                    start_date timestamptz,
                    conf jsonb,
                    triggered_by text,
                    synced_at timestamptz NOT NULL DEFAULT now(),
                    PRIMARY KEY (source_region, dag_id, run_id)
                );

                -- Every execution a worker starts, to prove no run executes twice.
                CREATE TABLE switchyard.executions (
                    id bigserial PRIMARY KEY,
                    dag_id text NOT NULL,
                    run_id text NOT NULL,
                    attempt int NOT NULL,
                    epoch bigint NOT NULL,
                    worker text NOT NULL,
                    started_at timestamptz NOT NULL DEFAULT now(),
                    finished_at timestamptz,
                    outcome text
                );
                CREATE INDEX executions_run ON switchyard.executions (dag_id, run_id);
                """),
        v2,
        v3,
        v4,
        v5,
        v6,
        v7,
        v8,
        v9,
        v10,
        v11,
        v12,
    ]
}
