#!/usr/bin/env node
// Puts the Lambda bootstrap zips into the package (lambda/<arch>/bootstrap.zip), built from this
// checkout by dev/build-lambda (cargo-lambda, zig), so that users of the package need no Rust
// toolchain. Runs before `npm pack` (prepack), after `npm run build` (jsii), which it checks. AURORA_MIGRATE_PREBUILT_LAMBDA=<dir> takes the zips from
// <dir>/<arch>/aurora-migrate-lambda.zip instead of building (dev/release builds them once for all
// artifacts).
'use strict';
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const cdk = path.resolve(__dirname, '..');
const repo = path.resolve(cdk, '..');
const archs = ['arm64', 'x86_64'];
for (const built of ['.jsii', path.join('build', 'lib', 'index.js')]) {
  if (!fs.existsSync(path.join(cdk, built))) {
    console.error(`bundle-lambda: no ${built}: run \`npm run build\` (jsii) before packing`);
    process.exit(1);
  }
}
let built = process.env.AURORA_MIGRATE_PREBUILT_LAMBDA;
if (!built) {
  execFileSync('bash', [path.join(repo, 'dev', 'build-lambda'), ...archs], { stdio: 'inherit' });
  built = path.join(repo, 'build', 'lambda');
}
// The package carries the repository's license text (npm pack takes LICENSE from this folder).
// copyFileSync keeps the source's mode, and npm pack keeps modes: both copies are made 0644, so that the
// package does not depend on the umask of the checkout or of the build.
fs.copyFileSync(path.join(repo, 'LICENSE'), path.join(cdk, 'LICENSE'));
fs.chmodSync(path.join(cdk, 'LICENSE'), 0o644);
for (const arch of archs) {
  const from = path.join(built, arch, 'aurora-migrate-lambda.zip');
  if (!fs.existsSync(from)) {
    console.error(`bundle-lambda: no ${from}: run dev/build-lambda ${arch} from the repository root`);
    process.exit(1);
  }
  const to = path.join(cdk, 'lambda', arch, 'bootstrap.zip');
  fs.mkdirSync(path.dirname(to), { recursive: true });
  fs.copyFileSync(from, to);
  fs.chmodSync(to, 0o644);
  console.error(`bundle-lambda: ${to} (${fs.statSync(to).size} bytes)`);
}
