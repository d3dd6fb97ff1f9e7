// What the package promises beyond the construct's core: the bundled bootstrap and its architecture,
// the version coupling with the Rust crate, the props with their documented defaults, the outputs, and
// cdk-nag's verdict (AwsSolutions: nothing; Serverless: every finding fixed or suppressed with a reason).
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { execFileSync } from 'node:child_process';
import { App, Duration, RemovalPolicy, Stack, Validations } from 'aws-cdk-lib';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { AwsSolutionsChecks, ServerlessChecks } from 'cdk-nag';
import { ENV_LAMBDA_DIR } from '../lib/aurora-migrations';
import { bootstrapArchitecture, bundledZip, elfArchitecture, packageVersion, zipEntry } from '../lib/bootstrap';
import * as names from '../lib/names';
import { ContentHash, MigrationData } from '../lib';
import { contentHash } from '../lib/content-hash';
import { REPO_ROOT, fakeLambdaDir, removeAll, scriptsFolder, tempDir } from './support/fixtures';
import { only, synthImported } from './support/synth';

const CUSTOM_RESOURCE = 'Custom::AuroraMigrations';

/** A folder whose `bootstrap` starts like a 64-bit little-endian ELF executable for `machine`. */
function elfLambdaDir(machine: number): string {
  const dir = tempDir('elf');
  const header = Buffer.alloc(64);
  Buffer.from([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1]).copy(header);
  header.writeUInt16LE(2, 16); // ET_EXEC
  header.writeUInt16LE(machine, 18);
  fs.writeFileSync(path.join(dir, 'bootstrap'), header, { mode: 0o755 });
  return dir;
}
const EM_X86_64 = 0x3e;
const EM_AARCH64 = 0xb7;

test('the package version is the Rust crate version: the function reports that one', () => {
  const cargo = fs.readFileSync(path.join(REPO_ROOT, 'Cargo.toml'), 'utf8');
  const crate = /\[package\]\s*\nname = "aurora-migrate"\s*\nversion = "([^"]+)"/.exec(cargo);
  assert.ok(crate, 'no [package] version of aurora-migrate in Cargo.toml');
  assert.equal(packageVersion(), crate[1], 'cdk/package.json and Cargo.toml must carry the same version');
});

test('the package names the crate\'s repository: Cargo.toml holds the one URL', () => {
  const cargo = fs.readFileSync(path.join(REPO_ROOT, 'Cargo.toml'), 'utf8');
  const crate = /\[package\][^[]*?\nrepository = "([^"]+)"/.exec(cargo);
  assert.ok(crate, 'no repository in the [package] table of Cargo.toml');
  const pkg = JSON.parse(fs.readFileSync(path.join(REPO_ROOT, 'cdk', 'package.json'), 'utf8'));
  const repository = String(pkg.repository?.url ?? '').replace(/^git\+/, '').replace(/\.git$/, '');
  assert.equal(repository, crate[1], `cdk/package.json's repository.url must be ${crate[1]}.git (Cargo.toml's repository)`);
  assert.equal(pkg.author?.url, crate[1], `cdk/package.json's author.url must be ${crate[1]} (Cargo.toml's repository)`);
  assert.equal(pkg.repository?.directory, 'cdk', 'cdk/package.json\'s repository.directory must be cdk');
});

test('the custom resource expects the package version, or the one given', (t) => {
  const lambdaDir = fakeLambdaDir();
  const scriptsDir = scriptsFolder();
  const defaults = synthImported({ scriptsDir, lambdaDir });
  const pinned = synthImported({ scriptsDir, lambdaDir, extra: { expectedVersion: '9.9.9' } });
  t.after(() => removeAll(lambdaDir, scriptsDir, defaults.outdir, pinned.outdir));

  const props = (s: typeof defaults) => only(s.template, CUSTOM_RESOURCE).resource.Properties;
  assert.equal(props(defaults)[names.PROPERTY_EXPECTED_VERSION], packageVersion());
  assert.equal(props(pinned)[names.PROPERTY_EXPECTED_VERSION], '9.9.9');
});

test('defaults: 256 MiB, no tracing, logs kept two years and retained, no reservation, generated name', (t) => {
  const lambdaDir = fakeLambdaDir();
  const scriptsDir = scriptsFolder();
  const s = synthImported({ scriptsDir, lambdaDir });
  t.after(() => removeAll(lambdaDir, scriptsDir, s.outdir));

  const fn = only(s.template, 'AWS::Lambda::Function').resource.Properties;
  assert.equal(fn.MemorySize, 256);
  assert.equal(fn.TracingConfig, undefined);
  assert.equal(fn.ReservedConcurrentExecutions, undefined);
  assert.equal(fn.FunctionName, undefined);
  const logGroup = only(s.template, 'AWS::Logs::LogGroup').resource;
  assert.equal(logGroup.Properties.RetentionInDays, 731);
  assert.equal(logGroup.DeletionPolicy, 'Retain');
});

