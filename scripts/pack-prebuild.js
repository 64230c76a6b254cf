#!/usr/bin/env node
// `npm pack`'s prepack and postpack steps (package.json): `add` puts the addon built here
// (build/Release, `npm run build:addon`) into the tarball as prebuilds/<platform>-<arch>/
// osh_native.node, stripped, after checking that the built files the tarball lists are there;
// `remove` takes prebuilds/ away again, so that a checkout never has one (scripts/install-addon.js
// would then skip the build that `npm ci` must make). `npm run package:npm` builds first.
'use strict';
const fs = require('node:fs');
const path = require('node:path');
const { spawnSync } = require('node:child_process');

const root = path.join(__dirname, '..');
const dir = path.join(root, 'prebuilds');

if (process.argv[2] === 'remove') {
  fs.rmSync(dir, { recursive: true, force: true });
  process.exit(0);
}
if (process.argv[2] !== 'add') {
  console.error('usage: node scripts/pack-prebuild.js add|remove');
  process.exit(2);
}
const built = path.join(root, 'build', 'Release', 'osh_native.node');
const needed = [built, path.join(root, 'dist', 'man', 'oci-slaac-hook.8')];
for (const name of ['oci-slaac-hook', 'oci-slaac-runtime', 'oci-slaac-cni']) needed.push(path.join(root, 'dist', `${name}.js`), path.join(root, 'dist', `${name}.main.js`));
const missing = needed.filter((f) => !fs.existsSync(f)).map((f) => path.relative(root, f));
if (missing.length > 0) {
  console.error(`npm pack: not built: ${missing.join(', ')}: run 'npm run build' first (or 'npm run package:npm', which does)`);
  process.exit(1);
}
const target = path.join(dir, `${process.platform}-${process.arch}`, 'osh_native.node');
fs.rmSync(dir, { recursive: true, force: true });
fs.mkdirSync(path.dirname(target), { recursive: true });
fs.copyFileSync(built, target);
fs.chmodSync(target, 0o644);
// Symbols are for debugging, not loading: strip them where binutils is (a machine that built the addon has it).
const strip = spawnSync('strip', ['--remove-section=.comment', '--remove-section=.note', '--strip-unneeded', target], { stdio: 'inherit' });
if (strip.error) console.log(`npm pack: strip did not run (${strip.error.message}): the prebuild keeps its symbols`);
else if (strip.status !== 0) process.exit(1);
console.log(`npm pack: ${path.relative(root, target)} from ${path.relative(root, built)}`);
