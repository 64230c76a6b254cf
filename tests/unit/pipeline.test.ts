// The pipeline (runtime/pipeline: attach, detach, completeOptimisticDad) against a fake kernel that
// records every call (tests/unit/fake-kernel.ts), a fake ND port, a memory state store and a
// recording lock: no netns, no socket but one loopback UDP socket for the DNS case.
//
// Shown here: what a successful attach records and makes, in order, and that detach undoes it in
// exactly the reverse order; that a failure at any step (every mutating kernel call in turn, no RA,
// DAD, a refused DNS update) leaves nothing behind; the ipvlan l3 table shared per parent; and
// optimistic DAD replacing a duplicate through the same operations.
import * as dgram from 'node:dgram';
import type { AddressInfo } from 'node:net';
import t, { type Test } from 'tap';
import { defaultConfig, validateForAttach, type DnsConfig, type HookConfig } from '../../runtime/core/config';
import { DadFailedError } from '../../runtime/core/dad';
import { InputError, TimeoutError } from '../../runtime/core/errors';
import { stableMac } from '../../runtime/core/iid';
import { formatIPv6, formatMac, parseIPv6, parseMac } from '../../runtime/core/ipv6';
import { INFINITE_LIFETIME } from '../../runtime/core/lifetime';
import type { RouterAdvertisement } from '../../runtime/core/nd-types';
import { addressCandidate, linkLocalAddress } from '../../runtime/core/plan';
import type { ContainerRecord, Effect } from '../../runtime/core/record';
import { RTPROT_OSH } from '../../runtime/wire/rtnetlink/constants';
import { decodeMessage, encodeMessage, RCODE } from '../../runtime/wire/dns/wire';
import { COMPANION_ALIAS, ensureCompanion, HOST_LINK_METRIC } from '../../runtime/ops/host-link';
import { prepareParent } from '../../runtime/ops/l3-reach';
import { addressKeys, attach, slaveSpec, type AttachRequest } from '../../runtime/pipeline/attach';
import type { PipelineDeps } from '../../runtime/pipeline/deps';
import { detach } from '../../runtime/pipeline/detach';
import { admit } from '../../runtime/pipeline/admit';
import { completeOptimisticDad } from '../../runtime/pipeline/optimistic';
import { check } from '../../runtime/pipeline/check';
import type { Policy } from '../../runtime/core/policy';
import { pio, raWith } from './helpers';
import { discovered, FakeNet, fakeNd, MemoryLogger, MemoryStore, noRouter, recordingLock, type Call, type FakeKernel, type FakeNdOptions, type NetnsModel } from './fake-kernel';

const SECRET = Buffer.alloc(32, 7);
const RECEIVED_AT = 5_000_000;
const ROUTER = 'fe80::1';
const PARENT = 'eth0';
const PARENT_INDEX = 2;
const TABLE = 4862;
const GONE = ['ENOENT', 'ESRCH', 'ENODEV', 'EADDRNOTAVAIL'];

// ---------------------------------------------------------------- the RA


/** Two SLAAC prefixes, an on-link-only one, an RFC 4191 route, an MTU, RDNSS and DNSSL. */
const RA: RouterAdvertisement = raWith(
  [
    { type: 'source-link-layer-address', address: parseMac('02:00:5e:00:53:01') },
    { type: 'mtu', mtu: 1480 },
    pio('2001:db8:1::'),
    pio('2001:db8:2::', { validLifetime: INFINITE_LIFETIME, preferredLifetime: INFINITE_LIFETIME }),
    pio('2001:db8:3::', { autonomous: false }),
    { type: 'route-information', prefix: parseIPv6('2001:db8:f00::'), prefixLength: 48, preference: 'low', lifetime: 600 },
    { type: 'rdnss', lifetime: 600, servers: [parseIPv6('2001:db8:1::53')] },
    { type: 'dnssl', lifetime: 600, domains: ['example.test'] },
  ],
  { preference: 'high', retransTimer: 250 },
);

// ---------------------------------------------------------------- configs

const RESTRICTED: Policy = { mode: 'restricted', expose: [{ proto: 'tcp', from: 8080, to: 8080 }], networks: ['blue'], allowFrom: [], echo: true };
const macvlan = (): HookConfig => validateForAttach({ ...defaultConfig(), parent: PARENT });
const ipvlanL3 = (over: Partial<HookConfig> = {}): HookConfig => validateForAttach({ ...defaultConfig(), parent: PARENT, mode: 'ipvlan', ipvlan_mode: 'l3', host_link: true, ...over });

// ---------------------------------------------------------------- the world

interface Fixture {
  net: FakeNet;
  host: FakeKernel;
  containers: Record<string, FakeKernel>;
  nd: ReturnType<typeof fakeNd>;
  lock: ReturnType<typeof recordingLock>;
  containerLock: ReturnType<typeof containerLocks>;
  store: MemoryStore;
  log: MemoryLogger;
  deps: PipelineDeps;
  /** The model before any attach. */
  initial: Record<string, NetnsModel>;
}

interface FixtureOptions extends Partial<FakeNdOptions> {
  /** Leave the host as an earlier container of this config leaves it: the parent prepared (l3), the companion made (host_link). */
  warm?: HookConfig;
}

function fixture(opts: FixtureOptions = {}): Fixture {
  const net = new FakeNet();
  const host = net.addNetns('host', { id: '0:4026531840', path: '/proc/1/ns/net', fd: -1 });
  host.seedLink({ name: 'lo', index: 1, up: true, mtu: 65536 });
  host.seedLink({ name: PARENT, index: PARENT_INDEX, up: true, mtu: 1500, mac: '52:54:00:12:34:56' });
  host.seedAddress(PARENT_INDEX, 'fe80::5054:ff:fe12:3456', 64);
  host.seedSysctl(`net/ipv6/conf/${PARENT}/accept_ra`, 1);
  host.seedSysctl(`net/ipv6/conf/${PARENT}/proxy_ndp`, 0);
  host.seedSysctl(`net/ipv6/conf/${PARENT}/forwarding`, 0);
  const containers: Record<string, FakeKernel> = {};
  for (const [i, name] of ['c1', 'c2', 'c3'].entries()) {
    const c = net.addNetns(name, { id: `0:402653200${i}`, path: `/run/netns/${name}`, fd: 20 + i });
    c.seedLink({ name: 'lo', index: 1, up: false, mtu: 65536 });
    containers[name] = c;
  }
  // c2 is a podman container with a veth of its own: ours becomes eth1.
  containers.c2?.seedLink({ name: 'eth0', index: 2, up: true, kind: 'veth', mac: '0a:58:0a:58:00:02' });
  if (opts.warm) {
    const parent = host.findLink(PARENT);
    if (!parent) throw new Error('no parent');
    if (opts.warm.mode === 'ipvlan' && opts.warm.ipvlan_mode !== 'l2') prepareParent(host, PARENT);
    if (opts.warm.host_link) ensureCompanion(host, parent, slaveSpec(opts.warm), SECRET);
    net.calls.splice(0);
  }
  const nd = fakeNd(net, { router: opts.router ?? (() => discovered(RA, ROUTER, RECEIVED_AT)), verdict: opts.verdict, delayMs: opts.delayMs });
  const lock = recordingLock(net);
  const store = new MemoryStore();
  const log = new MemoryLogger();
  const containerLock = containerLocks();
  const deps: PipelineDeps = { host, openNetns: (path) => net.open(path), nd: nd.make, store, withLock: lock.withLock, withContainerLock: containerLock.withContainerLock, clock: () => RECEIVED_AT, log, ...processFakes(host) };
  return { net, host, containers, nd, lock, containerLock, store, log, deps, initial: net.model() };
}

/** The per-container lock: a queue per id (held across awaits, as flock is), with a log of who took it. */
function containerLocks() {
  const queues = new Map<string, Promise<void>>();
  const events: string[] = [];
  const forgotten: string[] = [];
  const withContainerLock = async <T>(id: string, fn: (lock: { forget(): void }) => Promise<T> | T): Promise<T> => {
    const before = queues.get(id) ?? Promise.resolve();
    let done = (): void => undefined;
    const mine = new Promise<void>((r) => (done = r));
    queues.set(id, before.then(() => mine));
    await before;
    events.push(`lock ${id}`);
    try {
      return await fn({ forget: () => forgotten.push(id) });
    } finally {
      events.push(`unlock ${id}`);
      done();
    }
  };
  return { withContainerLock, events, forgotten };
}

/** The host's namespace is the fake host's; every process the fixture names (pid n) runs, unless listed dead. */
const dead = new Set<number>();
function processFakes(host: FakeKernel): Pick<PipelineDeps, 'hostNamespaces' | 'processRef' | 'processAlive'> {
  return {
    hostNamespaces: () => [{ what: "the hook's own", id: host.netns.id }],
    processRef: (pid) => (dead.has(pid) ? undefined : { pid, start: '1' }),
    processAlive: (ref) => !dead.has(ref.pid),
  };
}

