// RA handling per RFC 4861/6980 and a sane host (issue 10), at the plan (runtime/core/plan.ts):
// duplicates merged, the max_* caps with one note for the excess, non-unicast prefixes, routes and
// DNS servers ignored with the reason, several RAs merged, and why an RA gives no address.
import t from 'tap';
import { formatIPv6, formatPrefix, parseIPv6 } from '../../runtime/core/ipv6';
import type { NdOption, RouterAdvertisement } from '../../runtime/core/nd-types';
import { planAttach, planFromAdvertisements, unusableReason, type PlannedRoute } from '../../runtime/core/plan';
import { checkPrefix } from '../../runtime/core/slaac';
import { notADestination, notAServer, notForAddresses } from '../../runtime/core/special-ranges';
import { pio, raWith } from './helpers';

const ROUTER = parseIPv6('fe80::1');
const ROUTER2 = parseIPv6('fe80::2');

const rio = (prefix: string, prefixLength: number, lifetime = 600, preference: 'high' | 'medium' | 'low' = 'medium'): NdOption => ({
  type: 'route-information',
  prefix: parseIPv6(prefix),
  prefixLength,
  preference,
  lifetime,
});
const rdnss = (...servers: string[]): NdOption => ({ type: 'rdnss', lifetime: 600, servers: servers.map((s) => parseIPv6(s)) });
const prefixes = (p: { prefix: Buffer; prefixLength: number }[]): string[] => p.map((x) => formatPrefix(x.prefix, x.prefixLength));
const show = (routes: PlannedRoute[]): string[] => routes.map((r) => `${formatPrefix(r.destination, r.prefixLength)}${r.gateway ? ` via ${formatIPv6(r.gateway)}` : ' on-link'}`);
const hex4 = (i: number): string => i.toString(16);

t.test('a prefix listed twice in one RA gives one address, one on-link route (was EEXIST)', async (t) => {
  const plan = planAttach(raWith([pio('2001:db8:a1::'), pio('2001:db8:a2::'), pio('2001:db8:a1::', { validLifetime: 600, preferredLifetime: 300 })]), ROUTER, 1500);
  t.strictSame(prefixes(plan.prefixes), ['2001:db8:a1::/64', '2001:db8:a2::/64'], 'each prefix once, in the order first heard');
  t.equal(plan.prefixes[0]?.validLifetime, 86400, 'the first option heard');
  t.strictSame(show(plan.tableRoutes.filter((r) => !r.gateway)), ['2001:db8:a1::/64 on-link', '2001:db8:a2::/64 on-link']);
  t.strictSame(plan.notes, ['RA from fe80::1 lists prefix 2001:db8:a1::/64 2 times: used once']);
});

t.test('routes and DNS servers given twice are used once', async (t) => {
  const plan = planAttach(raWith([pio('2001:db8:a1::'), rio('2001:db8:f0::', 48), rio('2001:db8:f0::', 48, 900), rdnss('2001:db8:a1::53', '2001:db8:a1::53'), rdnss('2001:db8:a1::53')]), ROUTER, 1500);
  t.strictSame(show(plan.routes), ['::/0 via fe80::1', '2001:db8:f0::/48 via fe80::1']);
  t.strictSame(plan.rdnss, ['2001:db8:a1::53']);
});

t.test('caps: at most max_prefixes, max_routes, max_dns_servers; the excess in one note each', async (t) => {
  const many = (n: number, f: (i: number) => NdOption): NdOption[] => Array.from({ length: n }, (_, i) => f(i));
  const ra = raWith([
    ...many(40, (i) => pio(`2001:db8:a1:${hex4(i)}::`)),
    ...many(40, (i) => rio(`2001:db8:f${hex4(i)}::`, 48)),
    rdnss(...Array.from({ length: 40 }, (_, i) => `2001:db8:a1::${hex4(0x100 + i)}`)),
  ]);
  const plan = planAttach(ra, ROUTER, 1500);
  t.equal(plan.prefixes.length, 16, 'default max_prefixes 16');
  t.strictSame(prefixes(plan.prefixes).slice(0, 2), ['2001:db8:a1::/64', '2001:db8:a1:1::/64'], 'the first ones heard');
  t.equal(plan.routes.filter((r) => r.prefixLength > 0).length, 16, 'default max_routes 16 (Route Information)');
  t.equal(plan.routes.length, 17, 'and the default route');
  t.equal(plan.tableRoutes.filter((r) => !r.gateway).length, 16, 'on-link routes of the reach table: max_prefixes');
  t.equal(plan.rdnss.length, 16, 'default max_dns_servers 16');
  t.strictSame(plan.notes, [
    '24 prefixes beyond max_prefixes = 16 not used: 2001:db8:a1:10::/64, 2001:db8:a1:11::/64, 2001:db8:a1:12::/64, …',
    '24 on-link prefixes beyond max_prefixes = 16 not used: 2001:db8:a1:10::/64, 2001:db8:a1:11::/64, 2001:db8:a1:12::/64, …',
    '24 routes beyond max_routes = 16 not used: 2001:db8:f10::/48, 2001:db8:f11::/48, 2001:db8:f12::/48, …',
    '24 DNS servers beyond max_dns_servers = 16 not used: 2001:db8:a1::110, 2001:db8:a1::111, 2001:db8:a1::112, …',
  ], 'one line per kind, however large the excess');

  const small = planAttach(ra, ROUTER, 1500, { maxPrefixes: 2, maxRoutes: 1, maxDnsServers: 3 });
  t.strictSame(prefixes(small.prefixes), ['2001:db8:a1::/64', '2001:db8:a1:1::/64']);
  t.strictSame(show(small.routes), ['::/0 via fe80::1', '2001:db8:f0::/48 via fe80::1']);
  t.strictSame(small.rdnss, ['2001:db8:a1::100', '2001:db8:a1::101', '2001:db8:a1::102']);
  t.match(small.notes, [/^38 prefixes beyond max_prefixes = 2 /, /^38 on-link prefixes /, /^39 routes beyond max_routes = 1 /, /^37 DNS servers beyond max_dns_servers = 3 /]);
});

