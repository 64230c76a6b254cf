/**
 * DNS message codec (RFC 1035 §4, RFC 2136 §2, RFC 8945 §4.2) for the dynamic-update client.
 *
 * Names are case-insensitive: they are kept in lower case, without the trailing dot, in
 * presentation form (`\.`, `\\` and `\DDD` escapes for bytes that need them); the root is "".
 * Names are always encoded uncompressed (TSIG needs canonical names anyway); decoding follows
 * compression pointers, which must point strictly before every earlier jump, so a loop cannot
 * exist. Encoding our own data throws InputError on an impossible value; decoding bytes from
 * the network never throws: it returns `{ ok: false, reason }`.
 */
import { InputError } from '../../core/errors';

export const TYPE = { A: 1, SOA: 6, PTR: 12, TXT: 16, AAAA: 28, OPT: 41, TSIG: 250, ANY: 255 } as const;
export const CLASS = { IN: 1, NONE: 254, ANY: 255 } as const;
export const OPCODE = { QUERY: 0, UPDATE: 5 } as const;

/** RCODEs (RFC 1035, RFC 2136) and TSIG errors (RFC 8945 §3, in the TSIG RR's Error field). */
export const RCODE_NAMES: Readonly<Record<number, string>> = {
  0: 'NOERROR',
  1: 'FORMERR',
  2: 'SERVFAIL',
  3: 'NXDOMAIN',
  4: 'NOTIMP',
  5: 'REFUSED',
  6: 'YXDOMAIN',
  7: 'YXRRSET',
  8: 'NXRRSET',
  9: 'NOTAUTH',
  10: 'NOTZONE',
  16: 'BADSIG',
  17: 'BADKEY',
  18: 'BADTIME',
  19: 'BADMODE',
  20: 'BADNAME',
  21: 'BADALG',
  22: 'BADTRUNC',
  23: 'BADCOOKIE',
};
export const RCODE = {
  NOERROR: 0,
  FORMERR: 1,
  SERVFAIL: 2,
  NXDOMAIN: 3,
  NOTIMP: 4,
  REFUSED: 5,
  YXDOMAIN: 6,
  YXRRSET: 7,
  NXRRSET: 8,
  NOTAUTH: 9,
  NOTZONE: 10,
  BADSIG: 16,
  BADKEY: 17,
  BADTIME: 18,
  BADTRUNC: 22,
} as const;

/** "REFUSED", "BADSIG", or "RCODE<n>" for a number without a name. */
export function rcodeName(code: number): string {
  return RCODE_NAMES[code] ?? `RCODE${code}`;
}

const TYPE_NAMES: Readonly<Record<number, string>> = { 1: 'A', 6: 'SOA', 12: 'PTR', 16: 'TXT', 28: 'AAAA', 41: 'OPT', 250: 'TSIG', 255: 'ANY' };
export function typeName(type: number): string {
  return TYPE_NAMES[type] ?? `TYPE${type}`;
}

export interface Header {
  id: number;
  qr: boolean;
  opcode: number; // 4 bits
  aa: boolean;
  tc: boolean;
  rd: boolean;
  ra: boolean;
  /** The Z, AD and CD bits (3 bits), kept so a message round-trips. */
  z: number;
  rcode: number; // 4 bits
}

export interface Question {
  name: string;
  type: number;
  class: number;
}

export interface SoaData {
  type: 'SOA';
  mname: string;
  rname: string;
  serial: number;
  refresh: number;
  retry: number;
  expire: number;
  minimum: number;
}

export interface TsigData {
  type: 'TSIG';
  algorithm: string;
  /** Seconds since the epoch, 48 bits. */
  timeSigned: number;
  fudge: number;
  mac: Buffer;
  originalId: number;
  error: number;
  other: Buffer;
}

export type RData =
  | { type: 'AAAA'; address: Buffer }
  | { type: 'PTR'; target: string }
  | SoaData
  | TsigData
  /** Any other type, and every empty RDATA (RFC 2136 §2.4/§2.5: class ANY/NONE prerequisites and deletes). */
  | { type: 'raw'; bytes: Buffer };

export interface ResourceRecord {
  name: string;
  type: number;
  class: number;
  ttl: number;
  rdata: RData;
}

/**
 * A DNS message. For UPDATE (RFC 2136 §2) the sections are: zone, prerequisite, update,
 * additional data.
 */
export interface Message {
  header: Header;
  questions: Question[];
  answers: ResourceRecord[];
  authorities: ResourceRecord[];
  additionals: ResourceRecord[];
}

