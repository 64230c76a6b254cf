// ipvlan through the hook, in all three modes, under real runc — in the CI VM (vm/ci-vm.sh), whose
// Debian kernel has ipvlan (this machine's kernel does not). The same netns lab as everywhere
// (vm/lab.sh and its role scripts). For each mode: the container's first process sees its global
// address non-tentative and binds it; the router and the peer reach it; stopping leaves nothing
// (no state, no host rule, proxy entry or table route, no link). In l3 the parent-side DAD
// catches a duplicate held by the peer. host_link lets the host reach its containers (macvlan
// bridge and ipvlan alike; its macvlan case runs here too, next to the ipvlan ones).
import t from 'tap';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { run } from '../../vm/lab/run';
import { labUp, type Lab } from '../../vm/lab/lab';
import { makeRootfs, startContainer, type ContainerSpec, type HookCommand, type RunningContainer } from '../../vm/lab/containers';
import { installProbe, seen, type Seen } from '../../vm/lab/probe';
import type { ContainerRecord } from '../../runtime/core/record';
import { stableAddress } from '../../runtime/core/iid';
import { formatIPv6, parsePrefix } from '../../runtime/core/ipv6';

const ROOT = path.join(__dirname, '..', '..');
const CLI = path.join(ROOT, 'dist', 'oci-slaac-hook.js');
const PREFIX = '2001:db8:7::/64';
const TABLE = 4862;
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'osh-ipvlan-'));
const stateDir = path.join(work, 'state');
const libDir = path.join(work, 'lib');
const rootfs = path.join(work, 'rootfs');
const configFile = path.join(work, 'config.toml');
const secret = Buffer.alloc(32, 0x3c);
const HOOK_ENV = ['PATH=/usr/sbin:/usr/bin:/sbin:/bin', `OCI_SLAAC_HOOK_STATE_LIB=${libDir}`, `OCI_SLAAC_HOOK_CONFIG=${configFile}`];


let lab: Lab;
t.before(async () => {
  const probe = await run('modprobe', ['ipvlan']);
  if (probe.code !== 0) throw new Error(`this kernel has no ipvlan (${probe.stderr.trim()}): run this suite with vm/ci-vm.sh test`);
  fs.mkdirSync(libDir, { recursive: true });
  fs.writeFileSync(path.join(libDir, 'secret'), secret, { mode: 0o600 });
  // Like any real host, this one has an eth0 of its own (kernel 6.1 refused a container's eth0
  // made straight into its netns while the host had one: EEXIST).
  await run('ip', ['link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', 'eth0-peer']);
  t.teardown(() => run('ip', ['link', 'del', 'eth0']).then(() => undefined));
  lab = await labUp({ LAB_NAME: 'osh-ipv', LAB_PREFIX: PREFIX, LAB_ROUTER_ADDR: '2001:db8:7::1', LAB_PEER_ADDR: '2001:db8:7::100' });
  writeConfig();
  await makeRootfs(rootfs);
  installProbe(rootfs);
});
t.teardown(async () => {
  await lab?.down();
  fs.rmSync(work, { recursive: true, force: true });
});

function writeConfig(extra = ''): void {
  // The containers here choose their link's kind and mode by annotation: the operator allows it.
  const allow = '[annotation_allow]\nmode = ["macvlan", "ipvlan"]\nipvlan_mode = ["l2", "l3", "l3s"]\n';
  fs.writeFileSync(configFile, `parent = ${JSON.stringify(lab.hostIf)}\nmode = "ipvlan"\nstate_dir = ${JSON.stringify(stateDir)}\nra_timeout_ms = 5000\n${extra}${allow}`);
}

const hookCommand = (stage: string): HookCommand => ({ path: process.execPath, args: ['node', CLI, stage], env: HOOK_ENV, timeout: 60 });


async function start(id: string, annotations: Record<string, string>): Promise<{ c: RunningContainer; s: Seen }> {
  const out = path.join(work, 'out', id);
  fs.mkdirSync(out, { recursive: true });
  const spec: ContainerSpec = {
    id,
    rootfs,
    args: ['/bin/sh', '/probe.sh'],
    outDir: out,
    annotations,
    hooks: { createRuntime: [hookCommand('createRuntime')], poststop: [hookCommand('poststop')] },
    timeoutMs: 120000,
  };
  const r = await startContainer('runc', spec);
  if (r.code !== 0 || !r.container) throw new Error(`runc start ${id} failed (${r.code}): ${r.stderr.trim()}`);
  return { c: r.container, s: await seen(out, 30000) };
}