t.test('non-unicast prefixes form no address, with the reason', async (t) => {
  const plan = planAttach(
    raWith([
      pio('::'), // was ::<iid>/64
      pio('ff02::'),
      pio('::ffff:0:0'),
      pio('64:ff9b::'),
      pio('100::'),
      pio('2001::'),
      pio('fd00:a1::'), // ULA: fine
      pio('2001:db8:a1::'),
    ]),
    ROUTER,
    1500,
  );
  t.strictSame(prefixes(plan.prefixes), ['fd00:a1::/64', '2001:db8:a1::/64']);
  t.strictSame(plan.ignored, [
    { prefix: '::/64', reason: '::/8 is reserved by the IETF (RFC 4291 §2.4)' },
    { prefix: 'ff02::/64', reason: 'ff00::/8 is multicast (RFC 4291 §2.7)' },
    { prefix: '::ffff:0:0/64', reason: '::/8 is reserved by the IETF (RFC 4291 §2.4)' },
    { prefix: '64:ff9b::/64', reason: '::/8 is reserved by the IETF (RFC 4291 §2.4)' },
    { prefix: '100::/64', reason: '100::/64 is discard-only (RFC 6666)' },
    { prefix: '2001::/64', reason: '2001::/32 is Teredo (RFC 4380: its addresses are made by Teredo)' },
  ]);
  t.match(checkPrefix(pio('ff00::')), { usable: false, reason: /multicast/ });
  t.equal(notForAddresses(parseIPv6('64:ff9b::'), 96), '64:ff9b::/96 is the IPv4/IPv6 translation prefix (RFC 6052)');
});

t.test('non-unicast routes and DNS servers are ignored with the reason; ::/0 stays as it was', async (t) => {
  const plan = planAttach(
    raWith([
      pio('2001:db8:a1::'),
      pio('ff00::', { prefixLength: 8, autonomous: false }), // on-link multicast
      rio('ff00::', 8),
      rio('fe80::', 64),
      rio('::1', 128),
      rio('::', 128),
      rio('::ffff:0:0', 96),
      rio('::', 0, 900), // RFC 4191 default: as before (the reach table only)
      rio('64:ff9b::', 96), // a route to NAT64: a real destination
      rio('2001:db8:f0::', 48),
      rdnss('ff02::fb', 'fe80::53', '::1', '::', '::ffff:192.0.2.53', '2001:db8:a1::53'),
    ]),
    ROUTER,
    1500,
  );
  t.strictSame(show(plan.routes), ['::/0 via fe80::1', '64:ff9b::/96 via fe80::1', '2001:db8:f0::/48 via fe80::1']);
  t.strictSame(show(plan.tableRoutes), ['2001:db8:a1::/64 on-link', '::/0 via fe80::1', '64:ff9b::/96 via fe80::1', '2001:db8:f0::/48 via fe80::1', '::/0 via fe80::1']);
  t.strictSame(plan.rdnss, ['2001:db8:a1::53']);
  t.strictSame(plan.notes, [
    'RA prefix ff00::/8 not used: autonomous flag (A) clear',
    'RA route ff00::/8 from fe80::1 not used: ff00::/8 is multicast (RFC 4291 §2.7)',
    'RA route fe80::/64 from fe80::1 not used: fe80::/10 is link-local (RFC 4291 §2.5.6: never forwarded, and no zone to reach it by)',
    'RA route ::1/128 from fe80::1 not used: ::1/128 is the loopback address (RFC 4291 §2.5.3)',
    'RA route ::/128 from fe80::1 not used: ::/128 is the unspecified address (RFC 4291 §2.5.2)',
    'RA route ::ffff:0:0/96 from fe80::1 not used: ::ffff:0:0/96 is IPv4-mapped (RFC 4291 §2.5.5.2, not forwarded per RFC 6890)',
    'RA on-link prefix ff00::/8 from fe80::1 not used: ff00::/8 is multicast (RFC 4291 §2.7)',
    'RA DNS server ff02::fb from fe80::1 not used: ff00::/8 is multicast (RFC 4291 §2.7)',
    'RA DNS server fe80::53 from fe80::1 not used: fe80::/10 is link-local (RFC 4291 §2.5.6: never forwarded, and no zone to reach it by)',
    'RA DNS server ::1 from fe80::1 not used: ::1/128 is the loopback address (RFC 4291 §2.5.3)',
    'RA DNS server :: from fe80::1 not used: ::/128 is the unspecified address (RFC 4291 §2.5.2)',
    'RA DNS server ::ffff:c000:235 from fe80::1 not used: ::ffff:0:0/96 is IPv4-mapped (RFC 4291 §2.5.5.2, not forwarded per RFC 6890)',
  ]);
  t.equal(plan.notes.filter((n) => n.startsWith('RA DNS server')).length, 5, 'every bad server named');
  t.equal(notAServer(parseIPv6('2001:db8::53')), undefined);
  t.equal(notADestination(parseIPv6('::'), 0), undefined, '::/0 is a destination (RFC 4191 §2.3)');
});