const request = (id: string, config: HookConfig, netns = id): AttachRequest => ({
  id,
  name: { name: `web-${id}`, source: 'annotation' },
  netnsPath: `/run/netns/${netns}`,
  config,
  annotations: {},
  secret: SECRET,
});

/** The addresses attach derives for a container (from the same core functions). */
function expected(cfg: HookConfig, id: string) {
  const keys = addressKeys(cfg, `web-${id}`, SECRET);
  return {
    linkLocal: formatIPv6(linkLocalAddress(keys)),
    global: (prefix: string, counter = 0): string => formatIPv6(addressCandidate(keys, parseIPv6(prefix), 64)(counter)),
  };
}

async function rejection(p: Promise<unknown>): Promise<Error> {
  try {
    await p;
  } catch (err) {
    return err as Error;
  }
  throw new Error('expected a rejection');
}

// ---------------------------------------------------------------- reading the call log

const mutating = (calls: Call[]): Call[] => calls.filter((c) => c.n !== undefined);
const makes = (calls: Call[]): Call[] => calls.filter((c) => c.kind === 'make' && c.ok);
const unmakes = (calls: Call[]): Call[] => calls.filter((c) => c.kind === 'unmake' && c.ok);

/**
 * Keys as undo units: the routes of the shared l3 table are one effect (made route by route,
 * emptied by listing the table, in the kernel's order), so a run of them counts as one unit.
 */
function units(calls: Call[]): string[] {
  const out: string[] = [];
  let table: string[] | undefined;
  for (const c of calls) {
    const key = c.key ?? c.text;
    if (key.startsWith(`route host table ${TABLE} `)) {
      if (!table) out.push('');
      table = [...(table ?? []), key];
      out[out.length - 1] = `table ${TABLE}: ${[...table].sort().join(' | ')}`;
      continue;
    }
    table = undefined;
    out.push(key);
  }
  return out;
}

/** The companion's objects (kept by design: made at first use, never undone). */
function isCompanion(host: FakeKernel, c: Call): boolean {
  const index = host.findLink(`osh-${PARENT}`)?.index;
  return index !== undefined && c.ns === 'host' && (c.key?.startsWith(`link host#${index}`) || c.key?.startsWith(`addr host#${index} `)) === true;
}

/** What stays on the host by design after a failure or a detach: the parent's l3 settings and the companion. */
function withoutKept(model: Record<string, NetnsModel>): Record<string, NetnsModel> {
  const host = model.host;
  if (!host) return model;
  const companion = `osh-${PARENT}`;
  const parentKept = ['proxy_ndp', 'forwarding', 'accept_ra'].map((k) => `net/ipv6/conf/${PARENT}/${k}=`);
  return {
    ...model,
    host: {
      ...host,
      links: host.links.filter((l) => !l.includes(` ${companion} `)),
      addresses: host.addresses.filter((a) => !a.includes(` dev ${companion} `)),
      sysctls: host.sysctls.filter((s) => !s.startsWith(`net/ipv6/conf/${companion}/`) && !parentKept.some((p) => s.startsWith(p))),
    },
  };
}

/** The make keys an attach's ledger stands for, in ledger order (the l3 table as one unit). */
function ledgerUnits(fx: Fixture, record: ContainerRecord, tableKeys: string[]): string[] {
  const c = [...fx.net.kernels.values()].find((k) => k.netns.id === record.netns.id);
  if (!c) throw new Error('no netns');
  return record.ledger.flatMap((e: Effect): string[] => {
    switch (e.kind) {
      case 'link':
        return [c.linkKey(e.index ?? -1)];
      case 'address':
        return [c.addressKey(e.index, parseIPv6(e.address), e.prefixLength)];
      case 'route': {
        const [dst, len] = e.destination.split('/');
        return [c.routeKey({ table: 254, destination: parseIPv6(dst ?? ''), prefixLength: Number(len), gateway: parseIPv6(e.gateway), oif: e.index, metric: 1024 })];
      }
      case 'l3-table':
        return [`table ${TABLE}: ${[...tableKeys].sort().join(' | ')}`];
      case 'l3-reach':
        return [fx.host.ruleKey({ source: parseIPv6(e.address), table: e.table, priority: e.table }), fx.host.proxyKey(e.parentIndex, parseIPv6(e.address))];
      case 'host-route':
        return [fx.host.routeKey({ table: 254, destination: parseIPv6(e.address), prefixLength: 128, gateway: undefined, oif: e.via, metric: HOST_LINK_METRIC })];
      case 'dns':
        return [];
      case 'firewall':
        return [`firewall ${e.table}`];
    }
  });
}

/** The RA's routes in the reach table: on-link prefixes out of the parent, the RFC 4191 route and the default route via the router. */
function tableKeys(fx: Fixture): string[] {
  const r = (dst: string, len: number, gw?: string): string =>
    fx.host.routeKey({ table: TABLE, destination: parseIPv6(dst), prefixLength: len, gateway: gw ? parseIPv6(gw) : undefined, oif: PARENT_INDEX, metric: 1024 });
  return [r('2001:db8:1::', 64), r('2001:db8:2::', 64), r('2001:db8:3::', 64), r('2001:db8:f00::', 48, ROUTER), r('::', 0, ROUTER)];
}

/** Lock entries are balanced, and the listed kinds of host call happen only inside the lock. */
function lockedCalls(calls: Call[], need: (c: Call) => boolean): string[] {
  let depth = 0;
  const outside: string[] = [];
  for (const c of calls) {
    if (c.kind === 'lock') depth += c.op === 'lock' ? 1 : -1;
    else if (need(c) && depth === 0) outside.push(c.text);
  }
  if (depth !== 0) outside.push(`unbalanced lock (${depth})`);
  return outside;
}

// ================================================================ (a) successful attach and detach

