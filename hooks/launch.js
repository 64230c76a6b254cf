#!/usr/bin/env node
// The entry of dist/<name>.js (oci-slaac-hook, oci-slaac-runtime, oci-slaac-cni): it runs <name>.main.js compiled with
// the V8 code cache made beside it at build time (scripts/bundle.js): a hook is a short process
// that starts for every container, and compiling the bundle was a fifth of its own time. A cache
// this node's V8 does not accept (another node version) is ignored: the bundle is compiled as usual.
'use strict';
const fs = require('node:fs');
const path = require('node:path');
const vm = require('node:vm');
const Module = require('node:module');

// dist/<name>.js runs <name>.main.js (oci-slaac-hook, oci-slaac-runtime, oci-slaac-cni); a hook
// stage runs <name>.delegate.js first, when there is one (the thin client: an agent with this
// config runs the whole stage), then, unless that handled it, <name>.stage.js when there is one
// (oci-slaac-hook's: the stage code alone, its functions compiled ahead in its cache). The stages: HOOK_STAGES and COMPLETE_DAD_COMMAND
// (tests/e2e/startup.test.ts checks this list against them).
const STAGES = ['createRuntime', 'prestart', 'poststop', '__complete-dad'];
const name = path.basename(__filename, '.js');

/** Run `file` (a bundle) compiled with its code cache; its module.exports. */
function run(file) {
  let cachedData;
  try {
    cachedData = fs.readFileSync(`${file}.cache`);
  } catch {
    cachedData = undefined;
  }
  const script = new vm.Script(Module.wrap(fs.readFileSync(file, 'utf8')), { filename: file, cachedData });
  const module_ = { exports: {}, filename: file };
  script.runInThisContext().call(module_.exports, module_.exports, require, module_, file, __dirname);
  return module_.exports;
}

// Where agents take root hooks' stages (DELEGATE_DIR, runtime/wire/delegate-protocol.ts): a
// socket there, and a hook stage goes to the agent first (<name>.delegate.js, the thin client:
// hooks/delegate.ts, which finds the socket of its own config); when it is not handled there, or
// no agent serves any config on this host, the stage bundle runs it.
const DELEGATE_DIR = '/run/oci-slaac-hook/delegate';
function agentsServe() {
  try {
    return fs.readdirSync(DELEGATE_DIR).length > 0;
  } catch {
    return false;
  }
}

const isStage = STAGES.includes(process.argv[2]);
const delegate = path.join(__dirname, `${name}.delegate.js`);
if (!(isStage && process.argv[2] !== '__complete-dad' && agentsServe() && fs.existsSync(delegate) && run(delegate).handled === true)) {
  const stage = path.join(__dirname, `${name}.stage.js`);
  run(isStage && fs.existsSync(stage) ? stage : path.join(__dirname, `${name}.main.js`));
}
