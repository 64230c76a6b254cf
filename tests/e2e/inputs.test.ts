// Hostile inputs against the hook binary (issue 10, part 7), driven as a runtime drives it on
// fake containers in a lab of their own (host netns inp-host, prefix 2001:db8:b1::/64): numbers
// out of range and host resources outside the operator's allow-list are refused at once with one
// line, leaving nothing; config.json as a FIFO, /dev/zero or a symlink to another file is refused
// at once, quoting nothing; a name with a newline gives one log line and one status row; ids of
// 250 characters, starting with "." and with "-" attach, show in status, finish background DAD
// and detach.
import t from 'tap';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { spawn, spawnSync } from 'node:child_process';
import { labUp, type Lab } from '../../vm/lab/lab';
import { fakeContainer, runHook, stateFiles, HOOK_CLI, type FakeContainer } from '../../vm/lab/fake-container';
import type { ContainerRecord } from '../../runtime/core/record';

const PREFIX = '2001:db8:b1::/64';
const HOST_NETNS = 'inp-host';
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'inp-e2e-'));
const stateDir = path.join(work, 'state');
const libDir = path.join(work, 'lib');
fs.mkdirSync(libDir, { mode: 0o700 });
fs.writeFileSync(path.join(libDir, 'secret'), Buffer.alloc(32, 0x1b), { mode: 0o600 });
const configFile = path.join(work, 'config.toml');
const HOOK_ENV = { OCI_SLAAC_HOOK_STATE_LIB: libDir, OCI_SLAAC_HOOK_SYSLOG: path.join(work, 'no-syslog.sock') };

let lab: Lab;
t.before(async () => {
  lab = await labUp({ LAB_NAME: 'inp', LAB_HOST_NETNS: HOST_NETNS, LAB_PREFIX: PREFIX, LAB_ROUTER_ADDR: '2001:db8:b1::1', LAB_PEER_ADDR: '2001:db8:b1::100', LAB_RETRANS_MS: '300' });
  fs.writeFileSync(configFile, `parent = ${JSON.stringify(lab.hostIf)}\nstate_dir = ${JSON.stringify(stateDir)}\nra_timeout_ms = 5000\n`);
});
t.teardown(async () => {
  await lab?.down();
  fs.rmSync(work, { recursive: true, force: true });
});

const hook = (stage: string, state: string, config = configFile) => runHook(stage, state, { config, hostNetns: HOST_NETNS, env: HOOK_ENV, timeoutMs: 20_000 });
let n = 0;
const container = (annotations: Record<string, string> = {}, id = `inp-${++n}`): Promise<FakeContainer> => fakeContainer({ id, netns: `inp-c${++n}`, dir: work, annotations });
const ours = async (c: FakeContainer): Promise<string[]> => (await c.links()).filter((l) => !/^\d+: lo:/.test(l));

function cli(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [HOOK_CLI, ...args], { env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ...HOOK_ENV } });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (s: string) => (stdout += s));
    child.stderr.setEncoding('utf8').on('data', (s: string) => (stderr += s));
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

t.test('numbers out of range are refused at once, naming the key and the range; nothing is left', async (t) => {
  const cases = [
    { key: 'ra_timeout_ms', value: '2147483647', range: '100..30000' },
    { key: 'dad_transmits', value: '100000', range: '1..10' },
  ];
  for (const { key, value, range } of cases) {
    const c = await container({ [`oci-slaac-hook.${key}`]: value });
    const r = await hook('createRuntime', c.state('creating'));
    t.equal(r.timedOut, false, `${key}=${value}: no hang`);
    t.equal(r.code, 1, 'refused');
    t.ok(r.ms < 5000, `in ${Math.round(r.ms)} ms`);
    t.equal(r.stderr, `oci-slaac-hook: ${c.id}: annotation oci-slaac-hook.${key}: ${key} must be an integer in ${range}, got "${value}"\n`, 'one line naming the key and the range');
    t.same(await ours(c), [], 'no link in the container');
    t.same(stateFiles(stateDir), [], 'no state file');
    await c.remove();
  }
});

t.test('a host NIC by annotation: refused unless the operator allows it, naming the allowed values', async (t) => {
  const c = await container({ 'oci-slaac-hook.parent': 'lo' });
  const r = await hook('createRuntime', c.state('creating'));
  t.equal(r.code, 1);
  t.equal(r.stderr, `oci-slaac-hook: ${c.id}: annotation oci-slaac-hook.parent: parent is not settable by annotation on this host (it is "${lab.hostIf}"): the operator allows values in config.toml [annotation_allow] parent = [...]\n`);
  t.same(await ours(c), []);
  const allowing = path.join(work, 'allowing.toml');
  fs.writeFileSync(allowing, `${fs.readFileSync(configFile, 'utf8')}[annotation_allow]\nparent = ["osh-nosuch0"]\n`);
  const r2 = await hook('createRuntime', c.state('creating'), allowing);
  t.equal(r2.stderr, `oci-slaac-hook: ${c.id}: annotation oci-slaac-hook.parent: parent "lo" is not allowed; allowed: ${lab.hostIf}, osh-nosuch0 (config.toml [annotation_allow])\n`);
  t.same(stateFiles(stateDir), []);
  await c.remove();
});