t.test('macvlan, strict: the ledger lists every effect in order; detach undoes them in reverse and removes the record', async (t) => {
  const fx = fixture();
  const cfg = macvlan();
  const want = expected(cfg, 'c1');
  const record = await attach(request('c1', cfg), fx.deps);
  const attachCalls = [...fx.net.calls];
  const c1 = fx.containers.c1 as FakeKernel;
  const link = c1.findLink('eth0');
  if (!link) throw new Error('no eth0');

  t.equal(record.phase, 'attached');
  const [first, ...rest] = record.ledger;
  t.match(first, { kind: 'link', alias: 'oci-slaac-hook:c1', madeAs: /^osh[0-9a-f]{10}$/, index: link.index, name: 'eth0', parentIndex: PARENT_INDEX, linkKind: 'macvlan', mode: 'bridge' });
  t.strictSame(rest, [
    { kind: 'address', index: link.index, address: want.linkLocal, prefixLength: 64 },
    { kind: 'address', index: link.index, address: want.global('2001:db8:1::'), prefixLength: 64 },
    { kind: 'address', index: link.index, address: want.global('2001:db8:2::'), prefixLength: 64 },
    { kind: 'route', index: link.index, destination: '::/0', gateway: ROUTER },
    { kind: 'route', index: link.index, destination: '2001:db8:f00::/48', gateway: ROUTER },
  ]);
  t.strictSame(fx.store.read('c1'), record, 'the store holds the final record');

  await t.test('the record', async (t) => {
    t.match(record, {
      interface: { name: 'eth0', index: link.index, kind: 'macvlan', mode: 'bridge' },
      linkLocal: want.linkLocal,
      linkLocalDad: 'verified',
      addresses: [
        { address: want.global('2001:db8:1::'), prefix: '2001:db8:1::/64', dadCounter: 0, validLifetime: 86400, preferredLifetime: 14400, dad: 'verified' },
        { address: want.global('2001:db8:2::'), prefix: '2001:db8:2::/64', dadCounter: 0, validLifetime: 'infinite', preferredLifetime: 'infinite', dad: 'verified' },
      ],
      retransMs: 250,
      router: { address: ROUTER, mac: '02:00:5e:00:53:01', lifetime: 1800, preference: 'high' },
      mtu: 1480,
      rdnss: ['2001:db8:1::53'],
      dnssl: ['example.test'],
      routes: ['default', '2001:db8:f00::/48'],
      raAt: RECEIVED_AT,
    });
    t.equal(record.l3, undefined);
    t.equal(record.hostLink, undefined);
  });

  await t.test('the kernel calls, in order', async (t) => {
    const L = link.index;
    t.strictSame(
      mutating(attachCalls).map((c) => `${c.ns}: ${c.text}`),
      [
        `host: ip link add link ${PARENT_INDEX} name ${(first as Extract<Effect, { kind: 'link' }>).madeAs} netns c1 address ${record.interface.mac} type macvlan mode bridge`,
        `c1: ip link set ${L} name eth0 alias oci-slaac-hook:c1`,
        'c1: sysctl -w net.ipv6.conf.eth0.disable_ipv6=0',
        'c1: sysctl -w net.ipv6.conf.eth0.accept_ra=0',
        'c1: sysctl -w net.ipv6.conf.eth0.autoconf=0',
        'c1: sysctl -w net.ipv6.conf.eth0.accept_dad=0',
        `c1: ip link set ${L} addrGenMode none`,
        `c1: ip link set ${L} up true`,
        // the link-local: Optimistic while DAD runs (RFC 4429 §3.3), the kernel's DAD on to keep it so
        'c1: sysctl -w net.ipv6.conf.eth0.accept_dad=1',
        'c1: sysctl -w net.ipv6.conf.eth0.optimistic_dad=1',
        'c1: sysctl -w net.ipv6.conf.eth0.dad_transmits=1',
        `c1: ip -6 addr add ${want.linkLocal}/64 dev ${L} flags 4`,
        'c1: sysctl -w net.ipv6.conf.eth0.ndisc_notify=1',
        `c1: ip link set ${L} mtu 1480`,
        `c1: ip -6 addr add ${want.global('2001:db8:1::')}/64 dev ${L} flags 2 valid_lft 86400 preferred_lft 14400`,
        `c1: ip -6 addr add ${want.global('2001:db8:2::')}/64 dev ${L} flags 2 valid_lft ${INFINITE_LIFETIME} preferred_lft ${INFINITE_LIFETIME}`,
        `c1: ip -6 route add default via ${ROUTER} dev ${L} expires 1800 pref high`,
        `c1: ip -6 route add 2001:db8:f00::/48 via ${ROUTER} dev ${L} expires 600 pref low`,
        'c1: ip link set 1 up true',
      ],
    );
    t.ok(
      attachCalls.every((c) => c.ok),
      'no call failed',
    );
    t.strictSame(units(makes(attachCalls)), ledgerUnits(fx, record, []), 'one make per ledger effect, in ledger order');
    t.strictSame(lockedCalls(attachCalls, (c) => c.op === 'createSlave'), [], 'the link is made under the parent lock');
  });

  await t.test('ND: on the container link; addresses installed only after DAD said unique; then announced', async (t) => {
    t.match(fx.nd.vantages, [{ netns: { id: c1.netns.id }, ifname: 'eth0', ifindex: link.index }]);
    const order = attachCalls.filter((c) => c.kind === 'nd' || c.op === 'addAddress').map((c) => (c.kind === 'nd' ? c.text.replace(/ on .*$/, '') : `add ${c.key?.split(' ')[2]}`));
    t.strictSame(order, [
      `add ${want.linkLocal}/64`,
      `DAD ${want.linkLocal}`,
      'RS',
      `DAD ${want.global('2001:db8:1::')}`,
      `DAD ${want.global('2001:db8:2::')}`,
      `add ${want.global('2001:db8:1::')}/64`,
      `add ${want.global('2001:db8:2::')}/64`,
      'NA',
    ]);
    t.strictSame(fx.nd.announced, [[want.linkLocal, want.global('2001:db8:1::'), want.global('2001:db8:2::')]]);
  });

  const stale = fx.store.read('c1') as ContainerRecord;
  const live = fx.store.read('c1') as ContainerRecord;
  const from = fx.net.calls.length;
  const result = await detach(live, fx.deps);
  const detachCalls = fx.net.since(from);
  t.strictSame(result, { link: 'deleted', failures: [], removed: true });
  t.equal(fx.store.read('c1'), undefined, 'the record is removed');
  t.strictSame(
    units(unmakes(detachCalls)),
    units(makes(attachCalls)).reverse(),
    'detach undoes every effect in exactly the reverse order',
  );
  t.strictSame(detachCalls.filter((c) => !c.ok), [], 'every undo found its object');
  t.strictSame(detachCalls.filter((c) => c.kind === 'make' || c.kind === 'set'), [], 'detach makes and changes nothing');
  t.strictSame(lockedCalls(detachCalls, (c) => c.n !== undefined), [], 'undo runs under the parent lock');
  t.strictSame(fx.net.model().c1?.links, ['1: lo alias=- parent=- -/- UP mtu 65536 mac - addrgenmode -'], 'the container keeps lo up, nothing else');
  t.strictSame(fx.net.model(), { ...fx.initial, c1: { ...(fx.initial.c1 as NetnsModel), links: fx.net.model().c1?.links ?? [] } }, 'all else as before the attach');

  await t.test('a second detach is a no-op', async (t) => {
    const before = fx.net.model();
    const at = fx.net.calls.length;
    t.strictSame(await detach(stale, fx.deps), { link: 'gone', failures: [], removed: true }, 'of the stale record (as stored before the first)');
    const again = fx.net.since(at);
    t.strictSame(again.filter((c) => c.ok && c.n !== undefined), [], 'no kernel call succeeded');
    t.ok(
      again.every((c) => c.ok || GONE.includes(c.error ?? '')),
      'every attempt found its object already gone',
    );
    t.strictSame(fx.net.model(), before, 'nothing changed');
    t.equal(fx.store.read('c1'), undefined);
    const at2 = fx.net.calls.length;
    t.strictSame(live.ledger, [], 'the first detach emptied the ledger');
    t.strictSame(await detach(live, fx.deps), { link: 'gone', failures: [], removed: true }, 'of the emptied record');
    t.strictSame(mutating(fx.net.since(at2)), [], 'not a single kernel call');
  });
});

t.test('ipvlan l3 with host_link: ND on the parent, the reach table, rules, proxies and host routes; all undone in reverse', async (t) => {
  const fx = fixture();
  const cfg = ipvlanL3();
  const want = expected(cfg, 'c1');
  const record = await attach(request('c1', cfg), fx.deps);
  const attachCalls = [...fx.net.calls];
  const c1 = fx.containers.c1 as FakeKernel;
  const link = c1.findLink('eth0');
  const companion = fx.host.findLink(`osh-${PARENT}`);
  if (!link || !companion) throw new Error('no eth0 or companion');
  const a1 = want.global('2001:db8:1::');
  const a2 = want.global('2001:db8:2::');
  const companionLL = formatIPv6(linkLocalAddress({ name: `host-link:${PARENT}`, networkId: '', secret: SECRET }));

  t.match(fx.nd.vantages, [{ netns: { id: fx.host.netns.id }, ifname: PARENT, ifindex: PARENT_INDEX }], 'ND runs on the parent, in the host netns');
  t.match(attachCalls.find((c) => c.op === 'discover'), { text: /from fe80::5054:ff:fe12:3456 / }, 'the RS goes out from the parent\'s link-local');
  t.strictSame(fx.nd.announced, [[a1, a2]], 'the slave\'s link-local is not announced on the parent');
  t.strictSame(record.l3, { parentIndex: PARENT_INDEX, table: TABLE });
  t.strictSame(record.hostLink, { name: `osh-${PARENT}`, index: companion.index, linkLocal: companionLL });

  const [, ...rest] = record.ledger;
  t.strictSame(rest, [
    { kind: 'address', index: link.index, address: want.linkLocal, prefixLength: 64 },
    { kind: 'l3-table', parentIndex: PARENT_INDEX, table: TABLE },
    { kind: 'address', index: link.index, address: a1, prefixLength: 64 },
    { kind: 'l3-reach', parentIndex: PARENT_INDEX, table: TABLE, address: a1 },
    { kind: 'host-route', via: companion.index, linkLocal: companionLL, address: a1 },
    { kind: 'address', index: link.index, address: a2, prefixLength: 64 },
    { kind: 'l3-reach', parentIndex: PARENT_INDEX, table: TABLE, address: a2 },
    { kind: 'host-route', via: companion.index, linkLocal: companionLL, address: a2 },
    { kind: 'route', index: link.index, destination: '::/0', gateway: ROUTER },
    { kind: 'route', index: link.index, destination: '2001:db8:f00::/48', gateway: ROUTER },
  ]);

  const host = fx.host.model();
  t.strictSame(host.rules, [a1, a2].map((a) => `rule host from ${a} lookup ${TABLE} prio ${TABLE} proto ${RTPROT_OSH}`).sort());
  t.strictSame(host.proxies, [a1, a2].map((a) => `${a} dev ${PARENT} proto ${RTPROT_OSH}`).sort());
  t.strictSame(
    fx.host.routes.filter((r) => r.table === TABLE).map((r) => fx.host.routeKey(r)).sort(),
    tableKeys(fx).sort(),
    'the reach table: on-link prefixes (autonomous or not), the RFC 4191 route and the default route',
  );
  t.ok(fx.host.routes.filter((r) => r.table === TABLE).every((r) => r.protocol === RTPROT_OSH));
  t.match(host.routes.filter((r) => r.includes('/128')), [a1, a2].map((a) => new RegExp(`^route host table 254 ${a}/128 via - dev ${companion.index} metric ${HOST_LINK_METRIC} .* src ${companionLL} proto ${RTPROT_OSH}`)));
  t.strictSame(
    host.sysctls.filter((s) => s.startsWith(`net/ipv6/conf/${PARENT}/`)),
    [`net/ipv6/conf/${PARENT}/accept_ra=2`, `net/ipv6/conf/${PARENT}/forwarding=1`, `net/ipv6/conf/${PARENT}/proxy_ndp=1`],
    'the parent prepared: proxy_ndp, forwarding, accept_ra 1 → 2',
  );
  t.match(host.links.find((l) => l.includes(`osh-${PARENT}`)), new RegExp(`alias=${COMPANION_ALIAS} parent=${PARENT_INDEX} ipvlan/l3 UP`));

  t.strictSame(
    units(makes(attachCalls).filter((c) => !isCompanion(fx.host, c))),
    ledgerUnits(fx, record, tableKeys(fx)),
    'the makes follow the ledger (the companion aside: it is kept)',
  );
  t.strictSame(
    lockedCalls(attachCalls, (c) => c.op === 'createSlave' || (c.op === 'replaceRoute' && c.key?.includes(`table ${TABLE}`) === true) || (c.ns === 'host' && c.op === 'writeSysctl')),
    [],
    'link, parent, reach table and companion under the parent lock',
  );

  const from = fx.net.calls.length;
  t.strictSame(await detach(fx.store.read('c1') as ContainerRecord, fx.deps), { link: 'deleted', failures: [], removed: true });
  const detachCalls = fx.net.since(from);
  t.strictSame(units(unmakes(detachCalls)), units(makes(attachCalls).filter((c) => !isCompanion(fx.host, c))).reverse(), 'the exact reverse');
  t.strictSame(detachCalls.filter((c) => !c.ok), []);
  const after = fx.net.model();
  t.strictSame(withoutKept(after).host, withoutKept(fx.initial).host, 'the host as it was, but for what is kept by design');
  t.strictSame(after.host?.rules, []);
  t.strictSame(after.host?.proxies, []);
  t.ok(after.host?.links.some((l) => l.includes(`osh-${PARENT}`)), 'the companion stays (made at first use, for every container)');
  t.strictSame(after.c1?.addresses, []);
  t.strictSame(after.c1?.routes, []);
  t.equal(fx.store.read('c1'), undefined);
});

