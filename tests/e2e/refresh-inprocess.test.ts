// Refresh in process, against the lab's real radvd with short lifetimes (router lifetime 12 s,
// prefix valid 30 s / preferred 15 s, an RA every 3–4 s): containers attached here (runtime/pipeline
// with systemDeps), the RAs heard by an ND client on the parent in the host netns and handed to
// refreshContainer, and an expiry tick calling expireContainer at nextDeadline — the agent's work,
// done by a few lines here. Shown in the kernel (`ip`):
//  - a refreshed container keeps its default route (expires refreshed) and a preferred address
//    (valid_lft refreshed) past every lifetime, and reaches an address beyond the router; one
//    attached at the same time but not refreshed has lost both;
//  - renumbering by reconfiguring radvd: the new prefix gives a DAD-proven address (the first
//    candidate held by the peer: the next one) that the router reaches, the old prefix's address
//    shows "deprecated", and once the router withdraws the old prefix its address is removed
//    from the kernel, the record and the ledger; DNS (the lab's bind) follows: the new address's
//    AAAA and PTR published, the old one's withdrawn.
//
// Lab rfr (2001:db8:e1::/64, then 2001:db8:e2::/64), netns rfr-*.
import t from 'tap';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { defaultConfig, type HookConfig } from '../../runtime/core/config';
import { formatIPv6, parseIPv6 } from '../../runtime/core/ipv6';
import { ICMP6_RA } from '../../runtime/core/nd-types';
import { addressCandidate } from '../../runtime/core/plan';
import type { ContainerRecord } from '../../runtime/core/record';
import { bootNow } from '../../runtime/system/clock';
import { Logger, type Level } from '../../runtime/system/log';
import { NdClient } from '../../runtime/system/nd/client';
import { NdSocket } from '../../runtime/system/nd/socket';
import { attach } from '../../runtime/pipeline/attach';
import { systemDeps, type PipelineDeps } from '../../runtime/pipeline/deps';
import { detach } from '../../runtime/pipeline/detach';
import { expireContainer, nextDeadline, refreshContainer } from '../../runtime/pipeline/refresh';
import { run } from '../../vm/lab/run';
import { labUp, type Lab } from '../../vm/lab/lab';
import { reconfigureRadvd, type RadvdSpec } from '../../vm/lab/radvd';
import { dig, reverseName } from '../../vm/lab/dns';

const work = fs.mkdtempSync(path.join(os.tmpdir(), 'osh-rfr-'));
const stateDir = path.join(work, 'state');
const secret = Buffer.alloc(32, 0x5e);
const OLD = '2001:db8:e1::/64';
const NEW = '2001:db8:e2::/64';
const BEYOND = '2001:db8:e8::1'; // on the router, reached only through the default route
/** 2001:db8:e0::/44: one reverse zone for the old prefix and the new. */
const REVERSE_ZONE = 'e.0.0.8.b.d.0.1.0.0.2.ip6.arpa';

class TestLogger extends Logger {
  readonly lines: string[] = [];
  constructor() {
    super('', path.join(work, 'no-syslog'));
  }
  override log(level: Level, message: string): void {
    this.lines.push(`${level}: ${message}`);
  }
}

let lab: Lab;
let deps: PipelineDeps;
const log = new TestLogger();

const spec = (prefixes: RadvdSpec['prefixes']): RadvdSpec => ({
  routerLifetime: 12,
  raInterval: 4,
  raMinInterval: 3,
  mtu: 1400,
  retransMs: 300,
  prefixes,
  routes: [{ prefix: '2001:db8:e9::/48', lifetime: 30, preference: 'high' }],
  rdnss: { servers: ['2001:db8:e1::53'], lifetime: 8 },
});

