// The AuroraMigrations construct: a layer with the scripts under /opt/migrations, the aurora-migrate
// Lambda (Rust, provided.al2023, arm64 by default, no VPC: it talks to Aurora through the RDS Data API;
// the prebuilt bootstrap ships inside this package) and a custom resource that invokes it on every
// deploy whose scripts changed.
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as cdk from 'aws-cdk-lib';
import { CfnOutput, CfnResource, CustomResource, Duration, RemovalPolicy } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as rds from 'aws-cdk-lib/aws-rds';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';
import { BootstrapArchitecture, bootstrapArchitecture, bundledZip, packageVersion } from './bootstrap';
import { contentHash, migrationFiles } from './content-hash';
import {
  DATA_CURRENT_VERSION,
  DATA_VERSION,
  DEFAULT_HISTORY_TABLE,
  DEFAULT_MIGRATIONS_DIR,
  ENV_DATABASE,
  ENV_DATABASE_PATTERN,
  ENV_DATABASES,
  ENV_HISTORY_DATABASE,
  ENV_HISTORY_TABLE,
  ENV_MIGRATIONS_DIR,
  ENV_PARALLEL,
  ENV_RESOURCE_ARN,
  ENV_SECRET_ARN,
  PROPERTY_CONTENT_HASH,
  PROPERTY_DATABASE,
  PROPERTY_EXPECTED_VERSION,
  PROPERTY_FLEET,
  PROPERTY_STATE_MACHINE_ARN,
} from './names';
import { stateMachineDefinition, stateMachineTiming, StateMachineTiming } from './state-machine';

/**
 * Environment variable naming a folder with a `bootstrap` to use instead of the bundled one (for
 * development of aurora-migrate itself: a fresh cargo-lambda build).
 */
export const ENV_LAMBDA_DIR = 'AURORA_MIGRATE_LAMBDA_DIR';

/** Lambda CPU share grows with memory; the function streams scripts statement by statement. */
const DEFAULT_MEMORY_MB = 256;

/** Lambda's own maximum, and the default: a long migration should not be cut short by us. */
const MAX_LAMBDA_TIMEOUT = Duration.minutes(15);

/** The most databases of a fleet migrated at once (the function's own bound). */
const MAX_PARALLEL = 1024;

/** Databases of a fleet migrated at once when `parallel` is not given (the function's default). */
const DEFAULT_PARALLEL = 8;