test('props set memory, tracing, log retention and removal, reserved concurrency and the name', (t) => {
  const lambdaDir = fakeLambdaDir();
  const scriptsDir = scriptsFolder();
  const s = synthImported({
    scriptsDir,
    lambdaDir,
    extra: {
      memorySize: 1024,
      tracing: lambda.Tracing.ACTIVE,
      logRetention: logs.RetentionDays.ONE_MONTH,
      logRemovalPolicy: RemovalPolicy.DESTROY,
      reservedConcurrentExecutions: 1,
      functionName: 'shop-migrations',
    },
  });
  t.after(() => removeAll(lambdaDir, scriptsDir, s.outdir));

  s.template.hasResourceProperties('AWS::Lambda::Function', {
    MemorySize: 1024,
    TracingConfig: { Mode: 'Active' },
    ReservedConcurrentExecutions: 1,
    FunctionName: 'shop-migrations',
  });
  const logGroup = only(s.template, 'AWS::Logs::LogGroup').resource;
  assert.equal(logGroup.Properties.RetentionInDays, 30);
  assert.equal(logGroup.DeletionPolicy, 'Delete');
});

test('outputs name the function and its ARN', (t) => {
  const lambdaDir = fakeLambdaDir();
  const scriptsDir = scriptsFolder();
  const s = synthImported({ scriptsDir, lambdaDir });
  t.after(() => removeAll(lambdaDir, scriptsDir, s.outdir));

  const fnId = only(s.template, 'AWS::Lambda::Function').id;
  const outputs = Object.values(s.template.findOutputs('*')).map((o: any) => o.Value);
  assert.deepEqual(outputs, [{ Ref: fnId }, { 'Fn::GetAtt': [fnId, 'Arn'] }]);
});

test('the architecture follows an ELF bootstrap; a contradicting architecture fails the synth', (t) => {
  const x86 = elfLambdaDir(EM_X86_64);
  const arm = elfLambdaDir(EM_AARCH64);
  const scriptsDir = scriptsFolder();
  const followed = synthImported({ scriptsDir, lambdaDir: x86 });
  t.after(() => removeAll(x86, arm, scriptsDir, followed.outdir));

  followed.template.hasResourceProperties('AWS::Lambda::Function', { Architectures: ['x86_64'] });
  followed.template.hasResourceProperties('AWS::Lambda::LayerVersion', { CompatibleArchitectures: ['x86_64'] });
  assert.throws(
    () => synthImported({ scriptsDir, lambdaDir: x86, extra: { architecture: lambda.Architecture.ARM_64 } }),
    (e: Error) => e.message.includes('architecture arm64') && e.message.includes('built for x86_64'),
  );
  assert.throws(
    () => synthImported({ scriptsDir, lambdaDir: arm, extra: { architecture: lambda.Architecture.X86_64 } }),
    (e: Error) => e.message.includes('architecture x86_64') && e.message.includes('built for arm64'),
  );
});

test('the bootstrap architecture is read inside a deflated zip too', (t) => {
  const dir = elfLambdaDir(EM_AARCH64);
  const zip = path.join(dir, 'code.zip');
  t.after(() => removeAll(dir));
  // An independent zip writer (Python's zipfile, deflated), not this package's own.
  execFileSync('python3', ['-c', 'import sys, zipfile; z = zipfile.ZipFile(sys.argv[1], "w", zipfile.ZIP_DEFLATED); z.write(sys.argv[2], "bootstrap"); z.close()', zip, path.join(dir, 'bootstrap')]);
  assert.deepEqual(zipEntry(fs.readFileSync(zip), 'bootstrap'), fs.readFileSync(path.join(dir, 'bootstrap')));
  assert.equal(zipEntry(fs.readFileSync(zip), 'other'), undefined);
  assert.equal(bootstrapArchitecture(zip), 'arm64');
  assert.equal(elfArchitecture(Buffer.from('#!/bin/sh\necho not an executable\n')), undefined);
});

test('without code, the function uses the bundled bootstrap zip of its architecture', { skip: !fs.existsSync(bundledZip('arm64')) && `no ${bundledZip('arm64')}: run npm run bundle-lambda (dev/test-package checks the packed library)` }, (t) => {
  const saved = process.env[ENV_LAMBDA_DIR];
  delete process.env[ENV_LAMBDA_DIR];
  const scriptsDir = scriptsFolder();
  const s = synthImported({ scriptsDir });
  t.after(() => {
    if (saved !== undefined) process.env[ENV_LAMBDA_DIR] = saved;
    removeAll(scriptsDir, s.outdir);
  });
  s.template.hasResourceProperties('AWS::Lambda::Function', { Architectures: ['arm64'] });
  const key = only(s.template, 'AWS::Lambda::Function').resource.Properties.Code.S3Key;
  const staged = fs.readdirSync(s.outdir).find((f) => key.startsWith(f.replace(/^asset\./, '').replace(/\.zip$/, '')));
  assert.ok(staged, `no staged asset for ${key}`);
  assert.ok(fs.readFileSync(path.join(s.outdir, staged)).equals(fs.readFileSync(bundledZip('arm64'))), 'the staged asset is the bundled zip');
});

