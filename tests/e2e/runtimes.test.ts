// The hook under real runc, crun and podman in the lab: the container's first process finds its
// global address already usable, the router reaches it, and after stop nothing is left.
import t from 'tap';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { run } from '../../vm/lab/run';
import { labUp, type Lab } from '../../vm/lab/lab';
import { makeRootfs, startContainer, runtimeAvailable, type HookCommand, type RunningContainer, type RuntimeName, type ContainerSpec } from '../../vm/lab/containers';
import type { ContainerRecord } from '../../runtime/core/record';
import { syslogListener } from '../../vm/lab/syslog';
import { installProbe, seen } from '../../vm/lab/probe';

const ROOT = path.join(__dirname, '..', '..');
const CLI = path.join(ROOT, 'dist', 'oci-slaac-hook.js');
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'osh-rt-'));
const stateDir = path.join(work, 'state');
const libDir = path.join(work, 'lib');
const rootfs = path.join(work, 'rootfs');
const configFile = path.join(work, 'config.toml');
const syslogPath = path.join(work, 'syslog.sock');
const HOOK_ENV = ['PATH=/usr/sbin:/usr/bin:/sbin:/bin', `OCI_SLAAC_HOOK_STATE_LIB=${libDir}`, `OCI_SLAAC_HOOK_CONFIG=${configFile}`, `OCI_SLAAC_HOOK_SYSLOG=${syslogPath}`];


let lab: Lab;
t.before(async () => {
  lab = await labUp({ LAB_NAME: 'osh-rt', LAB_PREFIX: '2001:db8:6::/64', LAB_ROUTER_ADDR: '2001:db8:6::1', LAB_PEER_ADDR: '2001:db8:6::100' });
  // The failure test picks a parent that does not exist by annotation: the operator allows that name.
  fs.writeFileSync(configFile, `parent = ${JSON.stringify(lab.hostIf)}\nstate_dir = ${JSON.stringify(stateDir)}\nra_timeout_ms = 5000\n[annotation_allow]\nparent = ["osh-nosuch0"]\n`);
  await makeRootfs(rootfs);
  installProbe(rootfs);
});
t.teardown(async () => {
  await lab?.down();
  fs.rmSync(work, { recursive: true, force: true });
});

const hookCommand = (stage: string): HookCommand => ({ path: process.execPath, args: ['node', CLI, stage], env: HOOK_ENV, timeout: 30 });

/** podman gets the shipped hooks.d files, pointed at this checkout and this test's config. */
function podmanHooksDir(): string {
  const dir = path.join(work, 'hooks.d');
  fs.mkdirSync(dir, { recursive: true });
  for (const stage of ['prestart', 'poststop']) {
    const shipped = JSON.parse(fs.readFileSync(path.join(ROOT, 'hooks', 'hooks.d', `oci-slaac-hook-${stage}.json`), 'utf8')) as {
      hook: { path: string; args: string[]; env: string[] };
    };
    shipped.hook.path = process.execPath;
    shipped.hook.args = shipped.hook.args.map((a) => a.replace('/usr/local/lib/oci-slaac-hook', ROOT));
    shipped.hook.env = HOOK_ENV;
    fs.writeFileSync(path.join(dir, `oci-slaac-hook-${stage}.json`), JSON.stringify(shipped));
  }
  return dir;
}


async function start(runtime: RuntimeName, id: string, extra: Partial<ContainerSpec> = {}): Promise<{ c: RunningContainer; out: string; wall: number }> {
  const out = path.join(work, 'out', `${runtime}-${id}`);
  fs.mkdirSync(out, { recursive: true });
  const spec: ContainerSpec = {
    id,
    rootfs,
    args: ['/bin/sh', '/probe.sh'],
    outDir: out,
    ...(runtime === 'podman' ? { hooksDir: podmanHooksDir() } : { hooks: { createRuntime: [hookCommand('createRuntime')], poststop: [hookCommand('poststop')] } }),
    ...extra,
  };
  const t0 = Date.now();
  const r = await startContainer(runtime, spec);
  const wall = Date.now() - t0;
  if (r.code !== 0 || !r.container) throw new Error(`${runtime} start ${id} failed (${r.code}): ${r.stderr.trim()}`);
  return { c: r.container, out, wall };
}