const records = (): ContainerRecord[] =>
  fs.existsSync(stateDir) ? fs.readdirSync(stateDir).filter((f) => f.endsWith('.json')).map((f) => JSON.parse(fs.readFileSync(path.join(stateDir, f), 'utf8')) as ContainerRecord) : [];

const inNetns = (ns: string, cmd: string, args: string[]) => run('ip', ['netns', 'exec', ns, cmd, ...args]);
const ping = (ns: string, address: string) => inNetns(ns, 'ping', ['-6', '-c', '1', '-W', '3', address]);
const fetch = (ns: string, address: string) => inNetns(ns, 'curl', ['-s', '-m', '5', `http://[${address}]:8080/index.html`]);
const hostPing = (address: string) => run('ping', ['-6', '-c', '1', '-W', '3', address]);

/** The host's part for l3/l3s: rules into TABLE, proxy entries on the parent, TABLE's routes. */
async function hostSide(): Promise<{ rules: string; proxies: string; table: string }> {
  const [rules, proxies, table] = await Promise.all([run('ip', ['-6', 'rule', 'show']), run('ip', ['-6', 'neigh', 'show', 'proxy']), run('ip', ['-6', 'route', 'show', 'table', String(TABLE)])]);
  return { rules: rules.stdout.split('\n').filter((l) => l.includes(`lookup ${TABLE}`)).join('\n'), proxies: proxies.stdout.trim(), table: table.stdout.trim() };
}

const fromContainer = (pid: number, address: string) => run('nsenter', ['-t', String(pid), '-n', 'ping', '-6', '-c', '1', '-W', '3', address]);
const linkOf = async (pid: number) => (await run('nsenter', ['-t', String(pid), '-n', 'ip', '-d', '-o', 'link', 'show', 'eth0'])).stdout;

for (const mode of ['l2', 'l3', 'l3s'] as const) {
  t.test(`ipvlan ${mode}: usable address at the first process, reachable from router and peer, nothing left after stop`, async (t) => {
    const { c, s } = await start(`ipv-${mode}`, { 'oci-slaac-hook.ipvlan_mode': mode });
    t.match(s.address, /^2001:db8:7:0:/, `first process sees its global address (${s.address})`);
    t.equal(s.tentative, false, 'not tentative in /proc/net/if_inet6');
    t.equal(s.bind, 'bound', 'httpd bound [address]:8080 at once');
    t.match(s.routes, /default via fe80::/, 'default route via the router');
    t.match(await linkOf(c.pid), new RegExp(`ipvlan\\s+mode ${mode} `), `eth0 is an ipvlan ${mode} slave`);
    const rec = records().find((r) => r.id === c.id);
    t.equal(rec?.interface.mode, mode, 'state says the mode');
    const status = await run(process.execPath, [CLI, 'status', '--config', configFile]);
    t.match(status.stdout, new RegExp(`^ipv-${mode}\\s+ipv-${mode}\\s+eth0\\s+ipvlan ${mode}${mode === 'l2' ? '' : `, proxy\\+table ${TABLE}`}\\s+${s.address}/64`, 'm'), 'status shows the mode and the host side');
    t.equal(rec?.addresses[0]?.dad, 'verified', 'DAD verified before use');
    const sideUp = await hostSide();
    if (mode === 'l2') {
      t.equal(rec?.l3, undefined, 'l2: nothing on the host side');
      t.equal(sideUp.proxies, '', 'l2: no proxy entry');
    } else {
      t.same(rec?.l3, { parentIndex: rec?.l3?.parentIndex, table: TABLE }, 'l3 reach recorded');
      t.match(sideUp.rules, new RegExp(`from ${s.address} lookup ${TABLE}`), 'host rule: the container\'s traffic uses the reach table');
      t.match(sideUp.proxies, new RegExp(`${s.address} dev ${lab.hostIf} proxy`), 'host answers NS for the address (proxy NDP)');
      t.match(sideUp.table, new RegExp(`default via fe80::\\S+ dev ${lab.hostIf}`), 'reach table: default via the router out of the parent');
      t.match(sideUp.table, /2001:db8:7::\/64 dev/, 'reach table: the on-link prefix');
      // Each piece is needed: without the proxy entry the router cannot resolve the address; without
      // the rule the container's own packets find no route in the host.
      await run('ip', ['-6', 'neigh', 'del', 'proxy', s.address, 'dev', lab.hostIf]);
      await inNetns(lab.routerNetns, 'ip', ['-6', 'neigh', 'flush', 'dev', lab.routerIf]);
      t.not((await ping(lab.routerNetns, s.address)).code, 0, 'without the proxy entry the router does not reach it');
      await run('ip', ['-6', 'neigh', 'add', 'proxy', s.address, 'dev', lab.hostIf]);
      await run('ip', ['-6', 'rule', 'del', 'from', s.address, 'lookup', String(TABLE)]);
      t.not((await fromContainer(c.pid, '2001:db8:7::1')).code, 0, 'without the rule the container does not reach the router');
      await run('ip', ['-6', 'rule', 'add', 'from', s.address, 'lookup', String(TABLE), 'pref', String(TABLE)]);
      t.equal((await fromContainer(c.pid, '2001:db8:7::1')).code, 0, 'with both back, the container pings the router');
    }
    t.equal((await ping(lab.routerNetns, s.address)).code, 0, 'router pings it');
    t.equal((await fetch(lab.routerNetns, s.address)).stdout.trim(), `hello from ${s.address}`, 'router fetches from its own listener');
    t.equal((await ping(lab.peerNetns, s.address)).code, 0, 'peer pings it');
    await c.stop();
    t.same(records(), [], 'state gone');
    t.same(await hostSide(), { rules: '', proxies: '', table: '' }, 'no rule, proxy entry or table route left');
    t.not((await ping(lab.routerNetns, s.address)).code, 0, 'address gone');
    const links = (await run('ip', ['-o', '-d', 'link', 'show'])).stdout;
    t.notMatch(links, /ipvlan/, 'no ipvlan link left on the host');
  });
}

