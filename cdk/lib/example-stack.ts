// An example stack: an Aurora Serverless v2 MySQL cluster with the Data API on, migrated by
// AuroraMigrations from the repository's example scripts. Environment-agnostic, so it synthesizes
// offline without AWS credentials.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Annotations, CfnOutput, Stack, StackProps } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as rds from 'aws-cdk-lib/aws-rds';
import { Construct } from 'constructs';
import { AuroraMigrations } from './aurora-migrations';

/** The repository's example scripts. */
export const EXAMPLE_SCRIPTS_DIR = path.resolve(__dirname, '..', '..', 'scripts');

/** Properties of {@link ExampleStack}. */
export interface ExampleStackProps extends StackProps {
  /**
   * Folder with the migration scripts.
   * @default EXAMPLE_SCRIPTS_DIR (the repository's `scripts/`)
   */
  readonly scriptsDir?: string;
  /**
   * Code of the migration function.
   * @default - AuroraMigrations' default (the cargo-lambda build output)
   */
  readonly code?: lambda.Code;
}

/** Aurora Serverless v2 (MySQL 3.x, Data API on) and the migrations applied to it on deploy. */
export class ExampleStack extends Stack {
  public readonly cluster: rds.DatabaseCluster;
  public readonly migrations: AuroraMigrations;

  constructor(scope: Construct, id: string, props: ExampleStackProps = {}) {
    super(scope, id, props);

    // The cluster needs a VPC; the migration function does not (it uses the Data API). Isolated
    // subnets only: nothing here needs the internet, so no NAT gateway to pay for.
    const vpc = new ec2.Vpc(this, 'Vpc', {
      maxAzs: 2,
      natGateways: 0,
      subnetConfiguration: [{ name: 'db', subnetType: ec2.SubnetType.PRIVATE_ISOLATED }],
    });

    this.cluster = new rds.DatabaseCluster(this, 'Cluster', {
      // Aurora MySQL 3.08 or later is needed for a minimum capacity of 0 (auto-pause).
      engine: rds.DatabaseClusterEngine.auroraMysql({ version: rds.AuroraMysqlEngineVersion.VER_3_10_4 }),
      writer: rds.ClusterInstance.serverlessV2('Writer'),
      serverlessV2MinCapacity: 0,
      serverlessV2MaxCapacity: 2,
      enableDataApi: true,
      credentials: rds.Credentials.fromGeneratedSecret('admin'),
      defaultDatabaseName: 'app',
      vpc,
      vpcSubnets: { subnetType: ec2.SubnetType.PRIVATE_ISOLATED },
      storageEncrypted: true,
    });

    this.migrations = new AuroraMigrations(this, 'Migrations', {
      cluster: this.cluster,
      // A generated secret always exists; the `!` only narrows the optional type.
      secret: this.cluster.secret!,
      scriptsDir: this.scriptsDir(props.scriptsDir ?? EXAMPLE_SCRIPTS_DIR),
      database: 'app',
      code: props.code,
    });

    new CfnOutput(this, 'SchemaVersion', {
      description: 'Schema version after the migrations of this deploy',
      value: this.migrations.currentVersion,
    });
  }

  /**
   * The scripts folder, or an empty one with a synth warning when it does not exist yet (git does not
   * keep an empty `scripts/`), so the example synthesizes from a fresh clone.
   */
  private scriptsDir(dir: string): string {
    if (fs.existsSync(dir)) return dir;
    Annotations.of(this).addWarningV2(
      'aurora-migrate:no-scripts',
      `scripts folder ${dir} does not exist: deploying with no migrations`,
    );
    const empty = path.join(os.tmpdir(), 'aurora-migrate-no-scripts');
    fs.mkdirSync(empty, { recursive: true });
    return empty;
  }
}
