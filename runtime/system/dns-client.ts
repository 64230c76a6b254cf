/**
 * The DNS dynamic-update client (RFC 2136) the hook publishes AAAA and PTR records with,
 * optionally signed with TSIG (RFC 8945).
 *
 * One UPDATE message: zone section = the zone, SOA, IN; no prerequisites; update section = the
 * operations. An add is class IN with a TTL; a delete removes exactly one RR (class NONE, TTL 0,
 * with its RDATA: RFC 2136 §2.5.4), never a whole name or RRset.
 *
 * Transport: UDP from one socket (udp6 or udp4 after the server's address) connected to the
 * server, a random 16-bit id, the answer matched by id and source address and port; the same
 * bytes are resent after each per-attempt timeout, up to `retries` more times, and an answer to
 * any transmission counts. A TC answer — or a request over 512 bytes — moves the same update to
 * TCP (2-byte length framing), which has its own `retries + 1` attempts. Only timeouts are
 * retried; an answer from the server is final, and so is the server host's refusal (ICMP port
 * unreachable, ECONNREFUSED on the connected socket).
 *
 * With a key, only a response whose TSIG verifies decides the outcome. A response reporting a
 * TSIG error (BADSIG, BADKEY, BADTIME: RFC 8945 §5.3.2 lets it be unsigned) is final and reported
 * by that name. Any other response that does not verify (unsigned, bad MAC, other key, time
 * outside the fudge) is discarded over UDP (RFC 8945 §5.4) — a forged datagram cannot decide —
 * and reported only when no verified answer has come by the end of that attempt; over TCP it is
 * reported at once.
 *
 * A failure says whether the update may have been applied all the same (DnsUpdateError's
 * `outcome`): once the request has left this host, only an answer says what the server did — a
 * timeout, a lost reply or a reset connection leave it unknown, and the caller must act as if it
 * had been applied.
 *
 * Nothing is left behind: when the promise settles, the sockets are closed and the timers
 * cleared.
 *
 * `check` asks whether a published record is still there with a plain QUERY (RD clear, signed
 * with the key when there is one, over the same transport), and looks for our RDATA among the
 * authoritative answer's records. Not an UPDATE with an "RRset exists (value dependent)"
 * prerequisite: that compares the whole RRset (RFC 2136 §3.2.3), so a foreign AAAA beside ours
 * at the same name would make ours look missing.
 */
import * as crypto from 'node:crypto';
import type * as Dgram from 'node:dgram';
import type * as Net from 'node:net';
import { InputError, oneLine } from '../core/errors';
import { formatIPv6, parseIPv6 } from '../core/ipv6';
import type { TsigKey } from '../wire/dns/keyfile';
import { type SignedMessage, canonicalAlgorithm, nowSeconds, signMessage, verifyResponse } from '../wire/dns/tsig';
import { CLASS, type Message, OPCODE, type ResourceRecord, TYPE, decodeMessage, encodeMessage, isSubdomain, normalizeName, rcodeName } from '../wire/dns/wire';

// Loaded on first use, not at start-up: a hook stage that publishes no DNS record never needs them.
const dgram = (): typeof Dgram => require('node:dgram') as typeof Dgram;
const net = (): typeof Net => require('node:net') as typeof Net;

export interface DnsServer {
  address: string;
  port: number;
}

export type UpdateOp =
  | { op: 'add'; name: string; type: 'AAAA' | 'PTR'; ttl: number; data: string }
  | { op: 'delete'; name: string; type: 'AAAA' | 'PTR'; data: string };

export interface UpdateResult {
  transport: 'udp' | 'tcp';
  /** Transmissions: UDP datagrams sent plus TCP connections made. */
  attempts: number;
  elapsedMs: number;
}

