// The refresh pipeline (runtime/pipeline/refresh.ts: refreshContainer, expireContainer) against the
// fake kernel (tests/unit/fake-kernel.ts): a container attached by the real attach, then RAs and
// time. Shown: lifetimes replaced exactly as computed, the default route's expiry refreshed and the
// route removed at router lifetime 0, two routers with one dying, deprecation then expiry (the
// ledger and DNS following), renumbering with DAD (a conflict → the next candidate), the host side
// of ipvlan l3 + host_link, max_prefixes, and a detached container left alone — and that detach
// afterwards leaves nothing.
import * as dgram from 'node:dgram';
import type { AddressInfo } from 'node:net';
import t, { type Test } from 'tap';
import { defaultConfig, validateForAttach, type DnsConfig, type HookConfig } from '../../runtime/core/config';
import { formatIPv6, parseIPv6, parseMac } from '../../runtime/core/ipv6';
import type { RouterAdvertisement } from '../../runtime/core/nd-types';
import { addressCandidate } from '../../runtime/core/plan';
import type { ContainerRecord } from '../../runtime/core/record';
import { decodeMessage, encodeMessage, RCODE } from '../../runtime/wire/dns/wire';
import { ensureCompanion } from '../../runtime/ops/host-link';
import { prepareParent } from '../../runtime/ops/l3-reach';
import { addressKeys, attach, slaveSpec, type AttachRequest } from '../../runtime/pipeline/attach';
import type { PipelineDeps } from '../../runtime/pipeline/deps';
import { detach } from '../../runtime/pipeline/detach';
import { expireContainer, nextDeadline, refreshContainer } from '../../runtime/pipeline/refresh';
import { pio, raWith } from './helpers';
import { discovered, FakeNet, fakeNd, MemoryLogger, MemoryStore, recordingLock, type FakeKernel, type FakeNdOptions } from './fake-kernel';

const SECRET = Buffer.alloc(32, 7);
const T0 = 5_000_000;
const S = 1000;
const R1 = 'fe80::1';
const R2 = 'fe80::2';
const PARENT = 'eth0';
const PARENT_INDEX = 2;

/** Router lifetime 30 s, one prefix valid 120 s / preferred 60 s, an RFC 4191 route, MTU 1480. */
const ra = (over: { valid?: number; preferred?: number; routerLifetime?: number; extra?: RouterAdvertisement['options']; prefixes?: string[]; preference?: RouterAdvertisement['preference'] } = {}): RouterAdvertisement =>
  raWith(
    [
      { type: 'source-link-layer-address', address: parseMac('02:00:5e:00:53:01') },
      { type: 'mtu', mtu: 1480 },
      ...(over.prefixes ?? ['2001:db8:1::']).map((p) => pio(p, { validLifetime: over.valid ?? 120, preferredLifetime: over.preferred ?? 60 })),
      { type: 'route-information', prefix: parseIPv6('2001:db8:f00::'), prefixLength: 48, preference: 'low', lifetime: 90 },
      ...(over.extra ?? []),
    ],
    { routerLifetime: over.routerLifetime ?? 30, preference: over.preference ?? 'medium', retransTimer: 250 },
  );

const macvlan = (over: Partial<HookConfig> = {}): HookConfig => validateForAttach({ ...defaultConfig(), parent: PARENT, ...over });

function containerLocks() {
  const queues = new Map<string, Promise<void>>();
  const forgotten: string[] = [];
  const withContainerLock = async <T>(id: string, fn: (lock: { forget(): void }) => Promise<T> | T): Promise<T> => {
    const before = queues.get(id) ?? Promise.resolve();
    let done = (): void => undefined;
    const mine = new Promise<void>((r) => (done = r));
    queues.set(id, before.then(() => mine));
    await before;
    try {
      return await fn({ forget: () => forgotten.push(id) });
    } finally {
      done();
    }
  };
  return { withContainerLock, forgotten };
}

interface Fixture {
  net: FakeNet;
  host: FakeKernel;
  c1: FakeKernel;
  nd: ReturnType<typeof fakeNd>;
  store: MemoryStore;
  log: MemoryLogger;
  deps: PipelineDeps;
  clock: { now: number };
}

