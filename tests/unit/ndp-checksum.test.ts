import t from 'tap';
import { parseIPv6 } from '../../runtime/core/ipv6';
import { icmp6Checksum, ipv6Header, verifyIcmp6Checksum } from '../../runtime/wire/ndp/checksum';
import { hex, seededRandom as random } from './helpers';


/**
 * An independent checksum, written differently on purpose: it builds the whole pseudo-header as
 * bytes (RFC 8200 §8.1), zeroes the checksum field in a copy, pads to even length, sums 16-bit
 * words with DataView and folds once at the end.
 */
function referenceChecksum(source: Buffer, destination: Buffer, icmp: Buffer): number {
  const copy = Buffer.from(icmp);
  if (copy.length >= 4) copy.fill(0, 2, 4);
  const length = Buffer.alloc(4);
  length.writeUInt32BE(copy.length);
  const all = Buffer.concat([source, destination, length, Buffer.from([0, 0, 0, 58]), copy, Buffer.alloc(copy.length % 2)]);
  const view = new DataView(all.buffer, all.byteOffset, all.byteLength);
  let sum = 0;
  for (let i = 0; i < all.length; i += 2) sum += view.getUint16(i);
  while (sum > 0xffff) sum = (sum & 0xffff) + Math.floor(sum / 0x10000);
  return ~sum & 0xffff;
}


const fe80_1 = parseIPv6('fe80::1');
const ff02_2 = parseIPv6('ff02::2');

// RS with SLLA 02:00:00:00:00:01, fe80::1 → ff02::2. Checksum 0x7a2c worked out by hand:
//   pseudo-header fe81 + ff04 + 0010 (length 16) + 003a (next header 58)
//   message       8500 + 0000 (checksum) + 0000 + 0000 + 0101 + 0200 + 0000 + 0001
//   sum 0x285d1 → fold 0x85d1 + 0x2 = 0x85d3 → complement 0x7a2c
// and confirmed by tshark ("Checksum: 0x7a2c [correct]") on the packet made with text2pcap -l 229.
const rs = hex('8500 7a2c 00000000 0101 020000000001');

t.test('icmp6Checksum: hand-computed RS vector', async (t) => {
  t.equal(icmp6Checksum(fe80_1, ff02_2, rs), 0x7a2c);
  t.equal(referenceChecksum(fe80_1, ff02_2, rs), 0x7a2c);
  const garbage = Buffer.from(rs);
  garbage.writeUInt16BE(0x1234, 2);
  t.equal(icmp6Checksum(fe80_1, ff02_2, garbage), 0x7a2c, 'the stored checksum field is treated as zero');
});

t.test('verifyIcmp6Checksum', async (t) => {
  t.ok(verifyIcmp6Checksum(fe80_1, ff02_2, rs));
  const flipped = Buffer.from(rs);
  flipped[15] ^= 0x01;
  t.notOk(verifyIcmp6Checksum(fe80_1, ff02_2, flipped), 'a changed byte');
  t.notOk(verifyIcmp6Checksum(parseIPv6('fe80::2'), ff02_2, rs), 'a different source address');
  t.notOk(verifyIcmp6Checksum(fe80_1, parseIPv6('ff02::1'), rs), 'a different destination address');
  t.notOk(verifyIcmp6Checksum(fe80_1, ff02_2, Buffer.concat([rs, Buffer.alloc(2)])), 'a different length');
});

t.test('agrees with the reference implementation on random messages, odd lengths included', async (t) => {
  const next = random(4861);
  const bytes = (n: number): Buffer => Buffer.from(Array.from({ length: n }, () => Math.floor(next() * 256)));
  let mismatches = 0;
  for (let i = 0; i < 2000; i++) {
    const source = bytes(16);
    const destination = bytes(16);
    const icmp = bytes(Math.floor(next() * 300));
    const sum = icmp6Checksum(source, destination, icmp);
    if (sum !== referenceChecksum(source, destination, icmp)) mismatches++;
    if (icmp.length >= 4) {
      icmp.writeUInt16BE(sum, 2);
      if (!verifyIcmp6Checksum(source, destination, icmp)) mismatches++;
    }
  }
  t.equal(mismatches, 0);
});

t.test('icmp6Checksum rejects addresses that are not 16 bytes', async (t) => {
  t.throws(() => icmp6Checksum(Buffer.alloc(4), ff02_2, rs), RangeError);
});

t.test('ipv6Header', async (t) => {
  const header = ipv6Header(parseIPv6('::'), parseIPv6('ff02::1:ff34:5678'), 32, 58, 255);
  t.equal(
    header.toString('hex'),
    '60000000' + '0020' + '3a' + 'ff' + '00'.repeat(16) + 'ff0200000000000000000001ff345678',
  );
  t.throws(() => ipv6Header(fe80_1, ff02_2, 0x10000, 58, 255), RangeError);
  t.throws(() => ipv6Header(fe80_1, Buffer.alloc(15), 8, 58, 255), RangeError);
});
