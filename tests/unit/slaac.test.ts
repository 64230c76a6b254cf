import t from 'tap';
import { parseIPv6 } from '../../runtime/core/ipv6';
import type { NdOption, PrefixInformation } from '../../runtime/core/nd-types';
import {
  INFINITE_LIFETIME,
  TWO_HOURS,
  checkPrefix,
  lifetimesFromPrefix,
  remainingSeconds,
  selectPrefixes,
  updateLifetimes,
  type AddressLifetimes,
} from '../../runtime/core/slaac';
import { pio as prefixInformation } from './helpers';

const pio = (over: Partial<PrefixInformation> = {}): PrefixInformation => prefixInformation('2001:db8:1:2::', over);

const now = 1000;

t.test('TWO_HOURS and infinity', async (t) => {
  t.equal(TWO_HOURS, 7200);
  t.equal(INFINITE_LIFETIME, 0xffffffff);
});

t.test('checkPrefix: RFC 4862 §5.5.3 (a)–(d)', async (t) => {
  t.same(checkPrefix(pio()), { usable: true });
  t.same(checkPrefix(pio({ onLink: false })), { usable: true }, 'L flag does not matter to SLAAC');

  const reason = (pi: PrefixInformation, iidLength?: number): string => {
    const v = checkPrefix(pi, iidLength);
    return v.usable ? 'usable' : v.reason;
  };
  t.match(reason(pio({ autonomous: false })), /autonomous flag \(A\) clear/, '(a)');
  t.match(reason(pio({ prefix: parseIPv6('fe80::') })), /link-local/, '(b) fe80::/10');
  t.match(reason(pio({ prefix: parseIPv6('febf:ffff::') })), /link-local/, '(b) top of fe80::/10');
  t.equal(reason(pio({ prefix: parseIPv6('fec0::') })), 'usable', '(b) fec0:: is not link-local');
  t.match(reason(pio({ preferredLifetime: 86401 })), /preferred lifetime 86401 exceeds valid lifetime 86400/, '(c)');
  t.match(reason(pio({ validLifetime: 600, preferredLifetime: INFINITE_LIFETIME })), /exceeds/, '(c) infinite preferred, finite valid');
  t.equal(reason(pio({ validLifetime: INFINITE_LIFETIME, preferredLifetime: INFINITE_LIFETIME })), 'usable', 'infinite both');
  t.equal(reason(pio({ validLifetime: 600, preferredLifetime: 600 })), 'usable', '(c) equal is fine');
  t.match(reason(pio({ prefixLength: 48 })), /prefix length 48 plus interface identifier length 64 is not 128/, '(d) /48');
  t.match(reason(pio({ prefixLength: 80 })), /not 128/, '(d) /80');
  t.equal(reason(pio({ prefixLength: 80 }), 48), 'usable', '(d) against the IID length given');
  t.match(reason(pio({ validLifetime: 0, preferredLifetime: 0 })), /valid lifetime 0/, '(d) nothing to form');
});

t.test('lifetimesFromPrefix', async (t) => {
  t.same(lifetimesFromPrefix(pio(), now), { validUntil: now + 86400, preferredUntil: now + 14400 });
  t.same(lifetimesFromPrefix(pio({ validLifetime: INFINITE_LIFETIME, preferredLifetime: INFINITE_LIFETIME }), now), {
    validUntil: Infinity,
    preferredUntil: Infinity,
  });
  t.same(lifetimesFromPrefix(pio({ validLifetime: INFINITE_LIFETIME, preferredLifetime: 0 }), now), {
    validUntil: Infinity,
    preferredUntil: now,
  });
});