export type DecodeResult =
  | {
      ok: true;
      message: Message;
      /** The bytes decoded. */
      wire: Buffer;
      /** Offset of the TSIG RR (always the last additional record) if there is one. */
      tsigOffset: number | undefined;
    }
  | { ok: false; reason: string };

export const HEADER_SIZE = 12;
export const MAX_NAME_WIRE = 255;
export const MAX_LABEL = 63;

// ---------------------------------------------------------------- names

const ASCII_UPPER_A = 0x41;
const ASCII_UPPER_Z = 0x5a;

function lowerByte(b: number): number {
  return b >= ASCII_UPPER_A && b <= ASCII_UPPER_Z ? b + 0x20 : b;
}

/** Presentation text of one label (already lower-cased bytes). */
function labelText(bytes: Buffer): string {
  let out = '';
  for (const b of bytes) {
    if (b === 0x2e || b === 0x5c) out += `\\${String.fromCharCode(b)}`;
    else if (b > 0x20 && b < 0x7f) out += String.fromCharCode(b);
    else out += `\\${String(b).padStart(3, '0')}`;
  }
  return out;
}

/**
 * The labels of a name in presentation form, lower-cased. A trailing dot is allowed; "" and
 * "." are the root. Throws InputError for an empty label, a label over 63 octets, a name over
 * 255 octets on the wire, or a bad escape.
 */
export function nameLabels(text: string): Buffer[] {
  const what = `domain name ${JSON.stringify(text)}`;
  if (text === '' || text === '.') return [];
  const labels: Buffer[] = [];
  let cur: number[] = [];
  let wire = 1;
  const endLabel = (): void => {
    if (cur.length === 0) throw new InputError(`invalid ${what}: empty label`);
    if (cur.length > MAX_LABEL) throw new InputError(`invalid ${what}: label of ${cur.length} octets (at most ${MAX_LABEL})`);
    labels.push(Buffer.from(cur));
    wire += cur.length + 1;
    cur = [];
  };
  const bytes = Buffer.from(text, 'utf8');
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i] ?? 0;
    if (b === 0x5c) {
      const next = bytes[i + 1];
      if (next === undefined) throw new InputError(`invalid ${what}: dangling backslash`);
      if (next >= 0x30 && next <= 0x39) {
        const digits = bytes.subarray(i + 1, i + 4).toString('latin1');
        if (!/^\d{3}$/.test(digits) || Number(digits) > 255) throw new InputError(`invalid ${what}: bad \\DDD escape`);
        cur.push(lowerByte(Number(digits)));
        i += 3;
      } else {
        cur.push(lowerByte(next));
        i += 1;
      }
    } else if (b === 0x2e) {
      endLabel();
      if (i === bytes.length - 1) break; // one trailing dot: absolute name
    } else {
      cur.push(lowerByte(b));
    }
  }
  if (cur.length > 0) endLabel();
  else if (bytes[bytes.length - 1] !== 0x2e) throw new InputError(`invalid ${what}: empty label`);
  if (wire > MAX_NAME_WIRE) throw new InputError(`invalid ${what}: ${wire} octets on the wire (at most ${MAX_NAME_WIRE})`);
  return labels;
}

/** The canonical form of a name: lower case, no trailing dot, escapes normalised. Throws InputError. */
export function normalizeName(text: string): string {
  return nameLabels(text).map(labelText).join('.');
}

/** Uncompressed wire form, lower case (which is also RFC 4034 §6.2 canonical form). */
export function encodeName(text: string): Buffer {
  const labels = nameLabels(text);
  const parts: Buffer[] = [];
  for (const l of labels) parts.push(Buffer.from([l.length]), l);
  parts.push(Buffer.from([0]));
  return Buffer.concat(parts);
}

/** True if `name` is `zone` or below it (both in any presentation form). */
export function isSubdomain(name: string, zone: string): boolean {
  const n = nameLabels(name);
  const z = nameLabels(zone);
  if (z.length > n.length) return false;
  const off = n.length - z.length;
  return z.every((l, i) => l.equals(n[off + i] ?? Buffer.alloc(0)));
}

type Read<T> = { ok: true; value: T; next: number } | { ok: false; reason: string };

/**
 * Read a possibly compressed name at `offset`. Each pointer must point strictly before the
 * previous jump target (or the name's start), so decoding always terminates.
 */
