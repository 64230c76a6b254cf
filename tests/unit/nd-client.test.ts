// The ND client (runtime/system/nd/client.ts) on a socketpair link (tests/unit/nd-pair.ts): RS at
// start, RFC 7559 backoff, an 'ra' event per valid RA (not only the first), 'dropped' for invalid
// ones, solicit() rounds, stop() leaving nothing behind, and firstAdvertisement().
import t from 'tap';
import { spawn } from 'node:child_process';
import * as path from 'node:path';
import { formatIPv6, parseIPv6, UNSPECIFIED } from '../../runtime/core/ipv6';
import { bootNow, FakeClock, systemClock, type Clock, type Timer } from '../../runtime/system/clock';
import { firstAdvertisement, NdClient, type DroppedEvent, type RaEvent } from '../../runtime/system/nd/client';
import { errnoError, pairLink } from './nd-pair';

const OUR_LL = parseIPv6('fe80::2');
const MAC = Buffer.from('020000000002', 'hex');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The system clock, counting the timers armed and not yet fired or cancelled. */
function countingClock(): Clock & { live: number } {
  const c = {
    live: 0,
    now: () => systemClock.now(),
    setTimer(ms: number, fn: () => void): Timer {
      c.live++;
      let armed = true;
      const timer = systemClock.setTimer(ms, () => {
        if (armed) c.live--;
        armed = false;
        fn();
      });
      return {
        cancel: () => {
          if (armed) c.live--;
          armed = false;
          timer.cancel();
        },
      };
    },
  };
  return c;
}

/** Collect a client's events. */
function record(client: NdClient): { ras: RaEvent[]; dropped: DroppedEvent[]; errors: Error[]; nextRa: (n: number) => Promise<RaEvent[]> } {
  const ras: RaEvent[] = [];
  const dropped: DroppedEvent[] = [];
  const errors: Error[] = [];
  let waiters: { n: number; resolve: () => void }[] = [];
  client.on('ra', (e) => {
    ras.push(e);
    waiters = waiters.filter((w) => (ras.length >= w.n ? (w.resolve(), false) : true));
  });
  client.on('dropped', (e) => void dropped.push(e));
  client.on('error', (e) => void errors.push(e));
  const nextRa = (n: number) => new Promise<RaEvent[]>((resolve) => (ras.length >= n ? resolve(ras) : waiters.push({ n, resolve: () => resolve(ras) })));
  return { ras, dropped, errors, nextRa };
}

t.test('CLOCK_BOOTTIME: ms with sub-ms precision, moving forward, near /proc/uptime', async (t) => {
  const a = bootNow();
  await sleep(20);
  const b = bootNow();
  t.ok(b - a >= 19 && b - a < 1000, `20 ms later: +${(b - a).toFixed(3)} ms`);
  t.not(Math.round(a * 1000) % 1000, 0, 'sub-ms digits');
  const uptime = Number((await import('node:fs')).readFileSync('/proc/uptime', 'utf8').split(' ')[0]) * 1000;
  t.ok(Math.abs(uptime - bootNow()) < 1000, 'agrees with /proc/uptime');
});

t.test('FakeClock fires timers in order as time advances', async (t) => {
  const c = new FakeClock(100);
  const fired: string[] = [];
  c.setTimer(30, () => fired.push(`b@${c.now()}`));
  c.setTimer(10, () => {
    fired.push(`a@${c.now()}`);
    c.setTimer(5, () => fired.push(`a2@${c.now()}`));
  });
  c.setTimer(50, () => fired.push('never')).cancel();
  c.advance(40);
  t.same(fired, ['a@110', 'a2@115', 'b@130']);
  t.equal(c.now(), 140);
  t.equal(c.pending, 0);
});

