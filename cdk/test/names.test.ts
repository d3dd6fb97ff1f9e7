// Keeps cdk/lib/names.ts and src/names.rs in step: the Lambda (Rust) reads the environment variables
// and properties that the construct (TypeScript) writes, so one renamed string breaks every deploy.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as names from '../lib/names';

const RUST_NAMES = path.resolve(__dirname, '..', '..', 'src', 'names.rs');

/** The `pub const NAME: &str = "value";` items of names.rs (the file holds only plain string literals). */
function rustConstants(): Map<string, string> {
  const source = fs.readFileSync(RUST_NAMES, 'utf8');
  const found = new Map<string, string>();
  for (const m of source.matchAll(/pub\s+const\s+([A-Z0-9_]+)\s*:\s*&(?:'static\s+)?str\s*=\s*"((?:[^"\\]|\\.)*)"\s*;/g)) {
    found.set(m[1], m[2]);
  }
  // A const this regex cannot read (raw string, concat!) must not silently escape the comparison.
  const declared = [...source.matchAll(/pub\s+const\s+([A-Z0-9_]+)/g)].map((m) => m[1]);
  assert.deepEqual(declared.filter((n) => !found.has(n)), [], `${RUST_NAMES}: constants this test cannot parse`);
  return found;
}

test('every constant in names.ts has the same value as in src/names.rs', () => {
  const rust = rustConstants();
  const ts = Object.entries(names);
  assert.ok(ts.length > 0, 'names.ts exports nothing');
  for (const [name, value] of ts) {
    assert.ok(rust.has(name), `names.ts exports ${name}, which src/names.rs does not define`);
    assert.equal(value, rust.get(name), `${name}: names.ts says ${JSON.stringify(value)}, src/names.rs says ${JSON.stringify(rust.get(name))}`);
  }
});

test('every constant in src/names.rs is also in names.ts', () => {
  // names.rs promises that the CDK code spells the same strings; a constant added on the Rust side
  // (a new env var the Lambda reads) must be added here too.
  const missing = [...rustConstants().keys()].filter((name) => !(name in names));
  assert.deepEqual(missing, [], `add these src/names.rs constants to cdk/lib/names.ts: ${missing.join(', ')}`);
});