t.before(async () => {
  lab = await labUp({
    LAB_NAME: 'rfr',
    LAB_PREFIX: OLD,
    LAB_ROUTER_ADDR: '2001:db8:e1::1',
    LAB_PEER_ADDR: '2001:db8:e1::100',
    LAB_ROUTER_LIFETIME: '12',
    LAB_VALID_LIFETIME: '30',
    LAB_PREFERRED_LIFETIME: '15',
    LAB_RA_INTERVAL: '4',
    LAB_RA_MIN_INTERVAL: '3',
    LAB_RETRANS_MS: '300',
    LAB_ROUTE: '2001:db8:e9::/48',
    LAB_ROUTE_LIFETIME: '30',
    LAB_RDNSS: '2001:db8:e1::53',
    LAB_RDNSS_LIFETIME: '8',
    LAB_DNSSL: '',
    LAB_DNS: 'bind',
    LAB_DNS_ADDR: '2001:db8:e1::53',
    LAB_DNS_REVERSE_ZONE: REVERSE_ZONE,
    LAB_HOST_ADDR: '2001:db8:e1::2/64',
  });
  deps = systemDeps(stateDir, log);
  const r = await run('ip', ['-n', lab.routerNetns, 'addr', 'add', `${BEYOND}/128`, 'dev', 'lo']);
  if (r.code !== 0) throw new Error(`router lo address: ${r.stderr}`);
});
t.teardown(async () => {
  agent?.stop();
  deps?.host.close();
  await lab?.down();
  fs.rmSync(work, { recursive: true, force: true });
});

const config = (over: Partial<HookConfig> = {}): HookConfig => ({ ...defaultConfig(), parent: lab.hostIf, state_dir: stateDir, ra_timeout_ms: 5000, ...over });
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function freshNetns(t: { teardown(fn: () => unknown): void }, name: string): Promise<string> {
  const r = await run('ip', ['netns', 'add', name]);
  if (r.code !== 0) throw new Error(`ip netns add ${name}: ${r.stderr}`);
  t.teardown(() => run('ip', ['netns', 'del', name]).then(() => undefined));
  return `/run/netns/${name}`;
}

/** What the agent does, in a few lines: every RA on the parent → refreshContainer; one tick → expireContainer when due. */
class MiniAgent {
  readonly changes: string[] = [];
  private chain: Promise<void> = Promise.resolve();
  private readonly sock: NdSocket;
  private readonly client: NdClient;
  private readonly tick: NodeJS.Timeout;
  ras = 0;
  constructor(readonly ids: string[]) {
    const parent = deps.host.findLink(lab.hostIf);
    if (!parent) throw new Error('no parent');
    this.sock = NdSocket.open({ ifname: parent.name, ifindex: parent.index, types: [ICMP6_RA] });
    this.client = new NdClient({ transport: this.sock });
    this.client.on('ra', (ev) => {
      this.ras++;
      this.enqueue(async () => {
        for (const id of this.ids) this.note(id, await refreshContainer(id, { router: ev.router, advertisement: ev.advertisement, receivedAt: ev.receivedAt }, deps, { secret }));
      });
    });
    this.client.start();
    this.tick = setInterval(() => {
      this.enqueue(async () => {
        for (const id of this.ids) {
          const record = deps.store.read(id);
          const due = record && nextDeadline(record);
          const now = bootNow();
          if (due != null && due <= now) this.note(id, await expireContainer(id, now, deps));
        }
      });
    }, 200);
  }
  private note(id: string, r: { changes: string[]; renewed?: string[] }): void {
    // Renewals (lifetimes moved, nothing else) are reported apart from changes; both count here.
    for (const c of [...r.changes, ...(r.renewed ?? [])]) this.changes.push(`${id}: ${c}`);
  }
  private enqueue(fn: () => Promise<void>): void {
    this.chain = this.chain.then(fn).catch((err: unknown) => {
      this.changes.push(`error: ${(err as Error).message}`);
    });
  }
  /** Until the queued work is done. */
  settle(): Promise<void> {
    return this.chain;
  }
  stop(): void {
    clearInterval(this.tick);
    this.client.stop();
    this.sock.close();
  }
}
let agent: MiniAgent | undefined;
/** The whole file's: rfr-c1 lives through both tests. */
const root = t;

const withDns = (): HookConfig =>
  config({ dns: { server: `[${lab.dnsAddr}]:${lab.dnsPort}`, zone: lab.dnsZone ?? '', reverse_zone: REVERSE_ZONE, key_file: lab.dnsKeyFile ?? '', ttl: 60, timeout_ms: 1000, required: true } });
const attachIn = (id: string, netnsPath: string, cfg = config()): Promise<ContainerRecord> => attach({ id, name: { name: id, source: 'id' }, netnsPath, config: cfg, annotations: {}, secret }, deps);