export interface UpdateOptions {
  server: DnsServer;
  zone: string;
  ops: UpdateOp[];
  key?: TsigKey;
  /** Per attempt; default 2000. */
  timeoutMs?: number;
  /** Further attempts after the first, on timeouts and network errors only; default 2. */
  retries?: number;
  /**
   * RFC 2136 §2.4.4 "Name is in use" prerequisites (names in the zone). With no `ops`, the update
   * changes nothing: the server checks the key and the prerequisites, and answers (`doctor`).
   */
  inUse?: string[];
  /**
   * Called once, when the request has first left this process (a datagram handed to the kernel, or
   * the bytes written to a connected TCP socket): from then on the server may apply it. For tests'
   * failpoints.
   */
  onSent?: () => void;
}

export const DEFAULT_PORT = 53;
export const DEFAULT_TIMEOUT_MS = 2000;
export const DEFAULT_RETRIES = 2;
/** RFC 1035 §4.2.1: without EDNS, a UDP message is at most 512 octets. */
export const UDP_MAX = 512;

/**
 * Why an update failed. `rcode` is a name: the server's RCODE (FORMERR, SERVFAIL, NXDOMAIN,
 * NOTIMP, REFUSED, YXDOMAIN, YXRRSET, NXRRSET, NOTAUTH, NOTZONE), its TSIG error (BADSIG,
 * BADKEY, BADTIME, ...), or TIMEOUT, BADRESPONSE, NETWORK (the errno name in the detail).
 *
 * `outcome` says whether the update may nevertheless have been applied:
 * - `rejected`: the server answered, and an answer other than NOERROR means nothing was applied
 *   (RFC 2136 §3: an update is applied whole or not at all, and §3.8 answers NOERROR only once it
 *   is; a TSIG error means the request was not processed, RFC 8945 §5.2) — or the request never
 *   left this host (every transmission failed at send or connect);
 * - `unknown`: the request may have reached the server and no answer we can trust came back (a
 *   timeout, a reply lost, a connection reset after the request was written, an answer that did
 *   not verify): the server may have applied it. Whoever sent an add must then treat its records
 *   as possibly published, and delete them at withdrawal (a delete of an absent record is a no-op,
 *   RFC 2136 §3.4.2.4).
 */
export class DnsUpdateError extends Error {
  override name = 'DnsUpdateError';
  constructor(
    readonly zone: string,
    readonly server: string,
    readonly rcode: string,
    readonly detail?: string,
    readonly outcome: 'rejected' | 'unknown' = 'rejected',
  ) {
    super(oneLine(`DNS update of ${zone} at ${server}: ${rcode}${detail ? ` (${detail})` : ''}`));
  }
}

// ---------------------------------------------------------------- servers

function parsePort(text: string, whole: string): number {
  const port = /^\d{1,5}$/.test(text) ? Number(text) : NaN;
  if (!(port >= 1 && port <= 65535)) throw new InputError(`invalid DNS server ${JSON.stringify(whole)}: bad port ${JSON.stringify(text)}`);
  return port;
}

function normalizeV6(text: string): string {
  const pct = text.indexOf('%');
  const zone = pct >= 0 ? text.slice(pct) : '';
  return formatIPv6(parseIPv6(text)) + zone;
}

/**
 * "2001:db8:1::53", "[2001:db8:1::53]:5353", "[2001:db8:1::53]", "192.0.2.53",
 * "192.0.2.53:5353". Throws InputError otherwise.
 */
export function parseServer(text: string): DnsServer {
  const t = text.trim();
  const bad = (): never => {
    throw new InputError(`invalid DNS server ${JSON.stringify(text)}: expected an IPv6 or IPv4 address, optionally [IPv6]:port or IPv4:port`);
  };
  const bracket = /^\[([^\]]+)\](?::(.*))?$/.exec(t);
  if (bracket) {
    const addr = bracket[1] ?? '';
    if (!net().isIPv6(addr)) bad();
    return { address: normalizeV6(addr), port: bracket[2] === undefined ? DEFAULT_PORT : parsePort(bracket[2], text) };
  }
  if (net().isIPv6(t)) return { address: normalizeV6(t), port: DEFAULT_PORT };
  const v4 = /^([^:]+)(?::(.*))?$/.exec(t);
  if (v4 && net().isIPv4(v4[1] ?? '')) return { address: v4[1] ?? '', port: v4[2] === undefined ? DEFAULT_PORT : parsePort(v4[2], text) };
  return bad();
}

