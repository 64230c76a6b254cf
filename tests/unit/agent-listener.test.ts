// The agent's RA listener (runtime/agent/listener.ts) on a socketpair link (tests/unit/nd-pair.ts),
// on a FakeClock: per router the last RA and its receipt; an identical RA only moves the receipt;
// invalid RAs (hop limit, source) dropped; the RA cache's freshness; the pre-expiry RS.
import t from 'tap';
import { parseIPv6 } from '../../runtime/core/ipv6';
import { FakeClock } from '../../runtime/system/clock';
import { decodeNd } from '../../runtime/wire/ndp/codec';
import { isFresh, ParentListener, preExpiryAt, raEnd, raLifetimes } from '../../runtime/agent/listener';
import type { HeardRa } from '../../runtime/core/plan';
import { ALL_NODES, IFINDEX, pairLink, raMessage, ROUTER } from './nd-pair';
import { pio, raWith } from './helpers';

const tick = () => new Promise((r) => setTimeout(r, 20));

function listen(t: { teardown(fn: () => void): void }, clock: FakeClock) {
  const link = pairLink(clock);
  const l = new ParentListener('test0', link.transport, clock);
  const heard: { heard: HeardRa; changed: boolean }[] = [];
  const notes: string[] = [];
  l.on('ra', (h, changed) => heard.push({ heard: h, changed }));
  l.on('note', (n) => notes.push(n));
  t.teardown(() => {
    l.stop();
    link.close();
  });
  return { l, link, heard, notes };
}

t.test('lifetime helpers', async (t) => {
  const ra = raWith([pio('2001:db8:1::', { validLifetime: 120, preferredLifetime: 60 })], { routerLifetime: 30 });
  t.same(raLifetimes(ra).sort((a, b) => a - b), [30, 60, 120]);
  t.equal(raEnd(ra, 1000), 1000 + 120_000, 'the last lifetime to run out');
  t.equal(raEnd(raWith([pio('2001:db8:1::', { validLifetime: 0xffffffff })]), 0), Infinity);
  t.equal(preExpiryAt(0, 30), 27_000, 'a tenth early');
  t.equal(preExpiryAt(0, 3600), 3_540_000, 'at most 60 s early');
  t.equal(preExpiryAt(0, 5), 4_000, 'at least 1 s early');
  t.ok(isFresh({ advertisement: ra, receivedAt: 0 }, 29_000, 600_000));
  t.notOk(isFresh({ advertisement: ra, receivedAt: 0 }, 30_000, 600_000), 'router lifetime run out');
  t.notOk(isFresh({ advertisement: ra, receivedAt: 0 }, 10_001, 10_000), 'older than the cache age');
  const noRouter = raWith([pio('2001:db8:1::', { validLifetime: 120, preferredLifetime: 60 })], { routerLifetime: 0 });
  t.ok(isFresh({ advertisement: noRouter, receivedAt: 0 }, 100_000, 600_000), 'router lifetime 0 is not a deadline');
  t.notOk(isFresh({ advertisement: noRouter, receivedAt: 0 }, 120_000, 600_000), 'PIO valid lifetime run out');
});

t.test('per router: the last RA; identical RAs cost a compare; invalid ones dropped', async (t) => {
  const clock = new FakeClock(5_000);
  const { l, link, heard } = listen(t, clock);
  l.start();
  await link.router.waitForRs(1);
  t.equal(link.router.solicitations[0]?.source, '::', 'the first RS at start, from ::');

  link.router.advertise({ ra: { routerLifetime: 30 } });
  await tick();
  t.equal(heard.length, 1);
  t.equal(heard[0]?.changed, true, 'first RA of the router: changed');
  clock.advance(1000);
  link.router.advertise({ ra: { routerLifetime: 30 } });
  await tick();
  t.equal(heard[1]?.changed, false, 'identical: unchanged');
  t.equal(l.routers.get('fe80::1')?.receivedAt, 6_000, 'its receipt time moved');
  t.equal(l.counters.unchanged, 1);
  link.router.advertise({ ra: { routerLifetime: 40 } });
  await tick();
  t.equal(heard[2]?.changed, true, 'another router lifetime: changed');

  const other = parseIPv6('fe80::2');
  link.router.advertise({ source: other });
  link.router.advertise({ hopLimit: 64 });
  link.router.advertise({ source: parseIPv6('2001:db8::1') });
  await tick();
  t.equal(l.routers.size, 2, 'two routers');
  t.equal(l.counters.dropped, 2, 'hop limit 64 and a global source dropped');

  // The cache: each router's last RA, as bytes that decode to it.
  const fresh = l.fresh(clock.now(), 600_000);
  t.equal(fresh.length, 2);
  const mine = fresh.find((f) => f.router === 'fe80::1');
  const decoded = decodeNd(Buffer.from(mine?.icmp ?? '', 'base64'), { source: ROUTER, destination: ALL_NODES, hopLimit: 255, ifindex: IFINDEX });
  t.ok(decoded.ok, 'the cached bytes decode, checksum included');
  t.same(decoded.ok && decoded.message, raMessage({ routerLifetime: 40 }));
  t.same(l.fresh(clock.now() + 40_000, 600_000).map((f) => f.router), ['fe80::2'], 'router lifetime run out: not fresh');
});

t.test('pre-expiry RS: before the router lifetime runs out with no RA since', async (t) => {
  const clock = new FakeClock(0);
  const { l, link, notes } = listen(t, clock);
  l.start();
  await link.router.waitForRs(1);
  link.router.advertise({ ra: { routerLifetime: 30, options: [pio('2001:db8:1::', { validLifetime: 600, preferredLifetime: 300 })] } });
  await tick();
  clock.advance(26_900);
  await tick();
  t.equal(link.router.solicitations.length, 1, 'no RS while the RA is far from running out');
  clock.advance(200);
  await link.router.waitForRs(2);
  t.equal(link.router.solicitations.length, 2, 'an RS 3 s before the router lifetime runs out');
  t.equal(l.counters.solicitations, 1);
  t.match(notes.join('\n'), /soliciting/);

  // The router answers: the next RS is 27 s after that answer, not before.
  link.router.advertise({ ra: { routerLifetime: 30, options: [pio('2001:db8:1::', { validLifetime: 600, preferredLifetime: 300 })] } });
  await tick();
  clock.advance(20_000);
  await tick();
  t.equal(link.router.solicitations.length, 2, 'answered: no more RSs for now');
  clock.advance(7_200);
  await link.router.waitForRs(3);
  t.pass('re-armed from the new RA');
});

t.test('stop() leaves no timer', async (t) => {
  const clock = new FakeClock(0);
  const { l, link } = listen(t, clock);
  l.start();
  await link.router.waitForRs(1);
  link.router.advertise({ ra: { routerLifetime: 30 } });
  await tick();
  l.stop();
  t.equal(clock.pending, 0, 'no timer armed after stop');
  t.equal(link.transport.listening, false);
});
