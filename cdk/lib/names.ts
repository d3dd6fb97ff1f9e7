// Names shared with the Rust side (environment variables, table names, custom-resource property keys).
// They must be exactly the strings of src/names.rs: the Lambda reads what this construct writes.
// test/names.test.ts parses src/names.rs and fails when the two files drift apart.

/** Aurora cluster ARN the Data API calls target. */
export const ENV_RESOURCE_ARN = 'AURORA_MIGRATE_RESOURCE_ARN';
/** Secrets Manager secret (ARN or name) holding the database credentials. */
export const ENV_SECRET_ARN = 'AURORA_MIGRATE_SECRET_ARN';
/** Default database; when unset, the secret's `dbname`. */
export const ENV_DATABASE = 'AURORA_MIGRATE_DATABASE';
/** Folder holding the migration scripts (in Lambda: the layer's `/opt/migrations`). */
export const ENV_MIGRATIONS_DIR = 'AURORA_MIGRATE_MIGRATIONS_DIR';
/** Name of the history table. */
export const ENV_HISTORY_TABLE = 'AURORA_MIGRATE_HISTORY_TABLE';
/** Data API endpoint override (the local emulator); unset means the AWS endpoint. Never set by the construct. */
export const ENV_ENDPOINT_URL = 'AURORA_MIGRATE_ENDPOINT_URL';

/** Where the Lambda layer puts the scripts (layers are extracted under /opt). */
export const DEFAULT_MIGRATIONS_DIR = '/opt/migrations';
/** Default history table: prefixed so that it cannot collide with Flyway's, golang-migrate's or sqlx's. */
export const DEFAULT_HISTORY_TABLE = 'aurora_migrate_history';

/** Custom-resource property that carries the content hash of the scripts. */
export const PROPERTY_CONTENT_HASH = 'ContentHash';