/** "[2001:db8:1::53]:53" or "192.0.2.53:53". */
export function formatServer(s: DnsServer): string {
  return net().isIPv6(s.address) ? `[${s.address}]:${s.port}` : `${s.address}:${s.port}`;
}

function sameHost(a: string, b: string): boolean {
  if (net().isIPv6(a) && net().isIPv6(b)) return parseIPv6(a).equals(parseIPv6(b));
  return a === b;
}

// ---------------------------------------------------------------- the message

function opRecord(op: UpdateOp, zone: string): ResourceRecord {
  const what = `update ${op.op} ${op.name} ${op.type}`;
  const name = normalizeName(op.name);
  if (!isSubdomain(name, zone)) throw new InputError(`${what}: ${JSON.stringify(op.name)} is not in zone ${zone}`);
  let ttl = 0;
  if (op.op === 'add') {
    if (!Number.isInteger(op.ttl) || op.ttl < 0 || op.ttl > 0x7fffffff) throw new InputError(`${what}: invalid TTL ${op.ttl}`);
    ttl = op.ttl;
  } else if (op.op !== 'delete') {
    throw new InputError(`${what}: unknown operation`);
  }
  const klass = op.op === 'add' ? CLASS.IN : CLASS.NONE;
  if (op.type === 'AAAA') {
    return { name, type: TYPE.AAAA, class: klass, ttl, rdata: { type: 'AAAA', address: parseIPv6(op.data, `${what} address`) } };
  }
  if (op.type === 'PTR') {
    const target = normalizeName(op.data);
    if (target === '') throw new InputError(`${what}: empty PTR target`);
    return { name, type: TYPE.PTR, class: klass, ttl, rdata: { type: 'PTR', target } };
  }
  throw new InputError(`${what}: unsupported type`);
}

/** The UPDATE message for `ops` in `zone` (names already checked). */
export function buildUpdate(id: number, zone: string, ops: readonly UpdateOp[], inUse: readonly string[] = []): Message {
  const z = normalizeName(zone);
  return {
    header: { id, qr: false, opcode: OPCODE.UPDATE, aa: false, tc: false, rd: false, ra: false, z: 0, rcode: 0 },
    questions: [{ name: z, type: TYPE.SOA, class: CLASS.IN }],
    // The prerequisite section (RFC 2136 §2.4.4): class ANY, type ANY, TTL 0, no RDATA.
    answers: inUse.map((n) => {
      const name = normalizeName(n);
      if (!isSubdomain(name, z)) throw new InputError(`update prerequisite ${JSON.stringify(n)} is not in zone ${z}`);
      return { name, type: TYPE.ANY, class: CLASS.ANY, ttl: 0, rdata: { type: 'raw', bytes: Buffer.alloc(0) } };
    }),
    authorities: ops.map((op) => opRecord(op, z)),
    additionals: [],
  };
}

// ---------------------------------------------------------------- answers

type Verdict =
  | { kind: 'done'; message: Message }
  | { kind: 'fail'; rcode: string; detail?: string }
  /** Not an answer we can trust; remembered in case nothing better comes. */
  | { kind: 'invalid'; rcode: string; detail: string }
  | { kind: 'truncated' };

interface Exchange {
  id: number;
  /** The request's opcode: an answer must carry it. */
  opcode: number;
  /** The name of the zone section (UPDATE) or question (QUERY): an answer's must be the same. */
  zone: string;
  key: TsigKey | undefined;
  signed: SignedMessage | undefined;
}

