import { createHmac } from 'node:crypto';
import t from 'tap';
import { InputError } from '../../runtime/core/errors';
import { IDGEN_RETRIES, firstUnreservedIid, isReservedIid, stableAddress, stableIid, staticAddress } from '../../runtime/core/iid';
import { formatIPv6, parseIPv6 } from '../../runtime/core/ipv6';

const secret = Buffer.from('000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f', 'hex');
const prefix = parseIPv6('2001:db8:1:2::');
const base = { prefix, name: 'eth0', networkId: 'web-1', dadCounter: 0, secret };

const iid = (hex: string): Buffer => Buffer.from(hex.replace(/:/g, ''), 'hex');

t.test('IDGEN_RETRIES is RFC 7217 §6', async (t) => {
  t.equal(IDGEN_RETRIES, 3);
});

t.test('stableIid known answer, from the documented encoding', async (t) => {
  const u32 = (n: number): Buffer => {
    const b = Buffer.alloc(4);
    b.writeUInt32BE(n);
    return b;
  };
  const message = Buffer.concat([
    prefix.subarray(0, 8),
    u32(4),
    Buffer.from('eth0'),
    u32(5),
    Buffer.from('web-1'),
    Buffer.from([0]),
  ]);
  t.equal(message.toString('hex'), '20010db8000100020000000465746830000000057765622d3100');
  const expected = createHmac('sha256', secret).update(message).digest().subarray(0, 8);
  t.equal(stableIid(base).toString('hex'), expected.toString('hex'));
  t.equal(stableIid(base).toString('hex'), 'c8af65ce7607904c', 'pinned vector');
});

t.test('stableIid is deterministic and depends on every input', async (t) => {
  const a = stableIid(base).toString('hex');
  t.equal(stableIid({ ...base, secret: Buffer.from(secret) }).toString('hex'), a, 'same inputs, same IID');
  t.equal(stableIid(base).length, 8);
  const variants = {
    name: { ...base, name: 'eth1' },
    prefix: { ...base, prefix: parseIPv6('2001:db8:1:3::') },
    dadCounter: { ...base, dadCounter: 1 },
    networkId: { ...base, networkId: 'web-2' },
    secret: { ...base, secret: Buffer.alloc(32, 7) },
  };
  for (const [what, input] of Object.entries(variants)) {
    t.not(stableIid(input).toString('hex'), a, `different ${what}, different IID`);
  }
  t.equal(stableIid({ ...base, prefix: parseIPv6('2001:db8:1:2::ffff') }).toString('hex'), a, 'only the first 64 prefix bits count');
});

t.test('stableIid keeps field boundaries apart', async (t) => {
  const ab = stableIid({ ...base, name: 'ab', networkId: 'c' }).toString('hex');
  const bc = stableIid({ ...base, name: 'a', networkId: 'bc' }).toString('hex');
  t.not(ab, bc);
  t.not(stableIid({ ...base, name: '', networkId: 'x' }).toString('hex'), stableIid({ ...base, name: 'x', networkId: '' }).toString('hex'));
});

t.test('stableIid rejects bad inputs', async (t) => {
  t.throws(() => stableIid({ ...base, dadCounter: 256 }), RangeError);
  t.throws(() => stableIid({ ...base, dadCounter: -1 }), RangeError);
  t.throws(() => stableIid({ ...base, dadCounter: 1.5 }), RangeError);
  t.throws(() => stableIid({ ...base, secret: Buffer.alloc(15) }), RangeError);
  t.throws(() => stableIid({ ...base, prefix: Buffer.alloc(8) }), RangeError);
});

t.test('isReservedIid: RFC 5453 boundaries', async (t) => {
  const cases: [string, boolean][] = [
    ['0000:0000:0000:0000', true], // Subnet-Router anycast
    ['0000:0000:0000:0001', false],
    ['0200:5eff:fdff:ffff', false], // just below the IANA Ethernet block
    ['0200:5eff:fe00:0000', true],
    ['0200:5eff:fe00:5212', true],
    ['0200:5eff:fe00:5213', true], // Proxy Mobile IPv6
    ['0200:5eff:fe00:5214', true],
    ['0200:5eff:feff:ffff', true],
    ['0200:5eff:ff00:0000', false], // just above
    ['0000:5eff:fe00:0000', false], // u bit clear: not special (RFC 7136)
    ['fdff:ffff:ffff:ff7f', false], // just below subnet anycast
    ['fdff:ffff:ffff:ff80', true],
    ['fdff:ffff:ffff:fffe', true],
    ['fdff:ffff:ffff:ffff', true],
    ['fe00:0000:0000:0000', false], // just above
    ['ffff:ffff:ffff:ffff', false],
    ['fcff:ffff:ffff:ff80', false], // g bit flipped: not the RFC 2526 range
    ['ffff:ffff:ffff:ff80', false], // u bit flipped: likewise
  ];
  for (const [hex, reserved] of cases) t.equal(isReservedIid(iid(hex)), reserved, hex);
  t.throws(() => isReservedIid(Buffer.alloc(16)), RangeError);
});

