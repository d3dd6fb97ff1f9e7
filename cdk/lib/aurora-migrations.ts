// The AuroraMigrations construct (DESIGN.md §7): a layer with the scripts under /opt/migrations, the
// aurora-migrate Lambda (Rust, provided.al2023, arm64, no VPC: it talks to Aurora through the RDS Data
// API) and a custom resource that invokes it on every deploy whose scripts changed.
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { CustomResource, Duration } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as rds from 'aws-cdk-lib/aws-rds';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { Construct } from 'constructs';
import { contentHash, migrationFiles } from './content-hash';
import {
  DATA_CURRENT_VERSION,
  DEFAULT_HISTORY_TABLE,
  DEFAULT_MIGRATIONS_DIR,
  ENV_DATABASE,
  ENV_HISTORY_DATABASE,
  ENV_HISTORY_TABLE,
  ENV_MIGRATIONS_DIR,
  ENV_RESOURCE_ARN,
  ENV_SECRET_ARN,
  PROPERTY_CONTENT_HASH,
  PROPERTY_DATABASE,
} from './names';

/** Environment variable that overrides where the default `code` is read from. */
export const ENV_LAMBDA_DIR = 'AURORA_MIGRATE_LAMBDA_DIR';

/** Where the cargo-lambda build leaves the arm64 `bootstrap` (relative to the repository root). */
export const DEFAULT_LAMBDA_DIR = path.join('build', 'lambda', 'arm64', 'aurora-migrate-lambda');

/** Lambda's own maximum, and the default: a long migration should not be cut short by us. */
const MAX_LAMBDA_TIMEOUT = Duration.minutes(15);

/** CloudFormation's upper bound for a custom resource's ServiceTimeout. */
const MAX_SERVICE_TIMEOUT_SECONDS = 3600;

/** Properties of {@link AuroraMigrations}. */
export interface AuroraMigrationsProps {
  /**
   * The Aurora MySQL cluster to migrate. Its Data API (HTTP endpoint) must be enabled; the function
   * is granted Data API access to this cluster only.
   */
  readonly cluster: rds.IDatabaseCluster;

  /** The Secrets Manager secret with the database credentials; the function may read this secret only. */
  readonly secret: secretsmanager.ISecret;

  /**
   * Folder with the migration scripts (`V<version>__<description>.sql` and the other accepted forms,
   * optionally in per-database subfolders). Every `*.sql` file under it goes into the layer, keeping
   * its relative path, and into the content hash.
   */
  readonly scriptsDir: string;

  /**
   * Default database the scripts run in (scripts in `<database>/` subfolders use that database instead).
   * Changing it re-runs the custom resource.
   * @default - the `dbname` field of the secret
   */
  readonly database?: string;

  /**
   * Name of the table that records applied migrations.
   * @default 'aurora_migrate_history' (DEFAULT_HISTORY_TABLE)
   */
  readonly historyTable?: string;

  /**
   * Database that holds the history and lock tables of the top-level scripts (scripts in
   * `<database>/` subfolders keep theirs in their own database). Set it when a script drops and
   * re-creates the default database, which would otherwise take the history with it (the function
   * refuses such a script). Changing it later does not move an existing history: the function then
   * looks for the history in the new database.
   * @default - the default database (`database`, else the secret's `dbname`)
   */
  readonly historyDatabase?: string;

  /**
   * Timeout of the migration function; the custom resource waits one minute longer, so the function
   * can always report its own result (it stops cleanly before its deadline).
   * @default Duration.minutes(15), the Lambda maximum
   */
  readonly timeout?: Duration;

  /**
   * Code of the migration function: a folder with the `aurora-migrate-lambda` binary named `bootstrap`.
   * @default - `lambda.Code.fromAsset` of `$AURORA_MIGRATE_LAMBDA_DIR` when set, otherwise of
   * `build/lambda/arm64/aurora-migrate-lambda` in the aurora-migrate repository (the cargo-lambda
   * arm64 build output)
   */
  readonly code?: lambda.Code;
}

