// Hardening, as a hostile run found it (issue 10), against the real hook in a lab whose host is a
// netns of its own (hrd-host: the "host" the hook must never configure is that one, never this
// machine's):
// - the target netns is the host's, however named — config.json's path /proc/self/ns/net or
//   /proc/1/ns/net, a state pid whose netns is the hook's own, pid 1 of the hook's pid namespace
//   with a new netns asked for: refused with one line, the host netns untouched (before: the host
//   gained a macvlan eth0, a global address, a default route and accept_ra=0);
// - a record for another netns identity is stale: a container restarted in a new netns after its
//   old one died without poststop gets attached again (before: "already attached", only lo);
// - a hook killed mid-attach left eth0 (its stable MAC) in a netns that lives on: the next start
//   of that name undoes the leftovers and attaches (before: EADDRINUSE on every later start);
// - two live containers with one stable name: the second is refused with a line naming the first.
import t, { type Test } from 'tap';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { spawn } from 'node:child_process';
import { run } from '../../vm/lab/run';
import { labUp, type Lab } from '../../vm/lab/lab';
import { fakeContainer, runHook, stateFiles, type HookOptions } from '../../vm/lab/fake-container';

const HOST_NETNS = 'hrd-host';
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'osh-hrd-'));
const stateDir = path.join(work, 'state');
const libDir = path.join(work, 'lib');
fs.mkdirSync(libDir, { mode: 0o700 });
fs.writeFileSync(path.join(libDir, 'secret'), Buffer.alloc(32, 0x48), { mode: 0o600 });
const configFile = path.join(work, 'config.toml');
const HOOK_ENV = { OCI_SLAAC_HOOK_STATE_LIB: libDir, OCI_SLAAC_HOOK_SYSLOG: path.join(work, 'no-syslog.sock') };

let lab: Lab;
t.before(async () => {
  lab = await labUp({ LAB_NAME: 'hrd', LAB_HOST_NETNS: HOST_NETNS, LAB_PREFIX: '2001:db8:d1::/64', LAB_ROUTER_ADDR: '2001:db8:d1::1', LAB_PEER_ADDR: '2001:db8:d1::100', LAB_RETRANS_MS: '200' });
  fs.writeFileSync(configFile, `parent = ${JSON.stringify(lab.hostIf)}\nstate_dir = ${JSON.stringify(stateDir)}\nra_timeout_ms = 5000\n`);
});
t.teardown(async () => {
  await lab?.down();
  fs.rmSync(work, { recursive: true, force: true });
});

const hook = (stage: string, state: string, opts: Partial<HookOptions> = {}) =>
  runHook(stage, state, { config: configFile, hostNetns: HOST_NETNS, ...opts, env: { ...HOOK_ENV, ...opts.env }, timeoutMs: 30_000 });

/** Everything of the host netns the hook could change: links, addresses, routes, the IPv6 sysctls. */
async function hostSnapshot(): Promise<string> {
  const ip = async (...args: string[]) => (await run('ip', ['-n', HOST_NETNS, ...args])).stdout.replace(/\s+(valid|preferred)_lft \S+/g, '');
  const sysctls = await run('ip', ['netns', 'exec', HOST_NETNS, 'sh', '-c', 'grep -r . /proc/sys/net/ipv6/conf/*/accept_ra /proc/sys/net/ipv6/conf/*/autoconf /proc/sys/net/ipv6/conf/*/accept_dad']);
  return [await ip('-o', 'link', 'show'), await ip('-6', '-o', 'addr', 'show'), await ip('-6', 'route', 'show', 'table', 'all'), sysctls.stdout].join('\n');
}

/** A bundle whose config.json asks for `network` (a path, or a new netns when undefined). */
function bundle(id: string, network: string | undefined): string {
  const dir = path.join(work, 'bundles', id);
  fs.mkdirSync(dir, { recursive: true });
  const ns = network ? { type: 'network', path: network } : { type: 'network' };
  fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify({ ociVersion: '1.0.2', linux: { namespaces: [{ type: 'pid' }, ns] } }));
  return dir;
}
const state = (id: string, dir: string, pid?: number) => JSON.stringify({ ociVersion: '1.0.2', id, status: 'creating', bundle: dir, ...(pid ? { pid } : {}) });

async function refusedUntouched(t: Test, r: { code: number | null; stderr: string }, before: string, what: RegExp): Promise<void> {
  t.equal(r.code, 1, 'exit 1: the runtime fails the container');
  const lines = r.stderr.trim().split('\n');
  t.equal(lines.length, 1, `one line: ${r.stderr.trim()}`);
  t.match(lines[0], what);
  t.equal(await hostSnapshot(), before, 'the host netns is exactly as it was');
  t.same(stateFiles(stateDir), [], 'no state written');
}