interface AddrInfo {
  local: string;
  prefixlen: number;
  valid_life_time: number;
  preferred_life_time: number;
  deprecated?: boolean;
  tentative?: boolean;
}
async function addresses(ns: string): Promise<AddrInfo[]> {
  const r = await run('ip', ['-j', '-n', ns, '-6', 'addr', 'show', 'dev', 'eth0', 'scope', 'global']);
  const parsed = JSON.parse(r.stdout || '[]') as { addr_info?: AddrInfo[] }[];
  return parsed.flatMap((l) => l.addr_info ?? []);
}
const addrText = (ns: string): Promise<string> => run('ip', ['-n', ns, '-6', 'addr', 'show', 'dev', 'eth0']).then((r) => r.stdout);
const defaultRoute = (ns: string): Promise<string> => run('ip', ['-n', ns, '-6', 'route', 'show', 'default']).then((r) => r.stdout.trim());
const ping = (ns: string, to: string): Promise<number> => run('ip', ['netns', 'exec', ns, 'ping', '-6', '-c', '1', '-W', '2', to]).then((r) => r.code);

async function until(what: string, ms: number, ok: () => Promise<boolean> | boolean): Promise<number> {
  const t0 = Date.now();
  while (Date.now() - t0 < ms) {
    if (await ok()) return Date.now() - t0;
    await sleep(250);
  }
  throw new Error(`${what}: not within ${ms} ms; agent: ${agent?.changes.slice(-6).join(' | ')}; log: ${log.lines.slice(-6).join(' | ')}; RAs ${agent?.ras}`);
}

t.test('an RA-refreshed container outlives every lifetime; one not refreshed loses its route', async (t) => {
  const kept = await attachIn('rfr1', await freshNetns(root, 'rfr-c1'), withDns());
  const left = await attachIn('rfr2', await freshNetns(t, 'rfr-c2'));
  t.match(kept.addresses[0]?.address, /^2001:db8:e1:0:/);
  t.match(kept, { routers: [{ lifetime: 12 }], addresses: [{ state: 'preferred' }] }, 'attach filled the refresh fields');
  agent = new MiniAgent(['rfr1']);
  const a1 = kept.addresses[0]?.address ?? '';
  t.equal(await ping('rfr-c1', BEYOND), 0, 'beyond the router at first');

  // 20 s: past the router lifetime (12 s) and the preferred lifetime (15 s) of attach's RA.
  for (let i = 0; i < 4; i++) {
    await sleep(5000);
    t.equal(await ping('rfr-c1', BEYOND), 0, `refreshed: beyond the router at ${(i + 1) * 5} s`);
  }
  await agent.settle();
  t.ok(agent.ras >= 4, `RAs heard on the parent: ${agent.ras}`);
  const route = await defaultRoute('rfr-c1');
  const expires = Number(/expires (\d+)sec/.exec(route)?.[1] ?? NaN);
  t.ok(expires > 0 && expires <= 12, `the default route's expiry refreshed: ${route}`);
  const live = (await addresses('rfr-c1')).find((a) => a.local === a1);
  t.ok(live && live.valid_life_time > 20 && live.valid_life_time <= 30, `valid_lft refreshed: ${live?.valid_life_time}`);
  t.ok(live && live.preferred_life_time > 5 && !live.deprecated, `preferred_lft refreshed: ${live?.preferred_life_time}`);
  const rec = deps.store.read('rfr1');
  t.ok(rec && (rec.routers?.[0]?.lastRaAt ?? 0) > kept.raAt, 'the record follows the RAs');
  t.ok(agent.changes.some((c) => c.startsWith(`rfr1: ${a1} valid `)), 'lifetime changes logged');

  // The one left alone: its default route expired, its address deprecated.
  t.not(await ping('rfr-c2', BEYOND), 0, 'not refreshed: beyond the router unreachable');
  const leftAddr = (await addresses('rfr-c2')).find((a) => a.local === left.addresses[0]?.address);
  t.ok(leftAddr?.deprecated, `not refreshed: deprecated (preferred_lft ${leftAddr?.preferred_life_time})`);
  t.same((await detach(left, deps)).failures, []);
});

