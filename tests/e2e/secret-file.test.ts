// Issue 16, item 7: addresses that follow a name across hosts. Two hosts of the lab `sec` (netns
// sec-a and sec-b, each its own parent NIC on the one bridge, its own state dir and own host
// secret) share one secret_file and one BIND; the hook binary runs in each host's netns as a
// runtime runs it (createRuntime/poststop with the OCI state, a fresh netns per container).
//  - name N on A: address X, AAAA N → X; stopped on A and started on B: the same X and MAC, AAAA → X;
//  - N running on A, started on B: B's probe from its parent hears A's copy before B's link exists,
//    and B takes the next identity (another MAC, link-local and address); N's AAAA holds both;
//  - a bad secret_file refuses the container with one line and nothing left.
import t from 'tap';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { labUp, type Lab } from '../../vm/lab/lab';
import { run } from '../../vm/lab/run';
import { dig } from '../../vm/lab/dns';
import { fakeContainer, HOOK_CLI, runHook, stateFiles, type FakeContainer } from '../../vm/lab/fake-container';
import type { ContainerRecord } from '../../runtime/core/record';
import { stableAddress, stableMac } from '../../runtime/core/iid';
import { formatIPv6, formatMac, parsePrefix } from '../../runtime/core/ipv6';
import { linkLocalAddress } from '../../runtime/core/plan';

t.setTimeout(180_000);

const PREFIX = '2001:db8:cb::/64';
const NAME = 'mover';
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'sec-'));
fs.chmodSync(work, 0o755);
const shared = path.join(work, 'shared-secret');
const SECRET = Buffer.alloc(32, 0x5e); // known, so that the test computes the addresses
fs.writeFileSync(shared, SECRET, { mode: 0o600 });
type DnsLab = Lab & { dnsAddr: string; dnsPort: number; dnsZone: string; dnsKeyFile: string; hostbNetns: string; hostbIf: string };
let lab: DnsLab;
const containers: FakeContainer[] = [];

interface Host {
  name: 'a' | 'b';
  netns: string;
  config: string;
  stateDir: string;
  env: Record<string, string>;
}
const hosts: Partial<Record<'a' | 'b', Host>> = {};
const A = (): Host => hosts.a as Host;
const B = (): Host => hosts.b as Host;

function hostSetup(name: 'a' | 'b', netns: string, parent: string, secretFile = shared, dirName = `host-${name}`): Host {
  const dir = path.join(work, dirName);
  const stateDir = path.join(dir, 'state');
  const lib = path.join(dir, 'lib');
  fs.mkdirSync(lib, { recursive: true, mode: 0o700 });
  // Each host's own secret differs: the addresses below can only come from the shared one.
  fs.writeFileSync(path.join(lib, 'secret'), Buffer.alloc(32, name === 'a' ? 0x41 : 0x42), { mode: 0o600 });
  const config = path.join(dir, 'config.toml');
  fs.writeFileSync(
    config,
    [
      `parent = ${JSON.stringify(parent)}`,
      `state_dir = ${JSON.stringify(stateDir)}`,
      `secret_file = ${JSON.stringify(secretFile)}`,
      'ra_timeout_ms = 3000',
      '[dns]',
      `server = ${JSON.stringify(`[${lab.dnsAddr}]:${lab.dnsPort}`)}`,
      `zone = ${JSON.stringify(lab.dnsZone)}`,
      `key_file = ${JSON.stringify(lab.dnsKeyFile)}`,
      'ttl = 5',
      'timeout_ms = 1000',
      'required = true',
    ].join('\n') + '\n',
  );
  return { name, netns, config, stateDir, env: { OCI_SLAAC_HOOK_STATE_LIB: lib, OCI_SLAAC_HOOK_SYSLOG: path.join(dir, 'no-syslog.sock') } };
}

let seq = 0;
async function start(h: Host): Promise<{ c: FakeContainer; record: ContainerRecord; ms: number; stderr: string }> {
  const id = `${NAME}-${h.name}${seq++}`;
  const c = await fakeContainer({ id, netns: `sec-c${seq}`, dir: path.join(work, `host-${h.name}`), annotations: { 'oci-slaac-hook.name': NAME } });
  containers.push(c);
  const r = await runHook('createRuntime', c.state('creating'), { config: h.config, env: h.env, hostNetns: h.netns, timeoutMs: 30_000 });
  if (r.code !== 0) throw new Error(`createRuntime ${id} on ${h.name}: ${r.stderr}`);
  const record = readRecord(h, id);
  if (!record) throw new Error(`no record for ${id}`);
  return { c, record, ms: Math.round(r.ms), stderr: r.stderr };
}

