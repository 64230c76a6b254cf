import t, { type Test } from 'tap';
import { parseIPv6, solicitedNode } from '../../runtime/core/ipv6';
import { icmp6Checksum } from '../../runtime/wire/ndp/checksum';
import { decodeNd, encodeNd } from '../../runtime/wire/ndp/codec';
import type {
  DecodeResult,
  NdMessage,
  NdOption,
  NeighborAdvertisement,
  NeighborSolicitation,
  ReceivedMeta,
  RouterAdvertisement,
} from '../../runtime/core/nd-types';
import { hex, seededRandom as random } from './helpers';

const ip = (text: string): Buffer => parseIPv6(text);
const meta = (source: string, destination: string, hopLimit = 255): ReceivedMeta => ({
  source: ip(source),
  destination: ip(destination),
  hopLimit,
  ifindex: 2,
});

/** Encodes with the checksum for `m`'s addresses, so only the property under test is wrong. */
const encodeFor = (message: NdMessage, m: ReceivedMeta): Buffer =>
  encodeNd(message, { source: m.source, destination: m.destination });

/** Sets the checksum of already-built bytes (after a hand edit). */
function resum(icmp: Buffer, m: ReceivedMeta): Buffer {
  const out = Buffer.from(icmp);
  out.writeUInt16BE(icmp6Checksum(m.source, m.destination, out), 2);
  return out;
}

function reasonOf(result: DecodeResult): string {
  return result.ok ? '(decoded fine)' : result.reason;
}


const mac = hex('020000000001');
const raMeta = meta('fe80::1', 'ff02::1');

const baseRa: RouterAdvertisement = {
  type: 'router-advertisement',
  curHopLimit: 64,
  managed: false,
  other: true,
  homeAgent: false,
  preference: 'high',
  proxy: false,
  routerLifetime: 1800,
  reachableTime: 0,
  retransTimer: 0,
  options: [],
};

const prefixInformation: NdOption = {
  type: 'prefix-information',
  prefix: ip('2001:db8:1::'),
  prefixLength: 64,
  onLink: true,
  autonomous: true,
  routerAddress: false,
  validLifetime: 2592000,
  preferredLifetime: 604800,
};

/** Every option type, route-information at each of its three lengths. */
const everyOption: NdOption[] = [
  { type: 'source-link-layer-address', address: mac },
  prefixInformation,
  { type: 'mtu', mtu: 1500 },
  { type: 'route-information', prefix: ip('::'), prefixLength: 0, preference: 'low', lifetime: 300 }, // length 1
  { type: 'route-information', prefix: ip('2001:db8:a::'), prefixLength: 48, preference: 'high', lifetime: 600 }, // 2
  { type: 'route-information', prefix: ip('2001:db8:b::'), prefixLength: 64, preference: 'medium', lifetime: 0 }, // 2
  { type: 'route-information', prefix: ip('2001:db8:c:d:e::'), prefixLength: 80, preference: 'medium', lifetime: 0xffffffff }, // 3
  { type: 'rdnss', lifetime: 3600, servers: [ip('2001:db8::53'), ip('2001:db8::5353')] },
  { type: 'dnssl', lifetime: 3600, domains: ['example.com', 'lab.example.org'] },
  { type: 'nonce', nonce: hex('a1a2a3a4a5a6') },
  { type: 'unknown', code: 253, data: hex('000102030405') },
];

const fullRa: RouterAdvertisement = {
  ...baseRa,
  managed: true,
  homeAgent: true,
  preference: 'low',
  proxy: true,
  reachableTime: 30000,
  retransTimer: 1000,
  options: everyOption,
};

function roundTrip(t: Test, message: NdMessage, m: ReceivedMeta): void {
  const bytes = encodeFor(message, m);
  t.same(decodeNd(bytes, m), { ok: true, message, ignoredOptions: [] }, `${message.type} round-trips`);
}