const records = (): ContainerRecord[] =>
  fs.existsSync(stateDir) ? fs.readdirSync(stateDir).filter((f) => f.endsWith('.json')).map((f) => JSON.parse(fs.readFileSync(path.join(stateDir, f), 'utf8')) as ContainerRecord) : [];

// (busybox 1.35's wget crashes on an IPv6 literal URL: curl it is.)
const routerFetch = (address: string) => run('ip', ['netns', 'exec', lab.routerNetns, 'curl', '-s', '-m', '3', `http://[${address}]:8080/index.html`]);
const routerPing = (address: string) => run('ip', ['netns', 'exec', lab.routerNetns, 'ping', '-6', '-c', '1', '-W', '2', address]);
const macvlansOnHostNic = async () => (await run('ip', ['-o', '-d', 'link', 'show'])).stdout.split('\n').filter((l) => l.includes(`@${lab.hostIf}`) || l.includes('macvlan')).length;

for (const runtime of ['runc', 'crun', 'podman'] as const) {
  t.test(`${runtime}: usable address at the first process, reachable, nothing left after stop`, async (t) => {
    if (!(await runtimeAvailable(runtime))) return t.fail(`${runtime} is not installed`);
    const { c, out, wall } = await start(runtime, `${runtime}-one`);
    const s = await seen(out);
    t.match(s.address, /^2001:db8:6:0:/, `first process sees its global address (${s.address})`);
    t.equal(s.tentative, false, 'not tentative in /proc/net/if_inet6');
    t.equal(s.bind, 'bound', 'httpd bound [address]:8080 at once');
    t.match(s.links, /eth0@/, 'eth0 is ours');
    const rec = records().find((r) => r.addresses[0]?.address === s.address);
    t.ok(rec, 'state recorded');
    if (runtime === 'podman') t.equal(rec?.name, `${runtime}-one`, 'podman name found through c/storage');
    t.equal((await routerPing(s.address)).code, 0, 'router pings it');
    t.equal((await routerFetch(s.address)).stdout.trim(), `hello from ${s.address}`, 'router fetches from its own listener');
    t.ok(wall < 5000, `${runtime} start with the hook: ${wall} ms`);
    await c.stop();
    t.same(records().filter((r) => r.id === rec?.id), [], 'state gone');
    t.not((await routerPing(s.address)).code, 0, 'address gone');
    t.equal(await macvlansOnHostNic(), 0, 'no link left anywhere');
  });
}

