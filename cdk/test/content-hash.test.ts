// The content hash decides whether a deploy re-runs the migrations, so it must match the rule in the root README ("Checksums and the content hash")
// bit for bit and agree with the Rust CLI and Lambda. Expected values are computed here by an
// independent implementation (coreutils in a shell), not by calling the code under test twice.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { contentHash, fileChecksum, migrationFiles } from '../lib/content-hash';
import { REPO_ROOT, removeAll, scriptsFolder, tempDir, writeTree } from './support/fixtures';

/** sha256 hex of bytes that `printf FORMAT ARGS...` writes, computed by sha256sum. */
function shellSha256(format: string, ...args: string[]): string {
  return execFileSync('bash', ['-c', 'printf "$@" | sha256sum | cut -d" " -f1', 'bash', format, ...args], { encoding: 'utf8' }).trim();
}

/**
 * §3 in coreutils: prune hidden entries (as src/source.rs does), strip a BOM at the start and CR
 * before LF (GNU sed keeps a missing final newline missing), sha256sum each file, then hash the
 * C-locale-sorted `path NUL checksum LF` lines.
 */
function shellContentHash(dir: string): string {
  const script = String.raw`
    set -euo pipefail
    cd "$1"
    find . -name '.?*' -prune -o -type f -name '*.sql' -print | sed 's|^\./||' | LC_ALL=C sort | while IFS= read -r f; do
      sum=$(sed -e '1s/^\xEF\xBB\xBF//' -e 's/\r$//' "$f" | sha256sum | cut -d' ' -f1)
      printf '%s\0sha256:%s\n' "$f" "$sum"
    done | sha256sum | cut -d' ' -f1`;
  return 'sha256:' + execFileSync('bash', ['-c', script, 'bash', dir], { encoding: 'utf8' }).trim();
}

