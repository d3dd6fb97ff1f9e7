// The example app: its stack is what the README tells people to deploy, so it must synthesize offline
// through the pinned CDK CLI (the path `npm run synth` takes) and pass cfn-lint, and its cluster must be
// the Aurora Serverless v2 MySQL with the Data API that the construct needs.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fakeLambdaDir, removeAll, scriptsFolder, tempDir } from './support/fixtures';
import { only, synthExample } from './support/synth';

const CDK_DIR = path.resolve(__dirname, '..');
const STACK = 'AuroraMigrateExample';

test('the example cluster is Aurora Serverless v2 MySQL 3.x with the Data API and scale to zero', (t) => {
  const lambdaDir = fakeLambdaDir();
  const scriptsDir = scriptsFolder();
  const s = synthExample(scriptsDir, lambdaDir);
  t.after(() => removeAll(lambdaDir, scriptsDir, s.outdir));

  const cluster = only(s.template, 'AWS::RDS::DBCluster').resource.Properties;
  assert.equal(cluster.Engine, 'aurora-mysql');
  assert.match(cluster.EngineVersion, /^8\.0\.mysql_aurora\.3\./);
  assert.equal(cluster.EnableHttpEndpoint, true);
  assert.equal(cluster.ServerlessV2ScalingConfiguration.MinCapacity, 0);
  s.template.hasResourceProperties('AWS::RDS::DBInstance', { DBInstanceClass: 'db.serverless' });
  // The cluster lives in a VPC; the migration function does not.
  assert.equal(only(s.template, 'AWS::Lambda::Function').resource.Properties.VpcConfig, undefined);
  // The output is the version the custom resource reports.
  const { id } = only(s.template, 'Custom::AuroraMigrations');
  s.template.hasOutput('SchemaVersion', { Value: { 'Fn::GetAtt': [id, 'CurrentVersion'] } });
});

/** cfn-lint rules whose warnings are expected on CDK output and harmless. */
const HARMLESS_WARNINGS: Record<string, string> = {
  // CDK adds DependsOn edges that a Ref/GetAtt already implies (e.g. the function on its role).
  W3005: 'redundant DependsOn',
};

test('the example app synthesizes offline with the CDK CLI and passes cfn-lint', (t) => {
  const outdir = tempDir('synth');
  const lambdaDir = fakeLambdaDir();
  t.after(() => removeAll(outdir, lambdaDir));

  // `cdk synth` as `npm run synth` runs it, with no AWS credentials and no network use by the CLI.
  const env = {
    ...process.env,
    AURORA_MIGRATE_LAMBDA_DIR: lambdaDir, // placeholder `bootstrap`: the real one comes from the cargo-lambda build
    CDK_DISABLE_VERSION_CHECK: 'true',
    CDK_DISABLE_CLI_TELEMETRY: 'true',
    AWS_ACCESS_KEY_ID: '',
    AWS_SECRET_ACCESS_KEY: '',
    AWS_PROFILE: '',
    AWS_EC2_METADATA_DISABLED: 'true',
  };
  const cdk = path.join(CDK_DIR, 'node_modules', '.bin', 'cdk');
  const synth = spawnSync(cdk, ['synth', '--no-notices', '--quiet', '--output', outdir], { cwd: CDK_DIR, env, encoding: 'utf8' });
  assert.equal(synth.status, 0, `cdk synth failed:\n${synth.stdout}\n${synth.stderr}`);
  const template = path.join(outdir, `${STACK}.template.json`);
  assert.ok(fs.existsSync(template), `no ${template}`);
  const resources = JSON.parse(fs.readFileSync(template, 'utf8')).Resources;
  assert.ok(Object.values(resources).some((r: any) => r.Type === 'Custom::AuroraMigrations'));

  const cfnLint = process.env.CFN_LINT;
  if (!cfnLint) {
    const why = 'CFN_LINT is not set: set it to the cfn-lint executable (e.g. /tmp/cfnlint-venv/bin/cfn-lint) to lint the example template';
    if (process.env.AURORA_MIGRATE_SKIP_CFN_LINT === '1') {
      t.skip(`${why} (skipped: AURORA_MIGRATE_SKIP_CFN_LINT=1)`);
      return;
    }
    assert.fail(`${why}, or set AURORA_MIGRATE_SKIP_CFN_LINT=1 to skip it`);
  }
  // cfn-lint exit status is a bit mask: 2 errors, 4 warnings, 8 informational (0 = clean).
  const lint = spawnSync(cfnLint, ['--format', 'parseable', template], { encoding: 'utf8' });
  assert.equal(lint.error, undefined, `cannot run ${cfnLint}: ${lint.error}`);
  const findings = lint.stdout.split('\n').filter((l) => l.trim() !== '');
  for (const f of findings) t.diagnostic(`cfn-lint: ${f}`);
  // parseable format: file:line:col:endline:endcol:rule:message
  const rules = findings.map((f) => /:\d+:\d+:\d+:\d+:([A-Z]\d+):/.exec(f)?.[1] ?? f);
  const notHarmless = rules.filter((rule) => !(rule in HARMLESS_WARNINGS));
  assert.deepEqual(notHarmless, [], `cfn-lint findings:\n${lint.stdout}${lint.stderr}`);
  assert.ok(lint.status === 0 || lint.status === 4, `cfn-lint exited ${lint.status}:\n${lint.stdout}${lint.stderr}`);
});