async function stop(h: Host, c: FakeContainer): Promise<void> {
  const r = await runHook('poststop', c.state('stopped'), { config: h.config, env: h.env, hostNetns: h.netns, timeoutMs: 30_000 });
  if (r.code !== 0) throw new Error(`poststop ${c.id} on ${h.name}: ${r.stderr}`);
  await c.remove();
}

function readRecord(h: Host, id: string): ContainerRecord | undefined {
  try {
    return JSON.parse(fs.readFileSync(path.join(h.stateDir, `${id}.json`), 'utf8')) as ContainerRecord;
  } catch {
    return undefined;
  }
}

const fqdn = (): string => `${NAME}.${lab.dnsZone}`;
const aaaa = async (): Promise<string[]> => (await dig(lab, fqdn(), 'AAAA')).sort();
/** The router reaches `address` (ICMPv6 echo), and which MAC its neighbour entry has for it. */
async function fromRouter(address: string): Promise<{ ping: boolean; lladdr: string }> {
  const ping = await run('ip', ['netns', 'exec', lab.routerNetns, 'ping', '-6', '-c', '1', '-W', '2', address]);
  const neigh = await run('ip', ['-n', lab.routerNetns, '-6', 'neigh', 'show', address]);
  return { ping: ping.code === 0, lladdr: /lladdr (\S+)/.exec(neigh.stdout)?.[1] ?? '' };
}

// What the shared secret gives the name: identity 0 (and 1, the next).
const prefix = parsePrefix(PREFIX).address;
const expected = (counter: number): { address: string; mac: string; linkLocal: string } => ({
  address: formatIPv6(stableAddress({ prefix, prefixLength: 64, name: NAME, networkId: '', dadCounter: counter, secret: SECRET }).address),
  mac: formatMac(stableMac({ name: NAME, secret: SECRET, dadCounter: counter })),
  linkLocal: formatIPv6(linkLocalAddress({ name: NAME, secret: SECRET, networkId: '' }, counter)),
});

t.before(async () => {
  const up = await labUp({
    LAB_NAME: 'sec',
    LAB_RUN_DIR: '/tmp/sec-lab',
    LAB_HOST_NETNS: 'sec-a',
    LAB_PREFIX: PREFIX,
    LAB_ROUTER_ADDR: '2001:db8:cb::1',
    LAB_PEER_ADDR: '2001:db8:cb::100',
    LAB_RETRANS_MS: '300',
    LAB_DNS: 'bind',
    LAB_DNS_ADDR: '2001:db8:cb::53',
    LAB_DNS_PORT: '5381',
    LAB_HOST_ADDR: '2001:db8:cb::2/64',
    LAB_HOSTB: '1',
    LAB_HOSTB_NETNS: 'sec-b',
    LAB_HOSTB_ADDR: '2001:db8:cb::3/64',
  });
  const { dnsAddr, dnsPort, dnsZone, dnsKeyFile, hostbNetns, hostbIf } = up;
  if (!dnsAddr || !dnsPort || !dnsZone || !dnsKeyFile || !hostbNetns || !hostbIf) throw new Error('the lab has no DNS server or no host B');
  lab = { ...up, dnsAddr, dnsPort, dnsZone, dnsKeyFile, hostbNetns, hostbIf };
  hosts.a = hostSetup('a', 'sec-a', lab.hostIf);
  hosts.b = hostSetup('b', lab.hostbNetns, lab.hostbIf);
});

t.teardown(async () => {
  for (const c of containers) await c.remove();
  await lab?.down();
  fs.rmSync(work, { recursive: true, force: true });
});

/** doctor's `secret` finding for host `h`. */
async function doctorSecret(h: Host): Promise<{ check: string; verdict: string; detail: string; fix?: string } | undefined> {
  const r = await run('ip', ['netns', 'exec', h.netns, 'env', '-u', 'NODE_OPTIONS', process.execPath, HOOK_CLI, 'doctor', '--config', h.config, '--json'], {
    baseEnv: { PATH: process.env.PATH ?? '', ...h.env },
    timeoutMs: 60_000,
  });
  const { findings } = JSON.parse(r.stdout) as { findings: { check: string; verdict: string; detail: string; fix?: string }[] };
  return findings.find((c) => c.check === 'secret');
}