t.test('macvlan with host_link: the companion is a macvlan bridge with a stable MAC; host routes only', async (t) => {
  const cfg = validateForAttach({ ...macvlan(), host_link: true });
  const fx = fixture({ warm: cfg });
  const record = await attach(request('c1', cfg), fx.deps);
  const want = expected(cfg, 'c1');
  const mac = formatMac(stableMac({ name: `host-link:${PARENT}`, secret: SECRET }));
  t.match(fx.host.model().links.find((l) => l.includes(` osh-${PARENT} `)), new RegExp(`alias=${COMPANION_ALIAS} parent=${PARENT_INDEX} macvlan/bridge UP mtu 1500 mac ${mac} addrgenmode none`));
  t.not(record.interface.mac, mac, 'the container has a MAC of its own');
  t.equal(record.l3, undefined);
  t.strictSame(
    record.ledger.map((e) => e.kind),
    ['link', 'address', 'address', 'host-route', 'address', 'host-route', 'route', 'route'],
  );
  t.strictSame(
    fx.host.model().routes.filter((r) => r.includes('/128')).map((r) => r.split(' ')[4]),
    [want.global('2001:db8:1::'), want.global('2001:db8:2::')].map((a) => `${a}/128`).sort(),
  );
  t.strictSame(fx.host.model().rules, []);
  t.strictSame(fx.host.model().proxies, []);
  await detach(fx.store.read('c1') as ContainerRecord, fx.deps);
  t.strictSame(fx.net.model().host, fx.initial.host, 'warm host: exactly as before');
});

t.test('host_link refuses a macvlan mode that does not deliver to the companion, and leaves nothing', async (t) => {
  const cfg = validateForAttach({ ...macvlan(), macvlan_mode: 'private', host_link: true });
  const fx = fixture();
  const err = await rejection(attach(request('c1', cfg), fx.deps));
  t.ok(err instanceof InputError);
  t.match(err.message, /host_link needs macvlan_mode bridge/);
  t.strictSame(withoutKept(fx.net.model()), withoutKept(fx.initial));
  t.strictSame(fx.net.model(), fx.initial, 'not even the companion');
  t.equal(fx.store.records.size, 0);
});

t.test('the container netns is gone: detach undoes the host side and removes the record', async (t) => {
  const fx = fixture({ warm: ipvlanL3() });
  await attach(request('c1', ipvlanL3()), fx.deps);
  fx.containers.c1?.destroy();
  const from = fx.net.calls.length;
  t.strictSame(await detach(fx.store.read('c1') as ContainerRecord, fx.deps), { link: 'gone', failures: [], removed: true });
  t.strictSame(fx.net.since(from).filter((c) => c.n !== undefined && c.ns !== 'host'), [], 'nothing is asked of the gone netns');
  t.strictSame(fx.net.model().host, fx.initial.host);
  t.equal(fx.store.records.size, 0);
});

// ================================================================ (b) a failure at each step

/**
 * Everything a failed attach must leave as it found. Its undo is the last lock it took (replayUndo
 * undoes the kernel's effects under the parent lock); what came before was the attach itself.
 */
function checkClean(t: Test, fx: Fixture, what: string, opts: { kept?: boolean; containerLo?: boolean } = {}): void {
  const calls = fx.net.calls;
  const undoStart = calls.map((c) => c.op).lastIndexOf('lock');
  const applied = calls.slice(0, undoStart);
  const undo = calls.slice(undoStart);
  const model = fx.net.model();
  const initial = opts.containerLo ? { ...fx.initial, c1: { ...(fx.initial.c1 as NetnsModel), links: (model.c1 as NetnsModel).links } } : fx.initial;
  if (opts.kept) t.strictSame(withoutKept(model), withoutKept(initial), `${what}: the model is as it was (but for what is kept by design)`);
  else t.strictSame(model, initial, `${what}: the model is as it was`);
  const made = makes(applied).filter((c) => !isCompanion(fx.host, c));
  t.strictSame(units(unmakes(undo)), units(made).reverse(), `${what}: undo is the inverse of what was made, in reverse order`);
  const madeKeys = new Set(made.map((c) => c.key));
  const misses = undo.filter((c) => !c.ok && (!GONE.includes(c.error ?? '') || madeKeys.has(c.key)));
  t.strictSame(misses, [], `${what}: undo only misses what was never made`);
  t.strictSame(undo.filter((c) => c.kind === 'make' || c.kind === 'set'), [], `${what}: undo makes and changes nothing`);
  t.equal(calls.at(-1)?.op, 'unlock', `${what}: nothing happens after the undo`);
  t.equal(fx.store.records.size, 0, `${what}: no record is left`);
  t.equal(fx.lock.held.size, 0, `${what}: no lock is left held`);
  t.strictSame(lockedCalls(calls, () => false), [], `${what}: lock and unlock balanced`);
  const c1 = fx.containers.c1 as FakeKernel;
  t.equal(c1.closed, c1.opened, `${what}: the container netns handle is closed`);
  t.strictSame(fx.log.lines.filter((l) => l.includes('cleanup after failure')), [], `${what}: undo reported no failure`);
}

const SWEEPS: { name: string; cfg: () => HookConfig; warm: boolean; kept: boolean; policy?: Policy }[] = [
  { name: 'macvlan bridge', cfg: macvlan, warm: false, kept: false },
  { name: 'ipvlan l3 + host_link, first container of the parent', cfg: ipvlanL3, warm: false, kept: true },
  { name: 'ipvlan l3 + host_link, parent already prepared', cfg: ipvlanL3, warm: true, kept: false },
  { name: 'ipvlan l2', cfg: () => validateForAttach({ ...defaultConfig(), parent: PARENT, mode: 'ipvlan', ipvlan_mode: 'l2' }), warm: false, kept: false },
  { name: 'macvlan + host_link, companion already made', cfg: () => validateForAttach({ ...macvlan(), host_link: true }), warm: true, kept: false },
  { name: 'macvlan, restricted policy', cfg: macvlan, warm: false, kept: false, policy: RESTRICTED },
];

for (const sweep of SWEEPS) {
  t.test(`${sweep.name}: a failure at every mutating kernel call undoes exactly what was done, in reverse`, async (t) => {
    const cfg = sweep.cfg();
    const ok = fixture(sweep.warm ? { warm: cfg } : {});
    const base = ok.net.mutationCount;
    await attach({ ...request('c1', cfg), ...(sweep.policy ? { policy: sweep.policy } : {}) }, ok.deps);
    const total = ok.net.mutationCount - base;
    t.ok(total >= 15, `a successful attach makes ${total} mutating calls`);
    for (let n = 1; n <= total; n++) {
      const fx = fixture(sweep.warm ? { warm: cfg } : {});
      fx.net.failAt = fx.net.mutationCount + n;
      const err = await rejection(attach({ ...request('c1', cfg), ...(sweep.policy ? { policy: sweep.policy } : {}) }, fx.deps));
      const calls = [...fx.net.calls];
      const failing = calls.find((c) => c.n === fx.net.failAt);
      const what = `call ${n}/${total} (${failing?.ns}: ${failing?.text})`;
      t.match(err, { code: 'EIO', message: /injected/ }, `${what}: attach fails with it`);
      checkClean(t, fx, what, { kept: sweep.kept });
    }
  });
}