/** What a datagram or TCP message means for this exchange; undefined = not an answer to it. */
function judge(raw: Buffer, x: Exchange): Verdict | undefined {
  const d = decodeMessage(raw);
  if (!d.ok) {
    if (raw.length >= 2 && raw.readUInt16BE(0) === x.id) return { kind: 'invalid', rcode: 'BADRESPONSE', detail: `undecodable response: ${d.reason}` };
    return undefined;
  }
  const h = d.message.header;
  if (h.id !== x.id || !h.qr) return undefined;
  if (h.tc) return { kind: 'truncated' };
  const update = x.opcode === OPCODE.UPDATE;
  if (h.opcode !== x.opcode) return { kind: 'invalid', rcode: 'BADRESPONSE', detail: `response opcode ${h.opcode}, expected ${update ? 'UPDATE' : 'QUERY'} (${x.opcode})` };
  if (x.key && x.signed) {
    const check = verifyResponse(d, x.signed, x.key, nowSeconds());
    if (check.kind === 'tsig-error') return { kind: 'fail', rcode: check.error, detail: check.detail };
    if (check.kind === 'invalid') return { kind: 'invalid', rcode: check.error, detail: check.detail };
  }
  const q = d.message.questions[0];
  if (d.message.questions.length > 1 || (q && q.name !== x.zone)) {
    return { kind: 'invalid', rcode: 'BADRESPONSE', detail: `response ${update ? 'zone section' : 'question'} is not ${x.zone}` };
  }
  if (h.rcode === 0) return { kind: 'done', message: d.message };
  return { kind: 'fail', rcode: rcodeName(h.rcode) };
}

function errnoText(e: unknown): string {
  if (typeof e === 'object' && e !== null) {
    const o = e as { code?: unknown; syscall?: unknown; message?: unknown };
    if (typeof o.code === 'string') return `${typeof o.syscall === 'string' ? `${o.syscall}: ` : ''}${o.code}`;
    if (typeof o.message === 'string') return o.message;
  }
  return String(e);
}

// ---------------------------------------------------------------- UDP

interface Outcome {
  verdict: Verdict;
  attempts: number;
  /** The request left this host at least once (so the server may have it, whatever came back). */
  sent: boolean;
}

function udpExchange(server: DnsServer, wire: Buffer, x: Exchange, timeoutMs: number, maxAttempts: number, onSent: () => void): Promise<Outcome> {
  return new Promise((resolve) => {
    const sock = dgram().createSocket({ type: net().isIPv6(server.address) ? 'udp6' : 'udp4' });
    let attempts = 0;
    let sent = false;
    let timer: NodeJS.Timeout | undefined;
    let settled = false;
    let invalid: Verdict | undefined;
    let sendError: string | undefined;
    const finish = (verdict: Verdict): void => {
      if (settled) return;
      settled = true;
      if (timer) clearTimeout(timer);
      try {
        sock.close();
      } catch {
        // already closed
      }
      resolve({ verdict, attempts, sent });
    };
    sock.on('error', (e) => {
      // The socket is connected, so an ICMP port unreachable comes back as ECONNREFUSED (RFC 1122
      // §4.1.3.3). After a single transmission it says that datagram reached no server: the update
      // was not applied. After more, an earlier one may have been.
      const refused = (e as NodeJS.ErrnoException).code === 'ECONNREFUSED' && attempts === 1;
      if (refused) sent = false;
      finish({ kind: 'fail', rcode: 'NETWORK', detail: `UDP socket: ${errnoText(e)}${refused ? ' (nobody listens there)' : ''}` });
    });
    sock.on('message', (msg, rinfo) => {
      if (settled || rinfo.port !== server.port || !sameHost(rinfo.address, server.address)) return;
      const v = judge(msg, x);
      if (v === undefined) return;
      if (v.kind === 'invalid') invalid = v;
      else finish(v);
    });
    const attempt = (): void => {
      if (settled) return;
      if (invalid) return finish(invalid);
      if (attempts >= maxAttempts) {
        return finish(
          sendError
            ? { kind: 'fail', rcode: 'NETWORK', detail: `${sendError}; ${attempts} attempts over UDP` }
            : { kind: 'fail', rcode: 'TIMEOUT', detail: `no answer to ${attempts} attempts of ${timeoutMs} ms over UDP` },
        );
      }
      attempts++;
      sendError = undefined;
      sock.send(wire, (err) => {
        if (err) sendError = `send: ${errnoText(err)}`;
        else if (!sent) {
          sent = true;
          onSent();
        }
      });
      timer = setTimeout(attempt, timeoutMs);
    };
    // Connected: only the server's datagrams are delivered, and its host's refusal is reported.
    sock.connect(server.port, server.address, (err?: Error) => {
      if (err) finish({ kind: 'fail', rcode: 'NETWORK', detail: `UDP connect: ${errnoText(err)}` });
      else attempt();
    });
  });
}