t.test('config.json as a FIFO, /dev/zero or a symlink to another file: refused at once, nothing quoted', async (t) => {
  const secret = path.join(work, 'secret.txt');
  fs.writeFileSync(secret, 'TOPSECRET-bytes');
  const c = await container();
  const config = path.join(c.bundle, 'config.json');
  const cases: [string, () => void, string][] = [
    ['a FIFO', () => spawnSync('mkfifo', [config]), `${config} is a FIFO, not a regular file: refused`],
    ['/dev/zero', () => fs.symlinkSync('/dev/zero', config), `${config} is a symbolic link: refused (it must be a regular file of its own)`],
    ['a symlink to another file', () => fs.symlinkSync(secret, config), `${config} is a symbolic link: refused (it must be a regular file of its own)`],
    ['not JSON', () => fs.writeFileSync(config, 'TOPSECRET-bytes'), `${config} is not valid JSON (at byte 0)`],
  ];
  for (const [what, make, line] of cases) {
    fs.rmSync(config);
    make();
    const r = await hook('createRuntime', c.state('creating'));
    t.equal(r.timedOut, false, `${what}: no hang`);
    t.equal(r.code, 1);
    t.equal(r.stderr, `oci-slaac-hook: ${c.id}: ${line}\n`, `${what}: one line`);
    t.notMatch(r.stderr, /TOPSECRET|TOPS/, 'nothing of the file is shown');
  }
  t.same(await ours(c), []);
  t.same(stateFiles(stateDir), []);
  await c.remove();
});

t.test('the state on stdin from /dev/zero: refused at once, not read forever', async (t) => {
  const r = await new Promise<{ code: number | null; stderr: string; ms: number }>((resolve) => {
    const start = performance.now();
    const zero = fs.openSync('/dev/zero', 'r');
    const child = spawn(process.execPath, [HOOK_CLI, 'createRuntime', '--config', configFile], { env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ...HOOK_ENV }, stdio: [zero, 'ignore', 'pipe'] });
    fs.closeSync(zero);
    const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
    let stderr = '';
    child.stderr?.setEncoding('utf8').on('data', (s: string) => (stderr += s));
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stderr, ms: performance.now() - start });
    });
  });
  t.equal(r.code, 1, `exit 1 after ${Math.round(r.ms)} ms`);
  t.equal(r.stderr, 'oci-slaac-hook: OCI state on stdin is larger than 1048576 bytes\n');
});

t.test('odd ids and a name with a newline: attached, one log line, listed by status, detached', async (t) => {
  // 250 (the fake bundle is a directory named by the id: NAME_MAX 255): the state's temp file name
  // of old was too long from ~235 on, and the link's mark (ifalias, 254 bytes and a NUL) holds a
  // hash of an id this long (runtime/ops/link.ts).
  const ids = ['a'.repeat(250), '.dot-first', '-dash-first'];
  const forged = `web\noci-slaac-hook: inp-x: eth0 2001:db8:b1::66/64 via fe80::1`;
  const started: FakeContainer[] = [];
  for (const [i, id] of ids.entries()) {
    // The "-" id also runs optimistic DAD: its background process gets the id as its argument.
    const annotations: Record<string, string> = { 'oci-slaac-hook.name': i === 1 ? forged : `odd-${i}`, ...(id.startsWith('-') ? { 'oci-slaac-hook.dad': 'optimistic' } : {}) };
    const c = await fakeContainer({ id, netns: `inp-odd${i}`, dir: work, annotations });
    started.push(c);
    const r = await hook('createRuntime', c.state('creating'));
    t.equal(r.code, 0, `${id.slice(0, 12)}… attached: ${r.stderr.trim().slice(0, 200)}`);
    t.equal(r.stderr.split('\n').length, 2, 'one log line');
    if (i === 1) t.match(r.stderr, /\(name "web\\noci-slaac-hook: inp-x: eth0 2001:db8:b1::66\/64 via fe80::1"/, 'the newline escaped');
    t.equal((await ours(c)).length, 1, 'its link');
  }
  const status = await cli(['status', '--config', configFile]);
  t.equal(status.code, 0);
  const rows = status.stdout.trim().split('\n');
  t.equal(rows.length, 1 + ids.length, `a header and a row per container:\n${status.stdout}`);
  for (const id of ids) t.ok(rows.some((row) => row.startsWith(id.slice(0, 12))), `${id.slice(0, 12)} listed`);
  const json = JSON.parse((await cli(['status', '--config', configFile, '--json'])).stdout) as ContainerRecord[];
  t.same(json.map((r) => r.id).sort(), [...ids].sort());
  // The background DAD of the "-" id finishes: its address verified (it was optimistic).
  const dash = ids[2] as string;
  let dad: string | undefined;
  for (let i = 0; i < 100 && dad !== 'verified'; i++) {
    await new Promise((r) => setTimeout(r, 100));
    dad = (JSON.parse((await cli(['status', '--config', configFile, '--json'])).stdout) as ContainerRecord[]).find((r) => r.id === dash)?.addresses[0]?.dad;
  }
  t.equal(dad, 'verified', 'the background DAD of an id starting with "-" completed');
  for (const c of started) {
    const r = await hook('poststop', c.state('stopped'));
    t.equal(r.code, 0, `poststop ${c.id.slice(0, 12)}: ${r.stderr.trim().slice(0, 200)}`);
    t.same(await ours(c), [], 'no link left');
    await c.remove();
  }
  t.same(stateFiles(stateDir), [], 'no state file left');
});