t.test('no RA (TimeoutError), DAD failures and an RA without a usable prefix: nothing is left', async (t) => {
  for (const cfgOf of [macvlan, ipvlanL3]) {
    const cfg = cfgOf();
    const label = `${cfg.mode} ${cfg.mode === 'macvlan' ? cfg.macvlan_mode : cfg.ipvlan_mode}`;
    const want = expected(cfg, 'c1');
    const cases: { what: string; nd: Partial<FakeNdOptions>; error: (err: Error) => boolean }[] = [
      { what: 'no RA', nd: { router: () => noRouter() }, error: (e) => e instanceof TimeoutError },
      { what: 'every candidate of a prefix duplicate', nd: { verdict: (a) => (a === want.linkLocal ? 'unique' : 'duplicate') }, error: (e) => e instanceof DadFailedError && e.attempts.length === 4 },
      { what: 'the link-local duplicate', nd: { verdict: (a) => (a === want.linkLocal ? 'duplicate' : 'unique') }, error: (e) => /link-local address .* is in use/.test(e.message) },
      {
        what: 'no SLAAC prefix',
        nd: { router: () => discovered({ ...RA, options: RA.options.map((o) => (o.type === 'prefix-information' ? { ...o, autonomous: false } : o)) }, ROUTER, RECEIVED_AT) },
        error: (e) => /advertises no prefix usable for SLAAC/.test(e.message),
      },
    ];
    for (const c of cases) {
      const fx = fixture({ warm: cfg, ...c.nd });
      const err = await rejection(attach(request('c1', cfg), fx.deps));
      t.ok(c.error(err), `${label}, ${c.what}: ${err.message}`);
      checkClean(t, fx, `${label}, ${c.what}`);
    }
  }
});

t.test('a prefix whose DAD fails while another prefix is still probing: undo waits for it, nothing is made afterwards', async (t) => {
  for (const cfg of [macvlan(), ipvlanL3()]) {
    const want = expected(cfg, 'c1');
    const slow = want.global('2001:db8:2::');
    const fx = fixture({
      warm: cfg,
      verdict: (a) => (a.startsWith('2001:db8:1:') ? 'duplicate' : 'unique'),
      delayMs: (a) => (a === slow ? 30 : 0),
    });
    const err = await rejection(attach(request('c1', cfg), fx.deps));
    t.ok(err instanceof DadFailedError, err.message);
    const settledAt = fx.net.calls.length;
    await new Promise((resolve) => setTimeout(resolve, 80));
    t.strictSame(fx.net.since(settledAt).map((c) => c.text), [], `${cfg.mode}: no call after attach returned`);
    t.strictSame(fx.net.model(), fx.initial, `${cfg.mode}: the model is as it was`);
    t.equal(fx.store.records.size, 0, `${cfg.mode}: no record reappears`);
    checkClean(t, fx, `${cfg.mode}, slow second prefix`);
  }
});

// ---------------------------------------------------------------- DNS, against a loopback UDP server

/** An RFC 2136 server on 127.0.0.1 that answers adds and deletes as told (no zone data). */
async function dnsServer(answer: { add: number | 'lost'; delete: number | 'lost' }, delayMs: (nth: number) => number = () => 0) {
  const sock = dgram.createSocket('udp4');
  const seen: string[] = [];
  sock.on('message', (msg, rinfo) => {
    const d = decodeMessage(msg);
    if (!d.ok) return;
    const isAdd = d.message.authorities.some((rr) => rr.class === 1);
    seen.push(isAdd ? 'add' : 'delete');
    const rcode = isAdd ? answer.add : answer.delete;
    if (rcode === 'lost') return; // applied (say), the reply lost on its way back
    const reply = encodeMessage({ ...d.message, header: { ...d.message.header, qr: true, rcode }, answers: [], authorities: [], additionals: [] });
    setTimeout(() => sock.send(reply, rinfo.port, rinfo.address), delayMs(seen.length - 1));
  });
  await new Promise<void>((resolve) => sock.bind(0, '127.0.0.1', resolve));
  const port = (sock.address() as AddressInfo).port;
  return { server: `127.0.0.1:${port}`, seen, close: () => new Promise<void>((resolve) => sock.close(() => resolve())) };
}


const dnsConfig = (server: string): DnsConfig => ({ server, zone: 'example.test', reverse_zone: '', key_file: '', ttl: 300, required: true, timeout_ms: 500 });

t.test('DNS required and the update refused: the container fails, nothing is left, nothing to withdraw', async (t) => {
  const dns = await dnsServer({ add: RCODE.REFUSED, delete: RCODE.NOERROR });
  t.teardown(dns.close);
  for (const base of [macvlan(), ipvlanL3()]) {
    const cfg = { ...base, dns: dnsConfig(dns.server) };
    const fx = fixture({ warm: cfg });
    const err = await rejection(attach(request('c1', cfg), fx.deps));
    t.match(err.message, /REFUSED/);
    // lo is brought up before publication (attach step 10) and is not taken down again.
    checkClean(t, fx, `${cfg.mode}, DNS refused`, { containerLo: true });
    t.equal(fx.net.model().c1?.links.length, 1, `${cfg.mode}: only lo in the container`);
  }
  t.strictSame(dns.seen, ['add', 'add'], 'a refused add is known not applied: no delete is sent');
});

t.test('DNS published, then a failure: the records are withdrawn and everything else undone', async (t) => {
  const dns = await dnsServer({ add: RCODE.NOERROR, delete: RCODE.NOERROR });
  t.teardown(dns.close);
  for (const base of [macvlan(), ipvlanL3()]) {
    const cfg = { ...base, dns: dnsConfig(dns.server) };
    const fx = fixture({ warm: cfg });
    fx.deps.failpoint = (name) => {
      if (name === 'dns') throw new Error('failpoint dns');
    };
    const at = dns.seen.length;
    await t.rejects(attach(request('c1', cfg), fx.deps), /failpoint dns/);
    t.strictSame(dns.seen.slice(at), ['add', 'delete'], `${cfg.mode}: published, then withdrawn`);
    checkClean(t, fx, `${cfg.mode}, failure after publication`, { containerLo: true });
  }
});

t.test('DNS withdrawal fails: the kernel is undone all the same, the DNS effect alone is kept for the retry', async (t) => {
  const refusing = await dnsServer({ add: RCODE.NOERROR, delete: RCODE.REFUSED });
  t.teardown(refusing.close);
  const cfg = { ...ipvlanL3(), dns: dnsConfig(refusing.server) };
  const fx = fixture({ warm: cfg });
  fx.deps.failpoint = (name) => {
    if (name === 'dns') throw new Error('failpoint dns');
  };
  await t.rejects(attach(request('c1', cfg), fx.deps), /failpoint dns/);
  const kept = fx.store.read('c1');
  t.equal(kept?.phase, 'attaching', 'the record stays');
  t.strictSame(kept?.ledger, [{ kind: 'dns', name: 'web-c1.example.test' }], 'holding only the DNS effect');
  t.equal(kept?.dns?.status, 'withdraw-failed');
  t.strictSame(fx.log.lines.filter((l) => l.includes('cleanup after failure')).map((l) => /undo dns: .*REFUSED/.test(l)), [true], 'the one failure reported: the DNS withdrawal');
  t.strictSame(fx.net.model().host, fx.initial.host, 'the host as it was');
  t.strictSame(fx.net.model().c1?.addresses, []);
  t.equal(fx.net.model().c1?.links.length, 1, 'only lo in the container');
  // The next poststop, once the server accepts, withdraws the records and removes the record.
  const accepting = await dnsServer({ add: RCODE.NOERROR, delete: RCODE.NOERROR });
  t.teardown(accepting.close);
  const retry = { ...(kept as ContainerRecord), dns: { ...(kept?.dns as NonNullable<ContainerRecord['dns']>), server: accepting.server } };
  fx.store.write(retry); // detach reads the record again under the container's lock
  const from = fx.net.calls.length;
  t.strictSame(await detach(retry, fx.deps), { link: 'gone', failures: [], removed: true });
  t.strictSame(accepting.seen, ['delete']);
  t.strictSame(mutating(fx.net.since(from)), [], 'no kernel call');
  t.equal(fx.store.records.size, 0);
});