t.test('podman with its default network: eth0 stays podman\'s, ours is eth1, both work', async (t) => {
  const { c, out } = await start('podman', 'podman-bridge', { network: 'bridge' });
  const s = await seen(out);
  t.match(s.links, /eth0@/, 'podman\'s eth0');
  t.match(s.links, /eth1@/, 'our eth1');
  const rec = records().find((r) => r.name === 'podman-bridge');
  t.equal(rec?.interface.name, 'eth1');
  t.match(rec?.netns.path ?? '', /^\/run\/netns\/netns-/, 'joined podman\'s netns by path');
  t.equal(s.bind, 'bound');
  t.equal((await routerPing(s.address)).code, 0, 'ours works: the router reaches it');
  // podman's eth0 is configured (its IPv4 address and default route) and carries traffic: the
  // host pings its link-local address across podman's bridge (tests send only link-local or
  // 2001:db8::/32 traffic, never to podman's 10.88/16).
  const inside = (args: string[]) => run('nsenter', ['-t', String(c.pid), '-n', ...args]).then((x) => x.stdout);
  t.match(await inside(['ip', '-4', '-o', 'addr', 'show', 'dev', 'eth0']), /inet \d+\.\d+\.\d+\.\d+\//, 'podman configured eth0');
  t.match(await inside(['ip', '-4', 'route', 'show', 'default']), /dev eth0/, 'podman\'s default route is on eth0');
  const ll = /inet6 (fe80::[0-9a-f:]+)\//.exec(await inside(['ip', '-6', '-o', 'addr', 'show', 'dev', 'eth0', 'scope', 'link']))?.[1];
  const bridge = /^\d+: (cni-podman\d+):/m.exec((await run('ip', ['-o', 'link', 'show', 'type', 'bridge'])).stdout)?.[1];
  t.ok(ll && bridge, `eth0 ${ll} on host bridge ${bridge}`);
  if (ll && bridge) t.equal((await run('ping', ['-6', '-c', '1', '-W', '2', `${ll}%${bridge}`])).code, 0, 'podman\'s eth0 answers across its bridge');
  await c.stop();
  t.equal(records().filter((r) => r.name === 'podman-bridge').length, 0);
});

t.test('the same name twice gets the same address; two names get two', async (t) => {
  const a = await start('podman', 'same-name');
  const first = (await seen(a.out)).address;
  await a.c.stop();
  const b = await start('podman', 'same-name');
  t.equal((await seen(b.out)).address, first, 'podman --name same-name, restarted');
  await b.c.stop();
  const r1 = await start('runc', 'runc-same');
  const x = (await seen(r1.out)).address;
  await r1.c.stop();
  const r2 = await start('runc', 'runc-same');
  t.equal((await seen(r2.out)).address, x, 'runc, same id');
  const other = await start('runc', 'runc-other');
  t.not((await seen(other.out)).address, x, 'another id, another address');
  await r2.c.stop();
  await other.c.stop();
});

t.test('10 containers started in parallel all get distinct, working addresses', async (t) => {
  const started = await Promise.all(Array.from({ length: 10 }, (_, i) => start('runc', `par-${i}`)));
  const addresses = await Promise.all(started.map(async (s) => (await seen(s.out)).address));
  t.equal(new Set(addresses).size, 10, 'distinct');
  for (const [i, a] of addresses.entries()) {
    t.match(a, /^2001:db8:6:0:/, `par-${i}: ${a}`);
    t.equal((await routerPing(a)).code, 0, `par-${i} reachable`);
  }
  await Promise.all(started.map((s) => s.c.stop()));
  t.equal(records().length, 0, 'no state left');
  t.equal(await macvlansOnHostNic(), 0, 'no link left');
});

t.test('a hook failure makes the runtime refuse the container, and nothing is left', async (t) => {
  const syslog = syslogListener(syslogPath);
  t.teardown(syslog.close);
  for (const runtime of ['runc', 'crun', 'podman'] as const) {
    const out = path.join(work, 'out', `${runtime}-fail`);
    fs.mkdirSync(out, { recursive: true });
    const r = await startContainer(runtime, {
      id: `${runtime}-fail`,
      rootfs,
      args: ['/bin/sh', '/probe.sh'],
      outDir: out,
      annotations: { 'oci-slaac-hook.parent': 'osh-nosuch0' },
      ...(runtime === 'podman' ? { hooksDir: podmanHooksDir() } : { hooks: { createRuntime: [hookCommand('createRuntime')], poststop: [hookCommand('poststop')] } }),
    });
    t.not(r.code, 0, `${runtime} refused the container`);
    // runc and podman pass our line on (runc quotes it); crun drops hook stderr: syslog has it.
    if (runtime !== 'crun') t.match(r.stderr, /parent interface \\?"osh-nosuch0\\?" does not exist/, `${runtime} shows our one line`);
    t.ok(
      syslog.read().some((l) => l.includes(`${runtime}-fail: parent interface "osh-nosuch0" does not exist`) || (runtime === 'podman' && /: parent interface "osh-nosuch0" does not exist/.test(l))),
      `${runtime}: the line is in syslog, daemon.err`,
    );
    t.equal(r.container, undefined);
    t.notOk(fs.existsSync(path.join(out, 'address')), 'its process never ran');
  }
  t.equal(records().length, 0, 'no state file');
});
