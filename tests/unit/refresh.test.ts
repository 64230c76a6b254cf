// The pure refresh core (runtime/core/refresh.ts): what an RA, or time, does to an attached
// container's record — RFC 4862 §5.5.3 (e) for every branch, deprecation (preferred 0), router
// lifetime 0, two routers with one dying, RFC 4191 route lifetimes, RDNSS/DNSSL, MTU bounds,
// expiry and deadlines, new prefixes (renumbering) within max_prefixes, and older records.
import t from 'tap';
import { parseIPv6, parseMac } from '../../runtime/core/ipv6';
import { INFINITE_LIFETIME } from '../../runtime/core/lifetime';
import type { RouterAdvertisement } from '../../runtime/core/nd-types';
import type { HeardRa } from '../../runtime/core/plan';
import type { AddressRecord, ContainerRecord } from '../../runtime/core/record';
import { absorbRa, addressDeadlines, defaultRouter, expire, expired, nextDeadline, refreshFields, stateOf, withState, type RefreshState } from '../../runtime/core/refresh';
import { pio, raWith } from './helpers';

const T0 = 1_000_000; // attach's RA, CLOCK_BOOTTIME ms
const S = 1000;
const H = 3600 * S;
const R1 = 'fe80::1';
const R2 = 'fe80::2';

const address = (addr: string, prefix: string, over: Partial<AddressRecord> = {}): AddressRecord => ({
  address: addr,
  prefix,
  prefixLength: 64,
  dadCounter: 0,
  validLifetime: 86400,
  preferredLifetime: 14400,
  dad: 'verified',
  ...over,
});

/** A record as attach leaves it from an RA of R1 (valid 1 day, preferred 4 h, router lifetime 1800 s), before refreshFields. */
function record(over: Partial<ContainerRecord> = {}): ContainerRecord {
  return {
    version: 1,
    id: 'c1',
    phase: 'attached',
    ledger: [
      { kind: 'address', index: 3, address: '2001:db8:1::a', prefixLength: 64 },
      { kind: 'route', index: 3, destination: '::/0', gateway: R1 },
    ],
    name: 'web',
    nameSource: 'annotation',
    netns: { path: '/run/netns/c1', id: '0:1' },
    interface: { name: 'eth0', index: 3, mac: '02:00:00:00:00:03', kind: 'macvlan', mode: 'bridge' },
    parent: 'eth0',
    linkLocal: 'fe80::a',
    linkLocalDad: 'verified',
    addresses: [address('2001:db8:1::a', '2001:db8:1::/64')],
    retransMs: 1000,
    router: { address: R1, mac: null, lifetime: 1800, preference: 'medium' },
    mtu: null,
    rdnss: [],
    dnssl: [],
    routes: ['default'],
    timings: { raMs: 0, dadMs: 0, totalMs: 0 },
    raAt: T0,
    since: '2026-01-01T00:00:00.000Z',
    ...over,
  };
}

const heard = (ra: RouterAdvertisement, at: number, router = R1): HeardRa => ({ router: parseIPv6(router), advertisement: ra, receivedAt: at });
const ra1 = (over: Parameters<typeof pio>[1] = {}, raOver: Partial<RouterAdvertisement> = {}): RouterAdvertisement => raWith([pio('2001:db8:1::', over)], raOver);
const addr = (s: RefreshState, a = '2001:db8:1::a') => {
  const x = s.addresses.find((y) => y.address === a);
  if (!x) throw new Error(`no ${a}`);
  return x;
};

t.test('an older record: deadlines derived from raAt and its lifetimes', async (t) => {
  const s = stateOf(record());
  t.same(
    { v: addr(s).validUntil, p: addr(s).preferredUntil, st: addr(s).state },
    { v: T0 + 86400 * S, p: T0 + 14400 * S, st: 'preferred' },
  );
  t.same(s.routers, [{ address: R1, mac: null, lifetime: 1800, preference: 'medium', lastRaAt: T0, until: T0 + 1800 * S }]);
  t.same(s.routes, [], 'the default route is the router lifetime, not a route deadline');
  t.equal(nextDeadline(record()), T0 + 1800 * S, 'the router lifetime runs out first');
  const inf = stateOf(record({ addresses: [address('2001:db8:1::a', '2001:db8:1::/64', { validLifetime: 'infinite', preferredLifetime: 'infinite' })] }));
  t.same([addr(inf).validUntil, addr(inf).preferredUntil], [null, null], 'infinite: null');
});