t.test('a failure at each named failpoint of attach leaves nothing', async (t) => {
  for (const cfgOf of [macvlan, ipvlanL3]) {
    for (const point of ['link', 'firewall', 'rs', 'dad', 'address', 'dns']) {
      const cfg = cfgOf();
      const fx = fixture({ warm: cfg });
      const hit: string[] = [];
      fx.deps.failpoint = (name) => {
        hit.push(name);
        if (name === point) throw new Error(`failpoint ${name}`);
      };
      await t.rejects(attach({ ...request('c1', cfg), policy: RESTRICTED }, fx.deps), new RegExp(`failpoint ${point}`));
      t.equal(hit.at(-1), point);
      checkClean(t, fx, `${cfg.mode}, failpoint ${point}`, { containerLo: point === 'dns' });
    }
  }
});

t.test('policy: a restricted container gets its firewall before its first address, with its local network peers; open gets none', async (t) => {
  const fx = fixture();
  const cfg = macvlan();
  const open = await attach({ ...request('c2', cfg), policy: { ...RESTRICTED, mode: 'open' } }, fx.deps);
  t.notOk(open.firewall, 'open: no firewall');
  t.same(open.policy?.networks, ['blue'], 'open: still a member of blue');
  t.notOk(fx.net.calls.some((c) => c.op === 'installFirewall'), 'open: no table made');
  const from = fx.net.calls.length;
  const record = await attach({ ...request('c1', cfg), policy: RESTRICTED }, fx.deps);
  const calls = fx.net.calls.slice(from);
  const fw = calls.findIndex((c) => c.op === 'installFirewall');
  const firstAddress = calls.findIndex((c) => c.op === 'addAddress');
  t.ok(fw >= 0 && fw < firstAddress, 'the table is made before the first address');
  t.ok(fw < calls.findIndex((c) => c.op === 'setLink' && c.text.includes(' up')), 'and before the link is up');
  t.match(record.ledger[1], { kind: 'firewall', table: 'oci_slaac_hook' });
  t.match(record.firewall, { table: 'oci_slaac_hook', tag: /^oci-slaac-hook [0-9a-f]{16}$/ });
  const c1 = fx.containers.c1 as FakeKernel;
  t.same(c1.firewalls.get('oci_slaac_hook')?.sets.get('net_blue'), open.addresses.map((a) => a.address).sort(), "blue's set holds the open member's addresses");
  t.same(await check(record, { ...fx.deps }), [], 'check: ok');
  c1.firewalls.delete('oci_slaac_hook');
  t.match(await check(record, { ...fx.deps }), [{ kind: 'firewall', state: 'missing' }], 'check: the table deleted by hand');
  await detach(record, fx.deps);
  t.equal(fx.store.records.size, 1, 'the restricted one is gone');
});

// ================================================================ (c) the shared l3 table

t.test('ipvlan l3: two containers share the reach table; it goes with the last; another ipvlan mode is refused', async (t) => {
  const cfg = ipvlanL3();
  const fx = fixture({ warm: cfg });
  const table = (): string[] => fx.host.routes.filter((r) => r.table === TABLE).map((r) => fx.host.routeKey(r)).sort();
  await attach(request('c1', cfg), fx.deps);
  const first = table();
  t.strictSame(first, tableKeys(fx).sort());
  const from2 = fx.net.calls.length;
  const r2 = await attach(request('c2', cfg), fx.deps);
  t.equal(r2.interface.name, 'eth1', 'podman\'s eth0 is left alone');
  t.strictSame(table(), first, 'the same table');
  t.ok(
    fx.net.since(from2).filter((c) => c.key?.includes(`table ${TABLE}`)).every((c) => c.kind === 'set'),
    'the second attach refreshes the table routes (replace), it makes none',
  );
  t.ok(r2.ledger.some((e) => e.kind === 'l3-table'), 'the second ledger holds the table too');
  t.equal(fx.host.rules.length, 4, 'a rule per address of each container');

  await t.test('another ipvlan mode on the same parent is refused, and makes nothing', async (t) => {
    for (const mode of ['l2', 'l3s'] as const) {
      const at = fx.net.calls.length;
      const before = fx.net.model();
      const err = await rejection(attach(request('c3', { ...cfg, ipvlan_mode: mode }), fx.deps));
      t.ok(err instanceof InputError);
      t.match(err.message, new RegExp(`ipvlan_mode ${mode} refused: ${PARENT} already carries ipvlan l3 containers \\(c1, c2\\)`));
      t.strictSame(mutating(fx.net.since(at)), [], `${mode}: not a single kernel call`);
      t.strictSame(fx.net.model(), before);
      t.equal(fx.store.read('c3'), undefined);
      t.strictSame(
        fx.store.list().map((r) => r.id).sort(),
        ['c1', 'c2'],
      );
    }
  });

  const from = fx.net.calls.length;
  t.strictSame(await detach(fx.store.read('c1') as ContainerRecord, fx.deps), { link: 'deleted', failures: [], removed: true });
  t.strictSame(
    fx.net.since(from).filter((c) => c.key?.includes(`table ${TABLE}`)),
    [],
    'detaching the first leaves the table alone',
  );
  t.strictSame(table(), first, 'the second container keeps its routes');
  const c2Addresses = r2.addresses.map((a) => a.address).sort();
  t.strictSame(
    fx.host.rules.map((r) => formatIPv6(r.source)).sort(),
    c2Addresses,
    'only the second container\'s rules remain',
  );
  t.strictSame(
    fx.host.proxies.map((p) => formatIPv6(p.address)).sort(),
    c2Addresses,
  );

  const from2b = fx.net.calls.length;
  t.strictSame(await detach(fx.store.read('c2') as ContainerRecord, fx.deps), { link: 'deleted', failures: [], removed: true });
  t.strictSame(table(), [], 'detaching the last empties the table');
  t.equal(fx.net.since(from2b).filter((c) => c.kind === 'unmake' && c.key?.includes(`table ${TABLE}`)).length, first.length);
  t.strictSame(fx.net.model(), { ...fx.initial, c1: { ...(fx.initial.c1 as NetnsModel), links: fx.net.model().c1?.links ?? [] }, c2: { ...(fx.initial.c2 as NetnsModel), links: fx.net.model().c2?.links ?? [] } });
  t.strictSame(fx.net.model().host, fx.initial.host, 'the host as before either container');
  t.equal(fx.store.records.size, 0);
});

// ================================================================ (d) optimistic DAD

t.test('optimistic: installed before any probe; completeOptimisticDad replaces a duplicate, host side included, through the same operations', async (t) => {
  const cfg = ipvlanL3({ dad: 'optimistic' });
  const want = expected(cfg, 'c1');
  const dup = want.global('2001:db8:1::', 0);
  const next = want.global('2001:db8:1::', 1);
  const other = want.global('2001:db8:2::', 0);
  const fx = fixture({ warm: cfg, verdict: (a) => (a === dup ? 'duplicate' : 'unique') });

  const record = await attach(request('c1', cfg), fx.deps);
  const attachCalls = [...fx.net.calls];
  t.strictSame(
    attachCalls.filter((c) => c.op === 'probe'),
    [],
    'attach probes nothing',
  );
  t.strictSame(fx.nd.announced, [], 'and announces nothing (RFC 4429 §3.3)');
  t.equal(record.linkLocalDad, 'optimistic');
  t.match(record.addresses, [
    { address: dup, dadCounter: 0, dad: 'optimistic' },
    { address: other, dadCounter: 0, dad: 'optimistic' },
  ]);
  t.ok(fx.host.rules.some((r) => formatIPv6(r.source) === dup), 'the duplicate-to-be is reachable at once');

  const link = fx.containers.c1?.findLink('eth0');
  const companion = fx.host.findLink(`osh-${PARENT}`);
  if (!link || !companion) throw new Error('no link');
  const from = fx.net.calls.length;
  const done = await completeOptimisticDad({ id: 'c1', config: cfg, secret: SECRET, deps: fx.deps });
  const calls = fx.net.since(from);
  t.match(fx.nd.vantages.at(-1), { netns: { id: fx.host.netns.id }, ifindex: PARENT_INDEX }, 'probes from the parent, as attach would');
  const ll = `${want.linkLocal}`;
  t.strictSame(
    calls.filter((c) => c.n !== undefined || c.op === 'probe').map((c) => (c.op === 'probe' ? `probe ${c.text.split(' ')[1]}` : `${c.kind} ${c.key}`)),
    [
      `probe ${ll}`,
      `probe ${dup}`,
      `probe ${other}`,
      // the duplicate withdrawn, its host side first
      `unmake ${fx.host.routeKey({ table: 254, destination: parseIPv6(dup), prefixLength: 128, gateway: undefined, oif: companion.index, metric: HOST_LINK_METRIC })}`,
      `unmake ${fx.host.proxyKey(PARENT_INDEX, parseIPv6(dup))}`,
      `unmake ${fx.host.ruleKey({ source: parseIPv6(dup), table: TABLE, priority: TABLE })}`,
      `unmake ${fx.containers.c1?.addressKey(link.index, parseIPv6(dup), 64)}`,
      // the next candidate, proven unique before it is installed, with its host side
      `probe ${next}`,
      `make ${fx.containers.c1?.addressKey(link.index, parseIPv6(next), 64)}`,
      `make ${fx.host.ruleKey({ source: parseIPv6(next), table: TABLE, priority: TABLE })}`,
      `make ${fx.host.proxyKey(PARENT_INDEX, parseIPv6(next))}`,
      `make ${fx.host.routeKey({ table: 254, destination: parseIPv6(next), prefixLength: 128, gateway: undefined, oif: companion.index, metric: HOST_LINK_METRIC })}`,
    ],
  );
  t.strictSame(fx.nd.announced, [[next, other].sort((a, b) => (a === next ? -1 : b === next ? 1 : 0))], 'announced once proven (the link-local not: ND is on the parent)');
  t.match(done?.addresses, [
    { address: next, dadCounter: 1, dad: 'verified', prefix: '2001:db8:1::/64', validLifetime: 86400, preferredLifetime: 14400 },
    { address: other, dadCounter: 0, dad: 'verified' },
  ]);
  t.equal(done?.linkLocalDad, 'verified');
  const stored = fx.store.read('c1') as ContainerRecord;
  t.strictSame(stored.addresses, done?.addresses, 'saved');
  t.notOk(
    stored.ledger.some((e) => 'address' in e && e.address === dup),
    'the duplicate is out of the ledger',
  );
  t.strictSame(
    stored.ledger.slice(-3).map((e) => e.kind),
    ['address', 'l3-reach', 'host-route'],
  );
  t.ok(stored.ledger.slice(-3).every((e) => 'address' in e && e.address === next), 'its replacement is at the end of the ledger');
  t.strictSame(
    fx.containers.c1?.model().addresses.filter((a) => a.startsWith(`${next}/`)),
    [`${next}/64 dev eth0 valid 86400 preferred 14400 flags 2`],
    'the replacement gets what is left of the prefix\'s lifetimes',
  );

  t.strictSame(await detach(stored, fx.deps), { link: 'deleted', failures: [], removed: true });
  t.strictSame(fx.net.model().host, fx.initial.host, 'detach undoes the replacement too');
  t.strictSame(fx.net.model().c1?.addresses, []);
});

