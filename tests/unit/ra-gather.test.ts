// Gathering RAs (issue 10): within ra_timeout_ms the attach takes every RA heard until one gives
// an address (runtime/system/nd/client.ts gatherAdvertisements), soliciting on while none does;
// the timeout names why each RA heard was unusable. And RFC 6980: an ND message that came in
// fragments is dropped by the codec (the socket reports reassembly with IPV6_RECVFRAGSIZE).
import t from 'tap';
import { formatIPv6, parseIPv6, UNSPECIFIED } from '../../runtime/core/ipv6';
import { planFromAdvertisements, unusableReason } from '../../runtime/core/plan';
import type { ReceivedMeta } from '../../runtime/core/nd-types';
import { FakeClock, systemClock } from '../../runtime/system/clock';
import { gatherAdvertisements, NdClient } from '../../runtime/system/nd/client';
import { decodeNd, encodeNd } from '../../runtime/wire/ndp/codec';
import { pio } from './helpers';
import { pairLink, raMessage } from './nd-pair';

const OUR_LL = parseIPv6('fe80::2');
const R1 = parseIPv6('fe80::1');
const R2 = parseIPv6('fe80::3');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const usableEnds = (ra: Parameters<typeof unusableReason>[0]): boolean => unusableReason(ra) === undefined;

t.test('an RA without a usable prefix does not win: the usable one 300 ms later does, both merged', async (t) => {
  const link = pairLink(systemClock);
  t.teardown(link.close);
  const client = new NdClient({ transport: link.transport, source: OUR_LL, retransmitSource: UNSPECIFIED, retransmitMs: 1000, endsSolicitation: usableEnds });
  const gathering = gatherAdvertisements(client, 3000, unusableReason);
  await link.router.waitForRs(1);
  // Router 1: a valid RA, a default router, a route, but no prefix a host may form an address in.
  link.router.advertise({ ra: { options: [pio('2001:db8:a1::', { autonomous: false }), { type: 'route-information', prefix: parseIPv6('2001:db8:f1::'), prefixLength: 48, preference: 'medium', lifetime: 600 }] } });
  await sleep(300);
  t.equal(client.state, 'soliciting', 'still soliciting after an unusable RA');
  link.router.advertise({ source: R2, ra: { options: [pio('2001:db8:a2::')] } });
  const found = await gathering;
  t.equal(formatIPv6(found.router), 'fe80::3', 'the usable RA');
  t.same(found.heard?.map((h) => formatIPv6(h.router)), ['fe80::1', 'fe80::3'], 'both RAs heard, in order');
  t.equal(client.state, 'stopped');
  const plan = planFromAdvertisements(found.heard ?? [], 1500);
  t.same(plan.prefixes.map((p) => formatIPv6(p.prefix)), ['2001:db8:a2::'], 'the address from the second');
  t.equal(formatIPv6(plan.router), 'fe80::1', 'a tie of preferences: the first heard is the default router');
  t.same(plan.routes.map((r) => `${formatIPv6(r.destination)}/${r.prefixLength} via ${formatIPv6(r.gateway ?? UNSPECIFIED)}`), ['::/0 via fe80::1', '2001:db8:f1::/48 via fe80::1']);
});

t.test('a usable RA first ends the search at once: no waiting for more', async (t) => {
  const link = pairLink(systemClock);
  t.teardown(link.close);
  const client = new NdClient({ transport: link.transport, source: OUR_LL, retransmitMs: 1000, endsSolicitation: usableEnds });
  const gathering = gatherAdvertisements(client, 3000, unusableReason);
  await link.router.waitForRs(1);
  const t0 = performance.now();
  link.router.advertise();
  const found = await gathering;
  t.ok(performance.now() - t0 < 100, `resolved ${Math.round(performance.now() - t0)} ms after the RA`);
  t.equal(found.heard?.length, 1);
  t.equal(formatIPv6(found.router), formatIPv6(R1));
});

t.test('unusable RAs: the RSs go on with the backoff; the timeout names why, per router, on one line', async (t) => {
  const clock = new FakeClock(1_000_000);
  const link = pairLink(clock);
  t.teardown(link.close);
  const client = new NdClient({ transport: link.transport, retransmitMs: 1000, random: () => 0, clock, endsSolicitation: usableEnds });
  const gathering = gatherAdvertisements(client, 5000, unusableReason);
  await link.router.waitForRs(1);
  link.router.advertise({ ra: { options: [] } });
  link.router.advertise({ source: R2, ra: { options: [pio('ff02::')] } });
  link.router.advertise({ ra: { options: [] } });
  await sleep(100);
  t.equal(client.state, 'soliciting');
  clock.advance(1000);
  clock.advance(2000);
  await link.router.waitForRs(3);
  t.equal(link.router.solicitations.length, 3, 'retransmitted at 1 s and 3 s, as with no RA at all');
  clock.advance(2000);
  await t.rejects(gathering, {
    name: 'TimeoutError',
    message:
      'no router advertisement with a prefix usable for SLAAC on test0 within 5000 ms (3 solicitations sent); heard fe80::1 (2 RAs): no Prefix Information option; fe80::3: no prefix usable for SLAAC (ff02::/64 ff00::/8 is multicast (RFC 4291 §2.7))',
  });
  t.equal(client.state, 'stopped');
  t.equal(clock.pending, 0);
});

t.test('no RA at all: the same timeout message as before', async (t) => {
  const clock = new FakeClock();
  const link = pairLink(clock);
  t.teardown(link.close);
  const client = new NdClient({ transport: link.transport, retransmitMs: 1000, random: () => 0, clock, endsSolicitation: usableEnds });
  const gathering = gatherAdvertisements(client, 1500, unusableReason);
  clock.advance(1500);
  await t.rejects(gathering, { name: 'TimeoutError', message: 'no router advertisement on test0 within 1500 ms (2 solicitations sent)' });
});

t.test('RFC 6980: an RA reassembled from fragments is dropped, whatever it says', async (t) => {
  const meta: ReceivedMeta = { source: R1, destination: parseIPv6('ff02::1'), hopLimit: 255, ifindex: 7 };
  const icmp = encodeNd(raMessage(), { source: meta.source, destination: meta.destination });
  t.match(decodeNd(icmp, meta), { ok: true }, 'unfragmented: valid');
  t.same(decodeNd(icmp, { ...meta, fragmentSize: 1280 }), { ok: false, reason: 'fragmented (fragments of up to 1280 bytes): RFC 6980 forbids fragmented ND' });
  const ns = encodeNd({ type: 'neighbor-solicitation', target: parseIPv6('2001:db8:a1::1'), options: [] }, { source: UNSPECIFIED, destination: parseIPv6('ff02::1:ff00:1') });
  t.match(decodeNd(ns, { ...meta, source: UNSPECIFIED, destination: parseIPv6('ff02::1:ff00:1'), fragmentSize: 600 }), { ok: false, reason: /^fragmented/ }, 'an NS too');
});