t.test('RFC 4862 §5.5.3 (e): every branch', async (t) => {
  const base = stateOf(record());
  // e.1: received > 2 hours: taken as received (even when shorter than what remains).
  let e = absorbRa(base, heard(ra1({ validLifetime: 3 * 3600, preferredLifetime: 3600 }), T0 + 10 * S), T0 + 10 * S);
  t.same(e.rules, [{ address: '2001:db8:1::a', rule: 'received' }]);
  t.equal(addr(e.state).validUntil, T0 + 10 * S + 3 * H, 'e.1 valid 3 h > 2 h: taken, though 1 day remained');
  t.equal(addr(e.state).preferredUntil, T0 + 10 * S + H, 'preferred as received');
  // e.1: received > remaining (a short one that still lengthens).
  const short = stateOf(record({ addresses: [address('2001:db8:1::a', '2001:db8:1::/64', { validLifetime: 120, preferredLifetime: 60 })] }));
  e = absorbRa(short, heard(ra1({ validLifetime: 120, preferredLifetime: 60 }), T0 + 30 * S), T0 + 30 * S);
  t.same(e.rules[0]?.rule, 'received', 'e.1 received 120 s > remaining 90 s');
  t.equal(addr(e.state).validUntil, T0 + 150 * S, 'valid refreshed to 120 s from the new RA');
  t.equal(addr(e.state).preferredUntil, T0 + 90 * S);
  // e.2: remaining ≤ 2 hours and received ≤ remaining: kept (an unauthenticated RA cannot shorten it).
  e = absorbRa(short, heard(ra1({ validLifetime: 10, preferredLifetime: 5 }), T0 + 30 * S), T0 + 30 * S);
  t.same(e.rules[0]?.rule, 'keep-remaining');
  t.equal(addr(e.state).validUntil, T0 + 120 * S, 'e.2 valid unchanged');
  t.equal(addr(e.state).preferredUntil, T0 + 35 * S, 'preferred still as received');
  // e.3: remaining > 2 hours and received ≤ 2 hours: two hours (RFC 8978's short valid lifetime, as far as (e) allows).
  e = absorbRa(base, heard(ra1({ validLifetime: 600, preferredLifetime: 0 }), T0 + 10 * S), T0 + 10 * S);
  t.same(e.rules[0]?.rule, 'two-hours');
  t.equal(addr(e.state).validUntil, T0 + 10 * S + 2 * H, 'e.3 two hours');
  // Valid 0 for an existing prefix is no rejection (as checkPrefix (d) would be) but input to (e).
  e = absorbRa(base, heard(ra1({ validLifetime: 0, preferredLifetime: 0 }), T0 + 10 * S), T0 + 10 * S);
  t.same([e.rules[0]?.rule, addr(e.state).validUntil, addr(e.state).state], ['two-hours', T0 + 10 * S + 2 * H, 'deprecated'], 'valid 0 → two hours, deprecated');
  // Infinite.
  e = absorbRa(base, heard(ra1({ validLifetime: INFINITE_LIFETIME, preferredLifetime: INFINITE_LIFETIME }), T0 + 10 * S), T0 + 10 * S);
  t.same([addr(e.state).validUntil, addr(e.state).preferredUntil], [null, null], 'infinite both');
  // (c) preferred > valid: the option is ignored, the address untouched.
  e = absorbRa(base, heard(ra1({ validLifetime: 600, preferredLifetime: 700 }), T0 + 10 * S), T0 + 10 * S);
  t.same(e.rules, []);
  t.equal(addr(e.state).validUntil, T0 + 86400 * S);
  t.match(e.notes.join('\n'), /preferred lifetime 700 exceeds valid lifetime 600/);
  // (a) A flag clear: not for SLAAC, the address untouched.
  e = absorbRa(base, heard(ra1({ autonomous: false, validLifetime: 0 }), T0 + 10 * S), T0 + 10 * S);
  t.same(e.rules, []);
});

