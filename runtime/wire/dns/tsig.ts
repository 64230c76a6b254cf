/**
 * TSIG (RFC 8945): sign a request, verify a response, and — for tests and completeness — verify
 * a request and sign a response the way a server does.
 *
 * MAC input (RFC 8945 §4.3):
 *   request:  message (TSIG not yet added / removed, original ID) + TSIG variables
 *   response: request MAC size (2 octets) + request MAC + message + TSIG variables
 * TSIG variables (§4.3.3): key name (canonical wire form), class (ANY), TTL (0), algorithm name
 * (canonical wire form), time signed (48 bits), fudge, error, other len, other data.
 */
import * as crypto from 'node:crypto';
import type { TsigKey } from './keyfile';
import { CLASS, type DecodeResult, type TsigData, RCODE, TYPE, encodeName, encodeRecord, normalizeName, rcodeName } from './wire';

/** TSIG algorithm names (RFC 8945 §6) → node:crypto HMAC digests. */
export const TSIG_ALGORITHMS: Readonly<Record<string, string>> = {
  'hmac-sha256': 'sha256',
  'hmac-sha512': 'sha512',
  'hmac-sha384': 'sha384',
  'hmac-sha224': 'sha224',
  'hmac-sha1': 'sha1',
  'hmac-md5.sig-alg.reg.int': 'md5',
};

export const DEFAULT_FUDGE = 300;

/** The canonical TSIG algorithm name for `name` (any case, trailing dot, "hmac-md5" alias), or undefined. */
export function canonicalAlgorithm(name: string): string | undefined {
  let n = name.trim().toLowerCase();
  if (n.endsWith('.')) n = n.slice(0, -1);
  if (n === 'hmac-md5') n = 'hmac-md5.sig-alg.reg.int';
  return TSIG_ALGORITHMS[n] === undefined ? undefined : n;
}

function digestOf(algorithm: string): string {
  const alg = canonicalAlgorithm(algorithm);
  const digest = alg === undefined ? undefined : TSIG_ALGORITHMS[alg];
  if (digest === undefined) throw new RangeError(`unsupported TSIG algorithm ${JSON.stringify(algorithm)}`);
  return digest;
}

/** Full MAC length in octets for the key's algorithm. */
export function macLength(algorithm: string): number {
  return crypto.createHmac(digestOf(algorithm), Buffer.alloc(1)).digest().length;
}

export interface TsigVariables {
  keyName: string;
  class: number;
  ttl: number;
  algorithm: string;
  timeSigned: number;
  fudge: number;
  error: number;
  other: Buffer;
}

/** The TSIG variables in the RFC 8945 §4.3.3 layout. */
export function tsigVariables(v: TsigVariables): Buffer {
  const fixed = Buffer.alloc(2 + 4);
  fixed.writeUInt16BE(v.class, 0);
  fixed.writeUInt32BE(v.ttl, 2);
  const tail = Buffer.alloc(6 + 2 + 2 + 2);
  tail.writeUIntBE(v.timeSigned, 0, 6);
  tail.writeUInt16BE(v.fudge, 6);
  tail.writeUInt16BE(v.error, 8);
  tail.writeUInt16BE(v.other.length, 10);
  return Buffer.concat([encodeName(v.keyName), fixed, encodeName(v.algorithm), tail, v.other]);
}

export function hmac(key: TsigKey, parts: readonly Buffer[]): Buffer {
  const h = crypto.createHmac(digestOf(key.algorithm), key.secret);
  for (const p of parts) h.update(p);
  return h.digest();
}

function prefixedMac(mac: Buffer): Buffer {
  const len = Buffer.alloc(2);
  len.writeUInt16BE(mac.length);
  return Buffer.concat([len, mac]);
}

export interface SignOptions {
  /** Seconds since the epoch; default now. */
  now?: number;
  fudge?: number;
  /** For a response: the request's MAC, which the response MAC covers. */
  requestMac?: Buffer;
  /** TSIG error for a response (RFC 8945 §5.3.2). */
  error?: number;
  other?: Buffer;
  /** An empty MAC (an unsigned error response, RFC 8945 §5.3.2). */
  unsigned?: boolean;
}

