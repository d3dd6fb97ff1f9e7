// The content hash of a scripts folder (the root README, "Checksums and the content hash"). It is the custom resource's ContentHash
// property: any change to a script changes it, so CloudFormation sends an Update and the migrations
// run again. The Rust CLI (`aurora-migrate hash DIR`) and the Lambda compute the same value; a test
// compares this implementation with the CLI's output.
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';

const UTF8_BOM = Buffer.from([0xef, 0xbb, 0xbf]);

/**
 * The checksum of one migration file: `sha256:` + lowercase hex SHA-256 of its bytes after stripping a
 * leading UTF-8 BOM and turning every CRLF into LF, so a Windows checkout gives the same value.
 */
export function fileChecksum(bytes: Buffer): string {
  let body = bytes.subarray(0, 3).equals(UTF8_BOM) ? bytes.subarray(3) : bytes;
  body = crlfToLf(body);
  return 'sha256:' + createHash('sha256').update(body).digest('hex');
}

/** Replaces every CR LF pair by LF. A lone CR is content and is kept: §3 normalises CRLF only. */
function crlfToLf(bytes: Buffer): Buffer {
  if (bytes.indexOf('\r\n') < 0) return bytes;
  const out = Buffer.allocUnsafe(bytes.length);
  let n = 0;
  for (let i = 0; i < bytes.length; i++) {
    if (bytes[i] === 0x0d && bytes[i + 1] === 0x0a) continue;
    out[n++] = bytes[i];
  }
  return out.subarray(0, n);
}

/**
 * Every `*.sql` file under `dir`, recursively, as relative paths with `/` separators, sorted by their
 * UTF-8 bytes. Every `.sql` file counts (also `.down.sql` and misnamed ones): which names are valid is
 * the Rust side's decision, and it reports a misnamed file as an error rather than skipping it.
 * Hidden entries (name starting with `.`, files and folders) are skipped, as src/source.rs does:
 * editor backups, `.git` and the like are not scripts.
 */
export function migrationFiles(dir: string): string[] {
  const stat = fs.statSync(dir, { throwIfNoEntry: false });
  if (!stat?.isDirectory()) {
    throw new Error(`aurora-migrate: scripts directory ${dir} does not exist or is not a directory`);
  }
  const files: string[] = [];
  const walk = (abs: string, rel: string[]): void => {
    for (const entry of fs.readdirSync(abs, { withFileTypes: true })) {
      if (entry.name.startsWith('.')) continue;
      const childAbs = path.join(abs, entry.name);
      const childRel = [...rel, entry.name];
      // Follow symlinks like any reader of /opt/migrations would.
      const isDir = entry.isDirectory() || (entry.isSymbolicLink() && fs.statSync(childAbs).isDirectory());
      if (isDir) {
        walk(childAbs, childRel);
      } else if (entry.name.endsWith('.sql')) {
        files.push(childRel.join('/'));
      }
    }
  };
  walk(dir, []);
  // Byte order of the UTF-8 path, not JavaScript's UTF-16 order: the two differ above U+FFFF.
  return files.sort((a, b) => Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8')));
}

/**
 * The content hash of a scripts folder: `sha256:` + lowercase hex SHA-256 over
 * `relative/path NUL file-checksum LF` for every migration file, sorted by relative path.
 * An empty folder has a hash too (the SHA-256 of nothing).
 */
export function contentHash(dir: string): string {
  const hash = createHash('sha256');
  for (const rel of migrationFiles(dir)) {
    const checksum = fileChecksum(fs.readFileSync(path.join(dir, ...rel.split('/'))));
    hash.update(Buffer.from(rel, 'utf8'));
    hash.update(Buffer.from([0]));
    hash.update(checksum, 'utf8');
    hash.update(Buffer.from([0x0a]));
  }
  return 'sha256:' + hash.digest('hex');
}