t.test('firstUnreservedIid skips reserved IIDs and reports the counter used', async (t) => {
  const seen: number[] = [];
  const results = [iid('0000:0000:0000:0000'), iid('0200:5eff:fe00:5213'), iid('1234:5678:9abc:def0')];
  const got = firstUnreservedIid(4, (counter) => {
    seen.push(counter);
    return results[counter - 4] ?? Buffer.alloc(8);
  });
  t.same(seen, [4, 5, 6]);
  t.equal(got.dadCounter, 6);
  t.equal(got.iid.toString('hex'), '123456789abcdef0');

  const first = firstUnreservedIid(0, () => iid('0000:0000:0000:0001'));
  t.equal(first.dadCounter, 0, 'no skip when the first IID is fine');

  t.throws(() => firstUnreservedIid(250, () => Buffer.alloc(8)), /no unreserved interface identifier/);
});

t.test('stableAddress', async (t) => {
  const got = stableAddress({ ...base, prefixLength: 64 });
  t.equal(got.dadCounter, 0);
  t.equal(got.iid.toString('hex'), 'c8af65ce7607904c');
  t.equal(formatIPv6(got.address), '2001:db8:1:2:c8af:65ce:7607:904c');
  t.notOk(isReservedIid(got.iid));

  const retry = stableAddress({ ...base, prefixLength: 64, dadCounter: 1 });
  t.equal(retry.dadCounter, 1);
  t.not(formatIPv6(retry.address), formatIPv6(got.address), 'a DAD retry gives another address');

  t.throws(() => stableAddress({ ...base, prefixLength: 56 }), InputError);
  t.throws(() => stableAddress({ ...base, prefixLength: 56 }), /\/64/);
});

t.test('staticAddress', async (t) => {
  t.equal(formatIPv6(staticAddress(prefix, 64, '::1234')), '2001:db8:1:2::1234');
  t.equal(formatIPv6(staticAddress(prefix, 64, '::a:b:c:d')), '2001:db8:1:2:a:b:c:d');
  t.equal(formatIPv6(staticAddress(parseIPv6('2001:db8:1:2::99'), 64, '::1')), '2001:db8:1:2::1', 'host bits of the prefix are replaced');

  t.throws(() => staticAddress(prefix, 64, '1::1'), InputError, 'bits above the low 64');
  t.throws(() => staticAddress(prefix, 64, '0:0:0:1::'), /above the low 64/);
  t.throws(() => staticAddress(prefix, 64, 'nonsense'), InputError);
  t.throws(() => staticAddress(prefix, 48, '::1'), InputError);
  t.throws(() => staticAddress(prefix, 64, '::'), { name: 'InputError', message: /:: is reserved \(Subnet-Router anycast/ });
  t.throws(() => staticAddress(prefix, 64, '::200:5eff:fe00:5213'), { name: 'InputError', message: /::200:5eff:fe00:5213 is reserved \(Proxy Mobile IPv6/ });
  t.throws(() => staticAddress(prefix, 64, '::fdff:ffff:ffff:ff80'), /reserved \(reserved subnet anycast/);
});

t.test('stableMac: unicast, locally administered, stable per (name, secret)', async (t) => {
  const { stableMac } = await import('../../runtime/core/iid');
  const secret = Buffer.alloc(32, 9);
  const a = stableMac({ name: 'web1', secret });
  t.equal(a.length, 6);
  t.equal((a[0] ?? 0) & 0x01, 0, 'I/G bit clear: unicast');
  t.equal((a[0] ?? 0) & 0x02, 0x02, 'U/L bit set: locally administered');
  t.same(stableMac({ name: 'web1', secret }), a, 'same inputs, same MAC');
  t.notSame(stableMac({ name: 'web2', secret }), a);
  t.notSame(stableMac({ name: 'web1', secret: Buffer.alloc(32, 8) }), a);
});
