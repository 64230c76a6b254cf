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

const v8 = require('node:v8');
const { spawnSync } = require('node:child_process');
const version = JSON.stringify(require(path.join(root, 'package.json')).version);

/** One bundle of `entry` at `file`, as launch.js runs it. */
function bundle(entry, file) {
  esbuild.buildSync({
    entryPoints: [entry],
    outfile: file,
    bundle: true,
    platform: 'node',
    target: 'node20',
    format: 'cjs',
    minifySyntax: true,
    // A third of the bytes to read at every start (names stay: errors still name their functions).
    minifyWhitespace: true,
    legalComments: 'none',
    define: { __OSH_VERSION__: version },
    logLevel: 'warning',
  });
  stripBuiltinInterop(file);
}

/**
 * `file`'s V8 code cache, compiled (not run) exactly as hooks/launch.js compiles it, by this node:
 * the cache it accepts. V8 compiles a function's body only when it first runs, and a cache made
 * right after compiling holds the top level alone; `eager` compiles every function first (V8's
 * --no-lazy, set back before the cache is written: the cache carries a hash of the flags, which
 * must be a plain node's) — for the stage bundle, whose functions nearly all run. A fresh node
 * checks that it takes the cache (this process's own check would use the hash it cached).
 */
function codeCache(file, eager) {
  const source = Module.wrap(fs.readFileSync(file, 'utf8'));
  let script;
  if (eager) v8.setFlagsFromString('--no-lazy');
  try {
    script = new vm.Script(source, { filename: file });
  } finally {
    if (eager) v8.setFlagsFromString('--lazy');
  }
  fs.writeFileSync(`${file}.cache`, script.createCachedData());
  if (!eager) return;
  const check = `const fs = require('node:fs'), vm = require('node:vm'), M = require('node:module'); const f = process.argv[1];
process.exit(new vm.Script(M.wrap(fs.readFileSync(f, 'utf8')), { filename: f, cachedData: fs.readFileSync(f + '.cache') }).cachedDataRejected ? 1 : 0);`;
  if (spawnSync(process.execPath, ['-e', check, file], { stdio: 'inherit' }).status !== 0) {
    console.warn(`bundle: node rejects the eager code cache of ${path.basename(file)}: writing the plain one`);
    fs.writeFileSync(`${file}.cache`, new vm.Script(source, { filename: file }).createCachedData());
  }
}

// The hook, the runtime wrapper and the CNI plugin, each its own bundle (the wrapper's small: it
// runs for every runtime command an engine makes).
for (const name of ['oci-slaac-hook', 'oci-slaac-runtime', 'oci-slaac-cni']) {
  const main = path.join(root, 'dist', `${name}.main.js`);
  bundle(path.join(root, 'hooks', `${name}.ts`), main);
  codeCache(main, false);
  const out = path.join(root, 'dist', `${name}.js`);
  fs.copyFileSync(path.join(root, 'hooks', 'launch.js'), out);
  fs.chmodSync(out, 0o755);
}
// The hook stages' own bundle (hooks/entry.ts), which launch.js runs for a stage: none of the
// operator commands, agent, doctor or install; its functions compiled ahead into its cache.
const stage = path.join(root, 'dist', 'oci-slaac-hook.stage.js');
bundle(path.join(root, 'hooks', 'entry.ts'), stage);
codeCache(stage, true);
// The hook's thin client (hooks/delegate.ts), which launch.js runs first for a stage: when the
// agent runs with the hook's config, it does the whole stage and the stage bundle is never read.
const delegate = path.join(root, 'dist', 'oci-slaac-hook.delegate.js');
bundle(path.join(root, 'hooks', 'delegate.ts'), delegate);
codeCache(delegate, true);

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
