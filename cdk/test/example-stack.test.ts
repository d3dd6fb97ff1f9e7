// The example app: its stack is what the README tells people to deploy, so it must synthesize offline
// through the pinned CDK CLI (the path `npm run synth` takes) and pass cfn-lint, and its cluster must be
// the Aurora Serverless v2 MySQL with the Data API that the construct needs.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ENV_LAMBDA_DIR } from '../lib/aurora-migrations';
import * as names from '../lib/names';
import { fakeLambdaDir, removeAll, scriptsFolder, tempDir } from './support/fixtures';
import { assetFiles, only, synthExample } from './support/synth';

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
  s.template.hasOutput('SchemaVersion', { Value: { 'Fn::GetAtt': [id, names.DATA_CURRENT_VERSION] } });
});

/** cfn-lint rules whose warnings are expected on CDK output and harmless. */
const HARMLESS_WARNINGS: Record<string, string> = {
  // CDK adds DependsOn edges that a Ref/GetAtt already implies (e.g. the function on its role).
  W3005: 'redundant DependsOn',
};

/** Set to 1 to synth the example app with a placeholder `bootstrap` instead of the cargo-lambda build. */
const ENV_SKIP_LAMBDA_BUILD = 'AURORA_MIGRATE_SKIP_LAMBDA_BUILD';

/** ELF e_machine of AArch64 (what Lambda's arm64 architecture runs). */
const EM_AARCH64 = 0xb7;

/**
 * Why `file` is not a 64-bit little-endian ELF executable for AArch64 with the executable bit set,
 * or undefined when it is one. Reads the ELF header: magic 0x7f 'E' 'L' 'F', EI_CLASS 2 (64-bit),
 * EI_DATA 1 (little-endian), e_type 2 or 3 (executable or PIE) at 16, e_machine at 18.
 */
function notAnArm64Executable(file: string): string | undefined {
  const fd = fs.openSync(file, 'r');
  const header = Buffer.alloc(20);
  const read = fs.readSync(fd, header, 0, header.length, 0);
  fs.closeSync(fd);
  if (read < header.length || !header.subarray(0, 4).equals(Buffer.from([0x7f, 0x45, 0x4c, 0x46]))) {
    return `not an ELF file (starts with ${JSON.stringify(header.subarray(0, Math.min(read, 16)).toString('latin1'))})`;
  }
  if (header[4] !== 2 || header[5] !== 1) return `not a 64-bit little-endian ELF file (class ${header[4]}, data ${header[5]})`;
  const type = header.readUInt16LE(16);
  if (type !== 2 && type !== 3) return `ELF type ${type}, not an executable`;
  const machine = header.readUInt16LE(18);
  if (machine !== EM_AARCH64) return `ELF machine 0x${machine.toString(16)}, not AArch64 (0xb7): built for the wrong architecture`;
  if ((fs.statSync(file).mode & 0o100) === 0) return 'not executable (mode lacks u+x)';
  return undefined;
}

test('the example app synthesizes offline with the CDK CLI, with the real arm64 bootstrap, and passes cfn-lint', async (t) => {
  // The real function code: the cargo-lambda build (dev/test runs dev/build-lambda arm64 and sets
  // AURORA_MIGRATE_LAMBDA_DIR). Without it, only AURORA_MIGRATE_SKIP_LAMBDA_BUILD=1 lets a placeholder stand in.
  let lambdaDir = process.env[ENV_LAMBDA_DIR] || undefined;
  const real = lambdaDir !== undefined;
  if (lambdaDir === undefined) {
    const why =
      `${ENV_LAMBDA_DIR} is not set: build the Lambda with \`bash dev/build-lambda arm64\` (from the repository root) ` +
      `and set ${ENV_LAMBDA_DIR} to build/lambda/arm64/aurora-migrate-lambda (dev/test does both)`;
    if (process.env[ENV_SKIP_LAMBDA_BUILD] !== '1') assert.fail(`${why}, or set ${ENV_SKIP_LAMBDA_BUILD}=1 to synth with a placeholder bootstrap`);
    t.diagnostic(`${why}; using a placeholder bootstrap (${ENV_SKIP_LAMBDA_BUILD}=1)`);
    lambdaDir = fakeLambdaDir();
  } else {
    const bootstrap = path.join(lambdaDir, 'bootstrap');
    assert.ok(fs.existsSync(bootstrap), `${ENV_LAMBDA_DIR}=${lambdaDir} holds no bootstrap: run \`bash dev/build-lambda arm64\` from the repository root`);
  }
  const placeholder = real ? undefined : lambdaDir;
  const outdir = tempDir('synth');
  t.after(() => removeAll(outdir, ...(placeholder ? [placeholder] : [])));

  // `cdk synth` as `npm run synth` runs it, with no AWS credentials and no network use by the CLI.
  const env = {
    ...process.env,
    [ENV_LAMBDA_DIR]: lambdaDir,
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

  await t.test('the function asset is the arm64 bootstrap', (st) => {
    if (!real) {
      st.skip(`placeholder bootstrap (${ENV_SKIP_LAMBDA_BUILD}=1)`);
      return;
    }
    const fns = Object.values(resources).filter((r: any) => r.Type === 'AWS::Lambda::Function') as any[];
    assert.equal(fns.length, 1, 'one function in the example stack');
    const asset = assetFiles(outdir, fns[0].Properties.Code.S3Key);
    assert.deepEqual(asset.files, ['bootstrap'], `the function asset ${asset.dir} must hold exactly the bootstrap`);
    const why = notAnArm64Executable(path.join(asset.dir, 'bootstrap'));
    assert.equal(why, undefined, `the staged bootstrap from ${lambdaDir}: ${why}`);
  });

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