function fixture(opts: Partial<FakeNdOptions> & { warm?: HookConfig } = {}): Fixture {
  const net = new FakeNet();
  const host = net.addNetns('host', { id: '0:4026531840', path: '/proc/1/ns/net', fd: -1 });
  host.seedLink({ name: 'lo', index: 1, up: true, mtu: 65536 });
  host.seedLink({ name: PARENT, index: PARENT_INDEX, up: true, mtu: 1500, mac: '52:54:00:12:34:56' });
  host.seedAddress(PARENT_INDEX, 'fe80::5054:ff:fe12:3456', 64);
  const c1 = net.addNetns('c1', { id: '0:4026532000', path: '/run/netns/c1', fd: 20 });
  c1.seedLink({ name: 'lo', index: 1, up: false, mtu: 65536 });
  if (opts.warm) {
    const parent = host.findLink(PARENT);
    if (!parent) throw new Error('no parent');
    if (opts.warm.mode === 'ipvlan' && opts.warm.ipvlan_mode !== 'l2') prepareParent(host, PARENT);
    if (opts.warm.host_link) ensureCompanion(host, parent, slaveSpec(opts.warm), SECRET);
  }
  const nd = fakeNd(net, { router: opts.router ?? (() => discovered(ra(), R1, T0)), verdict: opts.verdict });
  const store = new MemoryStore();
  const log = new MemoryLogger();
  const clock = { now: T0 };
  const deps: PipelineDeps = {
    host,
    openNetns: (path) => net.open(path),
    nd: nd.make,
    store,
    withLock: recordingLock(net).withLock,
    withContainerLock: containerLocks().withContainerLock,
    clock: () => clock.now,
    hostNamespaces: () => [{ what: "the hook's own", id: host.netns.id }],
    processRef: (pid) => ({ pid, start: '1' }),
    processAlive: () => true,
    log,
  };
  return { net, host, c1, nd, store, log, deps, clock };
}

const request = (config: HookConfig): AttachRequest => ({ id: 'c1', name: { name: 'web-c1', source: 'annotation' }, netnsPath: '/run/netns/c1', config, annotations: {}, secret: SECRET });
const heard = (r: RouterAdvertisement, at: number, router = R1) => ({ router: parseIPv6(router), advertisement: r, receivedAt: at });
const global = (cfg: HookConfig, prefix: string, counter = 0): string => formatIPv6(addressCandidate(addressKeys(cfg, 'web-c1', SECRET), parseIPv6(prefix), 64)(counter));
const addrLine = (fx: Fixture, a: string): string | undefined => fx.net.model().c1?.addresses.find((l) => l.startsWith(`${a}/`));
const routeLines = (fx: Fixture): string[] => fx.net.model().c1?.routes ?? [];
const rec = (fx: Fixture): ContainerRecord => {
  const r = fx.store.read('c1');
  if (!r) throw new Error('no record');
  return r;
};

/** After detach nothing of the container is left in its netns (lo alone) and the record is gone. */
async function detachClean(t: Test, fx: Fixture): Promise<void> {
  const d = await detach(rec(fx), fx.deps);
  t.same(d.failures, [], 'detach: no failure');
  t.equal(fx.store.read('c1'), undefined, 'detach: record removed');
  const m = fx.net.model().c1;
  t.same([m?.addresses, m?.routes, m?.links.length], [[], [], 1], 'detach: only lo left');
}