t.test('renumbering: new prefix → DAD-proven address (next candidate on a conflict), old one deprecated, then removed', async (t) => {
  if (!agent) throw new Error('the first test did not start the agent');
  const record = deps.store.read('rfr1');
  if (!record) throw new Error('no record of rfr1');
  const oldAddr = record.addresses[0]?.address ?? '';
  const { address: newPrefix } = { address: parseIPv6('2001:db8:e2::') };
  const candidate = addressCandidate({ name: 'rfr1', secret, networkId: '', iid: '' }, newPrefix, 64);
  const [first, second] = [formatIPv6(candidate(0)), formatIPv6(candidate(1))];
  // The peer holds the first candidate: our DAD must see it and take the next.
  const peer = await run('ip', ['-n', lab.peerNetns, 'addr', 'add', `${first}/64`, 'dev', lab.peerIf, 'nodad']);
  t.equal(peer.code, 0, `peer holds ${first}`);
  await run('ip', ['-n', lab.routerNetns, 'addr', 'add', '2001:db8:e2::1/64', 'dev', lab.routerIf, 'nodad']);

  reconfigureRadvd(lab, spec([
    { prefix: OLD, valid: 30, preferred: 0 },
    { prefix: NEW, valid: 30, preferred: 15 },
  ]));
  const took = await until('an address in the new prefix', 15_000, () => (deps.store.read('rfr1')?.addresses ?? []).some((a) => a.prefix === NEW));
  t.pass(`new address within ${took} ms of the reconfiguration`);
  const now = deps.store.read('rfr1');
  const added = now?.addresses.find((a) => a.prefix === NEW);
  t.match(added, { address: second, dadCounter: 1, dad: 'verified', state: 'preferred' }, `the second candidate, ${second}, DAD-proven`);
  t.ok(now?.ledger.some((e) => e.kind === 'address' && e.address === second), 'in the ledger');
  t.match(log.lines.join('\n'), new RegExp(`DAD: ${first} is in use`), 'the conflict logged');
  const inKernel = (await addresses('rfr-c1')).find((a) => a.local === second);
  t.ok(inKernel && !inKernel.tentative, `in the kernel, usable: valid_lft ${inKernel?.valid_life_time}`);
  t.equal(await ping(lab.routerNetns, second), 0, 'the router reaches it');
  const fqdn = `rfr1.${lab.dnsZone}`;
  t.same((await dig(lab, fqdn, 'AAAA')).sort(), [oldAddr, second].sort(), 'DNS: AAAA of both (the old one is still valid)');
  t.same(await dig(lab, reverseName(second), 'PTR'), [`${fqdn}.`], 'DNS: PTR of the new one');

  await until('the old address deprecated', 10_000, async () => (await addresses('rfr-c1')).find((a) => a.local === oldAddr)?.deprecated === true);
  t.match(await addrText('rfr-c1'), new RegExp(`inet6 ${oldAddr}/64 scope global [^\\n]*deprecated`), '`ip -6 addr` shows it deprecated');
  t.equal(deps.store.read('rfr1')?.addresses.find((a) => a.address === oldAddr)?.state, 'deprecated', 'the record too');

  // The router withdraws the old prefix: its address lives out what remains (≤ 30 s), then goes.
  reconfigureRadvd(lab, spec([{ prefix: NEW, valid: 30, preferred: 15 }]));
  const gone = await until('the old address removed', 40_000, () => !(deps.store.read('rfr1')?.addresses ?? []).some((a) => a.address === oldAddr));
  t.pass(`old address removed ${gone} ms after the prefix was withdrawn`);
  await agent.settle();
  t.notOk((await addresses('rfr-c1')).some((a) => a.local === oldAddr), 'gone from the kernel');
  t.notOk(deps.store.read('rfr1')?.ledger.some((e) => e.kind === 'address' && e.address === oldAddr), 'and from the ledger');
  t.ok(agent.changes.includes(`rfr1: ${oldAddr} removed (valid lifetime ran out)`));
  t.same(await dig(lab, `rfr1.${lab.dnsZone}`, 'AAAA'), [second], 'DNS: the old AAAA withdrawn');
  t.same(await dig(lab, reverseName(oldAddr), 'PTR'), [], 'DNS: its PTR too');
  t.equal(await ping('rfr-c1', BEYOND), 0, 'still beyond the router, from the new address');
  t.notOk(agent.changes.some((c) => c.startsWith('error')), agent.changes.filter((c) => c.startsWith('error')).join('; '));

  agent.stop();
  agent = undefined;
  const rec = deps.store.read('rfr1');
  if (rec) t.same((await detach(rec, deps)).failures, [], 'detach: nothing fails');
  t.same(await addresses('rfr-c1'), [], 'detach: no address left');
  t.same(await dig(lab, `rfr1.${lab.dnsZone}`, 'AAAA'), [], 'detach: DNS withdrawn');
  await run('ip', ['-n', lab.peerNetns, 'addr', 'del', `${first}/64`, 'dev', lab.peerIf]);
});
