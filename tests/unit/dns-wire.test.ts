// The DNS message codec (runtime/dns/wire.ts) against hand-built byte vectors: the UPDATE we
// send (class NONE = 254 really on the wire for deletes), names, AAAA/PTR/SOA/TSIG RDATA,
// compression pointers (incl. loops and out-of-range pointers), truncation and a fuzz loop —
// decoding hostile bytes returns an error value and never throws.
import t from 'tap';
import { InputError } from '../../runtime/core/errors';
import { parseIPv6 } from '../../runtime/core/ipv6';
import { buildUpdate } from '../../runtime/system/dns-client';
import {
  CLASS,
  type DecodeResult,
  type Message,
  OPCODE,
  TYPE,
  decodeMessage,
  encodeMessage,
  encodeName,
  isSubdomain,
  nameLabels,
  normalizeName,
  rcodeName,
  readName,
} from '../../runtime/wire/dns/wire';
import { hex, seededRandom as random } from './helpers';

const reasonOf = (r: DecodeResult): string => (r.ok ? '(decoded fine)' : r.reason);

/** Wire form of a name, built label by label here (independent of the codec). */
function wireName(...labels: string[]): string {
  return labels.map((l) => Buffer.from([l.length]).toString('hex') + Buffer.from(l, 'latin1').toString('hex')).join('') + '00';
}


// ---------------------------------------------------------------- the UPDATE we send

// id 0x1234, opcode UPDATE; zone lab.example SOA IN; no prerequisites; 3 updates:
//   add    c1.lab.example 300 IN   AAAA 2001:db8:1::10
//   delete c1.lab.example   0 NONE AAAA 2001:db8:1::10      (RFC 2136 §2.5.4: exactly this RR)
//   delete p.lab.example    0 NONE PTR  c1.lab.example
const UPDATE_VECTOR = hex(`
  1234 2800 0001 0000 0003 0000
  03 6c6162 07 6578616d706c65 00   0006 0001
  02 6331 03 6c6162 07 6578616d706c65 00   001c 0001 0000012c 0010 20010db8000100000000000000000010
  02 6331 03 6c6162 07 6578616d706c65 00   001c 00fe 00000000 0010 20010db8000100000000000000000010
  01 70 03 6c6162 07 6578616d706c65 00     000c 00fe 00000000 0010 02 6331 03 6c6162 07 6578616d706c65 00
`);

t.test('an UPDATE is encoded byte for byte; deletes carry class NONE (254), TTL 0 and the RDATA', async (t) => {
  const m = buildUpdate(0x1234, 'Lab.Example.', [
    { op: 'add', name: 'C1.lab.example', type: 'AAAA', ttl: 300, data: '2001:DB8:1:0::10' },
    { op: 'delete', name: 'c1.lab.example.', type: 'AAAA', data: '2001:db8:1::10' },
    { op: 'delete', name: 'p.lab.example', type: 'PTR', data: 'C1.LAB.EXAMPLE.' },
  ]);
  const wire = encodeMessage(m);
  t.equal(wire.toString('hex'), UPDATE_VECTOR.toString('hex'));
  // the class of both deletes, read straight from the bytes
  t.equal(wire.readUInt16BE(12 + 13 + 4 + 16 + 10 + 16 + 16 + 2), 254, 'AAAA delete: class NONE on the wire');
  const d = decodeMessage(wire);
  if (!d.ok) return t.fail(d.reason);
  t.equal(d.message.header.opcode, OPCODE.UPDATE);
  t.same(d.message.questions, [{ name: 'lab.example', type: TYPE.SOA, class: CLASS.IN }]);
  t.same(
    d.message.authorities.map((r) => [r.name, r.type, r.class, r.ttl]),
    [
      ['c1.lab.example', 28, 1, 300],
      ['c1.lab.example', 28, 254, 0],
      ['p.lab.example', 12, 254, 0],
    ],
  );
  t.same(d.message.authorities[2]?.rdata, { type: 'PTR', target: 'c1.lab.example' });
  t.same(d.message.authorities[1]?.rdata, { type: 'AAAA', address: parseIPv6('2001:db8:1::10') });
  t.equal(d.tsigOffset, undefined);
});

