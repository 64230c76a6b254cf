// The hook binary driven exactly as a runtime drives it (OCI state on stdin, stage in argv) on
// real network namespaces in the lab: attach, bindable at once, state, status, poststop, and
// every failure giving one line, exit 1 and nothing left behind.
import t from 'tap';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { spawn, type ChildProcess } from 'node:child_process';
import { stableAddress } from '../../runtime/core/iid';
import { parseIPv6, parsePrefix, formatIPv6 } from '../../runtime/core/ipv6';
import { native, AF_INET6, SOCK_DGRAM } from '../../runtime/system/native';
import { NetnsHandle } from '../../runtime/system/netns';
import { sockaddrIn6 } from '../../runtime/system/nd/socket';
import type { ContainerRecord } from '../../runtime/core/record';
import { run } from '../../vm/lab/run';
import { labUp, type Lab } from '../../vm/lab/lab';
import { syslogListener } from '../../vm/lab/syslog';

const CLI = path.join(__dirname, '..', '..', 'dist', 'oci-slaac-hook.js');
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'osh-hook-'));
const stateDir = path.join(work, 'state');
const libDir = path.join(work, 'lib');
const secret = Buffer.alloc(32, 0x5a);
fs.mkdirSync(libDir, { mode: 0o700 });
fs.writeFileSync(path.join(libDir, 'secret'), secret, { mode: 0o600 });
const syslogPath = path.join(work, 'syslog.sock');

let lab: Lab;
let configFile: string;
const PREFIX = '2001:db8:5::/64';
const sleepers: ChildProcess[] = [];

t.before(async () => {
  lab = await labUp({ LAB_NAME: 'osh-hook', LAB_PREFIX: PREFIX, LAB_ROUTER_ADDR: '2001:db8:5::1', LAB_PEER_ADDR: '2001:db8:5::100', LAB_RETRANS_MS: '300' });
  configFile = writeConfig('main', { parent: lab.hostIf });
});
t.teardown(async () => {
  for (const s of sleepers) s.kill('SIGKILL');
  await lab?.down();
  fs.rmSync(work, { recursive: true, force: true });
});

function writeConfig(name: string, keys: Record<string, string | number | boolean>): string {
  const file = path.join(work, `${name}.toml`);
  const all = { state_dir: stateDir, ra_timeout_ms: 3000, ...keys };
  fs.writeFileSync(file, Object.entries(all).map(([k, v]) => `${k} = ${typeof v === 'string' ? JSON.stringify(v) : String(v)}`).join('\n') + '\n');
  return file;
}

/** A container stand-in: a real netns (by path, as podman passes it, or via a pid) and a bundle. */
async function fakeContainer(id: string, opts: { byPid?: boolean; annotations?: Record<string, string>; network?: 'host' } = {}) {
  const netnsName = `osh-hk-${id}`.slice(0, 30);
  await run('ip', ['netns', 'add', netnsName]);
  const bundle = path.join(work, 'bundles', id);
  fs.mkdirSync(bundle, { recursive: true });
  let pid: number | undefined;
  if (opts.byPid) {
    const sleeper = spawn('ip', ['netns', 'exec', netnsName, 'sleep', '120'], { stdio: 'ignore' });
    sleepers.push(sleeper);
    await new Promise((r) => setTimeout(r, 100));
    const child = await run('pgrep', ['-P', String(sleeper.pid)]);
    pid = Number(child.stdout.trim()) || sleeper.pid;
  }
  const namespaces = opts.network === 'host' ? [{ type: 'pid' }] : [{ type: 'pid' }, opts.byPid ? { type: 'network' } : { type: 'network', path: `/run/netns/${netnsName}` }];
  fs.writeFileSync(path.join(bundle, 'config.json'), JSON.stringify({ ociVersion: '1.0.2', linux: { namespaces }, annotations: opts.annotations ?? {} }));
  const state = (status: string, withPid = true) => JSON.stringify({ ociVersion: '1.0.2', id, status, ...(withPid && pid ? { pid } : {}), bundle });
  return {
    id,
    netnsName,
    bundle,
    pid,
    state,
    links: async () => (await run('ip', ['-n', netnsName, '-o', 'link', 'show'])).stdout,
    remove: async () => {
      await run('ip', ['netns', 'del', netnsName]);
    },
  };
}