export function readName(buf: Buffer, offset: number): Read<string> {
  const labels: string[] = [];
  let pos = offset;
  let next = -1;
  let limit = offset;
  let wire = 1;
  for (;;) {
    if (pos >= buf.length) return { ok: false, reason: `truncated name at offset ${offset}` };
    const len = buf[pos] ?? 0;
    const kind = len & 0xc0;
    if (kind === 0xc0) {
      if (pos + 1 >= buf.length) return { ok: false, reason: `truncated compression pointer at offset ${pos}` };
      const target = ((len & 0x3f) << 8) | (buf[pos + 1] ?? 0);
      if (target >= buf.length) return { ok: false, reason: `compression pointer at offset ${pos} to offset ${target} is out of range (message is ${buf.length} bytes)` };
      if (target >= limit) return { ok: false, reason: `compression pointer at offset ${pos} to offset ${target} does not point backwards (loop)` };
      if (next < 0) next = pos + 2;
      limit = target;
      pos = target;
      continue;
    }
    if (kind !== 0) return { ok: false, reason: `unsupported label type 0x${kind.toString(16)} at offset ${pos}` };
    if (len === 0) {
      if (next < 0) next = pos + 1;
      return { ok: true, value: labels.join('.'), next };
    }
    wire += len + 1;
    if (wire > MAX_NAME_WIRE) return { ok: false, reason: `name at offset ${offset} is longer than ${MAX_NAME_WIRE} octets` };
    if (pos + 1 + len > buf.length) return { ok: false, reason: `truncated label at offset ${pos}` };
    const label = Buffer.from(buf.subarray(pos + 1, pos + 1 + len));
    for (let i = 0; i < label.length; i++) label[i] = lowerByte(label[i] ?? 0);
    labels.push(labelText(label));
    pos += 1 + len;
  }
}

// ---------------------------------------------------------------- encoding

function u16(n: number, what: string): Buffer {
  if (!Number.isInteger(n) || n < 0 || n > 0xffff) throw new InputError(`${what} out of range: ${n}`);
  const b = Buffer.alloc(2);
  b.writeUInt16BE(n);
  return b;
}

function u32(n: number, what: string): Buffer {
  if (!Number.isInteger(n) || n < 0 || n > 0xffffffff) throw new InputError(`${what} out of range: ${n}`);
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n);
  return b;
}

function u48(n: number, what: string): Buffer {
  if (!Number.isInteger(n) || n < 0 || n > 0xffffffffffff) throw new InputError(`${what} out of range: ${n}`);
  const b = Buffer.alloc(6);
  b.writeUIntBE(n, 0, 6);
  return b;
}

export function encodeHeader(h: Header, counts: [number, number, number, number]): Buffer {
  if (!Number.isInteger(h.opcode) || h.opcode < 0 || h.opcode > 15) throw new InputError(`opcode out of range: ${h.opcode}`);
  if (!Number.isInteger(h.rcode) || h.rcode < 0 || h.rcode > 15) throw new InputError(`rcode out of range: ${h.rcode} (extended rcodes need EDNS or TSIG)`);
  if (!Number.isInteger(h.z) || h.z < 0 || h.z > 7) throw new InputError(`z bits out of range: ${h.z}`);
  const flags = (h.qr ? 0x8000 : 0) | (h.opcode << 11) | (h.aa ? 0x400 : 0) | (h.tc ? 0x200 : 0) | (h.rd ? 0x100 : 0) | (h.ra ? 0x80 : 0) | (h.z << 4) | h.rcode;
  return Buffer.concat([u16(h.id, 'message id'), u16(flags, 'flags'), ...counts.map((c) => u16(c, 'section count'))]);
}

export function encodeRData(rr: ResourceRecord): Buffer {
  const d = rr.rdata;
  const expect = (type: number): void => {
    if (rr.type !== type) throw new InputError(`record ${rr.name} of type ${typeName(rr.type)} carries ${d.type} data`);
  };
  switch (d.type) {
    case 'raw':
      return Buffer.from(d.bytes);
    case 'AAAA':
      expect(TYPE.AAAA);
      if (d.address.length !== 16) throw new InputError(`AAAA address must be 16 bytes, got ${d.address.length}`);
      return Buffer.from(d.address);
    case 'PTR':
      expect(TYPE.PTR);
      return encodeName(d.target);
    case 'SOA':
      expect(TYPE.SOA);
      return Buffer.concat([
        encodeName(d.mname),
        encodeName(d.rname),
        u32(d.serial, 'SOA serial'),
        u32(d.refresh, 'SOA refresh'),
        u32(d.retry, 'SOA retry'),
        u32(d.expire, 'SOA expire'),
        u32(d.minimum, 'SOA minimum'),
      ]);
    case 'TSIG':
      expect(TYPE.TSIG);
      return Buffer.concat([
        encodeName(d.algorithm),
        u48(d.timeSigned, 'TSIG time signed'),
        u16(d.fudge, 'TSIG fudge'),
        u16(d.mac.length, 'TSIG MAC size'),
        d.mac,
        u16(d.originalId, 'TSIG original id'),
        u16(d.error, 'TSIG error'),
        u16(d.other.length, 'TSIG other length'),
        d.other,
      ]);
  }
}