t.test('a prerequisite-only UPDATE (doctor): "name is in use" as class ANY, type ANY, TTL 0, no RDATA; no update section', async (t) => {
  const wire = encodeMessage(buildUpdate(9, 'lab.example', [], ['Lab.Example.']));
  // header: ZOCOUNT 1, PRCOUNT 1, UPCOUNT 0, ADCOUNT 0
  t.same([wire.readUInt16BE(4), wire.readUInt16BE(6), wire.readUInt16BE(8), wire.readUInt16BE(10)], [1, 1, 0, 0]);
  const d = decodeMessage(wire);
  if (!d.ok) return t.fail(d.reason);
  t.same(d.message.answers, [{ name: 'lab.example', type: TYPE.ANY, class: CLASS.ANY, ttl: 0, rdata: { type: 'raw', bytes: Buffer.alloc(0) } }]);
  t.throws(() => buildUpdate(9, 'lab.example', [], ['other.example']), /not in zone lab\.example/, 'a prerequisite outside the zone: an input error');
});

t.test('a PTR in the reverse zone: the nibble name and its RDATA', async (t) => {
  const nibbles = '0.1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.1.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa';
  const m = buildUpdate(7, '1.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa', [{ op: 'add', name: nibbles, type: 'PTR', ttl: 60, data: 'c1.lab.example' }]);
  const expected = hex(
    '0007 2800 0001 0000 0001 0000' +
      wireName(...'1.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa'.split('.')) +
      '0006 0001' +
      wireName(...nibbles.split('.')) +
      '000c 0001 0000003c' +
      '0010' +
      wireName('c1', 'lab', 'example'),
  );
  t.equal(encodeMessage(m).toString('hex'), expected.toString('hex'));
});

t.test('ops outside the zone, bad addresses and TTLs are input errors', async (t) => {
  t.throws(() => buildUpdate(1, 'lab.example', [{ op: 'add', name: 'c1.other.example', type: 'AAAA', ttl: 1, data: '2001:db8::1' }]), InputError);
  t.throws(() => buildUpdate(1, 'lab.example', [{ op: 'add', name: 'c1.lab.example', type: 'AAAA', ttl: 1, data: '192.0.2.1' }]), InputError);
  t.throws(() => buildUpdate(1, 'lab.example', [{ op: 'add', name: 'c1.lab.example', type: 'AAAA', ttl: -1, data: '2001:db8::1' }]), InputError);
  t.throws(() => buildUpdate(1, 'lab.example', [{ op: 'add', name: 'c1.lab.example', type: 'AAAA', ttl: 1.5, data: '2001:db8::1' }]), InputError);
  t.throws(() => buildUpdate(1, 'lab.example', [{ op: 'delete', name: 'x.lab.example', type: 'PTR', data: 'a..b' }]), InputError);
  t.doesNotThrow(() => buildUpdate(1, 'lab.example', [{ op: 'delete', name: 'LAB.example', type: 'AAAA', data: '::1' }]), 'the apex is in the zone');
});

// ---------------------------------------------------------------- names

t.test('names: lower case, no trailing dot, label and name length limits', async (t) => {
  t.equal(normalizeName('C1.Lab.EXAMPLE.'), 'c1.lab.example');
  t.equal(normalizeName('.'), '');
  t.equal(normalizeName(''), '');
  t.equal(encodeName('').toString('hex'), '00');
  t.equal(encodeName('A.b').toString('hex'), '0161016200');
  t.equal(normalizeName('a\\.b.c'), 'a\\.b.c', 'an escaped dot stays inside its label');
  t.same(nameLabels('a\\.b.c').map((l) => l.toString('latin1')), ['a.b', 'c']);
  t.equal(normalizeName('\\065B'), 'ab', '\\DDD escapes, lower-cased');
  t.equal(normalizeName('a\\000'), 'a\\000', 'non-printable bytes come back as \\DDD');
  const l63 = 'a'.repeat(63);
  t.equal(encodeName(l63).length, 65);
  t.throws(() => encodeName('a'.repeat(64)), { name: 'InputError', message: /64 octets/ });
  // 255 octets on the wire: 63+1 + 63+1 + 63+1 + 61+1 + 1
  const max = [l63, l63, l63, 'b'.repeat(61)].join('.');
  t.equal(encodeName(max).length, 255);
  t.throws(() => encodeName(`${max}b`), { name: 'InputError', message: /256 octets/ });
  for (const bad of ['a..b', '.a', 'a.b..', 'a\\', 'a\\25', 'a\\256']) t.throws(() => encodeName(bad), InputError, JSON.stringify(bad));
  t.ok(isSubdomain('X.Lab.Example.', 'lab.example'));
  t.ok(isSubdomain('lab.example', 'lab.example'));
  t.notOk(isSubdomain('xlab.example', 'lab.example'));
  t.notOk(isSubdomain('example', 'lab.example'));
});

