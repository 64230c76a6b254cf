// planAttach and the address candidates (runtime/core/plan.ts): plain data in, plain data out.
import t from 'tap';
import { InputError } from '../../runtime/core/errors';
import { stableAddress } from '../../runtime/core/iid';
import { formatIPv6, formatPrefix, parseIPv6, parseMac } from '../../runtime/core/ipv6';
import { INFINITE_LIFETIME } from '../../runtime/core/lifetime';
import type { NdOption } from '../../runtime/core/nd-types';
import { pio, raWith } from './helpers';
import { addressCandidate, linkLocalAddress, MIN_IPV6_MTU, planAttach, type AddressKeys, type PlannedRoute } from '../../runtime/core/plan';

const ROUTER = parseIPv6('fe80::1');

const rio = (prefix: string, prefixLength: number, lifetime: number, preference: 'high' | 'medium' | 'low' = 'medium'): NdOption => ({
  type: 'route-information',
  prefix: parseIPv6(prefix),
  prefixLength,
  preference,
  lifetime,
});

const ra = raWith;

/** Routes as text, for exact comparison. */
const show = (routes: PlannedRoute[]): string[] =>
  routes.map((r) => `${formatPrefix(r.destination, r.prefixLength)}${r.gateway ? ` via ${formatIPv6(r.gateway)}` : ' on-link'} lifetime ${r.lifetime}${r.preference ? ` pref ${r.preference}` : ''}`);

t.test('prefixes: which form addresses (RFC 4862 §5.5.3), and why the others do not', async (t) => {
  const plan = planAttach(
    ra([
      pio('2001:db8:1::'),
      pio('2001:db8:2::', { onLink: false }), // autonomous, off-link: still an address
      pio('2001:db8:3::', { autonomous: false }), // on-link only
      pio('fe80::'), // link-local
      pio('2001:db8:4::', { validLifetime: 3600, preferredLifetime: 7200 }), // preferred > valid
      pio('2001:db8:5::', { prefixLength: 48 }), // 48 + 64 ≠ 128
      pio('2001:db8:6::', { validLifetime: 0, preferredLifetime: 0 }), // valid 0
      pio('2001:db8:7::', { validLifetime: INFINITE_LIFETIME, preferredLifetime: INFINITE_LIFETIME }),
    ]),
    ROUTER,
    1500,
  );
  t.strictSame(
    plan.prefixes.map((p) => formatPrefix(p.prefix, p.prefixLength)),
    ['2001:db8:1::/64', '2001:db8:2::/64', '2001:db8:7::/64'],
    'in the RA\'s order',
  );
  t.strictSame(plan.ignored, [
    { prefix: '2001:db8:3::/64', reason: 'autonomous flag (A) clear' },
    { prefix: 'fe80::/64', reason: 'link-local prefix' },
    { prefix: '2001:db8:4::/64', reason: 'preferred lifetime 7200 exceeds valid lifetime 3600' },
    { prefix: '2001:db8:5::/48', reason: 'prefix length 48 plus interface identifier length 64 is not 128' },
    { prefix: '2001:db8:6::/64', reason: 'valid lifetime 0' },
  ]);
  t.equal(plan.prefixes[2]?.validLifetime, INFINITE_LIFETIME, 'the option itself, lifetimes untouched');

  t.test('the reach table\'s on-link routes: L set, valid lifetime non-zero, never the link-local prefix', async (t) => {
    t.strictSame(show(plan.tableRoutes.filter((r) => !r.gateway)), [
      '2001:db8:1::/64 on-link lifetime 86400',
      '2001:db8:3::/64 on-link lifetime 86400',
      '2001:db8:4::/64 on-link lifetime 3600',
      '2001:db8:5::/48 on-link lifetime 86400',
      `2001:db8:7::/64 on-link lifetime ${INFINITE_LIFETIME}`,
    ]);
  });
});