t.test('an RA refreshes lifetimes, the default route and the RFC 4191 route, exactly as computed', async (t) => {
  const fx = fixture();
  const cfg = macvlan();
  const record = await attach(request(cfg), fx.deps);
  const a1 = global(cfg, '2001:db8:1::');
  t.match(record, { routers: [{ address: R1, lifetime: 30, until: T0 + 30 * S }], addresses: [{ address: a1, validUntil: T0 + 120 * S, preferredUntil: T0 + 60 * S, state: 'preferred' }] }, 'attach filled the refresh fields');
  t.equal(nextDeadline(record), T0 + 30 * S);

  fx.clock.now = T0 + 25 * S;
  const out = await refreshContainer('c1', heard(ra(), T0 + 25 * S), fx.deps, { secret: SECRET });
  t.same(out.renewed, [`${a1} valid 120 s preferred 60 s`, 'default via fe80::1 expires 30 s', '2001:db8:f00::/48 via fe80::1 expires 90 s'], 'lifetimes renewed');
  t.same(out.changes, [], 'a renewal is no change (the agent logs none per container)');
  t.same([out.gone, out.nextDeadline], [false, T0 + 55 * S]);
  t.match(addrLine(fx, a1), / valid 120 preferred 60 flags 2$/, 'NODAD kept, lifetimes as given (no two-hour rule in the kernel)');
  t.match(routeLines(fx).join('\n'), /::\/0 via fe80::1 .* expires 30 pref medium/);
  t.match(routeLines(fx).join('\n'), /2001:db8:f00::\/48 via fe80::1 .* expires 90 pref low/);
  const calls = fx.net.calls.filter((c) => c.n !== undefined).slice(-3).map((c) => c.op);
  t.same(calls, ['replaceAddress', 'replaceRoute', 'replaceRoute'], 'replaced in place, nothing made anew');

  // The same RA again at the same instant: nothing moves, nothing is sent to the kernel.
  const n = fx.net.mutationCount;
  t.same((await refreshContainer('c1', heard(ra(), T0 + 25 * S), fx.deps, { secret: SECRET })).changes, []);
  t.equal(fx.net.mutationCount, n, 'an unchanged RA costs no kernel call');

  // Router lifetime 0: the default route goes, from the kernel and the ledger; the rest stays.
  fx.clock.now = T0 + 40 * S;
  const zero = await refreshContainer('c1', heard(ra({ routerLifetime: 0 }), T0 + 40 * S), fx.deps, { secret: SECRET });
  t.ok(zero.changes.includes('default via fe80::1 removed'), zero.changes.join('; '));
  t.notMatch(routeLines(fx).join('\n'), /::\/0/);
  t.same(rec(fx).ledger.filter((e) => e.kind === 'route').map((e) => e.kind === 'route' && e.destination), ['2001:db8:f00::/48']);
  t.same([rec(fx).routes, rec(fx).router.lifetime], [['2001:db8:f00::/48'], 0]);
  await detachClean(t, fx);
});

t.test('MTU within bounds is set; deprecation then expiry withdraws the address and its ledger entry', async (t) => {
  const fx = fixture();
  const cfg = macvlan();
  await attach(request(cfg), fx.deps);
  const a1 = global(cfg, '2001:db8:1::');
  fx.clock.now = T0 + 10 * S;
  const mtu = await refreshContainer('c1', heard(raWith([{ type: 'mtu', mtu: 1400 }], { routerLifetime: 30 }), T0 + 10 * S), fx.deps, { secret: SECRET });
  t.ok(mtu.changes.includes('mtu 1400'));
  t.match(fx.net.model().c1?.links.join('\n'), /eth0 .* mtu 1400/);

  const dep = await refreshContainer('c1', heard(ra({ valid: 50, preferred: 0 }), T0 + 10 * S), fx.deps, { secret: SECRET });
  t.ok(dep.changes.includes(`${a1} valid 110 s preferred 0 s (deprecated)`), `e.2 keeps 110 s remaining; preferred 0: ${dep.changes.join('; ')}`);
  t.match(addrLine(fx, a1), / valid 110 preferred 0 /);
  t.equal(rec(fx).addresses[0]?.state, 'deprecated');

  const out = await expireContainer('c1', T0 + 120 * S, fx.deps);
  t.ok(out.changes.includes(`${a1} removed (valid lifetime ran out)`), out.changes.join('; '));
  t.ok(out.changes.includes('default via fe80::1 removed'));
  t.ok(out.changes.includes('router fe80::1 expired'));
  t.equal(addrLine(fx, a1), undefined, 'gone from the kernel');
  t.same(rec(fx).addresses, []);
  t.notOk(rec(fx).ledger.some((e) => e.kind === 'address' && e.address === a1), 'and from the ledger');
  t.ok(out.changes.includes('2001:db8:f00::/48 via fe80::1 removed'), 'the RFC 4191 route (90 s from T0+10 s) too');
  t.equal(out.nextDeadline, null, 'nothing left that expires');
  await detachClean(t, fx);
});