t.test('RS at start, then retransmissions doubling from the first interval up to the cap (RFC 7559)', async (t) => {
  for (const [rand, expected] of [
    [0, [1000, 2000, 4000, 5000, 5000, 5000]],
    [0.1, [1100, 2310, 4851, 5500, 5500, 5500]],
    [-0.1, [900, 1710, 3249, 4500, 4500, 4500]],
  ] as const) {
    const clock = new FakeClock(1_000_000);
    const link = pairLink(clock);
    const client = new NdClient({ transport: link.transport, source: OUR_LL, mac: MAC, retransmitSource: UNSPECIFIED, retransmitMs: 1000, maxRetransmitMs: 5000, random: () => rand, clock });
    client.start();
    t.equal(client.state, 'soliciting');
    for (let i = 0; i < expected.length; i++) clock.advance((clock.nextDue ?? NaN) - clock.now());
    const seen = await link.router.waitForRs(expected.length + 1);
    const gaps = seen.slice(1).map((s, i) => Math.round((s.sentAt - (seen[i]?.sentAt ?? 0)) * 1e6) / 1e6);
    t.same(gaps, expected, `RAND ${rand}: intervals on the wire ${gaps.join(', ')} ms`);
    t.equal(seen[0]?.sentAt, 1_000_000, 'the first RS at start, not after a delay');
    t.same(seen[0], { source: 'fe80::2', destination: 'ff02::2', sentAt: 1_000_000, options: [{ type: 'source-link-layer-address', address: MAC }] }, 'first RS from the link-local, with SLLA');
    t.ok(seen.slice(1).every((s) => s.source === '::' && s.options.length === 0 && s.destination === 'ff02::2'), 'retransmissions from ::, without SLLA (RFC 4861 §4.1)');
    t.same(link.router.invalid, [], 'every RS valid for a router');
    t.equal(client.solicitations, expected.length + 1);
    client.stop();
    t.equal(clock.pending, 0, 'stop() cancels the retransmission');
    link.close();
  }
});