t.test('ipvlan l3: DAD from the parent catches a duplicate held by the peer; the next RFC 7217 address is used', async (t) => {
  const name = 'dup-l3';
  const candidate = (n: number) => formatIPv6(stableAddress({ prefix: parsePrefix(PREFIX).address, prefixLength: 64, name, networkId: '', dadCounter: n, secret }).address);
  await run('ip', ['-n', lab.peerNetns, 'addr', 'add', `${candidate(0)}/64`, 'dev', lab.peerIf, 'nodad']);
  t.teardown(() => run('ip', ['-n', lab.peerNetns, 'addr', 'del', `${candidate(0)}/64`, 'dev', lab.peerIf]).then(() => undefined));
  const { c, s } = await start('ipv-dup', { 'oci-slaac-hook.ipvlan_mode': 'l3', 'oci-slaac-hook.name': name });
  t.equal(s.address, candidate(1), `counter 0 (${candidate(0)}) is the peer's: the container has counter 1`);
  t.equal(records().find((r) => r.id === c.id)?.addresses[0]?.dadCounter, 1, 'state: DAD counter 1');
  t.equal((await fetch(lab.routerNetns, s.address)).stdout.trim(), `hello from ${s.address}`, 'router reaches the container');
  t.equal((await ping(lab.routerNetns, candidate(0))).code, 0, 'and still the peer at counter 0');
  await c.stop();
  t.same(await hostSide(), { rules: '', proxies: '', table: '' }, 'nothing left');
});

t.test('ipvlan l3, optimistic: usable at once; DAD finishing on the parent replaces a duplicate and moves the host side with it', async (t) => {
  const name = 'opt-l3';
  const candidate = (n: number) => formatIPv6(stableAddress({ prefix: parsePrefix(PREFIX).address, prefixLength: 64, name, networkId: '', dadCounter: n, secret }).address);
  await run('ip', ['-n', lab.peerNetns, 'addr', 'add', `${candidate(0)}/64`, 'dev', lab.peerIf, 'nodad']);
  t.teardown(() => run('ip', ['-n', lab.peerNetns, 'addr', 'del', `${candidate(0)}/64`, 'dev', lab.peerIf]).then(() => undefined));
  const { c, s } = await start('ipv-opt', { 'oci-slaac-hook.ipvlan_mode': 'l3', 'oci-slaac-hook.name': name, 'oci-slaac-hook.dad': 'optimistic' });
  t.equal(s.address, candidate(0), 'the first process sees counter 0, installed optimistically');
  let rec = records().find((r) => r.id === c.id);
  const deadline = Date.now() + 30000;
  while (rec?.addresses[0]?.dad !== 'verified' && Date.now() < deadline) {
    await new Promise((res) => setTimeout(res, 200));
    rec = records().find((r) => r.id === c.id);
  }
  t.equal(rec?.addresses[0]?.address, candidate(1), 'the background DAD found the peer\'s copy and claimed counter 1');
  t.equal(rec?.addresses[0]?.dad, 'verified', 'verified');
  const side = await hostSide();
  t.match(side.proxies, candidate(1), 'proxy entry for the new address');
  t.notMatch(side.proxies, candidate(0), 'none left for the withdrawn one');
  t.match(side.rules, `from ${candidate(1)} lookup ${TABLE}`, 'rule for the new address');
  t.notMatch(side.rules, `from ${candidate(0)} `, 'none for the withdrawn one');
  t.equal((await ping(lab.routerNetns, candidate(1))).code, 0, 'router reaches the new address');
  await c.stop();
  t.same(await hostSide(), { rules: '', proxies: '', table: '' }, 'nothing left');
});