test('a file checksum is sha256 of the bytes without BOM and with CRLF as LF', () => {
  const lf = 'sha256:' + shellSha256('CREATE TABLE t (id INT);\nSELECT 1;\n');
  assert.equal(fileChecksum(Buffer.from('CREATE TABLE t (id INT);\nSELECT 1;\n')), lf);
  assert.equal(fileChecksum(Buffer.from('CREATE TABLE t (id INT);\r\nSELECT 1;\r\n')), lf);
  assert.equal(fileChecksum(Buffer.from('\ufeffCREATE TABLE t (id INT);\r\nSELECT 1;\r\n')), lf);
  // Only a leading BOM is stripped and only CR directly before LF: anything else is content.
  assert.equal(fileChecksum(Buffer.from('a\rb\n')), 'sha256:' + shellSha256('a\rb\n'));
  assert.equal(fileChecksum(Buffer.from('a\r')), 'sha256:' + shellSha256('a\r'));
  assert.equal(fileChecksum(Buffer.from('x\ufeff\n')), 'sha256:' + shellSha256('x\\357\\273\\277\\n'));
  assert.equal(fileChecksum(Buffer.alloc(0)), 'sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
});

test('the content hash matches an independent coreutils computation of the rule', (t) => {
  const lf = scriptsFolder('lf');
  const crlf = scriptsFolder('crlf-bom');
  t.after(() => removeAll(lf, crlf));
  const expected = shellContentHash(lf);
  assert.match(expected, /^sha256:[0-9a-f]{64}$/);
  assert.equal(contentHash(lf), expected);
  // The shell computation normalises too, so it also pins the BOM/CRLF variant independently.
  assert.equal(shellContentHash(crlf), expected);
  assert.equal(contentHash(crlf), expected);
});

test('the content hash of one known file is pinned by printf and sha256sum', (t) => {
  const dir = tempDir('one');
  t.after(() => removeAll(dir));
  writeTree(dir, { 'db/V1__a.sql': '\ufeffSELECT 1;\r\n' });
  const fileSum = shellSha256('SELECT 1;\n');
  assert.equal(contentHash(dir), 'sha256:' + shellSha256('db/V1__a.sql\\0sha256:%s\\n', fileSum));
});

test('files are listed recursively with / separators in byte order, .sql files only, no hidden ones', (t) => {
  const dir = scriptsFolder('lf');
  t.after(() => removeAll(dir));
  assert.deepEqual(migrationFiles(dir), [
    '3_seed.down.sql',
    '3_seed.up.sql',
    'V10__later.sql',
    'V1__create.sql',
    'V2__plain.sql',
    'appdb/V1__other_database.sql',
    'appdb/nested/V2__deeper.sql',
  ]);
});

test('line endings and a BOM do not change the hash; content, names and new scripts do', (t) => {
  const base = scriptsFolder('lf');
  const windows = scriptsFolder('crlf-bom');
  const edited = scriptsFolder('lf', { 'V2__plain.sql': 'INSERT INTO a VALUES (2);\n' });
  const trailingSpace = scriptsFolder('lf', { 'V2__plain.sql': 'INSERT INTO a VALUES (1); \n' });
  const added = scriptsFolder('lf', { 'V11__new.sql': 'SELECT 2;\n' });
  const addedDown = scriptsFolder('lf', { 'V2__plain.down.sql': 'SELECT 2;\n' });
  const renamed = tempDir('renamed');
  t.after(() => removeAll(base, windows, edited, trailingSpace, added, addedDown, renamed));
  fs.cpSync(base, renamed, { recursive: true });
  fs.renameSync(path.join(renamed, 'V2__plain.sql'), path.join(renamed, 'V3__plain.sql'));

  const h = contentHash(base);
  assert.equal(contentHash(windows), h, 'CRLF and BOM only must not re-run migrations');
  fs.writeFileSync(path.join(base, 'CHANGELOG.txt'), 'not a script\n');
  assert.equal(contentHash(base), h, 'a non-.sql file must not count');
  for (const [what, dir] of Object.entries({ edited, trailingSpace, added, addedDown, renamed })) {
    assert.notEqual(contentHash(dir), h, `${what}: the hash must change`);
  }
});

test('an empty folder has the hash of the empty list; a missing folder is an error naming it', (t) => {
  const dir = tempDir('empty');
  t.after(() => removeAll(dir));
  assert.equal(contentHash(dir), 'sha256:' + shellSha256(''));
  const missing = path.join(dir, 'nope');
  assert.throws(() => contentHash(missing), (e: Error) => e.message.includes(missing));
});

test('the Rust CLI `aurora-migrate hash DIR` prints the same hash', (t) => {
  const bin = process.env.AURORA_MIGRATE_BIN;
  if (!bin) {
    const why = 'AURORA_MIGRATE_BIN is not set: set it to the aurora-migrate CLI binary (e.g. ../target/debug/aurora-migrate) so the CDK hash is compared with the Rust one';
    if (process.env.AURORA_MIGRATE_SKIP_CLI_HASH_TEST === '1') {
      t.skip(`${why} (skipped: AURORA_MIGRATE_SKIP_CLI_HASH_TEST=1)`);
      return;
    }
    assert.fail(`${why}, or set AURORA_MIGRATE_SKIP_CLI_HASH_TEST=1 to skip this comparison`);
  }
  const fixture = scriptsFolder('crlf-bom');
  t.after(() => removeAll(fixture));
  const dirs = [fixture];
  const repoScripts = path.join(REPO_ROOT, 'scripts');
  if (fs.existsSync(repoScripts)) dirs.push(repoScripts);
  else t.diagnostic(`${repoScripts} does not exist: compared the temporary fixture only`);
  for (const dir of dirs) {
    const out = execFileSync(bin, ['hash', dir], { encoding: 'utf8' }).trim();
    assert.equal(out, contentHash(dir), `aurora-migrate hash ${dir}`);
  }
});