/** MySQL's longest database name. */
const MAX_DATABASE_NAME = 64;

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
   * A fleet: the top-level scripts are applied to each of these databases (tenants), each with its
   * own history and lease, instead of to one default database. One database's failure does not stop
   * the others; the deploy fails when any database is not ok, naming the first ones. Scripts in
   * `<database>/` subfolders still run once, in their own database. Changing the list re-runs the
   * custom resource. Not with `databasePattern` or `database`.
   * @default - no fleet
   */
  readonly databases?: string[];

  /**
   * A fleet: the top-level scripts are applied to every database whose name matches this MySQL
   * `LIKE` pattern (`%` any run, `_` one character, `\` escapes; system schemas never match), read
   * from the server at each deploy, so that a new tenant is picked up by the next deploy. Otherwise as
   * `databases`. Not with `databases` or `database`.
   * @default - no fleet
   */
  readonly databasePattern?: string;

  /**
   * How many databases of a fleet are migrated at once (1 to 1024).
   * @default 8
   */
  readonly parallel?: number;

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
   * The longest a deploy may take (the custom resource's ServiceTimeout), at most one hour
   * (CloudFormation's limit). Longer than `timeout`, a Step Functions state machine drives the deploy:
   * the function starts it and returns, the state machine invokes the function again and again (each
   * database of a fleet in parallel, up to `parallel`) until everything is applied or the time is spent,
   * and then answers CloudFormation once. The work may take `maxDuration` less one invocation and a
   * little slack, so it must leave room for at least one whole invocation; lower `timeout` to use more of
   * it.
   * @default - one invocation: `timeout` plus one minute, no state machine
   */
  readonly maxDuration?: Duration;

  /**
   * Code of the migration function: the `aurora-migrate-lambda` binary named `bootstrap`, in a folder
   * or a zip. When it is an asset whose `bootstrap` is an ELF executable, the function's architecture
   * follows it, and an `architecture` that disagrees is an error at synth time. Its version must be
   * this package's (see `expectedVersion`).
   * @default - the bootstrap zip bundled in this package for `architecture` (or, when the environment
   * variable `AURORA_MIGRATE_LAMBDA_DIR` is set, the folder it names)
   */
  readonly code?: lambda.Code;

  /**
   * CPU architecture of the function.
   * @default - the architecture of `code`'s bootstrap when it can be read, otherwise ARM_64
   */
  readonly architecture?: lambda.Architecture;

  /**
   * The aurora-migrate version the function must report; a function of another version answers FAILED
   * instead of migrating. Set it only with your own `code` of another version.
   * @default - this package's version (the version of the bundled bootstrap)
   */
  readonly expectedVersion?: string;

  /**
   * Memory of the function in MiB (Lambda gives CPU in proportion to it).
   * @default 256
   */
  readonly memorySize?: number;

  /**
   * How long the function's log group keeps the logs (an audit trail of schema changes).
   * @default logs.RetentionDays.TWO_YEARS
   */
  readonly logRetention?: logs.RetentionDays;

  /**
   * What happens to the function's log group when it leaves the stack.
   * @default RemovalPolicy.RETAIN (the audit trail outlives the stack)
   */
  readonly logRemovalPolicy?: RemovalPolicy;

  /**
   * X-Ray tracing of the function. Active tracing adds `xray:PutTraceSegments` and
   * `xray:PutTelemetryRecords` on `*` to the role (X-Ray has no resource-level permissions).
   * @default lambda.Tracing.DISABLED
   */
  readonly tracing?: lambda.Tracing;

  /**
   * Reserved concurrency of the function. Two runs never apply the same migration either way (a lease
   * row in the database serializes them); 1 makes a second manual invoke fail fast with a throttle
   * instead of waiting for the lease.
   * @default - no reservation (reserving needs unreserved account concurrency to spare)
   */
  readonly reservedConcurrentExecutions?: number;

  /**
   * Name of the function.
   * @default - a name CloudFormation generates
   */
  readonly functionName?: string;
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
  /** The state machine that drives deploys longer than one invocation (only with a longer `maxDuration`). */
  public readonly stateMachine?: sfn.StateMachine;
  /** The content hash of the scripts (`sha256:<hex>`), as passed to the custom resource. */
  public readonly contentHash: string;
  /** The schema version after the deploy's migrations (the custom resource's `CurrentVersion`). */
  public readonly currentVersion: string;
  /** The aurora-migrate version the function must report (the custom resource's `ExpectedVersion`). */
  public readonly expectedVersion: string;
  /** The aurora-migrate version that answered the deploy (the custom resource's `Version`). */
  public readonly functionVersion: string;

  constructor(scope: Construct, id: string, props: AuroraMigrationsProps) {
    super(scope, id);

    const timeout = props.timeout ?? MAX_LAMBDA_TIMEOUT;
    const longDeploy = longDeployTiming(props.maxDuration, timeout);
    this.contentHash = contentHash(props.scriptsDir);
    this.expectedVersion = props.expectedVersion ?? packageVersion();
    const { code, architecture } = functionCode(props.code, props.architecture);

    this.layer = new lambda.LayerVersion(this, 'Scripts', {
      code: lambda.Code.fromAsset(stageScripts(props.scriptsDir)),
      description: `aurora-migrate scripts ${this.contentHash}`,
      compatibleRuntimes: [lambda.Runtime.PROVIDED_AL2023],
      compatibleArchitectures: [architecture],
    });

    const environment: Record<string, string> = {
      [ENV_RESOURCE_ARN]: props.cluster.clusterArn,
      [ENV_SECRET_ARN]: props.secret.secretArn,
      [ENV_MIGRATIONS_DIR]: DEFAULT_MIGRATIONS_DIR,
      [ENV_HISTORY_TABLE]: props.historyTable ?? DEFAULT_HISTORY_TABLE,
    };
    if (props.database !== undefined) environment[ENV_DATABASE] = props.database;
    if (props.historyDatabase !== undefined) environment[ENV_HISTORY_DATABASE] = props.historyDatabase;
    const fleet = fleetSettings(props);
    Object.assign(environment, fleet.environment);

    // An own role and log group instead of the AWSLambdaBasicExecutionRole managed policy, whose
    // logs:* statements are on Resource "*": here the function may write to its own log group only.
    const role = new iam.Role(this, 'Role', {
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      description: 'aurora-migrate function: Data API on one cluster, read on one secret, its own logs',
    });
    this.logGroup = new logs.LogGroup(this, 'Logs', {
      // Migration logs are an audit trail of schema changes: kept two years, and beyond the stack.
      retention: props.logRetention ?? logs.RetentionDays.TWO_YEARS,
      removalPolicy: props.logRemovalPolicy ?? RemovalPolicy.RETAIN,
    });
    this.logGroup.grantWrite(role);

    this.function = new lambda.Function(this, 'Function', {
      description: 'aurora-migrate: applies SQL migrations to Aurora MySQL through the RDS Data API',
      runtime: lambda.Runtime.PROVIDED_AL2023, // the binary needs glibc 2.30; provided.al2 has 2.26
      architecture,
      handler: 'bootstrap',
      code,
      memorySize: props.memorySize ?? DEFAULT_MEMORY_MB,
      tracing: props.tracing ?? lambda.Tracing.DISABLED,
      reservedConcurrentExecutions: props.reservedConcurrentExecutions,
      functionName: props.functionName,
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

    const properties: Record<string, string> = {
      [PROPERTY_CONTENT_HASH]: this.contentHash,
      [PROPERTY_EXPECTED_VERSION]: this.expectedVersion,
    };
    // The Lambda takes the database from this property before its environment; as a property it also
    // makes a changed database re-run the migrations.
    if (props.database !== undefined) properties[PROPERTY_DATABASE] = props.database;
    if (fleet.property !== undefined) properties[PROPERTY_FLEET] = fleet.property;

    let dependencies: Construct[] = [props.cluster, role, asyncConfig];
    if (longDeploy !== undefined) {
      // The state machine names the function, so the function cannot name it back in its environment
      // (a cycle): the custom resource passes its ARN, and the start permission is a policy of its own
      // that the custom resource waits for.
      const parallel = fleet.property === undefined ? 1 : (props.parallel ?? DEFAULT_PARALLEL);
      const definition = stateMachineDefinition(this.function.functionArn, longDeploy, parallel);
      this.stateMachine = new sfn.StateMachine(this, 'StateMachine', {
        comment: 'aurora-migrate: deploys longer than one invocation',
        definitionBody: sfn.DefinitionBody.fromString(cdk.Stack.of(this).toJsonString(definition)),
        tracingEnabled: props.tracing === lambda.Tracing.ACTIVE,
      });
      // The state machine may invoke this function only (its unqualified ARN, which the definition
      // names: not grantInvoke, whose `:*` would also cover every version and alias); the function may
      // start this state machine only.
      this.stateMachine.addToRolePolicy(
        new iam.PolicyStatement({ actions: ['lambda:InvokeFunction'], resources: [this.function.functionArn] }),
      );
      const start = new iam.Policy(this, 'StartStateMachine', {
        roles: [role],
        statements: [new iam.PolicyStatement({ actions: ['states:StartExecution'], resources: [this.stateMachine.stateMachineArn] })],
      });
      properties[PROPERTY_STATE_MACHINE_ARN] = this.stateMachine.stateMachineArn;
      dependencies = [...dependencies, start, this.stateMachine];
    }

    this.resource = new CustomResource(this, 'Resource', {
      serviceToken: this.function.functionArn,
      resourceType: 'Custom::AuroraMigrations',
      properties,
      // Long enough for the function (or the state machine) to finish and answer, short enough that a
      // lost answer does not hang the stack for the default hour.
      serviceTimeout:
        props.maxDuration !== undefined && longDeploy !== undefined
          ? props.maxDuration
          : Duration.seconds(Math.min(timeout.toSeconds() + 60, MAX_SERVICE_TIMEOUT_SECONDS)),
    });
    // The function's ARN ties the resource to the cluster resource, but not to its instances: without
    // this, CloudFormation may invoke the migrations before the writer instance exists. Likewise the
    // first invoke must not come before the grants and the no-retry setting are in place.
    this.resource.node.addDependency(...dependencies);

    this.currentVersion = this.resource.getAttString(DATA_CURRENT_VERSION);
    this.functionVersion = this.resource.getAttString(DATA_VERSION);

    new CfnOutput(this, 'FunctionName', {
      description: 'aurora-migrate function: aws lambda invoke --function-name <this> with a JSON command',
      value: this.function.functionName,
    });
    new CfnOutput(this, 'FunctionArn', { description: 'ARN of the aurora-migrate function', value: this.function.functionArn });

    acknowledgeServerlessFindings(this.function, asyncConfig, props.tracing);
    if (this.stateMachine !== undefined) acknowledgeStateMachineFindings(this.stateMachine, props.tracing);
  }
}

/**
 * The state machine's timing for `maxDuration`, checked at synth: at most CloudFormation's hour, longer
 * than one invocation, and with room for at least one whole invocation of work. `undefined`: one
 * invocation, no state machine.
 */
function longDeployTiming(maxDuration: Duration | undefined, timeout: Duration): StateMachineTiming | undefined {
  if (maxDuration === undefined) return undefined;
  const fail = (why: string): never => {
    throw new Error(`aurora-migrate: ${why}`);
  };
  if (cdk.Token.isUnresolved(maxDuration.toSeconds())) fail('maxDuration must be known at synth (no token)');
  const seconds = maxDuration.toSeconds();
  const invocation = timeout.toSeconds();
  if (seconds > MAX_SERVICE_TIMEOUT_SECONDS) {
    fail(`maxDuration is ${seconds} s: CloudFormation waits at most ${MAX_SERVICE_TIMEOUT_SECONDS} s (one hour) for a custom resource`);
  }
  if (seconds <= invocation) {
    fail(
      `maxDuration is ${seconds} s, not longer than one invocation (timeout ${invocation} s): leave maxDuration out ` +
        '(one invocation is the default) or make it longer',
    );
  }
  const timing = stateMachineTiming(seconds, invocation);
  if (timing === undefined) {
    let least = seconds;
    while (least <= MAX_SERVICE_TIMEOUT_SECONDS && stateMachineTiming(least, invocation) === undefined) least++;
    fail(
      `maxDuration is ${seconds} s: a deploy needs room for one whole invocation (timeout ${invocation} s) of work and ` +
        `one more for the last work step to end and the answer; give at least ${least} s, or lower timeout`,
    );
  }
  return timing;
}

/**
 * The fleet's environment variables and resource property, checked at synth: a list or a pattern (not
 * both, not with `database`), database names MySQL accepts, a pattern without a lone trailing escape,
 * and `parallel` from 1 to 1024.
 */
function fleetSettings(props: AuroraMigrationsProps): { environment: Record<string, string>; property?: string } {
  const fail = (why: string): never => {
    throw new Error(`aurora-migrate: ${why}`);
  };
  const { databases, databasePattern, parallel } = props;
  if (databases !== undefined && databasePattern !== undefined) {
    fail('give either databases (a list) or databasePattern (a LIKE pattern), not both');
  }
  const environment: Record<string, string> = {};
  let property: string | undefined;
  if (databases !== undefined) {
    if (databases.length === 0) fail('databases is empty: name at least one database, or leave databases out');
    for (const name of databases) {
      if (cdk.Token.isUnresolved(name)) fail('databases must be plain strings known at synth (no tokens)');
      if (name.trim() === '' || name !== name.trim() || name.includes(',') || name.length > MAX_DATABASE_NAME) {
        fail(
          `databases holds ${JSON.stringify(name)}: a database name is 1 to ${MAX_DATABASE_NAME} characters, ` +
            'without commas or leading or trailing spaces',
        );
      }
    }
    const repeated = databases.filter((d, i) => databases.indexOf(d) !== i);
    if (repeated.length > 0) fail(`databases names ${JSON.stringify(repeated[0])} more than once`);
    environment[ENV_DATABASES] = databases.join(',');
    property = `databases ${databases.join(',')}`;
  }
  if (databasePattern !== undefined) {
    if (cdk.Token.isUnresolved(databasePattern)) fail('databasePattern must be a plain string known at synth (no token)');
    if (databasePattern.trim() === '') fail('databasePattern is empty: give a LIKE pattern such as tenant\\_%');
    if (databasePattern.length > MAX_DATABASE_NAME * 2) {
      fail(`databasePattern is ${databasePattern.length} characters: database names are at most ${MAX_DATABASE_NAME}`);
    }
    const trailing = databasePattern.length - databasePattern.replace(/\\+$/, '').length;
    if (trailing % 2 === 1) {
      fail(`databasePattern ${JSON.stringify(databasePattern)} ends with a lone backslash: escape it as \\\\ or remove it`);
    }
    environment[ENV_DATABASE_PATTERN] = databasePattern;
    property = `databases like ${databasePattern}`;
  }
  if (property !== undefined && props.database !== undefined) {
    fail('database names one default database; databases or databasePattern a fleet: give one of them');
  }
  if (parallel !== undefined) {
    if (property === undefined) fail('parallel applies to a fleet: add databases or databasePattern, or leave parallel out');
    if (!Number.isInteger(parallel) || parallel < 1 || parallel > MAX_PARALLEL) {
      fail(`parallel is ${parallel}: give a whole number from 1 to ${MAX_PARALLEL}`);
    }
    environment[ENV_PARALLEL] = String(parallel);
  }
  return { environment, property };
}

/**
 * The function's code and architecture: `code` when given, else the bundled zip (or the folder of
 * `$AURORA_MIGRATE_LAMBDA_DIR`). An asset whose bootstrap is an ELF executable decides the
 * architecture; an explicit `architecture` that disagrees with it is refused here, at synth, because
 * Lambda would only fail at the first invoke with `Runtime.InvalidEntrypoint` (exec format error).
 */
function functionCode(
  given: lambda.Code | undefined,
  wanted: lambda.Architecture | undefined,
): { code: lambda.Code; architecture: lambda.Architecture } {
  let code = given;
  let where = 'code';
  if (code === undefined && process.env[ENV_LAMBDA_DIR]) {
    const dir = process.env[ENV_LAMBDA_DIR] as string;
    if (!fs.existsSync(path.join(dir, 'bootstrap'))) {
      throw new Error(
        `aurora-migrate: ${ENV_LAMBDA_DIR}=${dir}, but there is no ${path.join(dir, 'bootstrap')}. Point it at the ` +
          `folder cargo-lambda wrote (build/lambda/arm64/aurora-migrate-lambda after dev/build-lambda arm64), ` +
          `or unset ${ENV_LAMBDA_DIR} to use the bootstrap bundled in aurora-migrate-cdk.`,
      );
    }
    code = lambda.Code.fromAsset(dir);
    where = `${ENV_LAMBDA_DIR}=${dir}`;
  }
  if (code === undefined) {
    const arch: BootstrapArchitecture = wanted?.name === lambda.Architecture.X86_64.name ? 'x86_64' : 'arm64';
    const zip = bundledZip(arch);
    if (!fs.existsSync(zip)) {
      throw new Error(
        `aurora-migrate: this copy of aurora-migrate-cdk carries no Lambda bootstrap for ${arch} (${zip}). ` +
          'The package from npm or PyPI has it; a source checkout gets it with `npm run bundle-lambda` in cdk/ ' +
          '(builds it with cargo-lambda). Or pass `code` to AuroraMigrations.',
      );
    }
    code = lambda.Code.fromAsset(zip);
    where = `the bundled ${zip}`;
  }
  const found = code instanceof lambda.AssetCode ? bootstrapArchitecture(code.path) : undefined;
  const foundArchitecture = found === 'x86_64' ? lambda.Architecture.X86_64 : found === 'arm64' ? lambda.Architecture.ARM_64 : undefined;
  if (wanted !== undefined && foundArchitecture !== undefined && wanted.name !== foundArchitecture.name) {
    throw new Error(
      `aurora-migrate: architecture ${wanted.name}, but the bootstrap of ${where} is built for ${foundArchitecture.name}. ` +
        `Pass architecture: Architecture.${found === 'x86_64' ? 'X86_64' : 'ARM_64'} (or leave it out, it follows the code), ` +
        `or code built for ${wanted.name}.`,
    );
  }
  return { code, architecture: wanted ?? foundArchitecture ?? lambda.Architecture.ARM_64 };
}

/**
 * cdk-nag's Serverless pack findings that are decisions, not oversights, recorded both as cdk-nag 2
 * reads them (`cdk_nag` metadata on the resource) and as cdk-nag 3 does (CDK's acknowledgements), so
 * this package needs no dependency on cdk-nag.
 */
function acknowledgeServerlessFindings(
  fn: lambda.Function,
  asyncConfig: lambda.EventInvokeConfig,
  tracing: lambda.Tracing | undefined,
): void {
  const noDestination =
    'CloudFormation invokes the function asynchronously with 0 retries and the function answers CloudFormation ' +
    'itself, also on a panic or near its deadline; a lost invoke ends in the custom resource ServiceTimeout, ' +
    'and a manual invoke is synchronous. A dead-letter queue or failure destination would hold nothing to act on.';
  acknowledge(fn, 'Serverless-LambdaDLQ', noDestination);
  acknowledge(asyncConfig, 'Serverless-LambdaAsyncFailureDestination', noDestination);
  if (tracing === lambda.Tracing.ACTIVE) {
    const policy = fn.role?.node.tryFindChild('DefaultPolicy');
    if (policy) {
      acknowledge(
        policy,
        'AwsSolutions-IAM5[Resource::*]',
        'X-Ray has no resource-level permissions: xray:PutTraceSegments and xray:PutTelemetryRecords need ' +
          'Resource "*" (added by lambda.Tracing.ACTIVE, which the tracing prop asked for).',
      );
    }
  }
  if (tracing === undefined || tracing === lambda.Tracing.DISABLED) {
    acknowledge(
      fn,
      'Serverless-LambdaTracing',
      'Off by default: active tracing needs xray:PutTraceSegments on Resource "*"; the function logs every ' +
        'migration and failed statement with durations as JSON. Enable it with the tracing prop.',
    );
  }
}

/** cdk-nag findings on the long-deploy state machine that are decisions (see acknowledgeServerlessFindings). */
function acknowledgeStateMachineFindings(machine: sfn.StateMachine, tracing: lambda.Tracing | undefined): void {
  acknowledge(
    machine,
    'AwsSolutions-SF1',
    'Each execution is one deploy: Step Functions keeps its event history, and the function logs every plan, ' +
      'work and answer step as JSON in its own log group; a second log group would hold the same.',
  );
  const policy = machine.role.node.tryFindChild('DefaultPolicy');
  if (tracing === lambda.Tracing.ACTIVE && policy) {
    acknowledge(
      policy,
      'AwsSolutions-IAM5[Resource::*]',
      'X-Ray has no resource-level permissions: the state machine\'s tracing (on with the tracing prop) needs ' +
        'xray:PutTraceSegments and related actions on Resource "*".',
    );
  }
  if (tracing !== lambda.Tracing.ACTIVE) {
    const reason =
      'Follows the tracing prop, off by default like the function\'s (active tracing needs xray:Put* on Resource "*"); ' +
      'tracing: Tracing.ACTIVE turns it on for both.';
    acknowledge(machine, 'AwsSolutions-SF2', reason);
    acknowledge(machine, 'Serverless-StepFunctionStateMachineXray', reason);
  }
}

/** One acknowledged cdk-nag rule on a construct, in cdk-nag 2 and cdk-nag 3 form. */
function acknowledge(construct: Construct, id: string, reason: string): void {
  const resource = construct.node.defaultChild as CfnResource;
  const previous = (resource.getMetadata('cdk_nag')?.rules_to_suppress ?? []) as object[];
  resource.addMetadata('cdk_nag', { rules_to_suppress: [...previous, { id, reason }] });
  // Validations exists in aws-cdk-lib releases newer than the minimum this package supports, hence
  // looked up rather than imported.
  const validations = (cdk as unknown as Record<string, { of?: (c: Construct) => { acknowledge?: (a: object) => void } }>)
    .Validations;
  validations?.of?.(construct)?.acknowledge?.({ id, reason });
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