// ---------------------------------------------------------------- TCP

type TcpEnd = { kind: 'response'; raw: Buffer } | { kind: 'timeout' } | { kind: 'network'; detail: string };
type TcpResult = TcpEnd & { sent: boolean };

function tcpAttempt(server: DnsServer, wire: Buffer, timeoutMs: number, onSent: () => void): Promise<TcpResult> {
  return new Promise((resolve) => {
    let settled = false;
    // Connected and the request written: the server may read it, whatever happens next.
    let sent = false;
    let received = Buffer.alloc(0);
    const sock = net().connect({ host: server.address, port: server.port });
    const finish = (r: TcpEnd): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      sock.destroy();
      resolve({ ...r, sent });
    };
    const timer = setTimeout(() => finish({ kind: 'timeout' }), timeoutMs);
    const len = Buffer.alloc(2);
    len.writeUInt16BE(wire.length);
    sock.on('connect', () => {
      sent = true;
      sock.write(Buffer.concat([len, wire]));
      onSent();
    });
    sock.on('data', (chunk: Buffer) => {
      received = Buffer.concat([received, chunk]);
      if (received.length < 2) return;
      const need = received.readUInt16BE(0);
      if (received.length >= 2 + need) finish({ kind: 'response', raw: Buffer.from(received.subarray(2, 2 + need)) });
    });
    sock.on('error', (e) => finish({ kind: 'network', detail: errnoText(e) }));
    sock.on('close', () => finish({ kind: 'network', detail: 'connection closed before a complete response' }));
  });
}

async function tcpExchange(server: DnsServer, wire: Buffer, x: Exchange, timeoutMs: number, maxAttempts: number, onSent: () => void): Promise<Outcome> {
  let last: TcpResult = { kind: 'timeout', sent: false };
  let sent = false;
  for (let attempts = 1; attempts <= maxAttempts; attempts++) {
    last = await tcpAttempt(server, wire, timeoutMs, onSent);
    sent ||= last.sent;
    if (last.kind !== 'response') continue;
    const v = judge(last.raw, x) ?? { kind: 'invalid', rcode: 'BADRESPONSE', detail: 'TCP response does not answer the update (id or QR)' };
    if (v.kind === 'truncated') return { verdict: { kind: 'invalid', rcode: 'BADRESPONSE', detail: 'TC set in a TCP response' }, attempts, sent };
    return { verdict: v, attempts, sent };
  }
  return {
    verdict:
      last.kind === 'network'
        ? { kind: 'fail', rcode: 'NETWORK', detail: `${last.detail}; ${maxAttempts} attempts over TCP` }
        : { kind: 'fail', rcode: 'TIMEOUT', detail: `no answer to ${maxAttempts} attempts of ${timeoutMs} ms over TCP` },
    attempts: maxAttempts,
    sent,
  };
}

// ---------------------------------------------------------------- one request, UDP then TCP

