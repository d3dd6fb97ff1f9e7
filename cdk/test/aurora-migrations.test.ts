// Assertion tests of the AuroraMigrations construct: what a deploy relies on. The re-run trigger
// (ContentHash), the function's shape (arm64, provided.al2023, no VPC, layer, JSON logs, the names the
// Rust Lambda reads), least privilege, the layer's contents, no retries and the custom resource timeout.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Duration } from 'aws-cdk-lib';
import { Match } from 'aws-cdk-lib/assertions';
import { contentHash, migrationFiles } from '../lib/content-hash';
import { AuroraMigrations, ENV_LAMBDA_DIR } from '../lib/aurora-migrations';
import * as names from '../lib/names';
import { fakeLambdaDir, removeAll, scriptsFolder, tempDir } from './support/fixtures';
import { IMPORTED_SECRET_ARN, assetFiles, only, synthExample, synthImported } from './support/synth';

const CUSTOM_RESOURCE = 'Custom::AuroraMigrations';

test('ContentHash is the scripts hash: changes with a script, not with line endings or a BOM', (t) => {
  const lambdaDir = fakeLambdaDir();
  const lf = scriptsFolder('lf');
  const windows = scriptsFolder('crlf-bom');
  const edited = scriptsFolder('lf', { 'V2__plain.sql': 'INSERT INTO a VALUES (2);\n' });
  const synths = [lf, windows, edited].map((scriptsDir) => synthImported({ scriptsDir, lambdaDir }));
  t.after(() => removeAll(lambdaDir, lf, windows, edited, ...synths.map((s) => s.outdir)));

  const hashes = synths.map((s) => only(s.template, CUSTOM_RESOURCE).resource.Properties[names.PROPERTY_CONTENT_HASH]);
  assert.equal(hashes[0], contentHash(lf));
  assert.match(hashes[0], /^sha256:[0-9a-f]{64}$/);
  assert.equal(hashes[1], hashes[0], 'a CRLF/BOM-only change must not re-run the migrations');
  assert.notEqual(hashes[2], hashes[0], 'an edited script must re-run the migrations');
});

test('the function is arm64 provided.al2023 without VPC, with the scripts layer and JSON logs', (t) => {
  const lambdaDir = fakeLambdaDir();
  const scriptsDir = scriptsFolder();
  const s = synthImported({ scriptsDir, lambdaDir });
  t.after(() => removeAll(lambdaDir, scriptsDir, s.outdir));

  const layer = only(s.template, 'AWS::Lambda::LayerVersion');
  const logGroup = only(s.template, 'AWS::Logs::LogGroup');
  const fn = only(s.template, 'AWS::Lambda::Function');
  s.template.hasResourceProperties('AWS::Lambda::Function', {
    Runtime: 'provided.al2023',
    Architectures: ['arm64'],
    Handler: 'bootstrap',
    Timeout: 900,
    Layers: [{ Ref: layer.id }],
    LoggingConfig: { LogFormat: 'JSON', LogGroup: { Ref: logGroup.id } },
    VpcConfig: Match.absent(),
  });
  s.template.hasResourceProperties('AWS::Lambda::LayerVersion', {
    CompatibleRuntimes: ['provided.al2023'],
    CompatibleArchitectures: ['arm64'],
  });
  // The custom resource invokes exactly this function.
  s.template.hasResourceProperties(CUSTOM_RESOURCE, { ServiceToken: { 'Fn::GetAtt': [fn.id, 'Arn'] } });
});