t.test('deprecation: preferred 0 → deprecated at once, still valid; expire then removes', async (t) => {
  const base = stateOf(record());
  const e = absorbRa(base, heard(ra1({ validLifetime: 7200, preferredLifetime: 0 }), T0 + 10 * S), T0 + 10 * S);
  t.equal(addr(e.state).state, 'deprecated');
  t.equal(addr(e.state).preferredUntil, T0 + 10 * S);
  t.equal(expire(e.state, T0 + 11 * S).state.addresses.length, 1, 'still valid');
  const late = expire(e.state, T0 + 10 * S + 7200 * S);
  t.same(late.removed, ['address 2001:db8:1::a', 'router fe80::1'], 'gone at its valid deadline (the router long before)');
  t.same(late.state.addresses, []);
  // Time alone deprecates too.
  const aged = expire(base, T0 + 14400 * S);
  t.equal(addr(aged.state).state, 'deprecated', 'at preferredUntil');
});

t.test('router lifetime: refresh, 0 removes, the default route follows', async (t) => {
  const base = stateOf(record());
  let e = absorbRa(base, heard(ra1({}, { routerLifetime: 30 }), T0 + 20 * S), T0 + 20 * S);
  t.same(e.state.routers, [{ address: R1, mac: null, lifetime: 30, preference: 'medium', lastRaAt: T0 + 20 * S, until: T0 + 50 * S }]);
  t.equal(defaultRouter(e.state.routers, T0 + 49 * S)?.address, R1);
  t.equal(defaultRouter(e.state.routers, T0 + 50 * S), undefined, 'dead at its deadline');
  const stale = absorbRa(e.state, heard(ra1({ validLifetime: 10, preferredLifetime: 0 }, { routerLifetime: 10 }), T0 + 5 * S), T0 + 20 * S);
  t.same(stale.state, e.state, 'an RA received before the last one applied from that router changes nothing');
  t.match(stale.notes, [/received before the last one applied/]);
  e = absorbRa(base, heard(ra1({}, { routerLifetime: 0 }), T0 + 20 * S), T0 + 20 * S);
  t.same(e.state.routers, [], 'lifetime 0: no default router at once (RFC 4861 §6.3.4)');
  const rec = withState(record(), e.state, T0 + 20 * S);
  t.same([rec.router.lifetime, rec.routes], [0, []], 'the record says no default route');
  // The SLLA is kept as the router's MAC.
  e = absorbRa(base, heard(raWith([{ type: 'source-link-layer-address', address: parseMac('02:00:5e:00:53:01') }]), T0 + S), T0 + S);
  t.equal(e.state.routers[0]?.mac, '02:00:5e:00:53:01');
});

t.test('two routers: most preferred live one; one dying leaves the other', async (t) => {
  let s = stateOf(record());
  s = absorbRa(s, heard(raWith([pio('2001:db8:2::')], { routerLifetime: 60, preference: 'low' }), T0 + S, R2), T0 + S).state;
  t.same(s.routers.map((r) => r.address), [R1, R2]);
  t.equal(defaultRouter(s.routers, T0 + 2 * S)?.address, R1, 'medium beats low');
  s = absorbRa(s, heard(ra1({}, { routerLifetime: 30, preference: 'medium' }), T0 + 10 * S), T0 + 10 * S).state;
  t.equal(defaultRouter(s.routers, T0 + 39 * S)?.address, R1);
  const later = expire(s, T0 + 40 * S);
  t.same(later.removed, ['router fe80::1'], 'R1 ran out');
  t.equal(defaultRouter(later.state.routers, T0 + 40 * S)?.address, R2, 'R2 takes over');
  t.equal(expire(s, T0 + 61 * S).state.routers.length, 0, 'then R2 too');
  // A tie keeps the current one (no flapping), else the first heard.
  const tie = [
    { address: R1, mac: null, lifetime: 60, preference: 'high' as const, lastRaAt: T0, until: T0 + 60 * S },
    { address: R2, mac: null, lifetime: 60, preference: 'high' as const, lastRaAt: T0, until: T0 + 60 * S },
  ];
  t.equal(defaultRouter(tie, T0, R2)?.address, R2);
  t.equal(defaultRouter(tie, T0)?.address, R1);
  t.equal(defaultRouter([{ ...tie[0]!, preference: 'reserved' }, { ...tie[1]!, preference: 'medium' }], T0)?.address, R1, 'reserved is medium (RFC 4191 §2.2)');
});