t.test('two routers: the preferred one carries the default route; when it dies the other takes over', async (t) => {
  const fx = fixture();
  const cfg = macvlan();
  await attach(request(cfg), fx.deps); // R1, medium, 30 s
  fx.clock.now = T0 + S;
  const r2 = await refreshContainer('c1', heard(ra({ prefixes: ['2001:db8:2::'], routerLifetime: 300, preference: 'low' }), T0 + S, R2), fx.deps, { secret: SECRET });
  t.notOk(r2.changes.some((c) => c.startsWith('default')), 'R1 (medium) keeps the default route');
  t.same(rec(fx).routers?.map((r) => r.address), [R1, R2]);
  const a2 = global(cfg, '2001:db8:2::');
  t.ok(r2.changes.some((c) => c.startsWith(`${a2} added in 2001:db8:2::/64`)), "R2's prefix: a new address");

  const out = await expireContainer('c1', T0 + 30 * S, fx.deps);
  t.same(out.changes.filter((c) => c.includes('default') || c.includes('router')), ['router fe80::1 expired', 'default via fe80::1 removed', 'default via fe80::2 added expires 271 s']);
  t.match(routeLines(fx).join('\n'), /::\/0 via fe80::2 .* expires 271 pref low/);
  t.notMatch(routeLines(fx).join('\n'), /::\/0 via fe80::1/);
  t.same(rec(fx).router.address, R2);
  t.same(rec(fx).ledger.filter((e) => e.kind === 'route' && e.destination === '::/0').map((e) => e.kind === 'route' && e.gateway), [R2]);
  await detachClean(t, fx);
});

t.test('renumbering: a new prefix gets a DAD-proven RFC 7217 address; a conflict gives the next candidate', async (t) => {
  const cfg = macvlan();
  const taken = global(cfg, '2001:db8:2::', 0);
  const fx = fixture({ verdict: (a) => (a === taken ? 'duplicate' : 'unique') });
  await attach(request(cfg), fx.deps);
  fx.clock.now = T0 + 10 * S;
  const out = await refreshContainer('c1', heard(ra({ prefixes: ['2001:db8:1::', '2001:db8:2::'] }), T0 + 10 * S), fx.deps, { secret: SECRET });
  const next = global(cfg, '2001:db8:2::', 1);
  t.ok(out.changes.includes(`${next} added in 2001:db8:2::/64 (DAD: unique; valid 120 s preferred 60 s)`), out.changes.join('; '));
  t.same(fx.nd.probes.slice(-2), [taken, next], 'the first candidate is in use: DAD counter 1');
  t.same(fx.nd.announced.at(-1), [next], 'announced once proven');
  t.match(addrLine(fx, next), / valid 120 preferred 60 flags 2$/);
  t.match(rec(fx).addresses.at(-1), { address: next, prefix: '2001:db8:2::/64', dadCounter: 1, dad: 'verified', validUntil: T0 + 130 * S, state: 'preferred' });
  t.ok(rec(fx).ledger.some((e) => e.kind === 'address' && e.address === next), 'in the ledger: detach undoes it');
  t.match(fx.log.lines.join('\n'), new RegExp(`DAD: ${taken} is in use`));
  // The same RA again: no second DAD.
  const probes = fx.nd.probes.length;
  await refreshContainer('c1', heard(ra({ prefixes: ['2001:db8:1::', '2001:db8:2::'] }), T0 + 11 * S), fx.deps, { secret: SECRET });
  t.equal(fx.nd.probes.length, probes, 'a prefix with an address is refreshed, not claimed again');

  // Killed after the install (ledger saved first) and before the record's addresses were: adopted, not claimed again.
  const cut = rec(fx);
  cut.addresses = cut.addresses.filter((a) => a.address !== next);
  fx.store.write(cut);
  fx.clock.now = T0 + 12 * S;
  const again = await refreshContainer('c1', heard(ra({ prefixes: ['2001:db8:1::', '2001:db8:2::'] }), T0 + 12 * S), fx.deps, { secret: SECRET });
  t.ok(again.changes.includes(`${next} adopted (installed by a refresh that did not finish)`), again.changes.join('; '));
  t.equal(fx.nd.probes.length, probes, 'no DAD: our own address would have answered it');
  t.match(rec(fx).addresses.at(-1), { address: next, dadCounter: 1, dad: 'verified', validUntil: T0 + 132 * S });
  t.equal(rec(fx).ledger.filter((e) => e.kind === 'address' && e.address === next).length, 1, 'one ledger entry');
  t.match(addrLine(fx, next), / valid 120 preferred 60 /);
  await detachClean(t, fx);
});