function checkRequest(server: DnsServer, timeoutMs: number, retries: number, key: TsigKey | undefined): void {
  if (!Number.isInteger(timeoutMs) || timeoutMs < 1) throw new InputError(`invalid DNS timeout ${timeoutMs} ms`);
  if (!Number.isInteger(retries) || retries < 0) throw new InputError(`invalid DNS retries ${retries}`);
  if (!net().isIP(server.address) || !Number.isInteger(server.port) || server.port < 1 || server.port > 65535) {
    throw new InputError(`invalid DNS server ${JSON.stringify(server)}`);
  }
  if (key && canonicalAlgorithm(key.algorithm) === undefined) throw new InputError(`TSIG key ${key.name}: unsupported algorithm ${key.algorithm}`);
}

/** Sign (with a key) and send one request: over UDP, then over TCP after a TC answer or when over 512 bytes. */
async function transact(
  server: DnsServer,
  message: Message,
  x: Omit<Exchange, 'signed'>,
  timeoutMs: number,
  retries: number,
  onSent: () => void = () => undefined,
): Promise<{ verdict: Verdict; transport: 'udp' | 'tcp'; attempts: number; outcome: 'rejected' | 'unknown' }> {
  const unsigned = encodeMessage(message);
  const signed = x.key ? signMessage(unsigned, x.key) : undefined;
  const wire = signed ? signed.wire : unsigned;
  const exchange: Exchange = { ...x, signed };
  const maxAttempts = retries + 1;
  let first = true;
  const sentOnce = (): void => {
    if (first) onSent();
    first = false;
  };
  let transport: 'udp' | 'tcp' = 'udp';
  let outcome: Outcome = { verdict: { kind: 'truncated' }, attempts: 0, sent: false };
  if (wire.length <= UDP_MAX) outcome = await udpExchange(server, wire, exchange, timeoutMs, maxAttempts, sentOnce);
  let attempts = outcome.attempts;
  let sent = outcome.sent;
  if (outcome.verdict.kind === 'truncated') {
    transport = 'tcp';
    outcome = await tcpExchange(server, wire, exchange, timeoutMs, maxAttempts, sentOnce);
    attempts += outcome.attempts;
    sent ||= outcome.sent;
  }
  const v = outcome.verdict;
  // No answer we can trust, and the request may have reached the server: it may have applied it.
  const untrusted = v.kind === 'invalid' || (v.kind === 'fail' && (v.rcode === 'TIMEOUT' || v.rcode === 'NETWORK'));
  return { verdict: v, transport, attempts, outcome: sent && untrusted ? 'unknown' : 'rejected' };
}

// ---------------------------------------------------------------- sendUpdate

/** Send one dynamic update; resolves on NOERROR, rejects with DnsUpdateError (or InputError for bad arguments). */
export async function sendUpdate(opts: UpdateOptions): Promise<UpdateResult> {
  const started = performance.now();
  const { server, key } = opts;
  const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const retries = opts.retries ?? DEFAULT_RETRIES;
  checkRequest(server, timeoutMs, retries, key);
  const zone = normalizeName(opts.zone);
  if (zone === '') throw new InputError('DNS update: empty zone');

  const id = crypto.randomInt(0, 0x10000);
  const { verdict: v, transport, attempts, outcome } = await transact(server, buildUpdate(id, zone, opts.ops, opts.inUse), { id, opcode: OPCODE.UPDATE, zone, key }, timeoutMs, retries, opts.onSent);
  if (v.kind === 'done') return { transport, attempts, elapsedMs: performance.now() - started };
  if (v.kind === 'truncated') throw new DnsUpdateError(zone, formatServer(server), 'BADRESPONSE', 'truncated', outcome);
  throw new DnsUpdateError(zone, formatServer(server), v.rcode, v.detail, outcome);
}

// ---------------------------------------------------------------- queries (for `check`)