t.test('round trips', async (t) => {
  t.test('RS', async (t) => {
    roundTrip(t, { type: 'router-solicitation', options: [{ type: 'source-link-layer-address', address: mac }] }, meta('fe80::1', 'ff02::2'));
    roundTrip(t, { type: 'router-solicitation', options: [] }, meta('::', 'ff02::2'));
  });

  // The same RA, wrapped with ipv6Header and fed through text2pcap, is dissected by tshark with a
  // good checksum and every option as written here (checked once while writing this test).
  t.test('RA with every option type', async (t) => {
    roundTrip(t, fullRa, raMeta);
    const bytes = encodeFor(fullRa, raMeta);
    const routeInfo = [bytes.indexOf(hex('1801 00 18')), bytes.indexOf(hex('1802 30 08')), bytes.indexOf(hex('1803 50 00'))];
    t.ok(routeInfo.every((at) => at > 0), 'route-information encoded with lengths 1, 2 and 3');
    t.ok(bytes.includes(hex('1f05 0000 00000e10 076578616d706c6503636f6d00 036c6162076578616d706c65036f726700 0000')), 'dnssl wire format, zero padded');
    t.ok(bytes.includes(hex('1905 0000 00000e10')), 'rdnss with two servers has length 5');
    t.ok(bytes.includes(hex('0e01 a1a2a3a4a5a6')), 'a 6-byte nonce has length 1');
    t.ok(bytes.includes(hex('fd01 000102030405')), 'unknown option kept raw');
  });

  t.test('RA flags and preferences', async (t) => {
    for (const preference of ['high', 'medium', 'low', 'reserved'] as const) {
      roundTrip(t, { ...baseRa, preference }, raMeta);
    }
    const flags = encodeNd({ ...baseRa, managed: true, other: true, homeAgent: true, preference: 'low', proxy: true })[5];
    t.equal(flags, 0x80 | 0x40 | 0x20 | 0x18 | 0x04);
  });

  t.test('NS: DAD from :: to the solicited-node address, with a nonce', async (t) => {
    const target = ip('2001:db8::1234:5678');
    const ns: NeighborSolicitation = { type: 'neighbor-solicitation', target, options: [{ type: 'nonce', nonce: hex('010203040506') }] };
    roundTrip(t, ns, { source: ip('::'), destination: solicitedNode(target), hopLimit: 255, ifindex: 2 });
  });

  t.test('NS: address resolution with SLLA', async (t) => {
    const ns: NeighborSolicitation = {
      type: 'neighbor-solicitation',
      target: ip('fe80::2'),
      options: [{ type: 'source-link-layer-address', address: mac }],
    };
    roundTrip(t, ns, meta('fe80::1', 'ff02::1:ff00:2'));
  });

  t.test('NA: every flag combination', async (t) => {
    for (let bits = 0; bits < 8; bits++) {
      const na: NeighborAdvertisement = {
        type: 'neighbor-advertisement',
        router: (bits & 4) !== 0,
        solicited: (bits & 2) !== 0,
        override: (bits & 1) !== 0,
        target: ip('2001:db8::2'),
        options: [{ type: 'target-link-layer-address', address: mac }],
      };
      roundTrip(t, na, meta('2001:db8::2', '2001:db8::1'));
      t.equal(encodeNd(na)[4], bits << 5, `NA flags byte for R=${na.router} S=${na.solicited} O=${na.override}`);
    }
  });

  t.test('a trailing dot is accepted and decodes without it', async (t) => {
    const ra: RouterAdvertisement = { ...baseRa, options: [{ type: 'dnssl', lifetime: 1, domains: ['example.com.'] }] };
    const result = decodeNd(encodeFor(ra, raMeta), raMeta);
    t.same(result.ok && result.message.options, [{ type: 'dnssl', lifetime: 1, domains: ['example.com'] }]);
  });

  t.test('bits past the prefix length are sent as zero', async (t) => {
    const ra: RouterAdvertisement = {
      ...baseRa,
      options: [{ type: 'route-information', prefix: ip('2001:db8:1:ffff::1'), prefixLength: 48, preference: 'medium', lifetime: 1 }],
    };
    t.equal(encodeNd(ra).subarray(16).toString('hex'), '1802 30 00 00000001 20010db800010000'.replace(/ /g, ''));
  });

  t.test('a link-layer address that is not 6 bytes is padded', async (t) => {
    const eui64 = hex('0211223344556677');
    const rs: NdMessage = { type: 'router-solicitation', options: [{ type: 'source-link-layer-address', address: eui64 }] };
    const bytes = encodeNd(rs);
    t.equal(bytes.subarray(8).toString('hex'), '0102' + '0211223344556677' + '000000000000');
    const result = decodeNd(bytes, meta('fe80::1', 'ff02::2'), { verifyChecksum: false });
    t.same(result.ok && result.message.options, [
      { type: 'source-link-layer-address', address: Buffer.concat([eui64, Buffer.alloc(6)]) },
    ], 'the decoder cannot tell padding from address');
  });

  t.test('without addresses the checksum is left 0', async (t) => {
    t.equal(encodeNd(fullRa).readUInt16BE(2), 0);
    t.not(encodeFor(fullRa, raMeta).readUInt16BE(2), 0);
  });
});

