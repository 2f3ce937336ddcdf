import Foundation
import Postgres

/// The least privileges of Switchyard's roles (`switchyard init --grants`): the agent (also
/// `migrate-runs` and the operator's commands), the scheduler nodes and the workers each get what
/// their statements touch and nothing else; the owner (who runs `init`) keeps every table. No role
/// needs a superuser or `pg_monitor`: every function Switchyard calls is executable by everyone, and
/// every setting it changes is one a user may set. Table-wide SELECT where the migration reads
/// columns from `information_schema` (it shows only the columns a role may read). Grants are per
/// table: run `init --grants` again after every upgrade (and, in Airflow regions, after
/// `airflow db migrate`).
public enum Grants {
    /// The roles' names.
    public struct Roles: Sendable, Equatable {
        /// The agent's role (observer, failover leader; `migrate-runs`, `failover`, `switchover`, `trigger`).
        public var agent: String
        /// The scheduler nodes' role.
        public var scheduler: String
        /// The workers' role.
        public var worker: String

        /// Creates the names; the defaults are `switchyard_agent`, `switchyard_scheduler`, `switchyard_worker`.
        public init(
            agent: String = "switchyard_agent", scheduler: String = "switchyard_scheduler",
            worker: String = "switchyard_worker"
        ) {
            self.agent = agent
            self.scheduler = scheduler
            self.worker = worker
        }
    }

    /// The statements for the control database.
    public static func control(_ roles: Roles) -> [String] {
        let (a, s) = (q(roles.agent), q(roles.scheduler))
        return [
            connect(roles.agent, roles.scheduler, temporary: false),
            "GRANT USAGE ON SCHEMA switchyard TO \(a), \(s)",
            // The agent: observations and its heartbeat, the failover journal, requests, incidents, events.
            """
            GRANT SELECT ON switchyard.cluster_state, switchyard.active_lease, switchyard.agents, switchyard.observations,
                switchyard.failovers, switchyard.failover_steps, switchyard.failover_requests, switchyard.incidents,
                switchyard.events TO \(a)
            """,
            """
            GRANT INSERT, UPDATE ON switchyard.agents, switchyard.observations, switchyard.failovers,
                switchyard.failover_steps, switchyard.failover_requests, switchyard.incidents TO \(a)
            """,
            "GRANT INSERT ON switchyard.events TO \(a)",
            "GRANT UPDATE ON switchyard.cluster_state TO \(a)",
            "GRANT USAGE ON ALL SEQUENCES IN SCHEMA switchyard TO \(a)",
            // A scheduler node: the active-region lease, against the cluster state.
            "GRANT SELECT, UPDATE ON switchyard.active_lease TO \(s)",
            "GRANT SELECT ON switchyard.cluster_state TO \(s)",
        ]
    }

    /// The statements for a region database (Switchyard's schema).
    public static func region(_ roles: Roles) -> [String] {
        let (a, s, w) = (q(roles.agent), q(roles.scheduler), q(roles.worker))
        return [
            connect(roles.agent, roles.scheduler, roles.worker, temporary: false),
            // The migration stages rows in temporary tables.
            connect(roles.agent, temporary: true),
            "GRANT USAGE ON SCHEMA switchyard TO \(a), \(s), \(w)",
            // The agent: probes, the fence and the failsafe revocation, the migration, the shadow copy.
            "GRANT SELECT ON switchyard.leadership, switchyard.nodes, switchyard.executions TO \(a)",
            "GRANT SELECT, UPDATE ON switchyard.fence, switchyard.failsafe_lease, switchyard.dags TO \(a)",
            "GRANT SELECT, INSERT, UPDATE ON switchyard.dag_run TO \(a)",
            "GRANT SELECT, INSERT, DELETE ON switchyard.shadow_dag_run, switchyard.shadow_sync, switchyard.shadow_airflow TO \(a)",
            "GRANT USAGE ON SEQUENCE switchyard.dag_run_id_seq TO \(a), \(s)",
            // A scheduler node: leadership, the fence's validity, the failsafe lease in every region, runs.
            "GRANT SELECT, UPDATE ON switchyard.leadership, switchyard.fence, switchyard.failsafe_lease, switchyard.dags TO \(s)",
            "GRANT SELECT, INSERT, UPDATE ON switchyard.dag_run, switchyard.nodes, switchyard.acting_terms TO \(s)",
            // A worker: claims, executions, its heartbeat; it only reads the fence and the DAGs.
            "GRANT SELECT ON switchyard.fence, switchyard.dags TO \(w)",
            "GRANT SELECT, UPDATE ON switchyard.dag_run TO \(w)",
            "GRANT SELECT, INSERT, UPDATE ON switchyard.executions, switchyard.nodes TO \(w)",
            "GRANT USAGE ON SEQUENCE switchyard.executions_id_seq TO \(w)",
        ]
    }

