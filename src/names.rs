//! Names shared with the outside world: environment variables, table names and the custom-resource
//! property and `Data` keys. The CDK code (`cdk/lib/names.ts`) spells the same strings; a test on each
//! side reads the other's file so they cannot drift apart.

/// Aurora cluster ARN the Data API calls target.
pub const ENV_RESOURCE_ARN: &str = "AURORA_MIGRATE_RESOURCE_ARN";
/// Secrets Manager secret (ARN or name) holding the database credentials.
pub const ENV_SECRET_ARN: &str = "AURORA_MIGRATE_SECRET_ARN";
/// Default database; when unset, the secret's `dbname`.
pub const ENV_DATABASE: &str = "AURORA_MIGRATE_DATABASE";
/// Folder holding the migration scripts (in Lambda: the layer's `/opt/migrations`).
pub const ENV_MIGRATIONS_DIR: &str = "AURORA_MIGRATE_MIGRATIONS_DIR";
/// Name of the history table.
pub const ENV_HISTORY_TABLE: &str = "AURORA_MIGRATE_HISTORY_TABLE";
/// Database holding the history and lock tables of the top-level scripts; when unset, the default
/// database. Needed by scripts that drop and re-create their own database.
pub const ENV_HISTORY_DATABASE: &str = "AURORA_MIGRATE_HISTORY_DATABASE";
/// Fleet: the databases (comma-separated) that each get the top-level scripts, with their own
/// history and lease.
pub const ENV_DATABASES: &str = "AURORA_MIGRATE_DATABASES";
/// Fleet: a `LIKE` pattern (`tenant_%`) matched on the server's databases when the command runs.
pub const ENV_DATABASE_PATTERN: &str = "AURORA_MIGRATE_DATABASE_PATTERN";
/// Fleet: how many databases are migrated at once.
pub const ENV_PARALLEL: &str = "AURORA_MIGRATE_PARALLEL";
/// Data API endpoint override (the local emulator); unset means the AWS endpoint.
pub const ENV_ENDPOINT_URL: &str = "AURORA_MIGRATE_ENDPOINT_URL";

/// Where the Lambda layer puts the scripts.
pub const DEFAULT_MIGRATIONS_DIR: &str = "/opt/migrations";
/// Default history table: prefixed so that it cannot collide with Flyway's, golang-migrate's or sqlx's.
pub const DEFAULT_HISTORY_TABLE: &str = "aurora_migrate_history";

/// Custom-resource property that carries the content hash of the scripts.
pub const PROPERTY_CONTENT_HASH: &str = "ContentHash";
/// Custom-resource property: the default database (the construct's `database`); overrides the
/// function's environment for this resource, and changing it re-runs the migrations.
pub const PROPERTY_DATABASE: &str = "Database";

/// Custom-resource property: the fleet's databases or pattern as the construct configured them (the
/// function reads the fleet from its environment); as a property, a changed fleet re-runs the
/// migrations.
pub const PROPERTY_FLEET: &str = "Fleet";

/// Custom-resource `Data` key: the newest applied version after the run (what the CDK construct's
/// `currentVersion` reads with `Fn::GetAtt`). Empty when nothing is applied.
pub const DATA_CURRENT_VERSION: &str = "CurrentVersion";
/// Custom-resource `Data` key: how many migrations this event applied.
pub const DATA_APPLIED: &str = "Applied";
/// Custom-resource `Data` key: the versions this event applied, comma-separated (shortened to fit
/// 4096 bytes).
pub const DATA_APPLIED_VERSIONS: &str = "AppliedVersions";
/// Custom-resource `Data` key: the content hash of the scripts found in the layer.
pub const DATA_CONTENT_HASH: &str = "ContentHash";
/// Custom-resource `Data` key, fleets only: how many databases the event ran on.
pub const DATA_DATABASES: &str = "Databases";
/// Custom-resource `Data` key, fleets only: how many of them are not ok (failed, locked, error).
pub const DATA_NOT_OK: &str = "NotOk";

/// Custom-resource property: the aurora-migrate version the construct was built for. When present
/// and different from the function's own version, the event is answered FAILED (a stale layer or
/// code asset never runs silently).
pub const PROPERTY_EXPECTED_VERSION: &str = "ExpectedVersion";
/// Custom-resource `Data` key: the function's aurora-migrate version (also `"version"` in every
/// manual command's response).
pub const DATA_VERSION: &str = "Version";

/// A deploy longer than one invocation: the ARN of the state machine that drives the function (the
/// CDK construct passes it as the resource property [`PROPERTY_STATE_MACHINE_ARN`]; this variable is
/// for other deployments). Unset and no property: every event is handled in one invocation.
pub const ENV_STATE_MACHINE_ARN: &str = "AURORA_MIGRATE_STATE_MACHINE_ARN";
/// Custom-resource property: the ARN of the state machine that runs this resource's deploys (a
/// property and not an environment variable, since the state machine names the function: the
/// function's environment cannot name it back without a cycle in the template).
pub const PROPERTY_STATE_MACHINE_ARN: &str = "StateMachineArn";