t.test('hand-built vectors', async (t) => {
  // Bytes written out from RFC 4861 §4.1–§4.3, RFC 8106 §5.1 and RFC 7527 (not from the encoder).
  // Checksums: the RS one by hand (see ndp-checksum.test.ts); all three computed by a separate
  // Python script and confirmed by tshark ("[Checksum Status: Good]") on the IPv6 packets
  // made with text2pcap -l 229.
  t.test('RS with SLLA, fe80::1 → ff02::2', async (t) => {
    const bytes = hex('8500 7a2c 00000000 0101 020000000001');
    const message: NdMessage = { type: 'router-solicitation', options: [{ type: 'source-link-layer-address', address: mac }] };
    const m = meta('fe80::1', 'ff02::2');
    t.same(decodeNd(bytes, m), { ok: true, message, ignoredOptions: [] });
    t.same(encodeFor(message, m), bytes, 'the encoder produces the same bytes');
  });

  t.test('RA with prefix, MTU and RDNSS, fe80::1 → ff02::1', async (t) => {
    const bytes = hex(`
      8600 9b73 40 48 0708 00000000 00000000
      0304 40 c0 00278d00 00093a80 00000000 20010db8000100000000000000000000
      0501 0000 000005dc
      1903 0000 00000e10 20010db8000000000000000000000053`);
    const message: RouterAdvertisement = {
      ...baseRa,
      options: [
        prefixInformation,
        { type: 'mtu', mtu: 1500 },
        { type: 'rdnss', lifetime: 3600, servers: [ip('2001:db8::53')] },
      ],
    };
    t.same(decodeNd(bytes, raMeta), { ok: true, message, ignoredOptions: [] });
    t.same(encodeFor(message, raMeta), bytes, 'the encoder produces the same bytes');
  });

  t.test('DAD NS with nonce, :: → ff02::1:ff34:5678', async (t) => {
    const bytes = hex('8700 7681 00000000 20010db8000000000000000012345678 0e01 010203040506');
    const message: NdMessage = {
      type: 'neighbor-solicitation',
      target: ip('2001:db8::1234:5678'),
      options: [{ type: 'nonce', nonce: hex('010203040506') }],
    };
    const m = meta('::', 'ff02::1:ff34:5678');
    t.same(decodeNd(bytes, m), { ok: true, message, ignoredOptions: [] });
    t.same(encodeFor(message, m), bytes, 'the encoder produces the same bytes');
  });
});