t.test('optimistic: a container detached meanwhile is left alone', async (t) => {
  const cfg = validateForAttach({ ...macvlan(), dad: 'optimistic' });
  const fx = fixture();
  await attach(request('c1', cfg), fx.deps);
  await detach(fx.store.read('c1') as ContainerRecord, fx.deps);
  const from = fx.net.calls.length;
  t.equal(await completeOptimisticDad({ id: 'c1', config: cfg, secret: SECRET, deps: fx.deps }), undefined);
  t.strictSame(fx.net.since(from), []);
});

t.test('a record an older hook wrote (no ledger, no mark on its link): poststop still undoes it all', async (t) => {
  const fx = fixture({ warm: ipvlanL3() });
  await attach(request('c1', ipvlanL3()), fx.deps);
  const record = fx.store.read('c1') as ContainerRecord;
  // As the hook wrote it before ledgers: no ledger, no phase, an unmarked link.
  const legacy = { ...record } as Partial<ContainerRecord>;
  delete legacy.ledger;
  delete legacy.phase;
  for (const l of (fx.containers.c1 as FakeKernel).links.values()) l.alias = undefined;
  fx.store.write(legacy as ContainerRecord); // as it is on disk: detach reads it again under the container's lock
  const result = await detach(legacy as ContainerRecord, fx.deps);
  t.strictSame(result, { link: 'deleted', failures: [], removed: true }, 'detached from the record alone');
  t.strictSame(fx.net.model().host, fx.initial.host, 'the host holds nothing of it: table, rules, proxies, host routes');
  t.notOk([...(fx.containers.c1 as FakeKernel).links.values()].some((l) => l.name === 'eth0'), 'its link is gone');
  t.equal(fx.store.records.size, 0, 'no record left');
});

// ================================================================ (e) nothing orphaned (issue 10)

t.test('DNS: an add whose reply is lost may have been applied — pending, and withdrawn at detach', async (t) => {
  const dns = await dnsServer({ add: 'lost', delete: RCODE.NOERROR });
  t.teardown(dns.close);
  const cfg = { ...macvlan(), dns: { ...dnsConfig(dns.server), required: false, timeout_ms: 50 } };
  const fx = fixture();
  const record = await attach(request('c1', cfg), fx.deps);
  t.equal(record.phase, 'attached', 'not required: the container starts');
  t.match(record.dns, { status: 'pending', error: /TIMEOUT/ });
  t.ok(record.dns?.records.every((r) => !r.published && r.uncertain), 'its records count as possibly published');
  t.match(fx.log.lines.join('\n'), /outcome is unknown/, 'and the log says why');
  t.strictSame(dns.seen, ['add', 'add', 'add'], 'three transmissions, no answer');
  t.strictSame(await detach(fx.store.read('c1') as ContainerRecord, fx.deps), { link: 'deleted', failures: [], removed: true });
  t.strictSame(dns.seen.slice(3), ['delete'], 'detach deletes them (a no-op had the server not applied the add)');
  t.equal(fx.store.records.size, 0);
});

t.test('DNS required, an add whose reply is lost: the container fails and undo withdraws the records', async (t) => {
  const dns = await dnsServer({ add: 'lost', delete: RCODE.NOERROR });
  t.teardown(dns.close);
  const cfg = { ...macvlan(), dns: { ...dnsConfig(dns.server), timeout_ms: 50 } };
  const fx = fixture();
  const err = await rejection(attach(request('c1', cfg), fx.deps));
  t.match(err.message, /TIMEOUT/);
  t.strictSame(dns.seen, ['add', 'add', 'add', 'delete'], 'the delete follows the unanswered add');
  checkClean(t, fx, 'required, reply lost', { containerLo: true });
});

t.test('DNS: at the moment the update leaves, the ledger already holds its records as possibly published', async (t) => {
  const dns = await dnsServer({ add: RCODE.NOERROR, delete: RCODE.NOERROR });
  t.teardown(dns.close);
  const cfg = { ...macvlan(), dns: { ...dnsConfig(dns.server), required: false } };
  const fx = fixture();
  let atSend: ContainerRecord | undefined;
  fx.deps.failpoint = (name) => {
    if (name !== 'dns-sent') return;
    atSend = fx.store.read('c1'); // what a process SIGKILLed here (OCI_SLAAC_HOOK_FAILPOINT=dns-sent) leaves
    throw new Error('failpoint dns-sent');
  };
  await t.rejects(attach(request('c1', cfg), fx.deps), /failpoint dns-sent/);
  t.ok(atSend?.ledger.some((e) => e.kind === 'dns'), 'the DNS effect is in the saved ledger');
  t.ok(atSend?.dns?.records.length && atSend.dns.records.every((r) => r.uncertain), 'every record of the update saved as uncertain before it left');
  t.strictSame(dns.seen, ['add', 'delete'], 'the update was applied; undo withdrew it');
  checkClean(t, fx, 'failure after the update left', { containerLo: true });
});

t.test('optimistic: poststop while the background DAD probes — it changes nothing afterwards, even in a netns only it still holds', async (t) => {
  const cfg = validateForAttach({ ...macvlan(), dad: 'optimistic' });
  const want = expected(cfg, 'c1');
  const dup = want.global('2001:db8:1::', 0);
  const next = want.global('2001:db8:1::', 1);
  const fx = fixture({ verdict: (a) => (a === dup ? 'duplicate' : 'unique'), delayMs: (a) => (a === next ? 40 : 0) });
  await attach(request('c1', cfg), fx.deps);
  const background = completeOptimisticDad({ id: 'c1', config: cfg, secret: SECRET, deps: fx.deps });
  // Wait until it probes the replacement: the duplicate is withdrawn, the next candidate not yet installed.
  while (!fx.nd.probes.some((p) => p.includes(next))) await new Promise((r) => setTimeout(r, 1));
  // The runtime lets the netns go (its path no longer opens); the background process still holds it.
  const open = fx.deps.openNetns;
  fx.deps.openNetns = (path) => {
    if (path === '/run/netns/c1') throw new InputError(`network namespace ${path} does not exist`);
    return open(path);
  };
  t.strictSame(await detach(fx.store.read('c1') as ContainerRecord, fx.deps), { link: 'gone', failures: [], removed: true });
  const detachedAt = fx.net.calls.length;
  t.equal(await background, undefined, 'the background process stops');
  t.strictSame(mutating(fx.net.since(detachedAt)), [], 'and makes no change after poststop');
  t.notOk(fx.containers.c1?.model().addresses.some((a) => a.startsWith(`${next}/`)), 'no replacement address in the netns it holds');
  t.equal(fx.store.records.size, 0, 'no record comes back');
  t.match(fx.log.lines.join('\n'), /optimistic DAD stopped: container c1 was detached meanwhile/);
  t.strictSame(fx.containerLock.forgotten, ['c1', 'c1'], 'the lock file dropped with the record by detach, and again by the background process that took the lock after it');
});