// A query response with compression: the answer owner "c1" + pointer to the question name at 12,
// then a PTR whose owner points at the first answer's owner and whose RDATA "x" + pointer too.
const COMPRESSED = hex(`
  abcd 8180 0001 0002 0000 0000
  03 6c6162 07 6578616d706c65 00  001c 0001                 // 12: lab.example
  02 6331 c00c  001c 0001 0000003c 0010 20010db8000100000000000000000010   // 29: c1.lab.example
  c01d          000c 0001 0000003c 0004 01 78 c01d           // 60: c1.lab.example PTR x.c1.lab.example
`);

t.test('decoding follows compression pointers, in names and in RDATA', async (t) => {
  const d = decodeMessage(COMPRESSED);
  if (!d.ok) return t.fail(d.reason);
  t.same(d.message.header, { id: 0xabcd, qr: true, opcode: 0, aa: false, tc: false, rd: true, ra: true, z: 0, rcode: 0 });
  t.equal(d.message.questions[0]?.name, 'lab.example');
  t.equal(d.message.answers[0]?.name, 'c1.lab.example');
  t.equal(d.message.answers[1]?.name, 'c1.lab.example');
  t.same(d.message.answers[1]?.rdata, { type: 'PTR', target: 'x.c1.lab.example' });
  t.equal(d.message.answers[0]?.ttl, 60);
  const upper = Buffer.from(COMPRESSED);
  upper.write('LAB', 13, 'latin1');
  const u = decodeMessage(upper);
  t.equal(u.ok && u.message.answers[1]?.name, 'c1.lab.example', 'names come back lower-cased');
});

t.test('pointer loops, forward and out-of-range pointers, bad label types: errors, not throws', async (t) => {
  const base = hex('0000 0000 0000 0000 0000 0000');
  // 12: "a" then a pointer to 16; 16: "b" then a pointer to 12 — reading at 16 loops 16 → 12 → 16.
  const loop = Buffer.concat([base, hex('01 61 c010 01 62 c00c')]);
  const r1 = readName(loop, 16);
  t.notOk(r1.ok);
  t.match(r1.ok ? '' : r1.reason, /pointer .* does not point backwards/);
  const r2 = readName(loop, 12);
  t.match(r2.ok ? '' : r2.reason, /pointer at offset 14 to offset 16 does not point backwards/, 'forward pointer');
  const self = Buffer.concat([base, hex('c00c')]);
  t.match(readName(self, 12).ok ? '' : (readName(self, 12) as { reason: string }).reason, /pointer/, 'pointer to itself');
  const far = Buffer.concat([base, hex('c0ff')]);
  const r3 = readName(far, 12);
  t.match(r3.ok ? '' : r3.reason, /out of range/);
  const cut = Buffer.concat([base, hex('c0')]);
  t.match(readName(cut, 12).ok ? '' : (readName(cut, 12) as { reason: string }).reason, /truncated compression pointer/);
  for (const kind of ['40', '80']) {
    const b = Buffer.concat([base, hex(`${kind}00`)]);
    t.match((readName(b, 12) as { reason: string }).reason, /unsupported label type/, `label type 0x${kind}`);
  }
  // Whole messages: a question whose name is a loop; an answer pointing past the end.
  const q = decodeMessage(hex('0001 0000 0001 0000 0000 0000 c00c 0001 0001'));
  t.match(reasonOf(q), /question 1 of 1: compression pointer at offset 12 to offset 12/);
  const a = decodeMessage(hex('0001 8000 0000 0001 0000 0000 c0ff 001c 0001 00000000 0000'));
  t.match(reasonOf(a), /answer record 1 of 1: compression pointer .* out of range/);
});