test('the environment carries the names the Rust Lambda reads, with the defaults', (t) => {
  const lambdaDir = fakeLambdaDir();
  const scriptsDir = scriptsFolder();
  const defaults = synthImported({ scriptsDir, lambdaDir });
  const custom = synthImported({ scriptsDir, lambdaDir, database: 'shop', historyTable: 'schema_history' });
  t.after(() => removeAll(lambdaDir, scriptsDir, defaults.outdir, custom.outdir));

  const env = (s: typeof defaults) => only(s.template, 'AWS::Lambda::Function').resource.Properties.Environment.Variables;
  // The imported cluster's ARN, as CDK renders it: arn:${Partition}:rds:${Region}:${AccountId}:cluster:existing.
  const clusterArn = {
    'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':rds:', { Ref: 'AWS::Region' }, ':', { Ref: 'AWS::AccountId' }, ':cluster:existing']],
  };
  assert.deepEqual(env(defaults), {
    [names.ENV_RESOURCE_ARN]: clusterArn,
    [names.ENV_SECRET_ARN]: IMPORTED_SECRET_ARN,
    [names.ENV_MIGRATIONS_DIR]: names.DEFAULT_MIGRATIONS_DIR,
    [names.ENV_HISTORY_TABLE]: names.DEFAULT_HISTORY_TABLE,
  });
  assert.equal(env(custom)[names.ENV_DATABASE], 'shop');
  assert.equal(env(custom)[names.ENV_HISTORY_TABLE], 'schema_history');
  // Changing the database must re-run the migrations, so it is a property too; without one, none.
  assert.equal(only(custom.template, CUSTOM_RESOURCE).resource.Properties[names.PROPERTY_DATABASE], 'shop');
  assert.equal(only(defaults.template, CUSTOM_RESOURCE).resource.Properties[names.PROPERTY_DATABASE], undefined);
  // currentVersion reads the Data key the Lambda answers.
  const construct = custom.stack.node.findChild('Migrations') as AuroraMigrations;
  assert.deepEqual(custom.stack.resolve(construct.currentVersion), {
    'Fn::GetAtt': [only(custom.template, CUSTOM_RESOURCE).id, names.DATA_CURRENT_VERSION],
  });
});

test('historyDatabase sets the environment variable the Lambda reads, and only when given', (t) => {
  const lambdaDir = fakeLambdaDir();
  const scriptsDir = scriptsFolder();
  const defaults = synthImported({ scriptsDir, lambdaDir, database: 'shop' });
  const custom = synthImported({ scriptsDir, lambdaDir, database: 'shop', historyDatabase: 'migrations' });
  t.after(() => removeAll(lambdaDir, scriptsDir, defaults.outdir, custom.outdir));

  const env = (s: typeof defaults) => only(s.template, 'AWS::Lambda::Function').resource.Properties.Environment.Variables;
  assert.equal(names.ENV_HISTORY_DATABASE, 'AURORA_MIGRATE_HISTORY_DATABASE');
  assert.equal(env(custom)[names.ENV_HISTORY_DATABASE], 'migrations');
  assert.equal(env(custom)[names.ENV_DATABASE], 'shop');
  // Not set: the Lambda keeps the history in the default database.
  assert.ok(!(names.ENV_HISTORY_DATABASE in env(defaults)), `unexpected ${names.ENV_HISTORY_DATABASE} in ${JSON.stringify(env(defaults))}`);
});

/** Every `Resource` of every statement of every IAM policy (inline and managed) in the template. */
function policyStatements(template: ReturnType<typeof synthImported>['template']): any[] {
  const statements: any[] = [];
  for (const type of ['AWS::IAM::Policy', 'AWS::IAM::ManagedPolicy']) {
    for (const r of Object.values(template.findResources(type))) statements.push(...r.Properties.PolicyDocument.Statement);
  }
  for (const role of Object.values(template.findResources('AWS::IAM::Role'))) {
    for (const p of role.Properties.Policies ?? []) statements.push(...p.PolicyDocument.Statement);
  }
  return statements;
}

/** True when `value` (a resource, possibly with intrinsic functions) contains a wildcard string. */
function hasWildcard(value: unknown): boolean {
  if (typeof value === 'string') return value.includes('*');
  if (Array.isArray(value)) return value.some(hasWildcard);
  if (value && typeof value === 'object') return Object.values(value).some(hasWildcard);
  return false;
}