t.test('optimistic: a background DAD for an earlier attach of the same container (same netns) acts on none of the new one', async (t) => {
  const cfg = validateForAttach({ ...macvlan(), dad: 'optimistic' });
  const want = expected(cfg, 'c1');
  const dup = want.global('2001:db8:1::', 0);
  const next = want.global('2001:db8:1::', 1);
  const fx = fixture({ verdict: (a) => (a === dup ? 'duplicate' : 'unique'), delayMs: (a) => (a === next ? 40 : 0) });
  await attach(request('c1', cfg), fx.deps);
  const background = completeOptimisticDad({ id: 'c1', config: cfg, secret: SECRET, deps: fx.deps });
  while (!fx.nd.probes.some((p) => p.includes(next))) await new Promise((r) => setTimeout(r, 1));
  await detach(fx.store.read('c1') as ContainerRecord, fx.deps);
  const again = await attach(request('c1', cfg), fx.deps); // restarted in the same netns
  const from = fx.net.calls.length;
  t.equal(await background, undefined, 'the earlier one stops');
  t.strictSame(mutating(fx.net.since(from)), [], 'and changes nothing of the new attach');
  t.strictSame(fx.store.read('c1'), JSON.parse(JSON.stringify(again)), 'the new record as the new attach left it');
});

// ================================================================ admission (runtime/pipeline/admit.ts)

const admitReq = (id: string, netns = id, pid?: number) => ({ id, name: `web-${id}`, netnsPath: `/run/netns/${netns}`, pid });

t.test('admit: the host netns is refused before anything is read or made', async (t) => {
  const fx = fixture();
  await t.rejects(admit({ id: 'x', name: 'x', netnsPath: '/proc/1/ns/net' }, fx.deps), { name: 'InputError', message: /^network namespace \/proc\/1\/ns\/net is the host's \(the hook's own\), not a container's: refused$/ });
  await t.rejects(attach({ ...request('x', macvlan()), netnsPath: '/proc/1/ns/net' }, fx.deps), { name: 'InputError', message: /is the host's/ }, 'attach refuses it too, whoever calls it');
  t.strictSame(mutating(fx.net.calls), [], 'nothing made');
  t.equal(fx.store.records.size, 0, 'no record');
});

t.test('admit: attached here already; a record for a netns whose inode was reused is stale', async (t) => {
  const fx = fixture();
  const cfg = macvlan();
  await attach(request('c1', cfg, 'c1'), fx.deps);
  t.match(await admit(admitReq('c1'), fx.deps), { kind: 'attached' }, 'the same netns, our link in it: nothing to do');
  // The netns dies without poststop; a new one at the same path gets the same inode (another cookie).
  const old = fx.containers.c1 as FakeKernel;
  old.destroy();
  const [dev, ino] = old.netns.id.split(':');
  const reborn = fx.net.addNetns('c1b', { id: `${dev}:${ino}:cookie-2`, path: '/run/netns/c1', fd: 40 });
  reborn.seedLink({ name: 'lo', index: 1, up: false, mtu: 65536 });
  t.match(await admit(admitReq('c1'), fx.deps), { kind: 'attach' }, 'stale: attach afresh');
  t.equal(fx.store.read('c1'), undefined, 'the stale record was undone');
  t.match(fx.log.lines.join('\n'), /this container's record for network namespace \/run\/netns\/c1 .* is stale: undoing it/);
});

t.test('admit: a netns another container attached is joined (a pod); the member has nothing to undo', async (t) => {
  const fx = fixture();
  const owner = await attach(request('c1', macvlan(), 'c1'), fx.deps);
  const before = fx.net.calls.length;
  const joined = await admit({ ...admitReq('m1', 'c1', 77) }, fx.deps);
  t.equal(joined.kind, 'joined');
  const member = fx.store.read('m1');
  t.match(member, { id: 'm1', phase: 'attached', ledger: [], member: { owner: 'c1' }, addresses: owner.addresses, interface: owner.interface, process: { pid: 77 } });
  t.strictSame(mutating(fx.net.since(before)), [], 'joining changes nothing in any netns');
  t.match(await admit(admitReq('m1', 'c1'), fx.deps), { kind: 'attached' }, 'a member asked again: nothing to do');
  t.strictSame(await detach(member as ContainerRecord, fx.deps), { link: 'gone', failures: [], removed: true }, "a member's detach undoes nothing");
  t.equal(fx.store.read('c1')?.phase, 'attached', "the owner's attachment stays");
  t.ok(fx.containers.c1?.findLink('eth0'), "and so does the owner's link");
});

t.test('admit: one stable name — a live holder refuses the newcomer, a dead one is undone', async (t) => {
  const fx = fixture();
  const cfg = macvlan();
  await attach({ ...request('c1', cfg, 'c1'), name: { name: 'shared', source: 'annotation' }, pid: 101 }, fx.deps);
  await t.rejects(admit({ id: 'c2', name: 'shared', netnsPath: '/run/netns/c2' }, fx.deps), { name: 'InputError', message: /^name "shared" is in use by container c1 \(attached since / });
  dead.add(101); // c1's process is gone, its netns (and link) live on
  t.teardown(() => dead.delete(101));
  t.match(await admit({ id: 'c2', name: 'shared', netnsPath: '/run/netns/c2' }, fx.deps), { kind: 'attach' });
  t.equal(fx.store.read('c1'), undefined, "the dead container's record is undone");
  t.notOk(fx.containers.c1?.findLink('eth0'), 'and its link deleted');
});

t.test('attach: two hooks racing with one name — the first record wins under the parent lock', async (t) => {
  const fx = fixture();
  const cfg = macvlan();
  // c1's hook is at work (its record is written, phase attaching) when c2's takes the lock.
  fx.store.write({ ...(await attach({ ...request('c1', cfg, 'c1'), name: { name: 'shared', source: 'annotation' } }, fx.deps)), phase: 'attaching', hook: { pid: 202, start: '1' }, since: '2026-01-01T00:00:00.000Z' });
  const before = fx.net.calls.length;
  await t.rejects(attach({ ...request('c2', cfg, 'c2'), name: { name: 'shared', source: 'annotation' } }, fx.deps), { name: 'InputError', message: /name "shared" is in use by container c1/ });
  t.strictSame(mutating(fx.net.since(before)), [], 'the loser made nothing');
  t.equal(fx.store.read('c2'), undefined, 'and keeps no record');
});

t.test('optimistic: a poststop that comes while the background republishes waits for it, then withdraws what it added', async (t) => {
  // The republished add is answered late (the third message: publish's add, the old record's delete, the new add).
  const dns = await dnsServer({ add: RCODE.NOERROR, delete: RCODE.NOERROR }, (nth) => (nth === 2 ? 80 : 0));
  t.teardown(dns.close);
  const cfg = { ...validateForAttach({ ...macvlan(), dad: 'optimistic' }), dns: { ...dnsConfig(dns.server), required: false } };
  const want = expected(cfg, 'c1');
  const dup = want.global('2001:db8:1::', 0);
  const fx = fixture({ verdict: (a) => (a === dup ? 'duplicate' : 'unique') });
  await attach(request('c1', cfg), fx.deps);
  const background = completeOptimisticDad({ id: 'c1', config: cfg, secret: SECRET, deps: fx.deps });
  while (dns.seen.length < 3) await new Promise((r) => setTimeout(r, 1));
  const detached = await detach(fx.store.read('c1') as ContainerRecord, fx.deps);
  t.strictSame(detached, { link: 'deleted', failures: [], removed: true });
  t.ok(await background, 'the background process finished its change');
  t.strictSame(dns.seen, ['add', 'delete', 'add', 'delete'], 'published, replaced, then withdrawn by poststop');
  t.equal(fx.store.records.size, 0, 'no record left (none saved over poststop)');
  t.strictSame(fx.containerLock.events.slice(-4), ['lock c1', 'unlock c1', 'lock c1', 'unlock c1'], 'the republish held the lock; detach took it after');
});

t.test("optimistic: the background derives the next candidate with the attach's keys (annotations), not config.toml's", async (t) => {
  const base = validateForAttach({ ...macvlan(), dad: 'optimistic' });
  const annotated: HookConfig = { ...base, network_id: 'blue', dad_transmits: 2 };
  const want = expected(annotated, 'c1');
  const dup = want.global('2001:db8:1::', 0);
  const fx = fixture({ verdict: (a) => (a === dup ? 'duplicate' : 'unique') });
  const record = await attach(request('c1', annotated), fx.deps);
  t.strictSame(record.derivation, { networkId: 'blue', iid: '', dadTransmits: 2 });
  const done = await completeOptimisticDad({ id: 'c1', config: base, secret: SECRET, deps: fx.deps });
  t.equal(done?.addresses[0]?.address, want.global('2001:db8:1::', 1), "the replacement is the annotated network_id's next candidate");
});
