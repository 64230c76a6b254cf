// What a hook stage loads at start (issue 16, a faster hook): the built bundle, run as a runtime
// runs it (state on stdin, stderr a pipe, only PATH and our variables), loads none of the
// built-ins only other commands need — node:child_process (spawning), node:net (the agent's
// socket, a pipe as process.stderr), node:dgram and node:perf_hooks (DNS), node:tty, node:v8 —
// and never the agent's, doctor's or install's code (launch.js runs the stage bundle for it). Structural facts, not times: the times are
// `npm run bench -- --startup`'s (scripts/bench-startup.ts). No lab, no network.
import t from 'tap';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import Module from 'node:module';
import { spawnSync } from 'node:child_process';
import { HOOK_CLI } from '../../vm/lab/fake-container';
import { HOOK_STAGES } from '../../runtime/wire/oci/spec';
import { COMPLETE_DAD_COMMAND } from '../../hooks/hook';
import { DELEGATE_DIR } from '../../runtime/wire/delegate-protocol';

const work = fs.mkdtempSync(path.join(os.tmpdir(), 'osh-startup-'));
t.teardown(() => fs.rmSync(work, { recursive: true, force: true }));
const config = path.join(work, 'config.toml');
fs.writeFileSync(config, `parent = "lo"\nstate_dir = ${JSON.stringify(path.join(work, 'state'))}\n`);
const bundle = path.join(work, 'bundle');
fs.mkdirSync(bundle);
fs.writeFileSync(path.join(bundle, 'config.json'), JSON.stringify({ ociVersion: '1.0.2', annotations: { 'oci-slaac-hook.enable': 'false' } }));
// Writes the built-in modules loaded after node's own start, one JSON list, to the file named.
const preload = path.join(work, 'preload.js');
fs.writeFileSync(
  preload,
  `const before = new Set(process.moduleLoadList);
process.on('exit', () => require('node:fs').writeFileSync(process.env.OSH_TEST_LOADED, JSON.stringify(process.moduleLoadList.filter((m) => !before.has(m) && m.startsWith('NativeModule ')).map((m) => m.slice(13)))));
`,
);

/** Run the built hook with `args` and stdin `input`; the built-ins it loaded, and its result. */
function loaded(args: string[], input: string): { code: number | null; stderr: string; modules: string[] } {
  const out = path.join(work, 'loaded.json');
  fs.rmSync(out, { force: true });
  // `env -u NODE_OPTIONS`: tap's own preloads (which load more) stay out of the hook.
  const r = spawnSync('env', ['-u', 'NODE_OPTIONS', process.execPath, '-r', preload, HOOK_CLI, ...args], {
    input,
    encoding: 'utf8',
    env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', OCI_SLAAC_HOOK_STATE_LIB: path.join(work, 'lib'), OCI_SLAAC_HOOK_SYSLOG: path.join(work, 'no-syslog.sock'), OSH_TEST_LOADED: out },
    stdio: ['pipe', 'pipe', 'pipe'],
    timeout: 20_000,
  });
  return { code: r.status, stderr: r.stderr, modules: fs.existsSync(out) ? (JSON.parse(fs.readFileSync(out, 'utf8')) as string[]) : [] };
}

const NOT_AT_START = ['child_process', 'net', 'dgram', 'perf_hooks', 'tty', 'v8'];

t.test('poststop (nothing recorded) loads no built-in it does not use', async (t) => {
  const r = loaded(['poststop', '--config', config], JSON.stringify({ ociVersion: '1.0.2', id: 'startup-1', status: 'stopped', bundle }));
  t.equal(r.code, 0, r.stderr);
  t.ok(r.modules.includes('crypto'), 'the preload saw the bundle load (node:crypto: lock names, the RFC 7217 hash)');
  for (const m of NOT_AT_START) t.notOk(r.modules.includes(m), `no node:${m}`);
});

t.test('createRuntime (opted out) loads no built-in it does not use', async (t) => {
  const r = loaded(['createRuntime', '--config', config], JSON.stringify({ ociVersion: '1.0.2', id: 'startup-2', status: 'creating', pid: process.pid, bundle }));
  t.equal(r.code, 0, r.stderr);
  t.match(r.stderr, /not enabled for this container/, 'it ran to its log line (on stderr, a pipe)');
  for (const m of NOT_AT_START) t.notOk(r.modules.includes(m), `no node:${m}`);
});