export interface SignedMessage {
  /** The message with the TSIG RR appended and ARCOUNT incremented. */
  wire: Buffer;
  mac: Buffer;
  id: number;
  timeSigned: number;
  fudge: number;
}

export function nowSeconds(): number {
  return Math.floor(Date.now() / 1000);
}

/** Append a TSIG RR to an encoded message (RFC 8945 §5.1, §5.3). */
export function signMessage(unsigned: Buffer, key: TsigKey, opts: SignOptions = {}): SignedMessage {
  if (unsigned.length < 12) throw new RangeError('not a DNS message: shorter than its header');
  const id = unsigned.readUInt16BE(0);
  const timeSigned = opts.now ?? nowSeconds();
  const fudge = opts.fudge ?? DEFAULT_FUDGE;
  const other = opts.other ?? Buffer.alloc(0);
  const error = opts.error ?? 0;
  const algorithm = canonicalAlgorithm(key.algorithm);
  if (algorithm === undefined) throw new RangeError(`unsupported TSIG algorithm ${JSON.stringify(key.algorithm)}`);
  const vars = tsigVariables({ keyName: key.name, class: CLASS.ANY, ttl: 0, algorithm, timeSigned, fudge, error, other });
  const mac = opts.unsigned ? Buffer.alloc(0) : hmac(key, [...(opts.requestMac ? [prefixedMac(opts.requestMac)] : []), unsigned, vars]);
  const rr = encodeRecord({
    name: key.name,
    type: TYPE.TSIG,
    class: CLASS.ANY,
    ttl: 0,
    rdata: { type: 'TSIG', algorithm, timeSigned, fudge, mac, originalId: id, error, other },
  });
  const wire = Buffer.concat([unsigned, rr]);
  wire.writeUInt16BE(unsigned.readUInt16BE(10) + 1, 10);
  return { wire, mac, id, timeSigned, fudge };
}

type Decoded = Extract<DecodeResult, { ok: true }>;

/** The TSIG RR of a decoded message, if any. */
export function tsigOf(d: Decoded): TsigData | undefined {
  if (d.tsigOffset === undefined) return undefined;
  const rr = d.message.additionals[d.message.additionals.length - 1];
  return rr?.rdata.type === 'TSIG' ? rr.rdata : undefined;
}

export type MacCheck = { ok: true } | { ok: false; error: 'BADSIG' | 'BADKEY' | 'BADTRUNC' | 'FORMERR'; detail: string };

/**
 * Check the MAC of a decoded message that carries a TSIG (§5.2.1 key, §5.2.2 MAC incl.
 * truncation §5.2.2.1). `requestMac` is given when checking a response.
 */
export function checkMac(d: Decoded, key: TsigKey, requestMac?: Buffer): MacCheck {
  const tsig = tsigOf(d);
  const rr = d.message.additionals[d.message.additionals.length - 1];
  if (tsig === undefined || rr === undefined || d.tsigOffset === undefined) return { ok: false, error: 'FORMERR', detail: 'no TSIG record' };
  const keyAlg = canonicalAlgorithm(key.algorithm);
  if (rr.name !== normalizeName(key.name)) return { ok: false, error: 'BADKEY', detail: `signed with key ${JSON.stringify(rr.name)}, expected ${JSON.stringify(key.name)}` };
  if (canonicalAlgorithm(tsig.algorithm) !== keyAlg || keyAlg === undefined) return { ok: false, error: 'BADKEY', detail: `algorithm ${tsig.algorithm}, expected ${key.algorithm}` };
  const full = macLength(keyAlg);
  if (tsig.mac.length === 0) return { ok: false, error: 'BADSIG', detail: 'no MAC' };
  if (tsig.mac.length > full) return { ok: false, error: 'FORMERR', detail: `MAC of ${tsig.mac.length} octets, ${keyAlg} gives ${full}` };
  if (tsig.mac.length < Math.max(10, Math.ceil(full / 2))) return { ok: false, error: 'BADTRUNC', detail: `MAC truncated to ${tsig.mac.length} octets` };
  const body = Buffer.from(d.wire.subarray(0, d.tsigOffset));
  body.writeUInt16BE(tsig.originalId, 0);
  body.writeUInt16BE(body.readUInt16BE(10) - 1, 10);
  const vars = tsigVariables({ keyName: rr.name, class: rr.class, ttl: rr.ttl, algorithm: keyAlg, timeSigned: tsig.timeSigned, fudge: tsig.fudge, error: tsig.error, other: tsig.other });
  const expected = hmac(key, [...(requestMac ? [prefixedMac(requestMac)] : []), body, vars]).subarray(0, tsig.mac.length);
  if (!crypto.timingSafeEqual(expected, tsig.mac)) return { ok: false, error: 'BADSIG', detail: 'MAC does not verify' };
  return { ok: true };
}