t.test('doctor names the secret in use: the shared file (checked), or the host\'s own', async (t) => {
  const secret = await doctorSecret(A());
  t.match(secret, { verdict: 'ok', detail: new RegExp(`^shared secret_file ${shared}: 32 bytes, mode 0600, fingerprint sha256:[0-9a-f]{16}`) }, JSON.stringify(secret));
  const onB = await doctorSecret(B());
  t.equal(onB?.detail.match(/sha256:\w+/)?.[0], secret?.detail.match(/sha256:\w+/)?.[0], 'B: the same fingerprint');
  const loose = path.join(work, 'loose-secret');
  fs.writeFileSync(loose, SECRET, { mode: 0o640 });
  const bad = await doctorSecret(hostSetup('a', 'sec-a', lab.hostIf, loose, 'host-a-doctor'));
  t.match(bad, { verdict: 'fail', detail: `secret_file ${loose} has mode 0640, refusing a secret open to group or others (chmod 0600)`, fix: /install -m 0600 -o root/ }, JSON.stringify(bad));
  const own = await doctorSecret(hostSetup('a', 'sec-a', lab.hostIf, '', 'host-a-doctor'));
  t.match(own, { verdict: 'ok', detail: new RegExp(`^host's own ${path.join(work, 'host-a-doctor', 'lib', 'secret')}: 32 bytes`) }, JSON.stringify(own));
});

t.test('stopped on A, started on B: the same address and MAC, and the AAAA follows', async (t) => {
  const want = expected(0);
  const onA = await start(A());
  t.equal(onA.record.addresses[0]?.address, want.address, `on A: ${want.address}, the shared secret's (attach ${onA.ms} ms)`);
  t.equal(onA.record.interface.mac, want.mac, `on A: MAC ${want.mac}`);
  t.equal(onA.record.linkLocal, want.linkLocal, 'on A: its link-local');
  t.same(await aaaa(), [want.address], `AAAA ${fqdn()} → ${want.address}`);
  t.match(await fromRouter(want.address), { ping: true, lladdr: want.mac }, 'the router reaches it on A');
  await stop(A(), onA.c);
  t.same(await aaaa(), [], 'stopped on A: its AAAA withdrawn');

  const onB = await start(B());
  t.equal(onB.record.addresses[0]?.address, want.address, `on B: the same ${want.address} (attach ${onB.ms} ms)`);
  t.equal(onB.record.interface.mac, want.mac, 'on B: the same MAC');
  t.equal(onB.record.linkLocal, want.linkLocal, 'on B: the same link-local');
  t.same(await aaaa(), [want.address], `AAAA ${fqdn()} → ${want.address} again, published by B`);
  t.match(await fromRouter(want.address), { ping: true, lladdr: want.mac }, 'the router reaches it on B');
  t.notMatch(onB.stderr, /in use/, 'no conflict reported');
  await stop(B(), onB.c);
  t.same(await aaaa(), [], 'stopped on B: withdrawn');
});

t.test('running on A, started on B: B takes the next identity, not the same address', async (t) => {
  const first = expected(0);
  const next = expected(1);
  const onA = await start(A());
  t.equal(onA.record.addresses[0]?.address, first.address, `on A: ${first.address}`);
  const onB = await start(B());
  const b = onB.record;
  t.not(b.addresses[0]?.address, first.address, `on B while A runs it: not ${first.address}`);
  t.equal(b.addresses[0]?.address, next.address, `on B: DAD counter 1's ${next.address} (attach ${onB.ms} ms)`);
  t.equal(b.addresses[0]?.dadCounter, 1, 'recorded with DAD counter 1');
  t.equal(b.derivation?.identity, 1, 'and identity 1, where renumbering starts');
  t.equal(b.interface.mac, next.mac, `on B: another MAC (${next.mac}), never A's ${first.mac} on the same link`);
  t.equal(b.linkLocal, next.linkLocal, 'on B: another link-local');
  t.match(onB.stderr, new RegExp(`name "${NAME}" is in use on ${lab.hostbIf}'s link \\(another host sharing secret_file ${shared}: ${first.linkLocal} NA from ${first.linkLocal} at ${first.mac}\\): taking DAD counter 1`), 'B says why');
  // B asked as a neighbour (not a DAD NS from ::), so A's link-local — Optimistic for the first
  // second — was not made to fail its DAD by B's probe.
  const aAddrs = (await run('ip', ['-n', onA.c.netns, '-6', 'addr', 'show', 'dev', onA.record.interface.name])).stdout;
  t.notMatch(aAddrs, /dadfailed/, 'A\'s addresses intact (no dadfailed)');
  t.match(aAddrs, new RegExp(`${first.linkLocal}/64`), 'A keeps its link-local');
  // Both instances are told apart on the link: each reachable at its own address, each MAC its own.
  t.match(await fromRouter(first.address), { ping: true, lladdr: first.mac }, 'A\'s still reachable, at its MAC');
  t.match(await fromRouter(next.address), { ping: true, lladdr: next.mac }, 'B\'s reachable, at its MAC');
  t.same(await aaaa(), [first.address, next.address].sort(), 'AAAA: both instances, each host\'s own record');
  await stop(A(), onA.c);
  t.same(await aaaa(), [next.address], 'A stops: only its record goes; B\'s stays');
  await stop(B(), onB.c);
  t.same(await aaaa(), [], 'B stops: none left');
});

