import Postgres

/// Applies versioned schema steps to one database, idempotently and safely against concurrent runs.
public enum Migrator {
    /// Which schema a database gets.
    public enum Kind: String, Sendable {
        /// The control database.
        case control
        /// A region database.
        case region

        /// The steps of this kind.
        public var migrations: [Migration] {
            switch self {
            case .control: ControlSchema.migrations
            case .region: RegionSchema.migrations
            }
        }
    }

    /// Brings the database up to the newest version; returns the versions it applied (empty when current).
    ///
    /// Everything runs in one transaction under a transaction-level advisory lock, so two `init`s at
    /// once serialize and a failed step leaves the database as it was.
    @discardableResult
    public static func migrate(_ connection: PostgresConnection, kind: Kind) async throws -> [Int] {
        try await connection.transaction { c in
            try await c.query("SELECT pg_advisory_xact_lock(hashtext('switchyard.migrate'))")
            try await c.simpleQuery(
                """
                CREATE SCHEMA IF NOT EXISTS switchyard;
                CREATE TABLE IF NOT EXISTS switchyard.schema_migrations (
                    kind text NOT NULL,
                    version int NOT NULL,
                    name text NOT NULL,
                    applied_at timestamptz NOT NULL DEFAULT now(),
                    PRIMARY KEY (kind, version)
                );
                """)
            let current =
                try await c.query(
                    "SELECT coalesce(max(version), 0) AS version FROM switchyard.schema_migrations WHERE kind = $1",
                    [.text(kind.rawValue)]
                ).first?["version"].require(Int.self) ?? 0
            var applied: [Int] = []
            for migration in kind.migrations where migration.version > current {
                try await c.simpleQuery(migration.sql)
                try await c.query(
                    "INSERT INTO switchyard.schema_migrations (kind, version, name) VALUES ($1, $2, $3)",
                    [.text(kind.rawValue), .int(migration.version), .text(migration.name)])
                applied.append(migration.version)
            }
            return applied
        }
    }

    /// The newest version applied to the database, 0 when none.
    public static func currentVersion(_ connection: PostgresConnection, kind: Kind) async throws -> Int {
        let exists = try await connection.query("SELECT to_regclass('switchyard.schema_migrations') IS NOT NULL AS e")
        guard try exists.first?["e"].require(Bool.self) == true else { return 0 }
        return try await connection.query(
            "SELECT coalesce(max(version), 0) AS v FROM switchyard.schema_migrations WHERE kind = $1",
            [.text(kind.rawValue)]
        ).first?["v"].require(Int.self) ?? 0
    }
}