const hook = (stage: string, input: string, config = configFile, env: Record<string, string> = {}) =>
  run(process.execPath, [CLI, stage, '--config', config], { input, env: { OCI_SLAAC_HOOK_STATE_LIB: libDir, OCI_SLAAC_HOOK_SYSLOG: syslogPath, ...env }, timeoutMs: 20000 });

const readState = (id: string): ContainerRecord | undefined => {
  try {
    return JSON.parse(fs.readFileSync(path.join(stateDir, `${id}.json`), 'utf8')) as ContainerRecord;
  } catch {
    return undefined;
  }
};

/** Bind a UDP socket to the address inside the netns, as the container's first process would. */
function bindInside(netnsName: string, address: string): string {
  const addon = native();
  const ns = NetnsHandle.open(`/run/netns/${netnsName}`);
  const fd = addon.socketat(ns.fd, AF_INET6, SOCK_DGRAM, 0);
  try {
    addon.bind(fd, sockaddrIn6(parseIPv6(address), 0));
    return 'bound';
  } catch (err) {
    return (err as NodeJS.ErrnoException).code ?? 'error';
  } finally {
    addon.close(fd);
    ns.close();
  }
}

t.test('attach by netns path: usable address, routes, MTU, state; poststop leaves nothing', async (t) => {
  const c = await fakeContainer('attach1', { annotations: { 'oci-slaac-hook.name': 'web1' } });
  t.teardown(c.remove);
  const syslog = syslogListener(syslogPath); // to see the hook's lines there too
  t.teardown(syslog.close);

  const r = await hook('createRuntime', c.state('creating'));
  t.equal(r.code, 0, r.stderr);
  const record = readState('attach1');
  if (!record) throw new Error('no state written');
  const address = record.addresses[0]?.address ?? '';
  const expected = stableAddress({ prefix: parsePrefix(PREFIX).address, prefixLength: 64, name: 'web1', networkId: '', dadCounter: 0, secret }).address;
  t.equal(address, formatIPv6(expected), 'the RFC 7217 address for the name "web1"');
  t.equal(bindInside(c.netnsName, address), 'bound', 'bindable the moment the hook returned');
  const addr = (await run('ip', ['-n', c.netnsName, '-6', 'addr', 'show', 'dev', 'eth0'])).stdout;
  // The link-local may be Optimistic for the last ms of the kernel's DAD of it (attach step 3,
  // RFC 4429: usable, NAs without Override): never plainly tentative, nor dadfailed.
  t.notMatch(addr.replace(/ optimistic tentative/g, ' optimistic'), /tentative|dadfailed/, 'nothing tentative');
  t.notMatch(addr, /scope global.*optimistic/, 'no global address optimistic (strict)');
  t.match(addr, new RegExp(`inet6 ${address}/64 scope global`));
  t.match(addr, /inet6 fe80::[0-9a-f:]+\/64 scope link/);
  t.match(addr, /valid_lft 8639\dsec preferred_lft 1439\dsec/, 'lifetimes from the RA');
  const link = (await run('ip', ['-n', c.netnsName, '-d', 'link', 'show', 'eth0'])).stdout;
  t.match(link, /mtu 1400/, 'MTU from the RA');
  t.match(link, /macvlan mode bridge/);
  t.match(link, /addrgenmode none/);
  t.match((await run('ip', ['-n', c.netnsName, 'link', 'show', 'lo'])).stdout, /UP/, 'lo is up');
  const sysctl = (k: string) => run('ip', ['netns', 'exec', c.netnsName, 'cat', `/proc/sys/net/ipv6/conf/eth0/${k}`]).then((x) => x.stdout.trim());
  t.equal(await sysctl('accept_ra'), '0');
  t.equal(await sysctl('autoconf'), '0');
  const routes = (await run('ip', ['-n', c.netnsName, '-6', 'route'])).stdout;
  t.match(routes, new RegExp(`default via ${record.router.address} dev eth0 proto ra`), 'default route via the router link-local');
  t.match(routes, /2001:db8:ff::\/48 via fe80::\S+ dev eth0 proto ra .*pref high/, 'RFC 4191 route');
  const ping = await run('ip', ['netns', 'exec', lab.routerNetns, 'ping', '-6', '-c', '1', '-W', '2', address]);
  t.equal(ping.code, 0, 'the router reaches it');
  t.match(record, { id: 'attach1', name: 'web1', nameSource: 'annotation', parent: lab.hostIf, interface: { name: 'eth0', kind: 'macvlan' }, mtu: 1400, rdnss: ['2001:db8:1::53'], dnssl: ['lab.example'] });
  t.ok(record.timings.totalMs < 3000, `took ${record.timings.totalMs} ms`);

  const status = await run(process.execPath, [CLI, 'status', '--config', configFile, '--json']);
  t.ok((JSON.parse(status.stdout) as ContainerRecord[]).some((x) => x.id === 'attach1'), 'status lists it');
  const table = await run(process.execPath, [CLI, 'status', '--config', configFile]);
  t.match(table.stdout, /^ID\s+NAME\s+IF\s+LINK\s+ADDRESS\s+STATE\s+VALID\/PREFERRED\s+ROUTER\s+LAST-RA\s+DNS\s+POLICY\s+SINCE$/m);
  t.match(table.stdout, new RegExp(`^attach1\\s+web1\\s+eth0\\s+macvlan bridge\\s+${address}/64\\s+preferred\\s+\\d+s/\\d+s\\s+fe80::\\S+\\s+\\d+s ago\\s+-\\s+open\\s+20`, 'm'));

  t.ok(syslog.read().some((l) => /^<30>oci-slaac-hook\[\d+\]: attach1: eth0 2001:db8:5:/.test(l)), 'syslog line, daemon.info, prefixed with the id');

  const stop = await hook('poststop', c.state('stopped', false));
  t.equal(stop.code, 0, stop.stderr);
  t.notMatch(await c.links(), /eth0/, 'link gone');
  t.equal(readState('attach1'), undefined, 'state gone');
  const again = await hook('poststop', c.state('stopped', false));
  t.equal(again.code, 0);
  t.equal(again.stderr, '', 'a second poststop is quiet');
});

