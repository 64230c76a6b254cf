#!/usr/bin/env node
// npm's "install" step (package.json), in a checkout (`npm ci`) and in an installed package
// (`npm install -g oci-slaac-hook-<version>.tgz`): the N-API addon shipped prebuilt under
// prebuilds/<platform>-<arch>/ is used when this machine loads it; otherwise, and in a checkout
// (which has no prebuilds/: `npm pack` makes it and removes it again), the addon is built from
// runtime/native/addon.c with node-gyp, as npm itself does for a package with a binding.gyp and no
// install script. So the package installs with no compiler wherever a prebuild fits.
// runtime/system/native.ts loads build/Release/osh_native.node first, else the prebuild.
'use strict';
const fs = require('node:fs');
const path = require('node:path');
const { spawnSync } = require('node:child_process');

const root = path.join(__dirname, '..');
const prebuilt = path.join(root, 'prebuilds', `${process.platform}-${process.arch}`, 'osh_native.node');

if (fs.existsSync(prebuilt)) {
  try {
    // Loading it is the only test that counts (another libc, a too old glibc): it has no side effect.
    process.dlopen({ exports: {} }, prebuilt);
    console.log(`oci-slaac-hook: prebuilt addon ${path.relative(root, prebuilt)} loads here: nothing to build`);
    process.exit(0);
  } catch (e) {
    console.log(`oci-slaac-hook: prebuilt addon ${path.relative(root, prebuilt)} does not load here (${e instanceof Error ? e.message : String(e)}): building from source`);
  }
}

// node-gyp downloads node's headers unless told where they are: Debian's nodejs ships them under
// /usr/include/node (npm_config_nodedir, when set, is node-gyp's own setting and wins).
const args = ['rebuild'];
if (!process.env.npm_config_nodedir && fs.existsSync('/usr/include/node/node_api.h')) args.push('--nodedir=/usr');
const r = spawnSync('node-gyp', args, { cwd: root, stdio: 'inherit' });
if (r.error) {
  console.error(`oci-slaac-hook: no prebuilt addon for ${process.platform}-${process.arch} and node-gyp did not run (${r.error.message}): install a C compiler, make and python3, or use a platform with a prebuild`);
  process.exit(1);
}
process.exit(r.status ?? 1);
