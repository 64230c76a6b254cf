// Bundle the executable into one file: one module load at start-up instead of dozens; then its V8
// code cache beside it, and the entry (hooks/launch.js) that runs the bundle with that cache.
const esbuild = require('esbuild');
const path = require('node:path');
const fs = require('node:fs');
const vm = require('node:vm');
const Module = require('node:module');
const root = path.join(__dirname, '..');
// `import * as fs from 'node:fs'` becomes `__toESM(require("node:fs"))` in a CommonJS bundle: a
// copy of the module object with one getter per export (fs has ~100), made at start-up for each of
// the ~30 such imports — a few ms of every hook run. A built-in is never an ES module, so the copy
// adds nothing but `.default`, which no code here reads: the module object itself is used instead.
function stripBuiltinInterop(file) {
  const text = fs.readFileSync(file, 'utf8');
  fs.writeFileSync(file, text.replace(/__toESM\((require\("node:[a-z0-9_/]+"\))\)/g, '$1'));
}

// The hook, the runtime wrapper and the CNI plugin, each its own bundle (the wrapper's small: it
// runs for every runtime command an engine makes).
for (const name of ['oci-slaac-hook', 'oci-slaac-runtime', 'oci-slaac-cni']) {
  const main = path.join(root, 'dist', `${name}.main.js`);
  const out = path.join(root, 'dist', `${name}.js`);
  esbuild.buildSync({
    // oci-slaac-hook's entry (hooks/entry.ts) loads the hook stages' code alone for a stage.
    entryPoints: [path.join(root, 'hooks', name === 'oci-slaac-hook' ? 'entry.ts' : `${name}.ts`)],
    outfile: main,
    bundle: true,
    platform: 'node',
    target: 'node20',
    format: 'cjs',
    minifySyntax: true,
    // A third of the bytes to read at every start (names stay: errors still name their functions).
    minifyWhitespace: true,
    legalComments: 'none',
    define: { __OSH_VERSION__: JSON.stringify(require(path.join(root, 'package.json')).version) },
    logLevel: 'warning',
  });
  stripBuiltinInterop(main);
  // Compiled (not run) exactly as hooks/launch.js compiles it, by this node: the cache it accepts.
  const script = new vm.Script(Module.wrap(fs.readFileSync(main, 'utf8')), { filename: main });
  fs.writeFileSync(`${main}.cache`, script.createCachedData());
  fs.copyFileSync(path.join(root, 'hooks', 'launch.js'), out);
  fs.chmodSync(out, 0o755);
}

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

// The man pages, from hooks/manual.ts (scripts/man.ts): dist/man/*.8, *.5.
esbuild.buildSync({ entryPoints: [path.join(root, 'scripts', 'man.ts')], outfile: path.join(root, 'dist', 'man.js'), bundle: true, platform: 'node', target: 'node20', format: 'cjs', logLevel: 'warning' });
require(path.join(root, 'dist', 'man.js')).writeManPages(path.join(root, 'dist', 'man'), require(path.join(root, 'package.json')).version);
