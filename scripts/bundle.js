// Bundle the executable into one file: one module load at start-up instead of dozens.
const esbuild = require('esbuild');
const path = require('node:path');
const fs = require('node:fs');
const root = path.join(__dirname, '..');
const out = path.join(root, 'dist', 'oci-slaac-hook.js');
esbuild.buildSync({
  entryPoints: [path.join(root, 'hooks', 'oci-slaac-hook.ts')],
  outfile: out,
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'cjs',
  minifySyntax: true,
  legalComments: 'none',
  banner: { js: '#!/usr/bin/env node' },
  logLevel: 'warning',
});
fs.chmodSync(out, 0o755);

// The demo and the benchmark (lab scripts, not product): bundled too, so they run with plain node.
for (const name of ['demo', 'bench']) {
  esbuild.buildSync({
    entryPoints: [path.join(root, 'scripts', `${name}.ts`)],
    outfile: path.join(root, 'dist', `${name}.js`),
    bundle: true,
    platform: 'node',
    target: 'node20',
    format: 'cjs',
    logLevel: 'warning',
  });
}