/** §5.2.3: the time signed must be within fudge of our clock. */
export function checkTime(tsig: TsigData, now = nowSeconds()): { ok: true } | { ok: false; error: 'BADTIME'; detail: string } {
  const skew = now - tsig.timeSigned;
  if (Math.abs(skew) > tsig.fudge) {
    return { ok: false, error: 'BADTIME', detail: `signed at ${tsig.timeSigned}, ${Math.abs(skew)} s ${skew > 0 ? 'ago' : 'ahead'} (fudge ${tsig.fudge} s)` };
  }
  return { ok: true };
}

/**
 * A server's check of a signed request (RFC 8945 §5.2): key, MAC, time. On success, `mac` is
 * the request MAC a response must cover.
 */
export function verifyRequest(
  d: Decoded,
  key: TsigKey,
  now = nowSeconds(),
): { ok: true; mac: Buffer; tsig: TsigData } | { ok: false; error: string; detail: string } {
  const tsig = tsigOf(d);
  if (tsig === undefined) return { ok: false, error: 'FORMERR', detail: 'no TSIG record' };
  const mac = checkMac(d, key);
  if (!mac.ok) return mac;
  const time = checkTime(tsig, now);
  if (!time.ok) return time;
  return { ok: true, mac: tsig.mac, tsig };
}

/**
 * What a signed request's response means (RFC 8945 §5.4 client processing, with the unsigned
 * error responses of §5.3.2):
 * - `verified`: signed with our key, MAC and time good, TSIG error NOERROR: the RCODE counts.
 * - `tsig-error`: the server reports a TSIG error (BADSIG, BADKEY, BADTIME, ...) in the TSIG
 *   error field; such responses may be unsigned (§5.3.2), so the MAC is not required. Final.
 * - `invalid`: not a trustworthy answer (no TSIG, bad MAC, wrong key, time outside the fudge):
 *   to be discarded (§5.4); `error`/`detail` say why, for when no better answer ever comes.
 */
export type ResponseCheck =
  | { kind: 'verified'; tsig: TsigData }
  | { kind: 'tsig-error'; error: string; detail: string }
  | { kind: 'invalid'; error: string; detail: string };

export function verifyResponse(d: Decoded, request: Pick<SignedMessage, 'mac'>, key: TsigKey, now = nowSeconds()): ResponseCheck {
  const rcode = d.message.header.rcode;
  const tsig = tsigOf(d);
  const rr = d.message.additionals[d.message.additionals.length - 1];
  if (tsig === undefined || rr === undefined) {
    return rcode === RCODE.NOERROR
      ? { kind: 'invalid', error: 'BADRESPONSE', detail: 'unsigned NOERROR response to a signed request' }
      : { kind: 'invalid', error: rcodeName(rcode), detail: 'unsigned response to a signed request' };
  }
  if (tsig.error !== 0) {
    const parts = [`server reports TSIG error, rcode ${rcodeName(rcode)}`];
    if (tsig.error === RCODE.BADTIME && tsig.other.length === 6) {
      const serverTime = tsig.other.readUIntBE(0, 6);
      parts.push(`server time ${serverTime}, ours ${now} (${now - serverTime >= 0 ? '+' : ''}${now - serverTime} s)`);
    }
    if (tsig.mac.length === 0) parts.push('unsigned');
    return { kind: 'tsig-error', error: rcodeName(tsig.error), detail: parts.join('; ') };
  }
  const mac = checkMac(d, key, request.mac);
  if (!mac.ok) return { kind: 'invalid', error: mac.error, detail: `response ${mac.detail}` };
  const time = checkTime(tsig, now);
  if (!time.ok) return { kind: 'invalid', error: time.error, detail: `response ${time.detail}` };
  return { kind: 'verified', tsig };
}