export function encodeRecord(rr: ResourceRecord): Buffer {
  const rdata = encodeRData(rr);
  return Buffer.concat([encodeName(rr.name), u16(rr.type, 'type'), u16(rr.class, 'class'), u32(rr.ttl, 'TTL'), u16(rdata.length, 'RDATA length'), rdata]);
}

export function encodeQuestion(q: Question): Buffer {
  return Buffer.concat([encodeName(q.name), u16(q.type, 'type'), u16(q.class, 'class')]);
}

/** The whole message, names uncompressed. Throws InputError on an impossible value. */
export function encodeMessage(m: Message): Buffer {
  const out = Buffer.concat([
    encodeHeader(m.header, [m.questions.length, m.answers.length, m.authorities.length, m.additionals.length]),
    ...m.questions.map(encodeQuestion),
    ...m.answers.map(encodeRecord),
    ...m.authorities.map(encodeRecord),
    ...m.additionals.map(encodeRecord),
  ]);
  if (out.length > 0xffff) throw new InputError(`DNS message of ${out.length} bytes is too large (at most 65535)`);
  return out;
}

// ---------------------------------------------------------------- decoding

export function decodeHeader(buf: Buffer): Read<{ header: Header; counts: [number, number, number, number] }> {
  if (buf.length < HEADER_SIZE) return { ok: false, reason: `truncated header: ${buf.length} bytes (need ${HEADER_SIZE})` };
  const flags = buf.readUInt16BE(2);
  return {
    ok: true,
    value: {
      header: {
        id: buf.readUInt16BE(0),
        qr: (flags & 0x8000) !== 0,
        opcode: (flags >> 11) & 0xf,
        aa: (flags & 0x400) !== 0,
        tc: (flags & 0x200) !== 0,
        rd: (flags & 0x100) !== 0,
        ra: (flags & 0x80) !== 0,
        z: (flags >> 4) & 0x7,
        rcode: flags & 0xf,
      },
      counts: [buf.readUInt16BE(4), buf.readUInt16BE(6), buf.readUInt16BE(8), buf.readUInt16BE(10)],
    },
    next: HEADER_SIZE,
  };
}

function readQuestion(buf: Buffer, offset: number): Read<Question> {
  const name = readName(buf, offset);
  if (!name.ok) return name;
  if (name.next + 4 > buf.length) return { ok: false, reason: `truncated question at offset ${offset}` };
  return { ok: true, value: { name: name.value, type: buf.readUInt16BE(name.next), class: buf.readUInt16BE(name.next + 2) }, next: name.next + 4 };
}