t.test('names longer than 255 octets through pointers are rejected', async (t) => {
  // four names of one 63-octet label each, every one pointing at the previous: 4 × 64 + 1 = 257
  const label = `3f${'61'.repeat(63)}`;
  const buf = hex(`0000 0000 0000 0000 0000 0000 ${label}00 ${label}c00c ${label}c04d ${label}c08f`);
  t.ok(readName(buf, 12 + 65 + 66).ok, 'three labels (193 octets) are fine');
  const r = readName(buf, 12 + 65 + 66 + 66);
  t.match(r.ok ? '' : r.reason, /longer than 255 octets/);
});

t.test('every truncation of a valid message is an error value', async (t) => {
  for (const vector of [UPDATE_VECTOR, COMPRESSED]) {
    for (let len = 0; len < vector.length; len++) {
      const r = decodeMessage(vector.subarray(0, len));
      if (r.ok) t.fail(`prefix of ${len} bytes decoded`);
    }
  }
  t.match(reasonOf(decodeMessage(UPDATE_VECTOR.subarray(0, 11))), /truncated header/);
  t.match(reasonOf(decodeMessage(Buffer.concat([UPDATE_VECTOR, hex('00')]))), /1 trailing bytes/);
  t.match(reasonOf(decodeMessage(COMPRESSED.subarray(0, 50))), /truncated RDATA of AAAA record/);
});

t.test('RDATA lengths are checked per type', async (t) => {
  const aaaa15 = hex(`0001 8000 0000 0001 0000 0000 00 001c 0001 00000000 000f ${'00'.repeat(15)}`);
  t.match(reasonOf(decodeMessage(aaaa15)), /AAAA RDATA at offset \d+: 15 bytes/);
  const ptrExtra = hex('0001 8000 0000 0001 0000 0000 00 000c 0001 00000000 0004 0161 00 ff');
  t.match(reasonOf(decodeMessage(ptrExtra)), /PTR RDATA .* 1 bytes after the name/);
  const ptrOver = hex('0001 8000 0000 0001 0000 0000 00 000c 0001 00000000 0002 0161 00');
  t.notOk(decodeMessage(ptrOver).ok, 'PTR name running past its RDATA');
  const empty = decodeMessage(hex('0001 2800 0000 0000 0001 0000 0161 00 001c 00ff 00000000 0000'));
  t.same(empty.ok && empty.message.authorities[0]?.rdata, { type: 'raw', bytes: Buffer.alloc(0) }, 'empty RDATA (class ANY delete) is raw');
  const soa = hex(`0001 8000 0000 0001 0000 0000 00 0006 0001 00000e10 001a 0161 00 0162 00 ${'00000001'} 00000002 00000003 00000004 00000005`);
  const s = decodeMessage(soa);
  t.same(s.ok && s.message.answers[0]?.rdata, { type: 'SOA', mname: 'a', rname: 'b', serial: 1, refresh: 2, retry: 3, expire: 4, minimum: 5 });
  const txt = decodeMessage(hex('0001 8000 0000 0001 0000 0000 00 0010 0001 00000000 0003 026869'));
  t.same(txt.ok && txt.message.answers[0]?.rdata, { type: 'raw', bytes: hex('026869') }, 'other types are kept raw');
});