t.test('attach by pid; same name → same address; another name → another', async (t) => {
  const one = await fakeContainer('bypid1', { byPid: true, annotations: { 'oci-slaac-hook.name': 'db' } });
  t.teardown(one.remove);
  const r1 = await hook('prestart', one.state('created'));
  t.equal(r1.code, 0, r1.stderr);
  const a1 = readState('bypid1')?.addresses[0]?.address;
  t.equal(readState('bypid1')?.netns.path, `/proc/${one.pid}/ns/net`);
  await hook('poststop', one.state('stopped', false));

  const two = await fakeContainer('bypid2', { byPid: true, annotations: { 'oci-slaac-hook.name': 'db' } });
  t.teardown(two.remove);
  t.equal((await hook('createRuntime', two.state('creating'))).code, 0);
  t.equal(readState('bypid2')?.addresses[0]?.address, a1, 'restarted "db" gets the same address');
  const three = await fakeContainer('bypid3', { byPid: true });
  t.teardown(three.remove);
  t.equal((await hook('createRuntime', three.state('creating'))).code, 0);
  t.not(readState('bypid3')?.addresses[0]?.address, a1, 'a container without that name gets another');
  t.equal(readState('bypid3')?.name, 'bypid3', 'the id is the name when nothing else names it');
  await hook('poststop', two.state('stopped', false));
  await hook('poststop', three.state('stopped', false));
});