t.test('RFC 4191 routes: lifetimes, 0 removes, owner router, ::/0 ignored, cap', async (t) => {
  const rio = (prefix: string, len: number, lifetime: number) => ({ type: 'route-information' as const, prefix: parseIPv6(prefix), prefixLength: len, preference: 'low' as const, lifetime });
  let s = stateOf(record());
  s = absorbRa(s, heard(raWith([rio('2001:db8:f00::', 48, 600), rio('::', 0, 600)]), T0), T0).state;
  t.same(s.routes, [{ destination: '2001:db8:f00::/48', gateway: R1, preference: 'low', until: T0 + 600 * S }], '::/0 is the router lifetime, not a route');
  const other = absorbRa(s, heard(raWith([rio('2001:db8:f00::', 48, 900)]), T0 + S, R2), T0 + S).state;
  t.same(other.routes, s.routes, "another router's RIO for a live destination does not take it over");
  s = absorbRa(s, heard(raWith([rio('2001:db8:f00::', 48, 900)]), T0 + 100 * S), T0 + 100 * S).state;
  t.equal(s.routes[0]?.until, T0 + 1000 * S, 'refreshed');
  t.same(expire(s, T0 + 1000 * S).removed, ['route 2001:db8:f00::/48 via fe80::1']);
  t.same(absorbRa(s, heard(raWith([rio('2001:db8:f00::', 48, 0)]), T0 + 200 * S), T0 + 200 * S).state.routes, [], 'lifetime 0 removes');
  s = absorbRa(s, heard(raWith([rio('2001:db8:f01::', 48, INFINITE_LIFETIME)]), T0 + 300 * S), T0 + 300 * S).state;
  t.equal(s.routes[1]?.until, null, 'infinite');
  const capped = absorbRa(s, heard(raWith([rio('2001:db8:f02::', 48, 60)]), T0 + 301 * S), T0 + 301 * S, { limits: { maxPrefixes: 16, maxRoutes: 2, maxDnsServers: 16 } });
  t.equal(capped.state.routes.length, 2);
  t.match(capped.notes.join('\n'), /beyond max_routes = 2/);
});

t.test('RDNSS and DNSSL lifetimes; MTU bounds', async (t) => {
  let s = stateOf(record({ rdnss: ['2001:db8:1::53'], dnssl: ['example.test'] }));
  t.same(s.rdnss, [{ value: '2001:db8:1::53', until: null }], 'an older record: forever until an RA says');
  s = absorbRa(s, heard(raWith([{ type: 'rdnss', lifetime: 60, servers: [parseIPv6('2001:db8:1::53'), parseIPv6('ff02::1')] }, { type: 'dnssl', lifetime: 30, domains: ['example.test'] }]), T0), T0).state;
  t.same(s.rdnss, [{ value: '2001:db8:1::53', until: T0 + 60 * S }], 'a multicast server is no server');
  t.same(s.dnssl, [{ value: 'example.test', until: T0 + 30 * S }]);
  const later = expire(s, T0 + 30 * S);
  t.same(later.removed, ['search domain example.test']);
  t.same(withState(record(), later.state, T0 + 30 * S).rdnss, ['2001:db8:1::53']);
  t.same(absorbRa(s, heard(raWith([{ type: 'rdnss', lifetime: 0, servers: [parseIPv6('2001:db8:1::53')] }]), T0), T0).state.rdnss, [], 'lifetime 0: no longer used');
  const mtu = (m: number) => absorbRa(s, heard(raWith([{ type: 'mtu', mtu: m }]), T0), T0, { parentMtu: 1500 });
  t.equal(mtu(1400).state.mtu, 1400);
  t.equal(mtu(1279).state.mtu, null, 'below 1280 (RFC 8200 §5)');
  t.equal(mtu(9000).state.mtu, null, "above the parent's");
  t.match(mtu(9000).notes.join('\n'), /RA MTU 9000 .* ignored/);
});