/** RDATA of `type` at [start, end). Names inside may be compressed (RFC 3597 §4: PTR and SOA). */
function readRData(buf: Buffer, type: number, start: number, end: number): Read<RData> {
  const len = end - start;
  const fail = (why: string): Read<RData> => ({ ok: false, reason: `${typeName(type)} RDATA at offset ${start}: ${why}` });
  const nameIn = (at: number): Read<string> => {
    const n = readName(buf, at);
    if (!n.ok) return n;
    if (n.next > end) return { ok: false, reason: `name runs past the end of the RDATA` };
    return n;
  };
  if (len === 0) return { ok: true, value: { type: 'raw', bytes: Buffer.alloc(0) }, next: end };
  switch (type) {
    case TYPE.AAAA:
      if (len !== 16) return fail(`${len} bytes (an IPv6 address is 16)`);
      return { ok: true, value: { type: 'AAAA', address: Buffer.from(buf.subarray(start, end)) }, next: end };
    case TYPE.PTR: {
      const n = nameIn(start);
      if (!n.ok) return fail(n.reason);
      if (n.next !== end) return fail(`${end - n.next} bytes after the name`);
      return { ok: true, value: { type: 'PTR', target: n.value }, next: end };
    }
    case TYPE.SOA: {
      const m = nameIn(start);
      if (!m.ok) return fail(m.reason);
      const r = nameIn(m.next);
      if (!r.ok) return fail(r.reason);
      if (r.next + 20 !== end) return fail(`${end - r.next} bytes after the names (need 20)`);
      const at = r.next;
      return {
        ok: true,
        value: {
          type: 'SOA',
          mname: m.value,
          rname: r.value,
          serial: buf.readUInt32BE(at),
          refresh: buf.readUInt32BE(at + 4),
          retry: buf.readUInt32BE(at + 8),
          expire: buf.readUInt32BE(at + 12),
          minimum: buf.readUInt32BE(at + 16),
        },
        next: end,
      };
    }
    case TYPE.TSIG: {
      const alg = nameIn(start);
      if (!alg.ok) return fail(alg.reason);
      let at = alg.next;
      if (at + 10 > end) return fail('truncated before the MAC');
      const timeSigned = buf.readUIntBE(at, 6);
      const fudge = buf.readUInt16BE(at + 6);
      const macSize = buf.readUInt16BE(at + 8);
      at += 10;
      if (at + macSize + 6 > end) return fail(`MAC size ${macSize} runs past the end of the RDATA`);
      const mac = Buffer.from(buf.subarray(at, at + macSize));
      at += macSize;
      const originalId = buf.readUInt16BE(at);
      const error = buf.readUInt16BE(at + 2);
      const otherLen = buf.readUInt16BE(at + 4);
      at += 6;
      if (at + otherLen !== end) return fail(`other length ${otherLen} does not match the RDATA length`);
      const other = Buffer.from(buf.subarray(at, end));
      return { ok: true, value: { type: 'TSIG', algorithm: alg.value, timeSigned, fudge, mac, originalId, error, other }, next: end };
    }
    default:
      return { ok: true, value: { type: 'raw', bytes: Buffer.from(buf.subarray(start, end)) }, next: end };
  }
}

export function readRecord(buf: Buffer, offset: number): Read<ResourceRecord> {
  const name = readName(buf, offset);
  if (!name.ok) return name;
  const at = name.next;
  if (at + 10 > buf.length) return { ok: false, reason: `truncated record at offset ${offset}` };
  const type = buf.readUInt16BE(at);
  const klass = buf.readUInt16BE(at + 2);
  const ttl = buf.readUInt32BE(at + 4);
  const rdlength = buf.readUInt16BE(at + 8);
  const start = at + 10;
  if (start + rdlength > buf.length) return { ok: false, reason: `truncated RDATA of ${typeName(type)} record at offset ${offset}: ${rdlength} bytes announced, ${buf.length - start} present` };
  const rdata = readRData(buf, type, start, start + rdlength);
  if (!rdata.ok) return rdata;
  return { ok: true, value: { name: name.value, type, class: klass, ttl, rdata: rdata.value }, next: start + rdlength };
}

const SECTION_NAMES = ['question', 'answer', 'authority', 'additional'] as const;

/** Decode a whole message. Never throws. */
export function decodeMessage(input: Uint8Array): DecodeResult {
  const buf = Buffer.from(input.buffer, input.byteOffset, input.byteLength);
  const h = decodeHeader(buf);
  if (!h.ok) return h;
  const { header, counts } = h.value;
  let pos = h.next;
  const questions: Question[] = [];
  for (let i = 0; i < counts[0]; i++) {
    const q = readQuestion(buf, pos);
    if (!q.ok) return { ok: false, reason: `question ${i + 1} of ${counts[0]}: ${q.reason}` };
    questions.push(q.value);
    pos = q.next;
  }
  const sections: ResourceRecord[][] = [[], [], []];
  let tsigOffset: number | undefined;
  for (let s = 0; s < 3; s++) {
    const count = counts[s + 1] ?? 0;
    const list = sections[s] ?? [];
    for (let i = 0; i < count; i++) {
      const start = pos;
      const rr = readRecord(buf, pos);
      if (!rr.ok) return { ok: false, reason: `${SECTION_NAMES[s + 1]} record ${i + 1} of ${count}: ${rr.reason}` };
      if (rr.value.type === TYPE.TSIG) {
        // RFC 8945 §5.2: the only TSIG, and the last record of the additional section.
        if (s !== 2 || i !== count - 1) return { ok: false, reason: `TSIG record in ${SECTION_NAMES[s + 1]} record ${i + 1} of ${count}: it must be the last additional record` };
        tsigOffset = start;
      }
      list.push(rr.value);
      pos = rr.next;
    }
  }
  if (pos !== buf.length) return { ok: false, reason: `${buf.length - pos} trailing bytes after the last record` };
  const [answers = [], authorities = [], additionals = []] = sections;
  return { ok: true, message: { header, questions, answers, authorities, additionals }, wire: buf, tsigOffset };
}
