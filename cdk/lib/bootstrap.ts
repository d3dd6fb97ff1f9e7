// What the construct needs to know about a Lambda bootstrap before it is deployed: where the package's
// bundled zips are, and which CPU a bootstrap (in a folder or inside a zip) was built for, so that an
// x86_64 binary on an arm64 function is a synth-time error instead of a crash on the first invoke.
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as zlib from 'node:zlib';

/** The CPU a bootstrap executable was built for, as Lambda names architectures. */
export type BootstrapArchitecture = 'arm64' | 'x86_64';

const ELF_MAGIC = Buffer.from([0x7f, 0x45, 0x4c, 0x46]);
const EM_X86_64 = 0x3e;
const EM_AARCH64 = 0xb7;

/** The folder holding this package's package.json (source checkout and installed package alike). */
export function packageRoot(): string {
  let dir = __dirname;
  for (;;) {
    const manifest = path.join(dir, 'package.json');
    if (fs.existsSync(manifest) && JSON.parse(fs.readFileSync(manifest, 'utf8')).name === 'aurora-migrate-cdk') return dir;
    const parent = path.dirname(dir);
    if (parent === dir) throw new Error(`aurora-migrate-cdk: no package.json of aurora-migrate-cdk above ${__dirname}`);
    dir = parent;
  }
}

/** This package's version: the aurora-migrate version its bundled Lambda reports. */
export function packageVersion(): string {
  return JSON.parse(fs.readFileSync(path.join(packageRoot(), 'package.json'), 'utf8')).version;
}

/** Where the package carries the zip of the bootstrap for `arch` (put there at pack time). */
export function bundledZip(arch: BootstrapArchitecture): string {
  return path.join(packageRoot(), 'lambda', arch, 'bootstrap.zip');
}

/** The architecture of an ELF executable from its first 20 bytes, or undefined when it is not one. */
export function elfArchitecture(header: Buffer): BootstrapArchitecture | undefined {
  if (header.length < 20 || !header.subarray(0, 4).equals(ELF_MAGIC) || header[5] !== 1) return undefined;
  const machine = header.readUInt16LE(18);
  if (machine === EM_AARCH64) return 'arm64';
  if (machine === EM_X86_64) return 'x86_64';
  return undefined;
}

/**
 * The architecture of the `bootstrap` in an asset path: a folder holding it, or a zip holding it at
 * its root. Undefined when there is no bootstrap or it is no ELF executable (a script, say): then
 * nothing can be checked.
 */
export function bootstrapArchitecture(assetPath: string): BootstrapArchitecture | undefined {
  const stat = fs.statSync(assetPath, { throwIfNoEntry: false });
  if (stat?.isDirectory()) {
    const file = path.join(assetPath, 'bootstrap');
    if (!fs.existsSync(file)) return undefined;
    const fd = fs.openSync(file, 'r');
    try {
      const header = Buffer.alloc(20);
      fs.readSync(fd, header, 0, header.length, 0);
      return elfArchitecture(header);
    } finally {
      fs.closeSync(fd);
    }
  }
  if (stat?.isFile() && assetPath.endsWith('.zip')) {
    const bytes = zipEntry(fs.readFileSync(assetPath), 'bootstrap');
    return bytes ? elfArchitecture(bytes.subarray(0, 20)) : undefined;
  }
  return undefined;
}

/**
 * The bytes of entry `name` of a zip archive (stored or deflated), or undefined when absent. Reads the
 * central directory, whose sizes are right also when the local header defers them to a data descriptor.
 */
export function zipEntry(zip: Buffer, name: string): Buffer | undefined {
  // The end-of-central-directory record is the last 22 bytes plus a comment of up to 64 KiB.
  let eocd = -1;
  for (let i = zip.length - 22; i >= Math.max(0, zip.length - 22 - 0xffff); i--) {
    if (zip.readUInt32LE(i) === 0x06054b50) {
      eocd = i;
      break;
    }
  }
  if (eocd < 0) return undefined;
  const entries = zip.readUInt16LE(eocd + 10);
  let at = zip.readUInt32LE(eocd + 16);
  for (let n = 0; n < entries && zip.readUInt32LE(at) === 0x02014b50; n++) {
    const method = zip.readUInt16LE(at + 10);
    const compressedSize = zip.readUInt32LE(at + 20);
    const nameLength = zip.readUInt16LE(at + 28);
    const extraLength = zip.readUInt16LE(at + 30);
    const commentLength = zip.readUInt16LE(at + 32);
    const localHeader = zip.readUInt32LE(at + 42);
    if (zip.toString('utf8', at + 46, at + 46 + nameLength) === name) {
      const dataStart = localHeader + 30 + zip.readUInt16LE(localHeader + 26) + zip.readUInt16LE(localHeader + 28);
      const data = zip.subarray(dataStart, dataStart + compressedSize);
      if (method === 0) return data;
      if (method === 8) return zlib.inflateRawSync(data);
      return undefined;
    }
    at += 46 + nameLength + extraLength + commentLength;
  }
  return undefined;
}
