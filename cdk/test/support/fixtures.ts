// Helpers shared by the tests: temporary script folders with tricky bytes (BOM, CRLF, lone CR,
// nested per-database folders, files that do not count) and cleanup.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

/** The repository root (cdk/ is one level below it). */
export const REPO_ROOT = path.resolve(__dirname, '..', '..', '..');

const BOM = '\ufeff';

/**
 * Script files as the test writes them, in LF form. `variant` decides the bytes on disk:
 * `lf` as written, `crlf-bom` with every LF as CRLF and a UTF-8 BOM at the start (what a Windows
 * checkout with an editor that adds BOMs produces). The content hash must not tell them apart.
 */
export const SCRIPTS: Record<string, string> = {
  'V1__create.sql': 'CREATE TABLE a (\n  id INT PRIMARY KEY\n);\n',
  'V2__plain.sql': 'INSERT INTO a VALUES (1);\n',
  'V10__later.sql': '-- sorts before V1__ in byte order\nALTER TABLE a ADD COLUMN b INT;\n',
  '3_seed.up.sql': 'INSERT INTO a VALUES (3);\n',
  '3_seed.down.sql': 'DELETE FROM a WHERE id = 3;\n',
  'appdb/V1__other_database.sql': 'CREATE TABLE c (id INT);',
  'appdb/nested/V2__deeper.sql': 'SELECT 1;\n',
};

/**
 * Files that are not migrations: they must not change the hash nor reach the layer. Hidden files and
 * folders are skipped like src/source.rs skips them (editor backups, .git).
 */
export const NOT_SCRIPTS: Record<string, string> = {
  'README.md': 'not a script\n',
  'appdb/notes.txt': 'neither\n',
  '.V5__editor_backup.sql': 'hidden file\n',
  '.hidden/V6__in_hidden_folder.sql': 'hidden folder\n',
};

export function tempDir(prefix: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), `aurora-migrate-${prefix}-`));
}

export function writeTree(root: string, files: Record<string, string | Buffer>): void {
  for (const [rel, content] of Object.entries(files)) {
    const abs = path.join(root, ...rel.split('/'));
    fs.mkdirSync(path.dirname(abs), { recursive: true });
    fs.writeFileSync(abs, content);
  }
}

/** A fresh folder holding SCRIPTS (in the given line-ending variant) and NOT_SCRIPTS. */
export function scriptsFolder(variant: 'lf' | 'crlf-bom' = 'lf', overrides: Record<string, string> = {}): string {
  const dir = tempDir('scripts');
  const scripts = { ...SCRIPTS, ...overrides };
  const bytes = Object.fromEntries(
    Object.entries(scripts).map(([rel, text]) => [rel, variant === 'lf' ? text : BOM + text.replace(/\n/g, '\r\n')]),
  );
  writeTree(dir, { ...bytes, ...NOT_SCRIPTS });
  return dir;
}

/** A folder with a placeholder `bootstrap`, standing in for the cargo-lambda build output. */
export function fakeLambdaDir(): string {
  const dir = tempDir('lambda');
  // Not the real binary: that comes from the cargo-lambda build step. Synth only needs the folder.
  fs.writeFileSync(path.join(dir, 'bootstrap'), '#!/bin/sh\necho placeholder for the aurora-migrate-lambda binary >&2\nexit 1\n', { mode: 0o755 });
  return dir;
}

export function removeAll(...dirs: string[]): void {
  for (const dir of dirs) fs.rmSync(dir, { recursive: true, force: true });
}
