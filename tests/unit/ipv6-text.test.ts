// runtime/core/ipv6.ts parses the plain hex forms and writes RFC 5952 text itself (ip-address is
// loaded only for other forms): both checked against ip-address, on fixed cases and at random.
import t from 'tap';
import { Address6 } from 'ip-address';
import { formatIPv6, parseHexForm, parseIPv6 } from '../../runtime/core/ipv6';

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s/g, ''), 'hex');
/** ip-address's bytes of a valid text (toByteArray drops leading zero bytes). */
const refBytes = (text: string): Buffer => {
  const b = Buffer.alloc(16);
  const bytes = new Address6(text).toByteArray();
  Buffer.from(bytes).copy(b, 16 - bytes.length);
  return b;
};

t.test('RFC 5952 text', async (t) => {
  t.equal(formatIPv6(hex('20010db8 00000000 00000000 00000001')), '2001:db8::1');
  t.equal(formatIPv6(hex('20010db8 00000001 00000000 00000001')), '2001:db8:0:1::1', '§4.2.3: the longest run');
  t.equal(formatIPv6(hex('20010db8 00000000 00010000 00000001')), '2001:db8::1:0:0:1', '§4.2.3: the first of equal runs');
  t.equal(formatIPv6(hex('20010db8 00000001 00010001 00010001')), '2001:db8:0:1:1:1:1:1', '§4.2.2: one zero group stays');
  t.equal(formatIPv6(Buffer.alloc(16)), '::');
  t.equal(formatIPv6(hex('fe800000 00000000 00000000 00000000')), 'fe80::');
  t.equal(formatIPv6(hex('00000000 00000000 00000000 00000001')), '::1');
  t.equal(formatIPv6(hex('20010DB8 000000AB 00000000 0000CDEF')), '2001:db8:0:ab::cdef', '§4.3: lower case');
  t.throws(() => formatIPv6(Buffer.alloc(4)), RangeError);
});

t.test('the plain hex forms; everything else left to ip-address', async (t) => {
  t.same(parseHexForm('2001:DB8::1'), hex('20010db8 00000000 00000000 00000001'));
  t.same(parseHexForm('1:2:3:4:5:6:7::'), hex('00010002 00030004 00050006 00070000'), ':: for one group');
  t.same(parseHexForm('::'), Buffer.alloc(16));
  for (const s of ['', ':', ':::', '1::2::3', '1:2:3:4:5:6:7:8:9', '1:2:3:4:5:6:7', '1:2:3:4:5:6:7:8::', '12345::', ':1::', '1::2:', 'g::1', '::ffff:192.0.2.1', ' ::1', '2001:db8::1/64']) {
    t.equal(parseHexForm(s), undefined, JSON.stringify(s));
  }
  t.same(parseIPv6('::ffff:192.0.2.1'), hex('00000000 00000000 0000ffff c0000201'), 'an embedded IPv4 address, by ip-address');
  t.same(parseIPv6('fe80::1%eth0'), hex('fe800000 00000000 00000000 00000001'), 'a zone is ignored');
  for (const s of ['1::2::3', '2001:db8::/64', 'x', '::ffff:300.0.0.1']) t.throws(() => parseIPv6(s), { message: /invalid IPv6 address/ }, s);
});

t.test('against ip-address, at random', async (t) => {
  let seed = 0x5eed;
  const rnd = (k: number): number => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return seed % k;
  };
  const chars = '0123456789abcdefABCDEF:::::.%g ';
  let differences = 0;
  for (let i = 0; i < 20000; i++) {
    const b = Buffer.alloc(16);
    // Many zero groups and short groups: the cases RFC 5952 is about.
    for (let k = 0; k < 8; k++) b.writeUInt16BE([rnd(0x10000), rnd(16), 0, 0][rnd(4)] ?? 0, k * 2);
    const text = formatIPv6(b);
    if (text !== Address6.fromByteArray(Array.from(b)).correctForm()) differences++;
    const forms = [text, text.toUpperCase(), new Address6(text).canonicalForm(), `${text}:`, `:${text}`, text.replace('::', ':::'), Array.from({ length: rnd(40) }, () => chars[rnd(chars.length)]).join('')];
    for (const s of forms) {
      const mine = parseHexForm(s);
      if (mine === undefined) continue; // ip-address decides
      if (!Address6.isValid(s) || !refBytes(s).equals(mine)) differences++;
    }
  }
  t.equal(differences, 0, 'formatIPv6 = correctForm(); parseHexForm accepts only what ip-address accepts, as the same bytes');
});