export interface QueryOptions {
  server: DnsServer;
  name: string;
  type: 'AAAA' | 'PTR';
  /** With a key the query is signed, and only an answer whose TSIG verifies counts. */
  key?: TsigKey;
  /** Per attempt; default 2000. */
  timeoutMs?: number;
  /** Further attempts after the first, on timeouts and network errors only; default 2. */
  retries?: number;
}

export interface QueryResult {
  rcode: 'NOERROR' | 'NXDOMAIN';
  /** AA: the server answered from a zone it serves. */
  authoritative: boolean;
  /** The answer's records of that name, type and class IN. */
  records: ResourceRecord[];
  transport: 'udp' | 'tcp';
  attempts: number;
}

/** Why a query got no usable answer: `rcode` as for DnsUpdateError (TIMEOUT, NETWORK, REFUSED, BADSIG, ...). */
export class DnsQueryError extends Error {
  override name = 'DnsQueryError';
  constructor(
    readonly query: string,
    readonly server: string,
    readonly rcode: string,
    readonly detail?: string,
  ) {
    super(oneLine(`DNS query ${query} at ${server}: ${rcode}${detail ? ` (${detail})` : ''}`));
  }
}

/** The QUERY message for NAME TYPE IN, recursion not desired. */
export function buildQuery(id: number, name: string, type: 'AAAA' | 'PTR'): Message {
  return {
    header: { id, qr: false, opcode: OPCODE.QUERY, aa: false, tc: false, rd: false, ra: false, z: 0, rcode: 0 },
    questions: [{ name: normalizeName(name), type: TYPE[type], class: CLASS.IN }],
    answers: [],
    authorities: [],
    additionals: [],
  };
}

/**
 * Ask the server for NAME TYPE (the same transport, retries and TSIG checks as an update).
 * NOERROR and NXDOMAIN are answers; anything else rejects with DnsQueryError.
 */
export async function queryRecords(opts: QueryOptions): Promise<QueryResult> {
  const { server, key } = opts;
  const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const retries = opts.retries ?? DEFAULT_RETRIES;
  checkRequest(server, timeoutMs, retries, key);
  const name = normalizeName(opts.name);
  const what = `${name} ${opts.type}`;
  const id = crypto.randomInt(0, 0x10000);
  const { verdict: v, transport, attempts } = await transact(server, buildQuery(id, name, opts.type), { id, opcode: OPCODE.QUERY, zone: name, key }, timeoutMs, retries);
  if (v.kind === 'fail' && v.rcode === 'NXDOMAIN') return { rcode: 'NXDOMAIN', authoritative: true, records: [], transport, attempts };
  if (v.kind === 'truncated') throw new DnsQueryError(what, formatServer(server), 'BADRESPONSE', 'truncated');
  if (v.kind !== 'done') throw new DnsQueryError(what, formatServer(server), v.rcode, v.detail);
  const records = v.message.answers.filter((rr) => rr.name === name && rr.type === TYPE[opts.type] && rr.class === CLASS.IN);
  return { rcode: 'NOERROR', authoritative: v.message.header.aa, records, transport, attempts };
}

/**
 * Whether the server holds exactly this record (NAME TYPE DATA), whatever else the RRset holds:
 * an authoritative answer is required (a referral or a cache's answer decides nothing).
 */
export async function recordExists(opts: QueryOptions & { data: string }): Promise<boolean> {
  const r = await queryRecords(opts);
  if (!r.authoritative) throw new DnsQueryError(`${normalizeName(opts.name)} ${opts.type}`, formatServer(opts.server), 'BADRESPONSE', 'the answer is not authoritative');
  if (opts.type === 'AAAA') {
    const want = parseIPv6(opts.data);
    return r.records.some((rr) => rr.rdata.type === 'AAAA' && rr.rdata.address.equals(want));
  }
  const target = normalizeName(opts.data);
  return r.records.some((rr) => rr.rdata.type === 'PTR' && rr.rdata.target === target);
}