test('cdk-nag: AwsSolutions reports nothing; Serverless findings are acknowledged with reasons', (t) => {
  const lambdaDir = fakeLambdaDir();
  const scriptsDir = scriptsFolder();
  // cdk-nag 3 runs as a CDK policy-validation plugin: any unacknowledged finding fails the synth.
  const packs = (app: App) => Validations.of(app).addPlugins(new AwsSolutionsChecks(app), new ServerlessChecks(app));
  const plain = synthImported({ scriptsDir, lambdaDir, beforeSynth: packs });
  const traced = synthImported({ scriptsDir, lambdaDir, beforeSynth: packs, extra: { tracing: lambda.Tracing.ACTIVE } });
  const long = { timeout: Duration.minutes(5), extra: { maxDuration: Duration.hours(1) } };
  const longPlain = synthImported({ scriptsDir, lambdaDir, beforeSynth: packs, ...long });
  const longTraced = synthImported({ scriptsDir, lambdaDir, beforeSynth: packs, ...long, extra: { ...long.extra, tracing: lambda.Tracing.ACTIVE } });
  t.after(() => removeAll(lambdaDir, scriptsDir, plain.outdir, traced.outdir, longPlain.outdir, longTraced.outdir));

  // The packs do run: a queue without TLS enforcement beside the construct fails the same synth.
  assert.throws(
    () =>
      synthImported({
        scriptsDir,
        lambdaDir,
        beforeSynth: (app) => {
          packs(app);
          new sqs.Queue(new Stack(app, 'Control'), 'Queue');
        },
      }),
    /Validation failed/,
  );
  // The acknowledgements say why; cdk-nag 2 reads the same reasons from the resource metadata.
  const reasons = (s: typeof plain) =>
    Object.values(s.template.toJSON().Resources).flatMap((r: any) => r.Metadata?.cdk_nag?.rules_to_suppress ?? []);
  assert.deepEqual(reasons(plain).map((r: any) => r.id).sort(), [
    'Serverless-LambdaAsyncFailureDestination',
    'Serverless-LambdaDLQ',
    'Serverless-LambdaTracing',
  ]);
  assert.deepEqual(reasons(traced).map((r: any) => r.id).sort(), [
    'AwsSolutions-IAM5[Resource::*]',
    'Serverless-LambdaAsyncFailureDestination',
    'Serverless-LambdaDLQ',
  ]);
  assert.deepEqual(reasons(longPlain).map((r: any) => r.id).sort(), [
    'AwsSolutions-SF1',
    'AwsSolutions-SF2',
    'Serverless-LambdaAsyncFailureDestination',
    'Serverless-LambdaDLQ',
    'Serverless-LambdaTracing',
    'Serverless-StepFunctionStateMachineXray',
  ]);
  assert.deepEqual(reasons(longTraced).map((r: any) => r.id).sort(), [
    'AwsSolutions-IAM5[Resource::*]',
    'AwsSolutions-IAM5[Resource::*]',
    'AwsSolutions-SF1',
    'Serverless-LambdaAsyncFailureDestination',
    'Serverless-LambdaDLQ',
  ]);
  for (const r of [...reasons(plain), ...reasons(traced), ...reasons(longPlain), ...reasons(longTraced)]) assert.ok(r.reason.length > 60, `${r.id}: reason too short: ${r.reason}`);
});

test('the static API crossing jsii gives the same values as the module functions and names', (t) => {
  const scriptsDir = scriptsFolder();
  t.after(() => removeAll(scriptsDir));
  assert.equal(ContentHash.of(scriptsDir), contentHash(scriptsDir));
  assert.ok(ContentHash.files(scriptsDir).includes('V1__create.sql'));
  assert.equal(MigrationData.CURRENT_VERSION, names.DATA_CURRENT_VERSION);
  assert.equal(MigrationData.VERSION, names.DATA_VERSION);
  assert.equal(MigrationData.CONTENT_HASH, names.DATA_CONTENT_HASH);
  assert.equal(MigrationData.APPLIED, names.DATA_APPLIED);
  assert.equal(MigrationData.APPLIED_VERSIONS, names.DATA_APPLIED_VERSIONS);
});
