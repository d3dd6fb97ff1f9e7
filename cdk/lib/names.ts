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
/**
 * Database holding the history and lock tables of the top-level scripts; when unset, the default
 * database. Needed by scripts that drop and re-create their own database.
 */
export const ENV_HISTORY_DATABASE = 'AURORA_MIGRATE_HISTORY_DATABASE';
/** Fleet: the tenant databases, comma-separated (the CLI's `--databases`). */
export const ENV_DATABASES = 'AURORA_MIGRATE_DATABASES';
/** Fleet: a MySQL LIKE pattern matched on the server's databases at run time (`--database-pattern`). */
export const ENV_DATABASE_PATTERN = 'AURORA_MIGRATE_DATABASE_PATTERN';
/** Fleet: how many databases run at once (`--parallel`). */
export const ENV_PARALLEL = 'AURORA_MIGRATE_PARALLEL';
/** Data API endpoint override (the local emulator); unset means the AWS endpoint. Never set by the construct. */
export const ENV_ENDPOINT_URL = 'AURORA_MIGRATE_ENDPOINT_URL';

/** Where the Lambda layer puts the scripts (layers are extracted under /opt). */
export const DEFAULT_MIGRATIONS_DIR = '/opt/migrations';
/** Default history table: prefixed so that it cannot collide with Flyway's, golang-migrate's or sqlx's. */
export const DEFAULT_HISTORY_TABLE = 'aurora_migrate_history';

/** Custom-resource property that carries the content hash of the scripts. */
export const PROPERTY_CONTENT_HASH = 'ContentHash';
/**
 * Custom-resource property: the default database (the construct's `database`); overrides the
 * function's environment for this resource, and changing it re-runs the migrations.
 */
export const PROPERTY_DATABASE = 'Database';

/**
 * Custom-resource property: the fleet's databases or pattern as the construct configured them (the
 * function reads the fleet from its environment); as a property, a changed fleet re-runs the
 * migrations.
 */
export const PROPERTY_FLEET = 'Fleet';

/**
 * Custom-resource `Data` key: the newest applied version after the run (what `currentVersion` reads
 * with `Fn::GetAtt`). Empty when nothing is applied.
 */
export const DATA_CURRENT_VERSION = 'CurrentVersion';
/** Custom-resource `Data` key: how many migrations this event applied. */
export const DATA_APPLIED = 'Applied';
/** Custom-resource `Data` key: the versions this event applied, comma-separated (shortened to fit 4096 bytes). */
export const DATA_APPLIED_VERSIONS = 'AppliedVersions';
/** Custom-resource `Data` key: the content hash of the scripts found in the layer. */
export const DATA_CONTENT_HASH = 'ContentHash';
/** Custom-resource `Data` key, fleets only: how many databases the event ran on. */
export const DATA_DATABASES = 'Databases';
/** Custom-resource `Data` key, fleets only: how many of them are not ok (failed, locked, error). */
export const DATA_NOT_OK = 'NotOk';

/**
 * Custom-resource property: the aurora-migrate version the construct expects the function to be (the
 * package's own version). The function answers FAILED when its version differs, so a stale code asset
 * never runs silently.
 */
export const PROPERTY_EXPECTED_VERSION = 'ExpectedVersion';
/** Custom-resource `Data` key: the version of the aurora-migrate function that answered. */
export const DATA_VERSION = 'Version';

/**
 * A deploy longer than one invocation: the ARN of the state machine that drives the function (for
 * deployments other than this construct, which passes PROPERTY_STATE_MACHINE_ARN instead).
 */
export const ENV_STATE_MACHINE_ARN = 'AURORA_MIGRATE_STATE_MACHINE_ARN';
/**
 * Custom-resource property: the ARN of the state machine that runs this resource's deploys (a property,
 * since the state machine names the function and the function's environment cannot name it back).
 */
export const PROPERTY_STATE_MACHINE_ARN = 'StateMachineArn';