test('least privilege: Data API on the cluster, read on the secret, its own logs, no "*" and no managed policy', (t) => {
  const lambdaDir = fakeLambdaDir();
  const scriptsDir = scriptsFolder();
  const s = synthImported({ scriptsDir, lambdaDir });
  t.after(() => removeAll(lambdaDir, scriptsDir, s.outdir));

  const statements = policyStatements(s.template);
  for (const st of statements) {
    assert.equal(st.Effect, 'Allow');
    assert.ok(!hasWildcard(st.Resource), `statement with a wildcard resource: ${JSON.stringify(st)}`);
    assert.ok(!hasWildcard(st.Action), `statement with a wildcard action: ${JSON.stringify(st)}`);
  }
  // AWSLambdaBasicExecutionRole would bring logs:* on "*" through a managed policy, out of sight.
  for (const role of Object.values(s.template.findResources('AWS::IAM::Role'))) {
    assert.equal(role.Properties.ManagedPolicyArns, undefined, 'no managed policies on the role');
  }
  const byAction = (action: string) => statements.filter((st) => [st.Action].flat().includes(action));
  const [dataApi] = byAction('rds-data:ExecuteStatement');
  assert.deepEqual([dataApi.Action].flat().sort(), [
    'rds-data:BatchExecuteStatement',
    'rds-data:BeginTransaction',
    'rds-data:CommitTransaction',
    'rds-data:ExecuteStatement',
    'rds-data:RollbackTransaction',
  ]);
  assert.match(JSON.stringify(dataApi.Resource), /:rds:.*:cluster:existing"/);
  const [secret] = byAction('secretsmanager:GetSecretValue');
  assert.equal(secret.Resource, IMPORTED_SECRET_ARN);
  const [logs] = byAction('logs:PutLogEvents');
  assert.deepEqual(logs.Resource, { 'Fn::GetAtt': [only(s.template, 'AWS::Logs::LogGroup').id, 'Arn'] });
  // Nothing else: each statement is one of the three above.
  assert.deepEqual(
    statements.filter((st) => ![dataApi, secret, logs].includes(st)),
    [],
    'unexpected extra permissions',
  );
});

test('the layer asset holds exactly the .sql files under migrations/, byte for byte', (t) => {
  const lambdaDir = fakeLambdaDir();
  const scriptsDir = scriptsFolder('crlf-bom');
  const s = synthImported({ scriptsDir, lambdaDir });
  t.after(() => removeAll(lambdaDir, scriptsDir, s.outdir));

  const key = only(s.template, 'AWS::Lambda::LayerVersion').resource.Properties.Content.S3Key;
  const asset = assetFiles(s.outdir, key);
  const scripts = migrationFiles(scriptsDir);
  // README.md and notes.txt of the fixture stay out; `.down.sql` goes in (the Lambda decides).
  assert.deepEqual(asset.files, scripts.map((rel) => `migrations/${rel}`).sort());
  for (const rel of scripts) {
    assert.ok(
      fs.readFileSync(path.join(asset.dir, 'migrations', rel)).equals(fs.readFileSync(path.join(scriptsDir, rel))),
      `${rel} differs in the layer`,
    );
  }
  // The Lambda hashes /opt/migrations at run time and must find the ContentHash of the deploy.
  assert.equal(contentHash(path.join(asset.dir, 'migrations')), contentHash(scriptsDir));
});

test('an empty scripts folder synthesizes: empty-list hash and a layer with no migration', (t) => {
  const lambdaDir = fakeLambdaDir();
  const scriptsDir = tempDir('empty');
  const s = synthImported({ scriptsDir, lambdaDir });
  t.after(() => removeAll(lambdaDir, scriptsDir, s.outdir));

  assert.equal(
    only(s.template, CUSTOM_RESOURCE).resource.Properties[names.PROPERTY_CONTENT_HASH],
    'sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855',
  );
  const key = only(s.template, 'AWS::Lambda::LayerVersion').resource.Properties.Content.S3Key;
  // A marker keeps the zip non-empty; it is not a .sql file, so it is no migration.
  assert.deepEqual(assetFiles(s.outdir, key).files, ['migrations/.empty']);
});

test('a missing scripts folder is an error naming it', (t) => {
  const parent = tempDir('missing');
  const lambdaDir = fakeLambdaDir();
  t.after(() => removeAll(parent, lambdaDir));
  const missing = path.join(parent, 'scripts');
  assert.throws(() => synthImported({ scriptsDir: missing, lambdaDir }), (e: Error) => e.message.includes(missing));
});

test('a cluster without the Data API is refused at synth, not at deploy', (t) => {
  const scriptsDir = scriptsFolder();
  const lambdaDir = fakeLambdaDir();
  t.after(() => removeAll(scriptsDir, lambdaDir));
  assert.throws(() => synthImported({ scriptsDir, lambdaDir, dataApiEnabled: false }), /Data API is disabled/);
});

test('no Lambda retries of the asynchronous CloudFormation invoke', (t) => {
  const lambdaDir = fakeLambdaDir();
  const scriptsDir = scriptsFolder();
  const s = synthImported({ scriptsDir, lambdaDir });
  t.after(() => removeAll(lambdaDir, scriptsDir, s.outdir));

  const fn = only(s.template, 'AWS::Lambda::Function');
  s.template.hasResourceProperties('AWS::Lambda::EventInvokeConfig', {
    FunctionName: { Ref: fn.id },
    Qualifier: '$LATEST',
    MaximumRetryAttempts: 0,
  });
});

test('the custom resource waits a minute longer than the function may run', (t) => {
  const lambdaDir = fakeLambdaDir();
  const scriptsDir = scriptsFolder();
  const byDefault = synthImported({ scriptsDir, lambdaDir });
  const short = synthImported({ scriptsDir, lambdaDir, timeout: Duration.minutes(5) });
  t.after(() => removeAll(lambdaDir, scriptsDir, byDefault.outdir, short.outdir));

  byDefault.template.hasResourceProperties('AWS::Lambda::Function', { Timeout: 900 });
  byDefault.template.hasResourceProperties(CUSTOM_RESOURCE, { ServiceTimeout: '960' });
  short.template.hasResourceProperties('AWS::Lambda::Function', { Timeout: 300 });
  short.template.hasResourceProperties(CUSTOM_RESOURCE, { ServiceTimeout: '360' });
});

test('the first invoke waits for the grants, the no-retry config and the cluster instances', (t) => {
  const lambdaDir = fakeLambdaDir();
  const scriptsDir = scriptsFolder();
  const s = synthExample(scriptsDir, lambdaDir);
  t.after(() => removeAll(lambdaDir, scriptsDir, s.outdir));

  const dependsOn: string[] = only(s.template, CUSTOM_RESOURCE).resource.DependsOn ?? [];
  for (const type of ['AWS::IAM::Policy', 'AWS::Lambda::EventInvokeConfig', 'AWS::RDS::DBInstance', 'AWS::RDS::DBCluster']) {
    const { id } = only(s.template, type);
    assert.ok(dependsOn.includes(id), `the custom resource must depend on ${type} ${id}; DependsOn: ${dependsOn.join(', ')}`);
  }
});

test('AURORA_MIGRATE_LAMBDA_DIR replaces the bundled code with a folder holding a bootstrap', (t) => {
  const saved = process.env[ENV_LAMBDA_DIR];
  const lambdaDir = fakeLambdaDir();
  const noBinary = tempDir('nobinary');
  const scriptsDir = scriptsFolder();
  const outdirs: string[] = [];
  t.after(() => {
    if (saved === undefined) delete process.env[ENV_LAMBDA_DIR];
    else process.env[ENV_LAMBDA_DIR] = saved;
    removeAll(lambdaDir, noBinary, scriptsDir, ...outdirs);
  });

  process.env[ENV_LAMBDA_DIR] = lambdaDir;
  const s = synthImported({ scriptsDir });
  outdirs.push(s.outdir);
  const key = only(s.template, 'AWS::Lambda::Function').resource.Properties.Code.S3Key;
  assert.deepEqual(assetFiles(s.outdir, key).files, ['bootstrap']);

  process.env[ENV_LAMBDA_DIR] = noBinary;
  assert.throws(
    () => synthImported({ scriptsDir }),
    (e: Error) => e.message.includes(path.join(noBinary, 'bootstrap')) && e.message.includes(ENV_LAMBDA_DIR),
  );
});
