// Synthesizes stacks for the assertion tests into a temporary cloud assembly, so a test can look
// both at the template and at the staged asset folders (what will be zipped and uploaded).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { App, Duration, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as rds from 'aws-cdk-lib/aws-rds';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { AuroraMigrations, AuroraMigrationsProps } from '../../lib/aurora-migrations';
import { ExampleStack } from '../../lib/example-stack';
import { tempDir } from './fixtures';

export interface Synthesized {
  readonly stack: Stack;
  readonly template: Template;
  /** The cloud assembly folder (removed by the caller). */
  readonly outdir: string;
}

/** Options for {@link synthImported}. */
export interface ImportedOptions {
  readonly scriptsDir: string;
  /** A folder with a `bootstrap` (see fixtures.fakeLambdaDir); omitted means the construct's default code. */
  readonly lambdaDir?: string;
  readonly database?: string;
  readonly historyTable?: string;
  readonly historyDatabase?: string;
  readonly timeout?: Duration;
  /** Whether the imported cluster says its Data API is on. @default true */
  readonly dataApiEnabled?: boolean;
  /** More props of the construct (memorySize, architecture, ...). */
  readonly extra?: Partial<AuroraMigrationsProps>;
  /** Runs on the app before the synth (cdk-nag aspects). */
  readonly beforeSynth?: (app: App) => void;
}

export const IMPORTED_SECRET_ARN = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:existing-AbCdEf';

/**
 * The construct on an existing (imported) cluster and secret: the stack then holds nothing but what
 * AuroraMigrations creates, and the ARNs are literals a test can look for.
 */
export function synthImported(options: ImportedOptions): Synthesized {
  return inTempAssembly((outdir) => {
    const app = new App({ outdir });
    const stack = new Stack(app, 'Imported');
    const cluster = rds.DatabaseCluster.fromDatabaseClusterAttributes(stack, 'Cluster', {
      clusterIdentifier: 'existing',
      clusterResourceIdentifier: 'cluster-ABCDEFGHIJKL',
      // CDK refuses grantDataApiAccess on an imported cluster unless told the Data API is on.
      dataApiEnabled: options.dataApiEnabled ?? true,
    });
    const secret = secretsmanager.Secret.fromSecretCompleteArn(stack, 'Secret', IMPORTED_SECRET_ARN);
    new AuroraMigrations(stack, 'Migrations', {
      cluster,
      secret,
      scriptsDir: options.scriptsDir,
      database: options.database,
      historyTable: options.historyTable,
      historyDatabase: options.historyDatabase,
      timeout: options.timeout,
      // A placeholder `bootstrap`: the real binary comes from the cargo-lambda build step.
      code: options.lambdaDir ? lambda.Code.fromAsset(options.lambdaDir) : undefined,
      ...options.extra,
    });
    options.beforeSynth?.(app);
    return { stack, template: Template.fromStack(stack), outdir };
  });
}

/** The example stack (a real Aurora Serverless v2 cluster) with the given scripts. */
export function synthExample(scriptsDir: string, lambdaDir: string): Synthesized {
  return inTempAssembly((outdir) => {
    const app = new App({ outdir });
    // A placeholder `bootstrap`: the real binary comes from the cargo-lambda build step.
    const stack = new ExampleStack(app, 'Example', { scriptsDir, code: lambda.Code.fromAsset(lambdaDir) });
    return { stack, template: Template.fromStack(stack), outdir };
  });
}

/** Runs `synth` with a fresh assembly folder; removes the folder when synth throws (the caller removes it otherwise). */
function inTempAssembly(synth: (outdir: string) => Synthesized): Synthesized {
  const outdir = tempDir('cdkout');
  try {
    return synth(outdir);
  } catch (e) {
    fs.rmSync(outdir, { recursive: true, force: true });
    throw e;
  }
}

/** The single resource of a type: its logical ID (read from the template, never hard-coded) and body. */
export function only(template: Template, type: string): { id: string; resource: any } {
  const found = Object.entries(template.findResources(type));
  if (found.length !== 1) throw new Error(`expected one ${type}, found ${found.length}`);
  const [id, resource] = found[0];
  return { id, resource };
}

/** Every file under the staged asset folder of an S3 key in the template (`<hash>.zip`), relative, sorted. */
export function assetFiles(outdir: string, s3Key: string): { dir: string; files: string[] } {
  const hash = s3Key.replace(/\.zip$/, '');
  const manifests = fs.readdirSync(outdir).filter((f) => f.endsWith('.assets.json'));
  for (const m of manifests) {
    const source = JSON.parse(fs.readFileSync(path.join(outdir, m), 'utf8')).files?.[hash]?.source;
    if (source) {
      const dir = path.join(outdir, source.path);
      return { dir, files: listFiles(dir) };
    }
  }
  throw new Error(`no asset ${hash} in ${outdir}`);
}

function listFiles(root: string, rel = ''): string[] {
  return fs
    .readdirSync(path.join(root, rel), { withFileTypes: true })
    .flatMap((e) => (e.isDirectory() ? listFiles(root, path.posix.join(rel, e.name)) : [path.posix.join(rel, e.name)]))
    .sort();
}