t.test('renumbering within max_prefixes; a detached container is gone and left alone', async (t) => {
  const fx = fixture();
  const cfg = macvlan({ max_prefixes: 1 });
  await attach(request(cfg), fx.deps);
  fx.clock.now = T0 + S;
  const out = await refreshContainer('c1', heard(ra({ prefixes: ['2001:db8:1::', '2001:db8:2::'] }), T0 + S), fx.deps, { secret: SECRET });
  t.same(rec(fx).addresses.length, 1, 'max_prefixes 1: no second address');
  t.notOk(out.changes.some((c) => c.includes('added in')));
  t.match(fx.log.lines.join('\n'), /beyond max_prefixes = 1/);
  await detachClean(t, fx);
  const n = fx.net.mutationCount;
  t.same(await refreshContainer('c1', heard(ra(), T0 + 2 * S), fx.deps, { secret: SECRET }), { changes: [], nextDeadline: null, gone: true });
  t.same(await expireContainer('c1', T0 + 200 * S, fx.deps), { changes: [], nextDeadline: null, gone: true });
  t.equal(fx.net.mutationCount, n, 'nothing changed');
});

t.test('a container whose netns is gone is gone; a netns replaced under the same path is not touched', async (t) => {
  const fx = fixture();
  await attach(request(macvlan()), fx.deps);
  fx.c1.destroy();
  const other = fx.net.addNetns('c1b', { id: '0:4026539999', path: '/run/netns/c1', fd: 30 });
  other.seedLink({ name: 'lo', index: 1 });
  const n = fx.net.mutationCount;
  t.same((await refreshContainer('c1', heard(ra(), T0 + S), fx.deps, { secret: SECRET })).gone, true);
  t.equal(fx.net.mutationCount, n);
});

t.test('ipvlan l3 + host_link: a new address gets its host side; expiry withdraws it', async (t) => {
  const cfg = validateForAttach({ ...defaultConfig(), parent: PARENT, mode: 'ipvlan', ipvlan_mode: 'l3', host_link: true });
  const fx = fixture({ warm: cfg });
  await attach(request(cfg), fx.deps);
  fx.clock.now = T0 + S;
  const out = await refreshContainer('c1', heard(ra({ prefixes: ['2001:db8:1::', '2001:db8:2::'], valid: 100, preferred: 50 }), T0 + S), fx.deps, { secret: SECRET });
  const a2 = global(cfg, '2001:db8:2::');
  t.ok(out.changes.some((c) => c.startsWith(`${a2} added`)), out.changes.join('; '));
  t.same(fx.nd.vantages.at(-1)?.ifname, PARENT, 'DAD from the parent, as attach does for l3');
  const table = (fx.net.model().host?.routes ?? []).filter((r) => r.includes(` table ${cfg.l3_table} `));
  t.match(table.join('\n'), /table \d+ ::\/0 via fe80::1 .* expires 30 pref medium/, "the host's reach table: the default route refreshed");
  t.match(table.join('\n'), /2001:db8:2::\/64 via - .* expires 100 /, 'and the new on-link prefix');
  fx.clock.now = T0 + 2 * S;
  await refreshContainer('c1', heard(ra({ prefixes: ['2001:db8:1::', '2001:db8:2::'], valid: 100, preferred: 50, routerLifetime: 0 }), T0 + 2 * S), fx.deps, { secret: SECRET });
  t.notMatch((fx.net.model().host?.routes ?? []).join('\n'), new RegExp(`table ${cfg.l3_table} ::/0`), 'router lifetime 0: gone from the reach table too');
  const kinds = rec(fx).ledger.filter((e) => 'address' in e && e.address === a2).map((e) => e.kind);
  t.same(kinds, ['address', 'l3-reach', 'host-route']);
  t.match(fx.net.model().host?.rules.join('\n'), new RegExp(`from ${a2} `));
  const gone = await expireContainer('c1', T0 + 121 * S, fx.deps);
  t.ok(gone.changes.includes(`${a2} removed (valid lifetime ran out)`), gone.changes.join('; '));
  t.notMatch(fx.net.model().host?.rules.join('\n') ?? '', new RegExp(`from ${a2} `), 'its rule gone');
  t.notMatch(fx.net.model().host?.proxies.join('\n') ?? '', new RegExp(a2), 'its proxy entry gone');
  t.same(rec(fx).addresses, [], 'both expired');
  const d = await detach(rec(fx), fx.deps);
  t.same(d.failures, []);
  t.same(fx.net.model().c1?.addresses, []);
});

// ---------------------------------------------------------------- DNS