t.test('over a socketpair on the real clock: RS, backoff, an event per valid RA, dropped for invalid ones, stop()', async (t) => {
  const clock = countingClock();
  const link = pairLink(clock);
  t.teardown(link.close);
  const client = new NdClient({ transport: link.transport, mac: MAC, retransmitMs: 30, random: () => 0, clock });
  const ev = record(client);
  const t0 = bootNow();
  client.start();

  const rs = await link.router.waitForRs(4);
  t.ok(rs.every((s) => s.source === '::' && s.options.length === 0), 'RS from :: carries no SLLA even with a MAC given');
  t.ok((rs[0]?.sentAt ?? 0) - t0 < 20, 'first RS at once');
  const gaps = rs.slice(1).map((s, i) => s.sentAt - (rs[i]?.sentAt ?? 0));
  [30, 60, 120].forEach((nominal, i) => {
    const gap = gaps[i] ?? NaN;
    t.ok(gap >= nominal - 1 && gap < nominal + 100, `interval ${i + 1}: ${gap.toFixed(1)} ms (nominal ${nominal})`);
  });

  const before = bootNow();
  link.router.advertise({ ra: { routerLifetime: 1800 } });
  const [first] = await ev.nextRa(1);
  t.equal(client.state, 'listening', 'soliciting ends with the first RA');
  t.equal(formatIPv6(first?.router ?? UNSPECIFIED), 'fe80::1');
  t.equal(first?.advertisement.routerLifetime, 1800);
  t.ok((first?.receivedAt ?? 0) >= before && (first?.receivedAt ?? 0) <= bootNow(), 'receivedAt is the CLOCK_BOOTTIME receipt');
  t.equal(first?.solicitations, client.solicitations);
  t.equal(clock.live, 0, 'no retransmission armed after the RA');
  const sentAtRa = link.router.solicitations.length;
  await sleep(300);
  t.equal(link.router.solicitations.length, sentAtRa, 'no RS after the RA');

  link.router.advertise({ ra: { routerLifetime: 900 } });
  link.router.advertise({ ra: { routerLifetime: 600, options: [] }, destination: OUR_LL });
  const three = await ev.nextRa(3);
  t.same(three.map((e) => e.advertisement.routerLifetime), [1800, 900, 600], 'the second and third RA are events too');
  t.ok((three[1]?.receivedAt ?? 0) <= (three[2]?.receivedAt ?? 0), 'receipt times in order');

  link.router.advertise({ hopLimit: 254 });
  link.router.advertise({ source: parseIPv6('2001:db8::1') });
  link.router.advertise({ badChecksum: true });
  link.router.advertise({ ra: { routerLifetime: 300 } }); // processed after the three above
  await ev.nextRa(4);
  t.same(ev.ras.map((e) => e.advertisement.routerLifetime), [1800, 900, 600, 300], 'no event for the invalid ones');
  t.same(
    ev.dropped.map((d) => `${formatIPv6(d.source)}: ${d.reason}`),
    ['fe80::1: hop limit 254, not 255', '2001:db8::1: RA source 2001:db8::1 is not link-local', 'fe80::1: bad ICMPv6 checksum'],
  );
  t.ok(ev.dropped.every((d) => d.receivedAt >= before), 'dropped packets carry their receipt time');

  // solicit(): a new round, retransmitted until the next RA.
  const n = link.router.solicitations.length;
  client.solicit();
  t.equal(client.state, 'soliciting');
  await link.router.waitForRs(n + 2);
  link.router.advertise();
  await ev.nextRa(5);
  t.equal(client.state, 'listening');
  t.equal(clock.live, 0);

  client.stop();
  t.equal(client.state, 'stopped');
  t.equal(link.transport.listening, false, 'stop() stops listening');
  t.equal(clock.live, 0, 'stop() leaves no timer');
  client.stop();
  t.equal(client.state, 'stopped', 'stop() twice is fine');
  const count = link.router.solicitations.length;
  link.router.advertise();
  await sleep(100);
  t.equal(ev.ras.length, 5, 'nothing reported after stop()');
  t.equal(link.router.solicitations.length, count, 'nothing sent after stop()');
  t.throws(() => client.solicit(), /solicit\(\) while stopped/);
  t.same(ev.errors, []);
});

t.test('"link not ready" send errors are retried every 20 ms without counting', async (t) => {
  const clock = new FakeClock();
  const link = pairLink(clock);
  t.teardown(link.close);
  link.transport.sendErrors.push(errnoError('EADDRNOTAVAIL'), errnoError('ENETUNREACH'));
  const client = new NdClient({ transport: link.transport, retransmitMs: 1000, random: () => 0, clock });
  client.start();
  t.equal(client.solicitations, 0);
  t.equal(clock.nextDue, 20);
  clock.advance(20);
  t.equal(client.solicitations, 0);
  clock.advance(20);
  t.equal(client.solicitations, 1, 'sent once the link is ready');
  t.equal(clock.nextDue, 1040, 'first retransmission one interval after the RS that went out');
  client.stop();
  t.equal(clock.pending, 0);
});

t.test('other send errors: thrown from start() (client stopped), an event from a retransmission', async (t) => {
  const clock = new FakeClock();
  const link = pairLink(clock);
  t.teardown(link.close);
  link.transport.sendErrors.push(errnoError('EPERM'));
  const client = new NdClient({ transport: link.transport, retransmitMs: 1000, random: () => 0, clock });
  t.throws(() => client.start(), { code: 'EPERM' });
  t.equal(client.state, 'stopped');
  t.equal(link.transport.listening, false);
  t.equal(clock.pending, 0);

  const ev = record(client);
  client.start();
  t.equal(client.state, 'soliciting', 'start() again after stop()');
  link.transport.sendErrors.push(errnoError('ENOBUFS'));
  clock.advance(1000);
  t.same(ev.errors.map((e) => (e as NodeJS.ErrnoException).code), ['ENOBUFS'], "'error' event");
  t.equal(clock.nextDue, 3000, 'the schedule goes on');
  clock.advance(2000);
  t.equal(client.solicitations, 2);
  client.stop();

  link.transport.sendErrors.push(errnoError('EPERM'));
  await t.rejects(firstAdvertisement(new NdClient({ transport: link.transport, clock }), 1000), { code: 'EPERM' }, 'firstAdvertisement rejects with it');
  t.equal(clock.pending, 0);
});