t.test('rejects', async (t) => {
  const ra = encodeFor(fullRa, raMeta);
  /** Where each option of `fullRa` starts, and the end: `boundaries[k]` is the length with k options. */
  const boundaries = [16];
  for (let at = 16; at < ra.length; at += ra[at + 1] * 8) boundaries.push(at + ra[at + 1] * 8);

  t.test('every truncation of a valid RA', async (t) => {
    const wrong: string[] = [];
    for (let length = 0; length < ra.length; length++) {
      const cut = ra.subarray(0, length);
      const checked = decodeNd(cut, raMeta);
      if (checked.ok) wrong.push(`${length}: passed the checksum`);
      const result = decodeNd(cut, raMeta, { verifyChecksum: false });
      if (result.ok !== boundaries.includes(length)) wrong.push(`${length}: ok=${result.ok} ${reasonOf(result)}`);
      if (result.ok && result.message.options.length !== boundaries.indexOf(length)) wrong.push(`${length}: option count`);
    }
    t.same(wrong, [], 'a cut is valid exactly at an option boundary');
    t.equal(boundaries.length, everyOption.length + 1);
    t.match(reasonOf(decodeNd(ra.subarray(0, 20), raMeta, { verifyChecksum: false })), /runs past the end/);
    t.match(reasonOf(decodeNd(ra.subarray(0, 15), raMeta, { verifyChecksum: false })), /less than 16/);
  });

  t.test('trailing bytes after the options', async (t) => {
    for (const tail of ['00', '0501', 'ffffffffffffff', '0502 0000 000005dc']) {
      const bytes = resum(Buffer.concat([ra, hex(tail)]), raMeta);
      t.notOk(decodeNd(bytes, raMeta).ok, `tail ${tail}: ${reasonOf(decodeNd(bytes, raMeta))}`);
    }
  });

  t.test('wrong checksum', async (t) => {
    const bytes = Buffer.from(ra);
    bytes[2] ^= 0x10;
    t.same(decodeNd(bytes, raMeta), { ok: false, reason: 'bad ICMPv6 checksum' });
    t.ok(decodeNd(bytes, raMeta, { verifyChecksum: false }).ok, 'accepted when the kernel has checked it');
  });

  t.test('hop limit 64', async (t) => {
    t.same(decodeNd(ra, { ...raMeta, hopLimit: 64 }), { ok: false, reason: 'hop limit 64, not 255' });
  });

  t.test('code 1', async (t) => {
    const bytes = Buffer.from(ra);
    bytes[1] = 1;
    t.same(decodeNd(resum(bytes, raMeta), raMeta), { ok: false, reason: 'code 1, not 0' });
  });

  t.test('not an ND message', async (t) => {
    const echo = resum(hex('8000 0000 12340001'), raMeta);
    t.match(reasonOf(decodeNd(echo, raMeta)), /^not an ND message/);
    t.match(reasonOf(decodeNd(Buffer.alloc(0), raMeta)), /truncated/);
  });

  t.test('RA from a global source', async (t) => {
    const m = meta('2001:db8::1', 'ff02::1');
    t.same(decodeNd(encodeFor(baseRa, m), m), { ok: false, reason: 'RA source 2001:db8::1 is not link-local' });
  });

  t.test('NS for a multicast target', async (t) => {
    const m = meta('fe80::1', 'ff02::1:ff00:1');
    const ns: NdMessage = { type: 'neighbor-solicitation', target: ip('ff02::1'), options: [] };
    t.same(decodeNd(encodeFor(ns, m), m), { ok: false, reason: 'NS target ff02::1 is multicast' });
  });

  t.test('DAD NS with SLLA', async (t) => {
    const target = ip('2001:db8::1234:5678');
    const m: ReceivedMeta = { source: ip('::'), destination: solicitedNode(target), hopLimit: 255, ifindex: 2 };
    const ns: NdMessage = { type: 'neighbor-solicitation', target, options: [{ type: 'source-link-layer-address', address: mac }] };
    t.match(reasonOf(decodeNd(encodeFor(ns, m), m)), /from :: has a source link-layer address option/);
  });

  t.test('DAD NS not to a solicited-node address', async (t) => {
    const m = meta('::', 'ff02::1');
    const ns: NdMessage = { type: 'neighbor-solicitation', target: ip('2001:db8::1'), options: [] };
    t.match(reasonOf(decodeNd(encodeFor(ns, m), m)), /not a solicited-node address/);
  });

  t.test('RS from :: with SLLA', async (t) => {
    const m = meta('::', 'ff02::2');
    const rs: NdMessage = { type: 'router-solicitation', options: [{ type: 'source-link-layer-address', address: mac }] };
    t.match(reasonOf(decodeNd(encodeFor(rs, m), m)), /RS from :: has a source link-layer address option/);
  });

  t.test('NA to multicast with the Solicited flag', async (t) => {
    const m = meta('fe80::2', 'ff02::1');
    const na: NeighborAdvertisement = {
      type: 'neighbor-advertisement',
      router: false,
      solicited: true,
      override: true,
      target: ip('fe80::2'),
      options: [],
    };
    t.same(decodeNd(encodeFor(na, m), m), { ok: false, reason: 'NA to ff02::1 has the Solicited flag' });
    t.ok(decodeNd(encodeFor({ ...na, solicited: false }, m), m).ok, 'unsolicited NA to multicast is fine');
    t.match(reasonOf(decodeNd(encodeFor({ ...na, target: ip('ff02::1') }, meta('fe80::2', 'fe80::1')), meta('fe80::2', 'fe80::1'))), /NA target .* is multicast/);
  });

  t.test('option length 0', async (t) => {
    const bytes = resum(Buffer.concat([encodeNd(baseRa), hex('0100 020000000001')]), raMeta);
    t.same(decodeNd(bytes, raMeta), { ok: false, reason: 'option type 1 has length 0' });
  });

  t.test('messages shorter than their fixed part', async (t) => {
    const cases: Array<[string, ReceivedMeta]> = [
      ['8500 0000 0000', meta('fe80::1', 'ff02::2')],
      ['8700 0000 00000000 20010db8', meta('fe80::1', 'ff02::1:ff00:1')],
      ['8800 0000 00000000 20010db8', meta('fe80::1', 'fe80::2')],
    ];
    for (const [text, m] of cases) t.match(reasonOf(decodeNd(resum(hex(text), m), m)), /less than (8|24)/, text);
  });
});