    /// The statements for Airflow's tables in a region database (schema `public`): the agent's probe and
    /// migration (task instances, XComs, task maps, the schedule). Run as Airflow's table owner.
    public static func airflow(_ roles: Roles) -> [String] {
        let a = q(roles.agent)
        return [
            "GRANT USAGE ON SCHEMA public TO \(a)",
            "GRANT SELECT ON public.job, public.dag_version TO \(a)",
            "GRANT SELECT, INSERT, UPDATE ON public.dag_run TO \(a)",
            "GRANT SELECT, INSERT, UPDATE, DELETE ON public.task_instance TO \(a)",
            "GRANT SELECT, INSERT ON public.xcom, public.task_map TO \(a)",
            "GRANT SELECT, UPDATE ON public.dag TO \(a)",
            "GRANT USAGE ON SEQUENCE public.dag_run_id_seq TO \(a)",
            // The settings check (runbooks/airflow.md §7) reads digests of these; the role can read the rows.
            "GRANT SELECT ON public.variable, public.connection, public.slot_pool TO \(a)",
        ]
    }

    /// CONNECT (or TEMPORARY) on the database the statement runs in, whatever its name.
    static func connect(_ roles: String..., temporary: Bool) -> String {
        let names = roles.map(q).joined(separator: ", ")
        let privilege = temporary ? "TEMPORARY" : "CONNECT"
        return
            "DO $$ BEGIN EXECUTE format('GRANT \(privilege) ON DATABASE %I TO \(names.replacingOccurrences(of: "'", with: "''"))', current_database()); END $$"
    }

    static func q(_ role: String) -> String { PostgresConnection.quoteIdentifier(role) }

    /// What `apply` did: per database, the statements run.
    public struct Report: Sendable, Codable {
        /// Database (`control`, a region's name, or `REGION (airflow)`) → statements applied.
        public var applied: [String: Int]
    }

    /// Applies the grants over the owner's connections: the control database, every region's, and the
    /// Airflow tables of the regions named in `airflow` (those whose Airflow tables exist).
    public static func apply(
        controlDSN: String, regions: [(name: String, dsn: String, airflow: Bool)], roles: Roles
    ) async throws -> Report {
        var applied: [String: Int] = [:]
        func run(_ dsn: String, _ statements: [String]) async throws -> Int {
            let c = try await PostgresConnection.connect(dsn, timeout: .seconds(10))
            do {
                try await c.transaction { t in
                    for statement in statements { try await t.query(statement) }
                }
                await c.close()
                return statements.count
            } catch {
                await c.close()
                throw error
            }
        }
        applied["control"] = try await run(controlDSN, control(roles))
        for region in regions {
            applied[region.name] = try await run(region.dsn, Self.region(roles))
            if region.airflow {
                let c = try await PostgresConnection.connect(region.dsn, timeout: .seconds(10))
                let present =
                    (try? await c.query("SELECT to_regclass('public.task_instance') IS NOT NULL AS e").first?["e"].bool)
                    ?? false
                await c.close()
                if present == true { applied["\(region.name) (airflow)"] = try await run(region.dsn, airflow(roles)) }
            }
        }
        return Report(applied: applied)
    }
}