t.test('updateLifetimes: RFC 4862 §5.5.3 (e)', async (t) => {
  const current = (remaining: number): AddressLifetimes => ({ validUntil: now + remaining, preferredUntil: now });
  const update = (cur: AddressLifetimes, valid: number, preferred = 0) =>
    updateLifetimes(cur, pio({ validLifetime: valid, preferredLifetime: preferred }), now);

  t.test('e.1: received > 2 hours', async (t) => {
    const r = update(current(100), TWO_HOURS + 1, 300);
    t.equal(r.rule, 'received');
    t.same(r.lifetimes, { validUntil: now + TWO_HOURS + 1, preferredUntil: now + 300 });
    const shorter = update(current(86400), 3 * 3600);
    t.equal(shorter.rule, 'received', 'even when shorter than remaining');
    t.equal(shorter.lifetimes.validUntil, now + 3 * 3600);
  });

  t.test('e.1: received > remaining (both below 2 hours)', async (t) => {
    const r = update(current(100), 1800, 1800);
    t.equal(r.rule, 'received');
    t.same(r.lifetimes, { validUntil: now + 1800, preferredUntil: now + 1800 });
  });

  t.test('e.1: infinite received', async (t) => {
    const r = update(current(100), INFINITE_LIFETIME, INFINITE_LIFETIME);
    t.equal(r.rule, 'received');
    t.same(r.lifetimes, { validUntil: Infinity, preferredUntil: Infinity });
  });

  t.test('e.1: finite received > 2h replaces an infinite lifetime', async (t) => {
    const r = update({ validUntil: Infinity, preferredUntil: Infinity }, 86400, 3600);
    t.equal(r.rule, 'received');
    t.same(r.lifetimes, { validUntil: now + 86400, preferredUntil: now + 3600 });
  });

  t.test('e.2: remaining ≤ 2 hours, smaller received: unchanged valid', async (t) => {
    const r = update(current(3600), 600, 300);
    t.equal(r.rule, 'keep-remaining');
    t.same(r.lifetimes, { validUntil: now + 3600, preferredUntil: now + 300 });
    const edge = update(current(TWO_HOURS), TWO_HOURS);
    t.equal(edge.rule, 'keep-remaining', 'received = remaining = 2h exactly');
    t.equal(edge.lifetimes.validUntil, now + TWO_HOURS);
    const zero = update(current(3600), 0);
    t.equal(zero.rule, 'keep-remaining', 'a spoofed zero cannot kill the address');
    t.same(zero.lifetimes, { validUntil: now + 3600, preferredUntil: now });
  });

  t.test('e.3: remaining > 2 hours, received ≤ 2 hours: two hours', async (t) => {
    const r = update(current(86400), 600, 600);
    t.equal(r.rule, 'two-hours');
    t.same(r.lifetimes, { validUntil: now + TWO_HOURS, preferredUntil: now + 600 });
    const zero = update(current(86400), 0);
    t.equal(zero.rule, 'two-hours');
    t.equal(zero.lifetimes.validUntil, now + TWO_HOURS);
    const exactly = update(current(86400), TWO_HOURS, TWO_HOURS);
    t.equal(exactly.rule, 'two-hours', 'received exactly 2h is not "greater than 2 hours"');
    const infinite = update({ validUntil: Infinity, preferredUntil: Infinity }, 600, 600);
    t.equal(infinite.rule, 'two-hours', 'infinite remaining');
    t.same(infinite.lifetimes, { validUntil: now + TWO_HOURS, preferredUntil: now + 600 });
  });

  t.test('preferred is reset to received, capped by the new valid', async (t) => {
    const r = update(current(3600), 600, INFINITE_LIFETIME);
    t.equal(r.rule, 'keep-remaining');
    t.same(r.lifetimes, { validUntil: now + 3600, preferredUntil: now + 3600 });
    const lower = update({ validUntil: now + 86400, preferredUntil: now + 86400 }, 86400, 60);
    t.equal(lower.lifetimes.preferredUntil, now + 60, 'may shorten preferred');
  });

  t.test('an expired address takes any non-zero received lifetime', async (t) => {
    const r = update({ validUntil: now - 50, preferredUntil: now - 50 }, 10, 10);
    t.equal(r.rule, 'received');
    t.equal(r.lifetimes.validUntil, now + 10);
  });
});

t.test('remainingSeconds', async (t) => {
  t.equal(remainingSeconds(Infinity, now), 0xffffffff);
  t.equal(remainingSeconds(now + 100.9, now), 100);
  t.equal(remainingSeconds(now - 5, now), 0);
  t.equal(remainingSeconds(now, now), 0);
  t.equal(remainingSeconds(now + 0x1_0000_0000, now), 0xfffffffe, 'a finite lifetime never reads as infinite');
});

t.test('selectPrefixes', async (t) => {
  const options: NdOption[] = [
    { type: 'source-link-layer-address', address: Buffer.from('020000000001', 'hex') },
    { type: 'prefix-information', ...pio() },
    { type: 'mtu', mtu: 1500 },
    { type: 'prefix-information', ...pio({ prefix: parseIPv6('2001:db8:9::'), autonomous: false }) },
    { type: 'prefix-information', ...pio({ prefix: parseIPv6('fe80::'), prefixLength: 64 }) },
    { type: 'prefix-information', ...pio({ prefix: parseIPv6('2001:db8:7::'), prefixLength: 48 }) },
    { type: 'prefix-information', ...pio({ prefix: parseIPv6('2001:db8:3::'), validLifetime: INFINITE_LIFETIME }) },
  ];
  const { usable, ignored } = selectPrefixes(options);
  t.same(
    usable.map((p) => p.prefix.toString('hex')),
    [parseIPv6('2001:db8:1:2::').toString('hex'), parseIPv6('2001:db8:3::').toString('hex')],
  );
  t.same(ignored, [
    { prefix: '2001:db8:9::/64', reason: 'autonomous flag (A) clear' },
    { prefix: 'fe80::/64', reason: 'link-local prefix' },
    { prefix: '2001:db8:7::/48', reason: 'prefix length 48 plus interface identifier length 64 is not 128' },
  ]);
  t.same(selectPrefixes([]), { usable: [], ignored: [] });
});