t.test('new prefixes (renumbering): usable ones only, within max_prefixes, once', async (t) => {
  const base = stateOf(record());
  const ra = raWith([
    pio('2001:db8:1::'),
    pio('2001:db8:2::', { validLifetime: 120, preferredLifetime: 60 }),
    pio('2001:db8:2::'),
    pio('2001:db8:3::', { autonomous: false }),
    pio('2001:db8:4::', { validLifetime: 0, preferredLifetime: 0 }),
    pio('ff02::', {}),
    pio('fe80::', {}),
    pio('2001:db8:5::', { validLifetime: 60, preferredLifetime: 90 }),
  ]);
  const e = absorbRa(base, heard(ra, T0 + S), T0 + S);
  t.same(
    e.newPrefixes.map((p) => [p.prefix, p.validUntil, p.preferredUntil]),
    [['2001:db8:2::/64', T0 + 121 * S, T0 + 61 * S]],
    'a new prefix (first listing), never A clear, valid 0, multicast, link-local or preferred > valid',
  );
  t.notMatch(e.notes.join('\n'), /2001:db8:4::/, 'a retired prefix we never had is no news');
  const capped = absorbRa(base, heard(raWith([pio('2001:db8:2::'), pio('2001:db8:3::')]), T0), T0, { limits: { maxPrefixes: 2, maxRoutes: 16, maxDnsServers: 16 } });
  t.same(capped.newPrefixes.map((p) => p.prefix), ['2001:db8:2::/64'], 'one address held + one new = max_prefixes 2');
  t.match(capped.notes.join('\n'), /2001:db8:3::\/64 .*beyond max_prefixes = 2/);
  const stale = absorbRa(base, heard(raWith([pio('2001:db8:2::', { validLifetime: 10, preferredLifetime: 5 })]), T0), T0 + 20 * S);
  t.same(stale.newPrefixes, [], 'an RA whose lifetime ended before it was processed forms nothing');
});

t.test('expired / nextDeadline on records; refreshFields fills a fresh record', async (t) => {
  const heardAtAttach = [
    heard(
      raWith(
        [
          pio('2001:db8:1::', { validLifetime: 120, preferredLifetime: 60 }),
          { type: 'route-information', prefix: parseIPv6('2001:db8:f00::'), prefixLength: 48, preference: 'low', lifetime: 600 },
          { type: 'rdnss', lifetime: 300, servers: [parseIPv6('2001:db8:1::53')] },
        ],
        { routerLifetime: 30 },
      ),
      T0,
    ),
  ];
  const base = record({
    addresses: [address('2001:db8:1::a', '2001:db8:1::/64', { validLifetime: 120, preferredLifetime: 60 })],
    ledger: [...record().ledger, { kind: 'route', index: 3, destination: '2001:db8:f00::/48', gateway: R1 }],
    rdnss: ['2001:db8:1::53'],
    router: { address: R1, mac: null, lifetime: 30, preference: 'medium' },
  });
  const fresh = { ...base, ...refreshFields(base, heardAtAttach, { maxPrefixes: 4, maxRoutes: 4, maxDnsServers: 4 }, 1500) };
  t.same(fresh.addresses[0], { ...base.addresses[0], validUntil: T0 + 120 * S, preferredUntil: T0 + 60 * S, state: 'preferred' });
  t.same(fresh.routers, [{ address: R1, mac: null, lifetime: 30, preference: 'medium', lastRaAt: T0, until: T0 + 30 * S }]);
  t.same(fresh.routeDeadlines, [{ destination: '2001:db8:f00::/48', gateway: R1, preference: 'low', until: T0 + 600 * S }]);
  t.same(fresh.rdnssDeadlines, [{ value: '2001:db8:1::53', until: T0 + 300 * S }]);
  t.same(fresh.limits, { maxPrefixes: 4, maxRoutes: 4, maxDnsServers: 4 });
  t.equal(nextDeadline(fresh), T0 + 30 * S, 'the router first');
  t.same(expired(fresh, T0 + 29 * S), []);
  t.same(expired(fresh, T0 + 30 * S), ['router fe80::1']);
  t.same(expired(fresh, T0 + 120 * S), ['address 2001:db8:1::a', 'router fe80::1']);
  t.equal(nextDeadline({ ...fresh, member: { owner: 'x' } }), null, "a pod member: the owner's record counts");
  t.same(addressDeadlines({ validLifetime: INFINITE_LIFETIME, preferredLifetime: 60 }, T0), { validUntil: null, preferredUntil: T0 + 60 * S });
  // A deprecated address no longer counts its preferred deadline.
  const dep = expire(stateOf(fresh), T0 + 61 * S).state;
  t.equal(withState(fresh, dep, T0 + 61 * S).addresses[0]?.state, 'deprecated');
  t.equal(nextDeadline(withState(fresh, { ...dep, routers: [], routes: [], rdnss: [] }, T0 + 61 * S)), T0 + 120 * S);
});
