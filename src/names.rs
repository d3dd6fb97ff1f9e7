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
/// Data API endpoint override (the local emulator); unset means the AWS endpoint.
pub const ENV_ENDPOINT_URL: &str = "AURORA_MIGRATE_ENDPOINT_URL";

/// Where the Lambda layer puts the scripts.
pub const DEFAULT_MIGRATIONS_DIR: &str = "/opt/migrations";
/// Default history table: prefixed so that it cannot collide with Flyway's, golang-migrate's or sqlx's.
pub const DEFAULT_HISTORY_TABLE: &str = "aurora_migrate_history";

/// Custom-resource property that carries the content hash of the scripts.
pub const PROPERTY_CONTENT_HASH: &str = "ContentHash";