t.test('an existing eth0 stays; ours is eth1', async (t) => {
  const c = await fakeContainer('eth1case');
  t.teardown(c.remove);
  await run('ip', ['-n', c.netnsName, 'link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', 'veth-x']);
  const r = await hook('createRuntime', c.state('creating'));
  t.equal(r.code, 0, r.stderr);
  t.equal(readState('eth1case')?.interface.name, 'eth1');
  t.match(await c.links(), /eth0@veth-x/);
  await hook('poststop', c.state('stopped', false));
  const links = await c.links();
  t.match(links, /eth0@veth-x/, 'eth0 untouched by poststop');
  t.notMatch(links, /eth1/);
});

t.test('a router with stale entries for the name\'s addresses (on another MAC before): the RA still comes, and our NA corrects the router at once', async (t) => {
  // As when a name comes back on another link kind (macvlan's own MAC, ipvlan's shared one).
  const name = 'moved';
  const ll = formatIPv6(stableAddress({ prefix: parseIPv6('fe80::'), prefixLength: 64, name, networkId: '', dadCounter: 0, secret }).address);
  const global = formatIPv6(stableAddress({ prefix: parsePrefix(PREFIX).address, prefixLength: 64, name, networkId: '', dadCounter: 0, secret }).address);
  const OLD_MAC = '02:00:5e:00:53:99';
  const routerNeigh = async (a: string) => (await run('ip', ['-n', lab.routerNetns, '-6', 'neigh', 'show', a, 'dev', lab.routerIf])).stdout.trim();
  for (const a of [ll, global]) await run('ip', ['-n', lab.routerNetns, '-6', 'neigh', 'replace', a, 'dev', lab.routerIf, 'lladdr', OLD_MAC, 'nud', 'stale']);
  t.match(await routerNeigh(global), OLD_MAC, 'the router holds the old MAC');
  const c = await fakeContainer('moved1', { annotations: { 'oci-slaac-hook.name': name, 'oci-slaac-hook.ra_timeout_ms': '8000' } });
  t.teardown(c.remove);
  const r = await hook('createRuntime', c.state('creating'));
  t.equal(r.code, 0, `attached: the RS retransmitted from :: got a multicast RA (${r.stderr.trim()})`);
  const rec = readState('moved1');
  t.equal(rec?.addresses[0]?.address, global);
  // Unicast answers would go to the old MAC until the router's entry failed (about 8 s); the
  // multicast answer to the RS from :: comes within 1 s + radvd's 3 s multicast pacing.
  t.ok((rec?.timings.raMs ?? Infinity) < 5000, `RA within the default ra_timeout_ms (${rec?.timings.raMs} ms)`);
  const mac = rec?.interface.mac ?? '-';
  t.not(mac, OLD_MAC);
  t.match(await routerNeigh(global), `lladdr ${mac}`, 'the router has the new MAC for the global address before any traffic');
  t.match(await routerNeigh(ll), `lladdr ${mac}`, 'and for the link-local address');
  const ping = await run('ip', ['netns', 'exec', lab.routerNetns, 'ping', '-6', '-c', '1', '-W', '1', global]);
  t.equal(ping.code, 0, 'the first ping is answered');
  t.equal((await hook('poststop', c.state('stopped', false))).code, 0);
});