t.test('ignored options', async (t) => {
  /** An RA carrying `bad` (built raw) between two good options. */
  function withBadOption(bad: Buffer): DecodeResult {
    const good: NdOption[] = [{ type: 'mtu', mtu: 1280 }];
    const bytes = Buffer.concat([encodeNd({ ...baseRa, options: good }), bad, encodeNd({ ...baseRa, options: good }).subarray(16)]);
    return decodeNd(resum(bytes, raMeta), raMeta);
  }
  const cases: Array<[string, string, RegExp]> = [
    ['MTU of length 2', '0502 0000 000005dc 0000000000000000', /^mtu with length 2/],
    ['prefix-information of length 3', '0303 40c0 00000001 00000001 00000000 2001 0db8 0000 0000', /^prefix-information with length 3/],
    ['prefix-information for /129', '0304 81c0 00000001 00000001 00000000 20010db8000100000000000000000000', /prefix length 129/],
    ['route-information of length 4', '1804 00 00 00000001' + '00'.repeat(24), /length 4, more than 3/],
    ['route-information /65 in length 2', '1802 41 00 00000001 20010db800010000', /too short for \/65/],
    ['route-information /1 in length 1', '1801 01 00 00000001', /too short for \/1/],
    ['route-information /129', '1803 81 00 00000001 20010db8000100000000000000000000', /prefix length 129/],
    ['route-information with reserved preference', '1801 00 10 00000001', /reserved preference/],
    ['RDNSS of length 2', '1902 0000 00000e10 20010db800000000', /^rdnss with length 2/],
    ['RDNSS of length 4', '1904 0000 00000e10 20010db8000000000000000000000053 20010db800000000', /^rdnss with length 4/],
    ['DNSSL of length 1', '1f01 0000 00000e10', /^dnssl with length 1/],
    ['DNSSL with a compression pointer', '1f02 0000 00000e10 c00c 0000 0000 0000', /malformed/],
    ['DNSSL without the terminating zero', '1f02 0000 00000e10 0761 6263 6465 6667', /malformed/],
    ['DNSSL with a label running past the end', '1f02 0000 00000e10 0f61 6263 6465 6667', /malformed/],
    ['DNSSL with only padding', '1f02 0000 00000e10 0000 0000 0000 0000', /malformed/],
    ['DNSSL with non-zero padding', '1f02 0000 00000e10 0161 0000 0000 ff00', /malformed/],
    ['DNSSL with a space in a label', '1f02 0000 00000e10 0361 2062 0000 0000', /malformed/],
  ];
  for (const [name, option, note] of cases) {
    t.test(name, async (t) => {
      const result = withBadOption(hex(option));
      t.ok(result.ok, 'the message is still valid');
      if (!result.ok) return;
      t.equal(result.ignoredOptions.length, 1);
      t.match(result.ignoredOptions[0], note);
      t.same(result.message.options, [{ type: 'mtu', mtu: 1280 }, { type: 'mtu', mtu: 1280 }], 'the good options around it are kept');
    });
  }

  t.test('route-information beyond what its prefix needs is accepted', async (t) => {
    const result = withBadOption(hex('1803 30 08 00000001 20010db8000a0000 0000000000000000'));
    t.same(result.ok && result.ignoredOptions, []);
    t.same(result.ok && result.message.options[1], {
      type: 'route-information',
      prefix: ip('2001:db8:a::'),
      prefixLength: 48,
      preference: 'high',
      lifetime: 1,
    });
  });
});