t.test('ipvlan: the mode is one per parent, so a container asking for another mode is refused', async (t) => {
  const { c, s } = await start('ipv-mode-l2', { 'oci-slaac-hook.ipvlan_mode': 'l2' });
  const out = path.join(work, 'out', 'ipv-mode-l3');
  fs.mkdirSync(out, { recursive: true });
  const r = await startContainer('runc', {
    id: 'ipv-mode-l3',
    rootfs,
    args: ['/bin/sh', '/probe.sh'],
    outDir: out,
    annotations: { 'oci-slaac-hook.ipvlan_mode': 'l3' },
    hooks: { createRuntime: [hookCommand('createRuntime')], poststop: [hookCommand('poststop')] },
    timeoutMs: 120000,
  });
  await r.container?.stop();
  t.not(r.code, 0, 'runc refuses the container');
  t.match(r.stderr, `oci-slaac-hook: ipv-mode-l3: ipvlan_mode l3 refused: ${lab.hostIf} already carries ipvlan l2 containers (ipv-mode-l2), and the mode is one per parent`, 'one line naming the conflict');
  t.match(await linkOf(c.pid), /ipvlan\s+mode l2 /, 'the running container keeps l2');
  t.equal((await ping(lab.routerNetns, s.address)).code, 0, 'and stays reachable');
  await c.stop();
  t.same(records(), [], 'nothing left');
});

const HOST_LINK_CASES: { what: string; annotations: Record<string, string> }[] = [
  { what: 'macvlan bridge', annotations: { 'oci-slaac-hook.mode': 'macvlan' } },
  { what: 'ipvlan l2', annotations: { 'oci-slaac-hook.ipvlan_mode': 'l2' } },
  { what: 'ipvlan l3', annotations: { 'oci-slaac-hook.ipvlan_mode': 'l3' } },
];
for (const [i, { what, annotations }] of HOST_LINK_CASES.entries()) {
  t.test(`host_link (${what}): off, the host cannot reach its container; on, it can, through its companion`, async (t) => {
    // The host gets the prefix on its NIC, as a SLAAC host would: it routes the container's address
    // out of the parent, where ipvlan never hands it back.
    await run('ip', ['-6', 'addr', 'add', '2001:db8:7::2/64', 'dev', lab.hostIf, 'nodad']);
    t.teardown(() => run('ip', ['-6', 'addr', 'del', '2001:db8:7::2/64', 'dev', lab.hostIf]).then(() => undefined));
    const off = await start(`hl-off-${i}`, annotations);
    t.not((await hostPing(off.s.address)).code, 0, 'host_link off (the default): the host does not reach it');
    await off.c.stop();
    writeConfig('host_link = true\n');
    t.teardown(() => writeConfig());
    const on = await start(`hl-on-${i}`, annotations);
    const rec = records().find((r) => r.id === on.c.id);
    t.equal(rec?.hostLink?.name, `osh-${lab.hostIf}`.slice(0, 15), 'companion recorded');
    const route = (await run('ip', ['-6', 'route', 'show', `${on.s.address}/128`])).stdout;
    t.match(route, new RegExp(`dev ${rec?.hostLink?.name ?? '-'} .*src ${rec?.hostLink?.linkLocal ?? '-'}`), 'host route through the companion');
    t.equal((await hostPing(on.s.address)).code, 0, 'host pings its container');
    t.equal((await run('curl', ['-s', '-m', '5', `http://[${on.s.address}]:8080/index.html`])).stdout.trim(), `hello from ${on.s.address}`, 'host fetches from it');
    t.equal((await ping(lab.routerNetns, on.s.address)).code, 0, 'router still reaches it');
    await on.c.stop();
    t.equal((await run('ip', ['-6', 'route', 'show', `${on.s.address}/128`])).stdout.trim(), '', 'host route gone after stop');
    await run('ip', ['link', 'del', `osh-${lab.hostIf}`.slice(0, 15)]);
  });
}