t.test('TSIG: round trip, and it must be the last additional record', async (t) => {
  const tsigRR = {
    name: 'k',
    type: TYPE.TSIG,
    class: CLASS.ANY,
    ttl: 0,
    rdata: { type: 'TSIG' as const, algorithm: 'hmac-sha256', timeSigned: 0x0102_0304_0506, fudge: 300, mac: hex('aabb'), originalId: 0x1234, error: 18, other: hex('000011112222') },
  };
  const m: Message = {
    header: { id: 0x1234, qr: true, opcode: 5, aa: false, tc: false, rd: false, ra: false, z: 0, rcode: 9 },
    questions: [],
    answers: [],
    authorities: [],
    additionals: [tsigRR],
  };
  const wire = encodeMessage(m);
  t.equal(
    wire.subarray(12).toString('hex'),
    hex(`016b00 00fa 00ff 00000000 0025 ${wireName('hmac-sha256')} 010203040506 012c 0002 aabb 1234 0012 0006 000011112222`).toString('hex'),
  );
  const d = decodeMessage(wire);
  if (!d.ok) return t.fail(d.reason);
  t.same(d.message.additionals[0], tsigRR);
  t.equal(d.tsigOffset, 12);
  const twice = encodeMessage({ ...m, additionals: [tsigRR, tsigRR] });
  t.match(reasonOf(decodeMessage(twice)), /TSIG record in additional record 1 of 2/);
  const inAnswer = encodeMessage({ ...m, answers: [tsigRR], additionals: [] });
  t.match(reasonOf(decodeMessage(inAnswer)), /TSIG record in answer/);
  const badOther = Buffer.from(wire);
  badOther.writeUInt16BE(7, badOther.length - 8);
  t.match(reasonOf(decodeMessage(badOther)), /other length 7/);
  const badMac = Buffer.from(wire);
  badMac.writeUInt16BE(0x100, 12 + 3 + 10 + 13 + 6 + 2);
  t.match(reasonOf(decodeMessage(badMac)), /MAC size 256 runs past/);
});

t.test('header flags and rcodes', async (t) => {
  const d = decodeMessage(hex('ffff ffff 0000 0000 0000 0000'));
  t.same(d.ok && d.message.header, { id: 0xffff, qr: true, opcode: 15, aa: true, tc: true, rd: true, ra: true, z: 7, rcode: 15 });
  const m = encodeMessage({
    header: { id: 1, qr: true, opcode: 5, aa: true, tc: false, rd: false, ra: false, z: 0, rcode: 5 },
    questions: [],
    answers: [],
    authorities: [],
    additionals: [],
  });
  t.equal(m.toString('hex'), '0001ac05' + '0'.repeat(16));
  t.equal(rcodeName(5), 'REFUSED');
  t.equal(rcodeName(9), 'NOTAUTH');
  t.equal(rcodeName(10), 'NOTZONE');
  t.equal(rcodeName(16), 'BADSIG');
  t.equal(rcodeName(17), 'BADKEY');
  t.equal(rcodeName(18), 'BADTIME');
  t.equal(rcodeName(12), 'RCODE12');
});

t.test('fuzz: mutated and random bytes never throw', async (t) => {
  const rnd = random(0x5eed);
  let decoded = 0;
  const n = 20000;
  for (let i = 0; i < n; i++) {
    const src = i % 3 === 0 ? UPDATE_VECTOR : COMPRESSED;
    let buf: Buffer;
    if (i % 5 === 4) {
      buf = Buffer.alloc(Math.floor(rnd() * 80));
      for (let j = 0; j < buf.length; j++) buf[j] = Math.floor(rnd() * 256);
    } else {
      buf = Buffer.from(src.subarray(0, Math.max(12, Math.floor(rnd() * (src.length + 4)))));
      const flips = 1 + Math.floor(rnd() * 4);
      for (let f = 0; f < flips; f++) buf[Math.floor(rnd() * buf.length)] = Math.floor(rnd() * 256);
    }
    let r: DecodeResult;
    try {
      r = decodeMessage(buf);
    } catch (e) {
      t.fail(`threw on ${buf.toString('hex')}: ${String(e)}`);
      continue;
    }
    if (r.ok) decoded++;
    else if (typeof r.reason !== 'string' || r.reason === '') t.fail(`no reason for ${buf.toString('hex')}`);
  }
  t.pass(`${n} inputs, ${decoded} decoded, the rest rejected with a reason`);
});