t.test('encoder RangeErrors', async (t) => {
  const dnssl = (domains: string[]): NdMessage => ({ ...baseRa, options: [{ type: 'dnssl', lifetime: 1, domains }] });
  t.throws(() => encodeNd(dnssl(['a'.repeat(64) + '.example'])), RangeError, 'label of 64 characters');
  t.doesNotThrow(() => encodeNd(dnssl(['a'.repeat(63) + '.example'])), 'label of 63 characters');
  t.throws(() => encodeNd(dnssl(['a..example'])), RangeError, 'empty label');
  t.throws(() => encodeNd(dnssl([''])), RangeError, 'empty domain');
  t.throws(() => encodeNd(dnssl(['exämple.com'])), RangeError, 'non-ASCII label');
  // 5 labels of 50: 5 × (1 + 50) + 1 = 256 bytes of wire format, one more than RFC 1035 allows.
  t.throws(() => encodeNd(dnssl([Array(5).fill('a'.repeat(50)).join('.')])), RangeError, 'name over 255 bytes');
  t.throws(() => encodeNd(dnssl([])), RangeError, 'no domains');
  t.throws(() => encodeNd({ ...baseRa, options: [{ type: 'rdnss', lifetime: 1, servers: [] }] }), RangeError, 'no servers');
  t.throws(() => encodeNd({ ...baseRa, options: [{ type: 'rdnss', lifetime: 1, servers: [Buffer.alloc(4)] }] }), RangeError, 'short server');
  t.throws(() => encodeNd({ ...baseRa, options: [{ ...prefixInformation, prefixLength: 129 }] }), RangeError, 'prefix length 129');
  t.throws(() => encodeNd({ type: 'neighbor-solicitation', target: Buffer.alloc(15), options: [] }), RangeError, '15-byte target');
  t.throws(() => encodeNd({ ...baseRa, options: [{ type: 'unknown', code: 200, data: Buffer.alloc(2039) }] }), RangeError, 'option over 255 units');
});

t.test('decodeNd never throws (fuzz)', async (t) => {
  const next = random(8106);
  const byte = (): number => Math.floor(next() * 256);
  const metas: ReceivedMeta[] = [
    raMeta,
    meta('::', 'ff02::1:ff00:1'),
    meta('fe80::1', 'ff02::2'),
    meta('2001:db8::1', 'ff02::1'),
  ];
  const seeds = [
    encodeFor(fullRa, raMeta),
    encodeFor({ type: 'neighbor-solicitation', target: ip('2001:db8::1'), options: [{ type: 'nonce', nonce: hex('010203040506') }] }, metas[1]),
    encodeFor({ type: 'router-solicitation', options: [{ type: 'source-link-layer-address', address: mac }] }, metas[2]),
    encodeFor({ type: 'neighbor-advertisement', router: true, solicited: true, override: false, target: ip('fe80::1'), options: [] }, metas[0]),
  ];
  let thrown = 0;
  let decoded = 0;
  const attempt = (bytes: Buffer, m: ReceivedMeta): void => {
    for (const verifyChecksum of [true, false]) {
      try {
        if (decodeNd(bytes, m, { verifyChecksum }).ok) decoded++;
      } catch (err) {
        thrown++;
        if (thrown === 1) t.fail(`threw on ${bytes.toString('hex')}: ${String(err)}`);
      }
    }
  };
  for (let i = 0; i < 20000; i++) {
    const m = metas[i % metas.length];
    // Random bytes, mostly with an ND type so the body and option parsers are reached.
    const noise = Buffer.from(Array.from({ length: Math.floor(next() * 120) }, byte));
    if (noise.length > 0 && next() < 0.9) noise[0] = 133 + (i % 4);
    if (noise.length > 1 && next() < 0.9) noise[1] = 0;
    attempt(noise, m);
    // A valid message with a few bytes changed, then possibly truncated or extended.
    const seed = seeds[i % seeds.length];
    const mutated = Buffer.from(seed);
    for (let k = 1 + Math.floor(next() * 4); k > 0; k--) mutated[Math.floor(next() * mutated.length)] = byte();
    const cut = mutated.subarray(0, Math.floor(next() * (mutated.length + 1)));
    attempt(next() < 0.2 ? Buffer.concat([mutated, Buffer.from([byte(), byte(), byte()])]) : cut, m);
  }
  t.equal(thrown, 0, 'no input made decodeNd throw');
  t.ok(decoded > 0, `some fuzzed inputs still decode (${decoded})`);
});