/**
 * Applies the versioned SQL scripts of `scriptsDir` to an Aurora MySQL cluster through the RDS Data API
 * on every deploy that changes them.
 *
 * Creates a layer with the scripts under `migrations/` (so they are at `/opt/migrations`), the
 * aurora-migrate Lambda function (no VPC) with least-privilege access to the cluster's Data API and the
 * secret, and a `Custom::AuroraMigrations` resource whose `ContentHash` property changes with the
 * scripts, which makes CloudFormation invoke the function again.
 */
export class AuroraMigrations extends Construct {
  /** The migration function; invoke it by hand with a JSON command (`migrate`, `status`, ...). */
  public readonly function: lambda.Function;
  /** The layer holding the scripts under `migrations/`. */
  public readonly layer: lambda.LayerVersion;
  /** The function's log group (JSON events, one per migration and per failed statement). */
  public readonly logGroup: logs.LogGroup;
  /** The custom resource that runs the migrations on deploy. */
  public readonly resource: CustomResource;
  /** The content hash of the scripts (`sha256:<hex>`), as passed to the custom resource. */
  public readonly contentHash: string;
  /** The schema version after the deploy's migrations (the custom resource's `CurrentVersion`). */
  public readonly currentVersion: string;

  constructor(scope: Construct, id: string, props: AuroraMigrationsProps) {
    super(scope, id);

    const timeout = props.timeout ?? MAX_LAMBDA_TIMEOUT;
    this.contentHash = contentHash(props.scriptsDir);

    this.layer = new lambda.LayerVersion(this, 'Scripts', {
      code: lambda.Code.fromAsset(stageScripts(props.scriptsDir)),
      description: `aurora-migrate scripts ${this.contentHash}`,
      compatibleRuntimes: [lambda.Runtime.PROVIDED_AL2023],
      compatibleArchitectures: [lambda.Architecture.ARM_64],
    });

    const environment: Record<string, string> = {
      [ENV_RESOURCE_ARN]: props.cluster.clusterArn,
      [ENV_SECRET_ARN]: props.secret.secretArn,
      [ENV_MIGRATIONS_DIR]: DEFAULT_MIGRATIONS_DIR,
      [ENV_HISTORY_TABLE]: props.historyTable ?? DEFAULT_HISTORY_TABLE,
    };
    if (props.database !== undefined) environment[ENV_DATABASE] = props.database;
    if (props.historyDatabase !== undefined) environment[ENV_HISTORY_DATABASE] = props.historyDatabase;

    // An own role and log group instead of the AWSLambdaBasicExecutionRole managed policy, whose
    // logs:* statements are on Resource "*": here the function may write to its own log group only.
    const role = new iam.Role(this, 'Role', {
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      description: 'aurora-migrate function: Data API on one cluster, read on one secret, its own logs',
    });
    this.logGroup = new logs.LogGroup(this, 'Logs', {
      // Migration logs are an audit trail of schema changes; CDK's default keeps them two years.
      retention: logs.RetentionDays.TWO_YEARS,
    });
    this.logGroup.grantWrite(role);

    this.function = new lambda.Function(this, 'Function', {
      description: 'aurora-migrate: applies SQL migrations to Aurora MySQL through the RDS Data API',
      runtime: lambda.Runtime.PROVIDED_AL2023, // the binary needs glibc 2.30; provided.al2 has 2.26
      architecture: lambda.Architecture.ARM_64,
      handler: 'bootstrap',
      code: props.code ?? defaultCode(),
      role,
      logGroup: this.logGroup,
      layers: [this.layer],
      timeout,
      environment,
      loggingFormat: lambda.LoggingFormat.JSON,
      // No VPC on purpose: the Data API is an AWS endpoint, so no NAT or VPC endpoints are needed.
    });

    // CloudFormation invokes custom resources asynchronously; a Lambda retry would start a second
    // migration run after a failed one that already answered FAILED. The history makes a repeated
    // event harmless, but a retry is never useful here. (Same as the function's `retryAttempts: 0`,
    // kept as a construct so the custom resource can wait for it, below.)
    const asyncConfig = new lambda.EventInvokeConfig(this, 'AsyncInvokeConfig', {
      function: this.function,
      retryAttempts: 0,
    });

    // Least privilege: rds-data:* on this cluster's ARN, read on this secret. Both are L2 grants.
    props.cluster.grantDataApiAccess(this.function);
    props.secret.grantRead(this.function);

    const properties: Record<string, string> = { [PROPERTY_CONTENT_HASH]: this.contentHash };
    // The Lambda takes the database from this property before its environment; as a property it also
    // makes a changed database re-run the migrations.
    if (props.database !== undefined) properties[PROPERTY_DATABASE] = props.database;

    this.resource = new CustomResource(this, 'Resource', {
      serviceToken: this.function.functionArn,
      resourceType: 'Custom::AuroraMigrations',
      properties,
      // Long enough for the function to finish and answer, short enough that a lost answer does not
      // hang the stack for the default hour.
      serviceTimeout: Duration.seconds(Math.min(timeout.toSeconds() + 60, MAX_SERVICE_TIMEOUT_SECONDS)),
    });
    // The function's ARN ties the resource to the cluster resource, but not to its instances: without
    // this, CloudFormation may invoke the migrations before the writer instance exists. Likewise the
    // first invoke must not come before the grants and the no-retry setting are in place.
    this.resource.node.addDependency(props.cluster, role, asyncConfig);

    this.currentVersion = this.resource.getAttString(DATA_CURRENT_VERSION);
  }
}