async function dnsServer() {
  const sock = dgram.createSocket('udp4');
  const seen: string[] = [];
  sock.on('message', (msg, rinfo) => {
    const d = decodeMessage(msg);
    if (!d.ok) return;
    const adds = d.message.authorities.filter((rr) => rr.class === 1);
    seen.push(`${adds.length ? 'add' : 'delete'} ${d.message.authorities.map((rr) => (rr.type === 28 ? 'AAAA' : String(rr.type))).join(',')}`);
    const reply = encodeMessage({ ...d.message, header: { ...d.message.header, qr: true, rcode: RCODE.NOERROR }, answers: [], authorities: [], additionals: [] });
    sock.send(reply, rinfo.port, rinfo.address);
  });
  await new Promise<void>((resolve) => sock.bind(0, '127.0.0.1', resolve));
  return { server: `127.0.0.1:${(sock.address() as AddressInfo).port}`, seen, close: () => new Promise<void>((resolve) => sock.close(() => resolve())) };
}

t.test('DNS: a new address is published, an expired one withdrawn', async (t) => {
  const dns = await dnsServer();
  t.teardown(dns.close);
  const dnsCfg: DnsConfig = { server: dns.server, zone: 'example.test', reverse_zone: '', key_file: '', ttl: 300, required: true, timeout_ms: 500 };
  const cfg = macvlan({ dns: dnsCfg });
  const fx = fixture();
  await attach(request(cfg), fx.deps);
  const a1 = global(cfg, '2001:db8:1::');
  const a2 = global(cfg, '2001:db8:2::');
  t.same(rec(fx).dns?.records.map((r) => r.data), [a1]);
  fx.clock.now = T0 + 60 * S;
  // Renumbering: the old prefix deprecated (preferred 0), a new one.
  const ren = await refreshContainer('c1', heard(ra({ prefixes: ['2001:db8:2::'], valid: 600, preferred: 300, extra: [pio('2001:db8:1::', { validLifetime: 60, preferredLifetime: 0 })] }), T0 + 60 * S), fx.deps, { secret: SECRET });
  t.ok(ren.changes.includes(`${a1} valid 60 s preferred 0 s (deprecated)`), ren.changes.join('; '));
  t.same(rec(fx).dns?.records.map((r) => [r.data, r.published]), [[a1, true], [a2, true]], 'both published (the old one is still valid)');
  const exp = await expireContainer('c1', T0 + 120 * S, fx.deps);
  t.ok(exp.changes.includes(`${a1} removed (valid lifetime ran out)`), exp.changes.join('; '));
  t.same(rec(fx).dns?.records.map((r) => [r.data, r.published]), [[a2, true]], 'the expired one withdrawn');
  // An address that stays keeps its record throughout: only the new one is added, only the expired one deleted.
  t.same(dns.seen, ['add AAAA', 'add AAAA', 'delete AAAA']);
  await detachClean(t, fx);
});

t.test('resolv_conf = "ra": the container resolv.conf follows the RA\'s RDNSS and DNSSL', async (t) => {
  const fs = await import('node:fs');
  const os = await import('node:os');
  const path = await import('node:path');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'osh-rfr-resolv-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'resolv.conf');
  fs.writeFileSync(file, 'nameserver 192.0.2.1\n');
  const fx = fixture();
  const cfg = macvlan();
  await attach(request(cfg), fx.deps);
  fx.store.write({ ...rec(fx), resolvConf: file });
  const dns = (servers: string[], domains: string[]): RouterAdvertisement['options'] => [
    { type: 'rdnss', lifetime: 600, servers: servers.map((s) => parseIPv6(s)) },
    { type: 'dnssl', lifetime: 600, domains },
  ];
  fx.clock.now = T0 + 5 * S;
  const out = await refreshContainer('c1', heard(ra({ extra: dns(['2001:db8:1::53'], ['example.test']) }), T0 + 5 * S), fx.deps, { secret: SECRET });
  t.ok(out.changes.some((c) => c.startsWith('resolv.conf: nameserver 2001:db8:1::53')), out.changes.join('; '));
  t.match(fs.readFileSync(file, 'utf8'), /^nameserver 2001:db8:1::53$/m);
  t.match(fs.readFileSync(file, 'utf8'), /^search example\.test$/m);
  // The same servers again: the file is not rewritten.
  const mtime = fs.statSync(file).mtimeMs;
  fx.clock.now = T0 + 6 * S;
  const again = await refreshContainer('c1', heard(ra({ extra: dns(['2001:db8:1::53'], ['example.test']) }), T0 + 6 * S), fx.deps, { secret: SECRET });
  t.notOk(again.changes.some((c) => c.startsWith('resolv.conf')), 'unchanged servers: no rewrite');
  t.equal(fs.statSync(file).mtimeMs, mtime);
  await detachClean(t, fx);
});