t.test('the operator commands load the rest (the check above can see them)', async (t) => {
  const r = loaded(['--version'], '');
  t.equal(r.code, 0, r.stderr);
  for (const m of ['child_process', 'net']) t.ok(r.modules.includes(m), `node:${m} with the whole executable`);
});

t.test('a stage runs the stage bundle: no operator commands, agent, doctor or install in it', async (t) => {
  const dist = path.dirname(HOOK_CLI);
  const stageBundle = fs.readFileSync(path.join(dist, 'oci-slaac-hook.stage.js'), 'utf8');
  // Function names stay in the bundle (no identifier minifying): one per module looked for.
  const has = (text: string, fn: string): boolean => new RegExp(`\\bfunction ${fn}\\d*\\(`).test(text);
  t.ok(has(stageBundle, 'runStageCommand'), 'the stage code is in it');
  const main = fs.readFileSync(path.join(dist, 'oci-slaac-hook.main.js'), 'utf8');
  for (const [fn, m] of [['runAgent', 'runtime/agent/agent.ts'], ['doctorResult', 'hooks/doctor.ts'], ['installCommand', 'hooks/install.ts'], ['statusCommand', 'hooks/commands.ts']]) {
    t.ok(has(main, fn) && !has(stageBundle, fn), `${m}: in the executable's bundle, not in the stage bundle`);
  }
  // Its code cache (every function compiled ahead, scripts/bundle.js): taken by this node as it is.
  const wrapped = Module.wrap(stageBundle);
  const file = path.join(dist, 'oci-slaac-hook.stage.js');
  const check = spawnSync('env', ['-u', 'NODE_OPTIONS', process.execPath, '-e', `const fs = require('node:fs'), vm = require('node:vm'); process.exit(new vm.Script(fs.readFileSync(0, 'utf8'), { filename: ${JSON.stringify(file)}, cachedData: fs.readFileSync(${JSON.stringify(`${file}.cache`)}) }).cachedDataRejected ? 1 : 0)`], { input: wrapped, timeout: 20_000 });
  t.equal(check.status, 0, 'its code cache is accepted by a plain node');
  // launch.js picks the stage bundle by argv[2]: exactly the stages and the background command.
  const launcher = fs.readFileSync(path.join(dist, 'oci-slaac-hook.js'), 'utf8');
  const listed = /const STAGES = (\[[^\]]*\]);/.exec(launcher)?.[1];
  t.same(listed ? (JSON.parse(listed.replace(/'/g, '"')) as string[]).sort() : undefined, [...HOOK_STAGES, COMPLETE_DAD_COMMAND].sort(), "launch.js's STAGES");
  // It runs the thin client only when agents serve stages on this host: where they do.
  t.equal(/const DELEGATE_DIR = '([^']*)';/.exec(launcher)?.[1], DELEGATE_DIR, "launch.js's DELEGATE_DIR");
  // The thin client's bundle: small, none of the stage's code, and its cache accepted.
  const delegate = path.join(dist, 'oci-slaac-hook.delegate.js');
  const thin = fs.readFileSync(delegate, 'utf8');
  t.ok(thin.length < 32 * 1024, `the thin client is small (${thin.length} bytes)`);
  for (const marker of ['smol-toml', 'RFC 7217', 'createHmac', 'installAddress']) t.notOk(thin.includes(marker), `no ${marker} in it`);
  const thinCheck = spawnSync('env', ['-u', 'NODE_OPTIONS', process.execPath, '-e', `const fs = require('node:fs'), vm = require('node:vm'); process.exit(new vm.Script(fs.readFileSync(0, 'utf8'), { filename: ${JSON.stringify(delegate)}, cachedData: fs.readFileSync(${JSON.stringify(`${delegate}.cache`)}) }).cachedDataRejected ? 1 : 0)`], { input: Module.wrap(thin), timeout: 20_000 });
  t.equal(thinCheck.status, 0, "the thin client's code cache is accepted by a plain node");
});