t.test('optimistic: usable when the hook returns, verified afterwards; a duplicate is replaced', async (t) => {
  const name = 'opti';
  const c0 = stableAddress({ prefix: parsePrefix(PREFIX).address, prefixLength: 64, name, networkId: '', dadCounter: 0, secret }).address;
  const c1 = stableAddress({ prefix: parsePrefix(PREFIX).address, prefixLength: 64, name, networkId: '', dadCounter: 1, secret }).address;
  await run('ip', ['-n', lab.peerNetns, 'addr', 'add', `${formatIPv6(c0)}/64`, 'dev', lab.peerIf, 'nodad']);
  t.teardown(() => run('ip', ['-n', lab.peerNetns, 'addr', 'del', `${formatIPv6(c0)}/64`, 'dev', lab.peerIf]).then(() => undefined));
  const c = await fakeContainer('opti1', { annotations: { 'oci-slaac-hook.name': name, 'oci-slaac-hook.dad': 'optimistic' } });
  t.teardown(c.remove);
  const start = Date.now();
  const r = await hook('createRuntime', c.state('creating'));
  const took = Date.now() - start;
  t.equal(r.code, 0, r.stderr);
  t.ok(took < 900, `returned before any DAD could finish (${took} ms)`);
  t.match(readState('opti1')?.addresses[0], { address: formatIPv6(c0), dad: 'optimistic' });
  t.equal(bindInside(c.netnsName, formatIPv6(c0)), 'bound', 'usable at once');
  // The background check finds the peer's copy, withdraws it, and claims the next address.
  const deadline = Date.now() + 5000;
  while (Date.now() < deadline && readState('opti1')?.addresses[0]?.dad !== 'verified') await new Promise((x) => setTimeout(x, 100));
  t.match(readState('opti1')?.addresses[0], { address: formatIPv6(c1), dadCounter: 1, dad: 'verified' });
  const addr = (await run('ip', ['-n', c.netnsName, '-6', 'addr', 'show', 'scope', 'global'])).stdout;
  t.notMatch(addr, new RegExp(formatIPv6(c0)), 'the duplicate was withdrawn');
  t.match(addr, new RegExp(formatIPv6(c1)));
  await hook('poststop', c.state('stopped', false));
});

t.test('nothing to do: opted out, host network', async (t) => {
  const off = await fakeContainer('optout', { annotations: { 'oci-slaac-hook.enable': 'false' } });
  t.teardown(off.remove);
  const r = await hook('createRuntime', off.state('creating'));
  t.equal(r.code, 0, r.stderr);
  t.notMatch(await off.links(), /eth0/);
  t.equal(readState('optout'), undefined);
  const hostnet = await fakeContainer('hostnet', { network: 'host' });
  t.teardown(hostnet.remove);
  const h = await hook('createRuntime', hostnet.state('creating'));
  t.equal(h.code, 0, h.stderr);
  t.equal(readState('hostnet'), undefined);
});