t.test('routes: the default route while the router lifetime is non-zero, and RFC 4191 routes', async (t) => {
  const options = [
    pio('2001:db8:1::'),
    rio('2001:db8:f00::', 48, 600, 'high'),
    rio('2001:db8:e00::', 40, 0, 'low'), // lifetime 0: withdrawn
    rio('::', 0, 900, 'low'), // ::/0: the router lifetime's business in the container
  ];
  const plan = planAttach(ra(options, { routerLifetime: 1800, preference: 'high' }), ROUTER, 1500);
  t.strictSame(show(plan.routes), ['::/0 via fe80::1 lifetime 1800 pref high', '2001:db8:f00::/48 via fe80::1 lifetime 600 pref high']);
  t.strictSame(show(plan.tableRoutes.filter((r) => r.prefixLength > 0)), ['2001:db8:1::/64 on-link lifetime 86400', '2001:db8:f00::/48 via fe80::1 lifetime 600 pref high'], 'the reach table: on-link prefixes, then RFC 4191 routes');
  t.strictSame(
    show(plan.tableRoutes.filter((r) => r.prefixLength === 0).slice(-1)),
    ['::/0 via fe80::1 lifetime 1800 pref high'],
    'the router\'s default route is the last ::/0 (a replace leaves it in the table)',
  );

  const noDefault = planAttach(ra(options, { routerLifetime: 0 }), ROUTER, 1500);
  t.strictSame(show(noDefault.routes), ['2001:db8:f00::/48 via fe80::1 lifetime 600 pref high'], 'router lifetime 0: not a default router (RFC 4861 §6.3.4)');
  t.notOk(
    noDefault.tableRoutes.some((r) => r.prefixLength === 0 && r.lifetime === 0),
    'nor a default route of lifetime 0 in the table',
  );
  t.ok(
    noDefault.tableRoutes.every((r) => r.lifetime > 0),
    'nothing of lifetime 0 anywhere',
  );
  t.ok(
    [...plan.routes, ...plan.tableRoutes].every((r) => !r.gateway || r.gateway.equals(ROUTER)),
    'every gateway is the router',
  );
});

t.test('MTU: the RA\'s within [1280, the parent\'s], else ignored with the reason', async (t) => {
  const mtu = (value: number | undefined, parent = 1500) => {
    const p = planAttach(ra([pio('2001:db8:1::'), ...(value === undefined ? [] : [{ type: 'mtu' as const, mtu: value }])]), ROUTER, parent);
    return { mtu: p.mtu, mtuIgnored: p.mtuIgnored };
  };
  t.equal(MIN_IPV6_MTU, 1280);
  t.strictSame(mtu(1480), { mtu: 1480, mtuIgnored: undefined });
  t.strictSame(mtu(1280), { mtu: 1280, mtuIgnored: undefined }, 'the minimum itself');
  t.strictSame(mtu(1500), { mtu: 1500, mtuIgnored: undefined }, 'the parent\'s itself');
  t.strictSame(mtu(1279), { mtu: null, mtuIgnored: 'RA MTU 1279 ignored: outside [1280, 1500]' }, 'below RFC 8200 §5');
  t.strictSame(mtu(9000), { mtu: null, mtuIgnored: 'RA MTU 9000 ignored: outside [1280, 1500]' }, 'above the parent\'s');
  t.strictSame(mtu(9000, 9000), { mtu: 9000, mtuIgnored: undefined }, 'a jumbo parent');
  t.strictSame(mtu(undefined), { mtu: null, mtuIgnored: undefined }, 'no option: nothing to say');
  t.notOk('mtuIgnored' in planAttach(ra([pio('2001:db8:1::')]), ROUTER, 1500), 'the key is absent, not undefined');
});

t.test('RetransTimer, RDNSS, DNSSL, the router\'s MAC', async (t) => {
  const base = [pio('2001:db8:1::')];
  t.equal(planAttach(ra(base, { retransTimer: 0 }), ROUTER, 1500).retransMs, 1000, 'unspecified: RFC 4861 RETRANS_TIMER');
  t.equal(planAttach(ra(base, { retransTimer: 250 }), ROUTER, 1500).retransMs, 250);
  const plan = planAttach(
    ra([
      ...base,
      { type: 'source-link-layer-address', address: parseMac('02:00:5e:00:53:01') },
      { type: 'rdnss', lifetime: 600, servers: [parseIPv6('2001:db8:1::53'), parseIPv6('2001:db8:2::53')] },
      { type: 'rdnss', lifetime: 600, servers: [parseIPv6('2001:db8:3::53')] },
      { type: 'dnssl', lifetime: 600, domains: ['example.test', 'lab.example.test'] },
    ]),
    ROUTER,
    1500,
  );
  t.strictSame(plan.rdnss, ['2001:db8:1::53', '2001:db8:2::53', '2001:db8:3::53']);
  t.strictSame(plan.dnssl, ['example.test', 'lab.example.test']);
  t.equal(plan.routerMac, '02:00:5e:00:53:01');
  t.equal(formatIPv6(plan.router), 'fe80::1');
  const bare = planAttach(ra(base), ROUTER, 1500);
  t.equal(bare.routerMac, null);
  t.strictSame([bare.rdnss, bare.dnssl], [[], []]);
});