t.test('notes are bounded: 40 multicast routes give 9 lines', async (t) => {
  const plan = planAttach(raWith([pio('2001:db8:a1::'), ...Array.from({ length: 40 }, (_, i) => rio(`ff${(0x10 + i).toString(16)}::`, 16))]), ROUTER, 1500);
  t.equal(plan.routes.length, 1, 'the default route only');
  t.equal(plan.notes.length, 9);
  const junk = planAttach(raWith(Array.from({ length: 40 }, (_, i) => pio(`ff${(0x10 + i).toString(16)}::`))), ROUTER, 1500);
  t.equal(junk.notes.length, 9 + 9, 'as many prefix lines (and on-link ones)');
  t.equal(junk.notes[8], '… and 32 more prefixes not used');
  t.equal(plan.notes[8], '… and 32 more routes not used');
});

t.test('several RAs merged: prefixes of both, the preferred default router, routes via their own router', async (t) => {
  const a: RouterAdvertisement = raWith([pio('2001:db8:a1::'), rio('2001:db8:f1::', 48), rdnss('2001:db8:a1::53'), { type: 'mtu', mtu: 1480 }], { preference: 'low', retransTimer: 0 });
  const b: RouterAdvertisement = raWith([pio('2001:db8:a2::'), pio('2001:db8:a1::'), rio('2001:db8:f1::', 48), rio('2001:db8:f2::', 48), rdnss('2001:db8:a1::53', '2001:db8:a2::53'), { type: 'mtu', mtu: 1400 }], { preference: 'high', retransTimer: 300 });
  const plan = planFromAdvertisements([{ router: ROUTER, advertisement: a, receivedAt: 1000 }, { router: ROUTER2, advertisement: b, receivedAt: 1200 }], 1500);
  t.strictSame(prefixes(plan.prefixes), ['2001:db8:a1::/64', '2001:db8:a2::/64']);
  t.strictSame(show(plan.routes), ['::/0 via fe80::2', '2001:db8:f1::/48 via fe80::1', '2001:db8:f2::/48 via fe80::2']);
  t.equal(formatIPv6(plan.router), 'fe80::2', 'the high-preference router is the default router');
  t.equal(plan.routerPreference, 'high');
  t.equal(plan.mtu, 1400, 'the smallest MTU');
  t.equal(plan.retransMs, 300, 'the RetransTimer the first RA that gives one says');
  t.equal(plan.receivedAt, 1000, 'lifetimes count from the earliest RA');
  t.strictSame(plan.rdnss, ['2001:db8:a1::53', '2001:db8:a2::53']);
  t.strictSame(plan.notes, ['default route via fe80::2 only (high preference); not also via fe80::1']);

  const tie = planFromAdvertisements([{ router: ROUTER, advertisement: raWith([pio('2001:db8:a1::')]) }, { router: ROUTER2, advertisement: raWith([pio('2001:db8:a2::')]) }], 1500);
  t.equal(formatIPv6(tie.router), 'fe80::1', 'a tie: the first heard');
  const noDefault = planFromAdvertisements([{ router: ROUTER, advertisement: raWith([], { routerLifetime: 0 }) }, { router: ROUTER2, advertisement: raWith([pio('2001:db8:a2::')], { routerLifetime: 0 }) }], 1500);
  t.strictSame(show(noDefault.routes), [], 'no router lifetime: no default route');
  t.equal(formatIPv6(noDefault.router), 'fe80::1');
});

t.test('unusableReason: why an RA gives no address', async (t) => {
  t.equal(unusableReason(raWith([pio('2001:db8:a1::')])), undefined);
  t.equal(unusableReason(raWith([])), 'no Prefix Information option');
  t.equal(
    unusableReason(raWith([pio('2001:db8:a1::', { prefixLength: 56 }), pio('2001:db8:a2::', { autonomous: false })])),
    'no prefix usable for SLAAC (2001:db8:a1::/56 prefix length 56 plus interface identifier length 64 is not 128; 2001:db8:a2::/64 autonomous flag (A) clear)',
  );
  const five = raWith(Array.from({ length: 5 }, (_, i) => pio(`ff0${i}::`)));
  t.match(unusableReason(five), /; 2 more\)$/);
});