t.test('failures: one line, exit 1, nothing left behind', async (t) => {
  const lonely = 'osh-t-lonely0';
  await run('ip', ['link', 'add', lonely, 'type', 'veth', 'peer', 'name', 'osh-t-lonely1']);
  await run('ip', ['link', 'set', lonely, 'up']);
  await run('ip', ['link', 'set', 'osh-t-lonely1', 'up']);
  t.teardown(() => run('ip', ['link', 'del', lonely]).then(() => undefined));

  // Every candidate the name can have (DAD counters 0..3) is already taken on the link.
  const taken = [0, 1, 2, 3].map((n) => formatIPv6(stableAddress({ prefix: parsePrefix(PREFIX).address, prefixLength: 64, name: 'taken', networkId: '', dadCounter: n, secret }).address));
  for (const a of taken) await run('ip', ['-n', lab.peerNetns, 'addr', 'add', `${a}/64`, 'dev', lab.peerIf, 'nodad']);
  t.teardown(async () => {
    for (const a of taken) await run('ip', ['-n', lab.peerNetns, 'addr', 'del', `${a}/64`, 'dev', lab.peerIf]);
  });

  const exited = spawn('true');
  await new Promise((r) => exited.on('exit', r));

  const cases: { what: string; id: string; input?: (c: Awaited<ReturnType<typeof fakeContainer>>) => string; config?: string; byPid?: boolean; annotations?: Record<string, string>; stage?: string; message: RegExp }[] = [
    { what: 'malformed state JSON', id: 'bad1', input: () => '{"ociVersion": "1.0.2", "id": ', message: /^oci-slaac-hook: OCI state on stdin is not valid JSON \(at byte 30\)$/ },
    { what: 'empty state', id: 'bad2', input: () => '', message: /^oci-slaac-hook: no OCI state on stdin$/ },
    { what: 'state with a bad id', id: 'bad3', input: (c) => c.state('creating').replace('"bad3"', '"../x"'), message: /^oci-slaac-hook: OCI state: "id" must be a container id, got "\.\.\/x"$/ },
    { what: 'missing pid', id: 'bad4', byPid: true, input: (c) => c.state('creating', false), message: /^oci-slaac-hook: bad4: OCI state has no pid: cannot find the container's network namespace$/ },
    { what: 'netns vanished', id: 'bad5', byPid: true, input: (c) => c.state('creating').replace(/"pid":\d+/, `"pid":${exited.pid}`), message: new RegExp(`^oci-slaac-hook: bad5: network namespace /proc/${exited.pid}/ns/net: does not exist$`) },
    { what: 'unknown parent NIC', id: 'bad6', config: writeConfig('noparent', { parent: 'osh-nosuch0' }), message: /^oci-slaac-hook: bad6: parent interface "osh-nosuch0" does not exist$/ },
    { what: 'an RA that never comes', id: 'bad8', config: writeConfig('lonely', { parent: lonely, ra_timeout_ms: 1200 }), message: /^oci-slaac-hook: bad8: no router advertisement on eth0 within 1200 ms \(\d solicitations sent\)$/ },
    { what: 'a duplicate through every retry', id: 'bad9', annotations: { 'oci-slaac-hook.name': 'taken' }, message: new RegExp(`^oci-slaac-hook: bad9: duplicate address detection failed 4 times: ${taken.map((a) => `${a} \\(NA from ${a} at ${lab.config.peerMac}\\)`).join(', ')}$`) },
    { what: 'a bad annotation', id: 'bad10', annotations: { 'oci-slaac-hook.dad': 'sometimes' }, message: /^oci-slaac-hook: bad10: annotation oci-slaac-hook.dad: dad must be one of strict, optimistic, got "sometimes"$/ },
    { what: 'an unknown config key', id: 'bad11', config: writeConfig('typo', { parnet: 'x' }), message: /^oci-slaac-hook: bad11: config \S+typo.toml: unknown key "parnet"$/ },
    { what: 'the wrong stage for the status', id: 'bad12', input: (c) => c.state('stopped'), message: /^oci-slaac-hook: bad12: createRuntime hook called with container status "stopped"/ },
  ];
  for (const k of cases) {
    const c = await fakeContainer(k.id, { byPid: k.byPid, annotations: k.annotations });
    const before = await c.links();
    const r = await hook(k.stage ?? 'createRuntime', k.input ? k.input(c) : c.state('creating'), k.config ?? configFile);
    t.equal(r.code, 1, `${k.what}: exit 1`);
    const lines = r.stderr.split('\n').filter(Boolean);
    t.equal(lines.length, 1, `${k.what}: one line`);
    t.match(lines[0] ?? '', k.message, k.what);
    t.equal(await c.links(), before, `${k.what}: no link left`);
    t.equal(readState(k.id), undefined, `${k.what}: no state file`);
    await c.remove();
  }
  // Installed but not configured (no parent): the container starts, unaffected, and the log says why.
  const unconfigured = await fakeContainer('bad7');
  const before = await unconfigured.links();
  const r = await hook('createRuntime', unconfigured.state('creating'), writeConfig('empty', {}));
  t.equal(r.code, 0, 'no parent configured: exit 0 (the container starts)');
  t.match(r.stderr.trim(), /^oci-slaac-hook: bad7: no parent interface configured \(set "parent" in \S+empty\.toml\): the container starts without an address of ours$/, 'one line saying why');
  t.equal(await unconfigured.links(), before, 'no link made');
  t.equal(readState('bad7'), undefined, 'no state file');
  await unconfigured.remove();
});