t.test('an RA with no usable prefix plans no address (attach refuses it)', async (t) => {
  const plan = planAttach(ra([pio('2001:db8:1::', { autonomous: false }), pio('fe80::')]), ROUTER, 1500);
  t.strictSame(plan.prefixes, []);
  t.equal(plan.ignored.length, 2);
});

t.test('addressCandidate: RFC 7217, deterministic per (prefix, name, network id, secret, counter)', async (t) => {
  const keys: AddressKeys = { name: 'web', secret: Buffer.alloc(32, 1), networkId: '', iid: '' };
  const prefix = parseIPv6('2001:db8:1::');
  const c = addressCandidate(keys, prefix, 64);
  const a0 = formatIPv6(c(0));
  t.equal(formatIPv6(addressCandidate({ ...keys }, parseIPv6('2001:db8:1::'), 64)(0)), a0, 'the same inputs, the same address');
  t.equal(a0, formatIPv6(stableAddress({ prefix, prefixLength: 64, name: 'web', networkId: '', dadCounter: 0, secret: keys.secret }).address), 'stableAddress, counter 0');
  t.ok(a0.startsWith('2001:db8:1:0:'), 'in the prefix');
  const seen = new Set([0, 1, 2, 3].map((n) => formatIPv6(c(n))));
  t.equal(seen.size, 4, 'each DAD counter a new address (RFC 7217 §6)');
  t.not(formatIPv6(addressCandidate({ ...keys, name: 'db' }, prefix, 64)(0)), a0, 'another name');
  t.not(formatIPv6(addressCandidate({ ...keys, networkId: 'lab' }, prefix, 64)(0)), a0, 'another network id');
  t.not(formatIPv6(addressCandidate({ ...keys, secret: Buffer.alloc(32, 2) }, prefix, 64)(0)), a0, 'another host secret');
  const other = formatIPv6(addressCandidate(keys, parseIPv6('2001:db8:2::'), 64)(0));
  t.not(other.slice(other.indexOf(':0:')), a0.slice(a0.indexOf(':0:')), 'another prefix, another interface identifier');
  t.throws(() => addressCandidate(keys, prefix, 48)(0), InputError, 'only /64');
});

t.test('addressCandidate: a static IID is the same for every counter', async (t) => {
  const keys: AddressKeys = { name: 'web', secret: Buffer.alloc(32, 1), networkId: '', iid: '::1234' };
  const c = addressCandidate(keys, parseIPv6('2001:db8:1::'), 64);
  t.strictSame([0, 1, 2].map((n) => formatIPv6(c(n))), ['2001:db8:1::1234', '2001:db8:1::1234', '2001:db8:1::1234']);
  t.equal(formatIPv6(addressCandidate({ ...keys, name: 'other' }, parseIPv6('2001:db8:9::'), 64)(0)), '2001:db8:9::1234', 'the name does not matter');
  t.throws(() => addressCandidate({ ...keys, iid: '::' }, parseIPv6('2001:db8:1::'), 64)(0), InputError, 'a reserved IID (RFC 5453)');
  t.throws(() => addressCandidate({ ...keys, iid: '1::1' }, parseIPv6('2001:db8:1::'), 64)(0), InputError, 'bits above the low 64');
});

t.test('linkLocalAddress: RFC 7217 on fe80::/64, per name, never the static IID', async (t) => {
  const keys = { name: 'web', secret: Buffer.alloc(32, 1), networkId: '' };
  const ll = formatIPv6(linkLocalAddress(keys));
  t.match(ll, /^fe80::/);
  t.equal(formatIPv6(linkLocalAddress({ ...keys })), ll);
  t.equal(ll, formatIPv6(stableAddress({ prefix: parseIPv6('fe80::'), prefixLength: 64, name: 'web', networkId: '', dadCounter: 0, secret: keys.secret }).address));
  t.not(formatIPv6(linkLocalAddress({ ...keys, name: 'db' })), ll);
  t.equal(formatIPv6(linkLocalAddress({ ...keys, iid: '::1234' } as typeof keys)), ll, 'a static IID is for global addresses only');
});