t.test('firstAdvertisement: the first valid RA, then the client stopped', async (t) => {
  const link = pairLink(systemClock);
  t.teardown(link.close);
  const client = new NdClient({ transport: link.transport, source: OUR_LL, retransmitSource: UNSPECIFIED, retransmitMs: 1000 });
  const before = bootNow();
  const found = firstAdvertisement(client, 3000);
  await link.router.waitForRs(1);
  link.router.advertise({ source: parseIPv6('fe80::99'), hopLimit: 64 });
  link.router.advertise({ destination: OUR_LL, ra: { retransTimer: 700 } });
  const r = await found;
  t.equal(formatIPv6(r.router), 'fe80::1');
  t.equal(r.advertisement.retransTimer, 700);
  t.equal(r.solicitations, 1);
  t.same(r.dropped, ['from fe80::99: hop limit 64, not 255']);
  t.ok(r.receivedAt >= before && r.receivedAt <= bootNow(), 'receivedAt on CLOCK_BOOTTIME');
  t.ok(r.elapsedMs >= 0 && r.elapsedMs < 1000, `elapsed ${r.elapsedMs.toFixed(2)} ms`);
  t.equal(client.state, 'stopped');
  t.equal(link.transport.listening, false);
  t.same(link.router.solicitations.map((s) => s.source), ['fe80::2'], 'one RS, from the link-local (no MAC given: no SLLA)');
  t.same(link.router.solicitations[0]?.options, []);
});

t.test('firstAdvertisement: timeout message and nothing left behind', async (t) => {
  const clock = new FakeClock();
  const link = pairLink(clock);
  t.teardown(link.close);
  const client = new NdClient({ transport: link.transport, retransmitMs: 1000, random: () => 0, clock });
  const found = firstAdvertisement(client, 1500);
  clock.advance(1500);
  await t.rejects(found, { name: 'TimeoutError', message: 'no router advertisement on test0 within 1500 ms (2 solicitations sent)' });
  t.equal(client.state, 'stopped');
  t.equal(clock.pending, 0);
  t.equal(link.transport.listening, false);
});

t.test('a process whose client was stopped exits; one whose client runs does not', async (t) => {
  const fixture = path.join(__dirname, 'nd-client-exit.fixture.ts');
  const loader = process.execArgv.filter((a) => a.includes('@tapjs/typescript'));
  const run = (args: string[]) =>
    new Promise<{ code: number | null; signal: string | null; out: string; ms: number }>((resolve) => {
      const started = performance.now();
      const child = spawn(process.execPath, [...loader, fixture, ...args], { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, NODE_OPTIONS: '' } });
      let out = '';
      child.stdout.on('data', (d: Buffer) => (out += d.toString()));
      const kill = setTimeout(() => child.kill('SIGKILL'), 5000);
      child.on('exit', (code, signal) => {
        clearTimeout(kill);
        resolve({ code, signal, out, ms: performance.now() - started });
      });
    });
  const stopped = await run([]);
  t.equal(stopped.code, 0, `exited by itself in ${Math.round(stopped.ms)} ms`);
  t.match(stopped.out, /^ras=1 solicitations=\d+ state=stopped\n$/);
  const running = await run(['nostop']);
  t.equal(running.signal, 'SIGKILL', 'without stop() the client keeps it alive (killed after 5 s)');
  t.match(running.out, /state=soliciting/);
});