t.test("the probe's cost: one RetransTimer (300 ms here) before the link is made", async (t) => {
  // Host A twice over: its own secret (a config and state of their own), and the shared one.
  const own = hostSetup('a', 'sec-a', lab.hostIf, '', 'host-a-own');
  const sharing = hostSetup('a', 'sec-a', lab.hostIf);
  const median = (xs: number[]): number => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)] ?? NaN;
  const totals: Record<'own' | 'shared', number[]> = { own: [], shared: [] };
  for (let i = 0; i < 3; i++) {
    for (const [kind, h] of [['own', own], ['shared', sharing]] as const) {
      const s = await start(h);
      totals[kind].push(s.record.timings.totalMs);
      t.comment(`${kind}: ${JSON.stringify(s.record.timings)}`);
      await stop(h, s.c);
    }
  }
  const [o, sh] = [median(totals.own), median(totals.shared)];
  t.comment(`strict attach in the hook (record timings.totalMs), 3 each: host's own secret ${totals.own.join(' ')} ms (median ${o}); shared secret_file ${totals.shared.join(' ')} ms (median ${sh}); difference ${Math.round(sh - o)} ms`);
  // The probe waits one RetransTimer (300 ms) before the link is made; the rest is noise of a shared machine.
  t.ok(sh > o && sh - o < 300 + 400, `the shared secret's probe adds about one RetransTimer: ${Math.round(sh - o)} ms`);
});

t.test('a bad secret_file refuses the container with one line, nothing left', async (t) => {
  const cases: { what: string; setup: (file: string) => void; error: RegExp }[] = [
    { what: 'missing', setup: () => undefined, error: /secret_file \S+ does not exist/ },
    { what: 'open to others', setup: (f) => fs.writeFileSync(f, SECRET, { mode: 0o644 }), error: /secret_file \S+ has mode 0644, refusing a secret open to group or others/ },
    { what: '31 bytes', setup: (f) => fs.writeFileSync(f, SECRET.subarray(1), { mode: 0o600 }), error: /secret_file \S+ is 31 bytes, expected exactly 32/ },
  ];
  for (const [i, k] of cases.entries()) {
    const file = path.join(work, `bad-secret-${i}`);
    k.setup(file);
    const h = hostSetup('a', 'sec-a', lab.hostIf, file);
    const id = `bad-${i}`;
    const c = await fakeContainer({ id, netns: `sec-bad${i}`, dir: path.join(work, 'host-a'), annotations: { 'oci-slaac-hook.name': NAME } });
    containers.push(c);
    const r = await runHook('createRuntime', c.state('creating'), { config: h.config, env: h.env, hostNetns: h.netns, timeoutMs: 30_000 });
    t.not(r.code, 0, `${k.what}: refused`);
    t.match(r.stderr, k.error, `${k.what}: ${r.stderr.trim()}`);
    t.equal(r.stderr.trim().split('\n').length, 1, `${k.what}: one line`);
    t.equal((await c.links()).length, 1, `${k.what}: nothing in its netns but lo`);
    t.same(stateFiles(h.stateDir).filter((f) => f.startsWith(id)), [], `${k.what}: no state left`);
    if (k.what === 'missing') t.notOk(fs.existsSync(file), 'a missing secret_file is never created');
    await c.remove();
  }
  // Put host A's config back (the cases above rewrote it).
  hosts.a = hostSetup('a', 'sec-a', lab.hostIf);
});