t.test("the host's netns is refused, however named", async (t) => {
  const before = await hostSnapshot();
  t.test('config.json path /proc/self/ns/net', async (t) => {
    const r = await hook('createRuntime', state('hrd-self', bundle('hrd-self', '/proc/self/ns/net')));
    await refusedUntouched(t, r, before, /network namespace \/proc\/self\/ns\/net is the host's \(the hook's own\)/);
  });
  // In a pid namespace of its own whose pid 1 lives in the host netns: /proc/1 is that pid 1.
  const inPidns = ['unshare', '--pid', '--fork', '--mount-proc'];
  t.test('config.json path /proc/1/ns/net (init of the hook\'s pid namespace)', async (t) => {
    const r = await hook('createRuntime', state('hrd-init', bundle('hrd-init', '/proc/1/ns/net')), { wrap: inPidns });
    await refusedUntouched(t, r, before, /network namespace \/proc\/1\/ns\/net is the host's/);
  });
  t.test('state pid 1, config.json asking for a new netns', async (t) => {
    const r = await hook('createRuntime', state('hrd-pid1', bundle('hrd-pid1', undefined), 1), { wrap: inPidns });
    await refusedUntouched(t, r, before, /network namespace \/proc\/1\/ns\/net is the host's/);
  });
  t.test('state pid of a host process, config.json asking for a new netns', async (t) => {
    const sleeper = spawn('ip', ['netns', 'exec', HOST_NETNS, 'sleep', '60'], { stdio: 'ignore' });
    t.teardown(() => void sleeper.kill());
    await new Promise((res) => setTimeout(res, 300)); // ip netns exec has exec'd sleep
    const pid = sleeper.pid ?? 0;
    const r = await hook('createRuntime', state('hrd-pid', bundle('hrd-pid', undefined), pid));
    await refusedUntouched(t, r, before, new RegExp(`network namespace /proc/${pid}/ns/net is the host's \\(the hook's own\\)`));
  });
});

const globalAddrs = async (netns: string) => (await run('ip', ['-n', netns, '-6', '-o', 'addr', 'show', 'scope', 'global'])).stdout.trim().split('\n').filter(Boolean);
const ourLinks = async (netns: string) => (await run('ip', ['-n', netns, '-o', 'link', 'show'])).stdout.split('\n').filter((l) => l.includes('alias oci-slaac-hook:'));

t.test('a record for another netns identity is stale and replaced', async (t) => {
  const c1 = await fakeContainer({ id: 'np1', netns: 'hrd-np1', dir: work });
  const first = await hook('createRuntime', c1.state('creating'));
  t.equal(first.code, 0, first.stderr);
  // Killed, its netns deleted, no poststop; then started again (same id) in a new netns.
  await c1.remove();
  const c2 = await fakeContainer({ id: 'np1', netns: 'hrd-np1b', dir: work });
  t.teardown(c2.remove);
  const again = await hook('createRuntime', c2.state('creating'));
  t.equal(again.code, 0, again.stderr);
  t.match(again.stderr, /record for network namespace \/run\/netns\/hrd-np1 .* is stale/, 'says the old record was stale');
  t.equal((await ourLinks('hrd-np1b')).length, 1, 'the new netns has our link');
  t.equal((await globalAddrs('hrd-np1b')).length, 1, 'and a global address');
  const stop = await hook('poststop', c2.state('stopped'));
  t.equal(stop.code, 0, stop.stderr);
  t.same(stateFiles(stateDir), [], 'nothing left');
});

t.test('one stable name: leftovers of a killed hook undone, a second live holder refused', async (t) => {
  const name = { 'oci-slaac-hook.name': 'hrd-shared' };
  const lk1 = await fakeContainer({ id: 'lk1', netns: 'hrd-lk1', dir: work, annotations: name });
  const lk2 = await fakeContainer({ id: 'lk2', netns: 'hrd-lk2', dir: work, annotations: name });
  const lk3 = await fakeContainer({ id: 'lk3', netns: 'hrd-lk3', dir: work, annotations: name });
  t.teardown(async () => {
    for (const c of [lk1, lk2, lk3]) await c.remove();
  });
  const killed = await hook('createRuntime', lk1.state('creating'), { env: { OCI_SLAAC_HOOK_FAILPOINT: 'address' } });
  t.equal(killed.signal, 'SIGKILL', 'the first hook was killed mid-attach');
  t.equal((await ourLinks('hrd-lk1')).length, 1, 'its eth0 (the stable MAC) is left in a netns that lives on');

  const second = await hook('createRuntime', lk2.state('creating'));
  t.equal(second.code, 0, `the next start of the name works: ${second.stderr.trim()}`);
  t.match(second.stderr, /container lk1 .* undoing it/, 'after undoing what the killed hook left');
  t.same(await ourLinks('hrd-lk1'), [], 'the leftover link is gone');
  t.equal((await globalAddrs('hrd-lk2')).length, 1, 'the second container has its address');

  const third = await hook('createRuntime', lk3.state('creating'));
  t.equal(third.code, 1, 'a second live container of the name is refused');
  t.equal(third.stderr.trim().split('\n').length, 1, `one line: ${third.stderr.trim()}`);
  t.match(third.stderr, /name "hrd-shared" is in use by container lk2/, 'naming the first');
  t.same(await ourLinks('hrd-lk3'), [], 'nothing made in its netns');
  t.same(stateFiles(stateDir).filter((f) => !f.startsWith('index/')).sort(), ['lk2.json'], 'no state for the refused container');
  t.notOk(stateFiles(stateDir).some((f) => f.endsWith('-lk3.json')), 'no index entry for it either');

  const stop = await hook('poststop', lk2.state('stopped'));
  t.equal(stop.code, 0, stop.stderr);
  t.same(stateFiles(stateDir), [], 'nothing left');
});
