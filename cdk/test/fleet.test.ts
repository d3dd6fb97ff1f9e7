// The fleet props of AuroraMigrations: databases / databasePattern / parallel reach the function's
// environment (the names the Rust Lambda reads) and the custom resource's Fleet property (a changed
// fleet re-runs the migrations); contradictory or out-of-range values are refused at synth.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as names from '../lib/names';
import { fakeLambdaDir, removeAll, scriptsFolder } from './support/fixtures';
import { only, synthImported } from './support/synth';

const CUSTOM_RESOURCE = 'Custom::AuroraMigrations';

test('databases, databasePattern and parallel set the environment and the Fleet property', (t) => {
  const lambdaDir = fakeLambdaDir();
  const scriptsDir = scriptsFolder();
  const list = synthImported({ scriptsDir, lambdaDir, extra: { databases: ['tenant_b', 'tenant_a'], parallel: 16 } });
  const pattern = synthImported({ scriptsDir, lambdaDir, extra: { databasePattern: 'tenant\\_%' } });
  const none = synthImported({ scriptsDir, lambdaDir });
  t.after(() => removeAll(lambdaDir, scriptsDir, list.outdir, pattern.outdir, none.outdir));

  const env = (s: typeof list) => only(s.template, 'AWS::Lambda::Function').resource.Properties.Environment.Variables;
  const props = (s: typeof list) => only(s.template, CUSTOM_RESOURCE).resource.Properties;
  assert.equal(env(list)[names.ENV_DATABASES], 'tenant_b,tenant_a');
  assert.equal(env(list)[names.ENV_PARALLEL], '16');
  assert.ok(!(names.ENV_DATABASE_PATTERN in env(list)));
  assert.equal(props(list)[names.PROPERTY_FLEET], 'databases tenant_b,tenant_a');

  assert.equal(env(pattern)[names.ENV_DATABASE_PATTERN], 'tenant\\_%');
  assert.ok(!(names.ENV_DATABASES in env(pattern)) && !(names.ENV_PARALLEL in env(pattern)), 'parallel defaults in the function');
  assert.equal(props(pattern)[names.PROPERTY_FLEET], 'databases like tenant\\_%');

  for (const name of [names.ENV_DATABASES, names.ENV_DATABASE_PATTERN, names.ENV_PARALLEL]) {
    assert.ok(!(name in env(none)), `${name} without a fleet`);
  }
  assert.ok(!(names.PROPERTY_FLEET in props(none)));
});

test('a changed tenant list re-runs the custom resource, the same one does not', (t) => {
  const lambdaDir = fakeLambdaDir();
  const scriptsDir = scriptsFolder();
  const synths = [['a', 'b'], ['a', 'b'], ['a', 'b', 'c']].map((databases) =>
    synthImported({ scriptsDir, lambdaDir, extra: { databases } }),
  );
  t.after(() => removeAll(lambdaDir, scriptsDir, ...synths.map((s) => s.outdir)));
  const fleet = synths.map((s) => only(s.template, CUSTOM_RESOURCE).resource.Properties[names.PROPERTY_FLEET]);
  assert.equal(fleet[0], fleet[1]);
  assert.notEqual(fleet[2], fleet[0]);
});

test('contradictory or out-of-range fleet props are refused at synth, naming the prop', (t) => {
  const lambdaDir = fakeLambdaDir();
  const scriptsDir = scriptsFolder();
  t.after(() => removeAll(lambdaDir, scriptsDir));
  const cases: [Record<string, unknown>, RegExp][] = [
    [{ databases: ['a'], databasePattern: 't%' }, /databases \(a list\) or databasePattern .* not both/],
    [{ databases: [] }, /databases is empty/],
    [{ databases: ['a,b'] }, /databases holds "a,b".*without commas/],
    [{ databases: [' a'] }, /databases holds " a"/],
    [{ databases: ['x'.repeat(65)] }, /1 to 64 characters/],
    [{ databases: ['a', 'b', 'a'] }, /names "a" more than once/],
    [{ databasePattern: '' }, /databasePattern is empty/],
    [{ databasePattern: 'tenant\\' }, /ends with a lone backslash/],
    [{ databasePattern: 'tenant_%', database: 'shop' }, /give one of them/],
    [{ databases: ['a'], parallel: 0 }, /parallel is 0: give a whole number from 1 to 1024/],
    [{ databases: ['a'], parallel: 1025 }, /parallel is 1025/],
    [{ databases: ['a'], parallel: 2.5 }, /parallel is 2.5/],
    [{ parallel: 4 }, /parallel applies to a fleet/],
  ];
  for (const [extra, message] of cases) {
    assert.throws(() => synthImported({ scriptsDir, lambdaDir, extra }), message, JSON.stringify(extra));
  }
  // The edges of the ranges are accepted.
  for (const extra of [{ databases: ['a'], parallel: 1 }, { databasePattern: 'a\\\\', parallel: 1024 }]) {
    const s = synthImported({ scriptsDir, lambdaDir, extra });
    removeAll(s.outdir);
  }
});