/** `Code.fromAsset` of the cargo-lambda output, with an error that says how to get one. */
function defaultCode(): lambda.Code {
  const dir = process.env[ENV_LAMBDA_DIR] || path.resolve(__dirname, '..', '..', DEFAULT_LAMBDA_DIR);
  if (!fs.existsSync(path.join(dir, 'bootstrap'))) {
    throw new Error(
      `aurora-migrate: no Lambda binary at ${path.join(dir, 'bootstrap')}. Build it (from the repository ` +
        'root: bash dev/build-lambda arm64, which runs cargo lambda build --release --arm64), ' +
        `set ${ENV_LAMBDA_DIR} to a folder holding \`bootstrap\`, or pass \`code\` to AuroraMigrations.`,
    );
  }
  return lambda.Code.fromAsset(dir);
}

/**
 * Copies every migration file of `scriptsDir` to `<staging>/migrations/<relative path>` and returns
 * `<staging>`. The staging folder is named after the files' paths and raw bytes, so the same scripts
 * always give the same folder and the same asset hash, and synths never see each other's files.
 */
function stageScripts(scriptsDir: string): string {
  const files = migrationFiles(scriptsDir);
  const key = createHash('sha256');
  const contents = files.map((rel) => {
    const bytes = fs.readFileSync(path.join(scriptsDir, ...rel.split('/')));
    key.update(`${rel}\0${bytes.length}\0`).update(bytes);
    return bytes;
  });
  const root = path.join(os.tmpdir(), 'aurora-migrate-layers');
  const staged = path.join(root, key.digest('hex'));
  if (fs.existsSync(staged)) return staged;

  fs.mkdirSync(root, { recursive: true });
  const work = fs.mkdtempSync(path.join(root, '.staging-'));
  files.forEach((rel, i) => {
    const target = path.join(work, 'migrations', ...rel.split('/'));
    fs.mkdirSync(path.dirname(target), { recursive: true });
    fs.writeFileSync(target, contents[i]);
  });
  if (files.length === 0) {
    // Lambda rejects an empty zip. A non-.sql marker keeps the layer valid and is no migration.
    fs.mkdirSync(path.join(work, 'migrations'), { recursive: true });
    fs.writeFileSync(path.join(work, 'migrations', '.empty'), '');
  }
  try {
    fs.renameSync(work, staged);
  } catch (e) {
    // Another synth staged the same scripts at the same moment: its folder is identical.
    fs.rmSync(work, { recursive: true, force: true });
    if (!fs.existsSync(staged)) throw e;
  }
  return staged;
}
