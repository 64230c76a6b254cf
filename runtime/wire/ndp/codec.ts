/**
 * Neighbour Discovery codec (RFC 4861): `NdMessage` to ICMPv6 bytes and back. Decoding applies the
 * RFC 4861 validity checks and never throws: a bad packet gives the reason it was dropped.
 */
import {
  type IPv6,
  formatIPv6,
  isLinkLocal,
  isMulticast,
  isUnspecified,
  maskPrefix,
  solicitedNode,
} from '../../core/ipv6';
import { icmp6Checksum, verifyIcmp6Checksum } from './checksum';
import {
  ICMP6_NA,
  ICMP6_NS,
  ICMP6_RA,
  ICMP6_RS,
  type DecodeResult,
  type NdMessage,
  type NdOption,
  type Preference,
  type ReceivedMeta,
} from '../../core/nd-types';

/** Option type codes (RFC 4861 §4.6, RFC 3971 §5.3.2, RFC 4191 §2.3, RFC 8106 §5). */
const OPT_SLLA = 1;
const OPT_TLLA = 2;
const OPT_PREFIX_INFORMATION = 3;
const OPT_MTU = 5;
const OPT_NONCE = 14;
const OPT_ROUTE_INFORMATION = 24;
const OPT_RDNSS = 25;
const OPT_DNSSL = 31;

/** RFC 4861 §6.1.1, §6.1.2, §7.1.1, §7.1.2: the ND messages' fixed part, ICMP header included. */
const MIN_LENGTH: Record<number, number> = { [ICMP6_RS]: 8, [ICMP6_RA]: 16, [ICMP6_NS]: 24, [ICMP6_NA]: 24 };

/** RFC 4861 §4.2 / RFC 4191 §2.2 flag bits. */
const RA_MANAGED = 0x80;
const RA_OTHER = 0x40;
const RA_HOME_AGENT = 0x20;
const RA_PROXY = 0x04;
/** RFC 4861 §4.4. */
const NA_ROUTER = 0x80;
const NA_SOLICITED = 0x40;
const NA_OVERRIDE = 0x20;
/** RFC 4861 §4.6.2. */
const PI_ON_LINK = 0x80;
const PI_AUTONOMOUS = 0x40;
const PI_ROUTER_ADDRESS = 0x20;

/** RFC 4191 §2.1: the 2-bit preference, as it sits in bits 0x18 of its byte. */
const PREFERENCE_BITS: Record<Preference, number> = { high: 0x08, medium: 0x00, low: 0x18, reserved: 0x10 };
const PREFERENCE_OF_BITS: readonly Preference[] = ['medium', 'high', 'reserved', 'low'];

/** The preference in bits 0x18 of an RA flags byte or a route-information flags byte. */
function preferenceOf(flags: number): Preference {
  return PREFERENCE_OF_BITS[(flags >> 3) & 0x03];
}

/** RFC 1035 §2.3.4 / §3.1. */
const MAX_LABEL_LENGTH = 63;
const MAX_NAME_LENGTH = 255;

// ---------------------------------------------------------------------------------------------
// Encoding

function requireAddress(addr: Uint8Array, what: string): void {
  if (addr.length !== 16) throw new RangeError(`${what} must be 16 bytes, got ${addr.length}`);
}

function requirePrefixLength(length: number): void {
  if (!Number.isInteger(length) || length < 0 || length > 128) {
    throw new RangeError(`prefix length must be 0..128, got ${length}`);
  }
}

/**
 * An option: type, length in units of 8 octets, then `body` padded with zeros to a multiple of 8
 * octets including the 2-byte header (RFC 4861 §4.6).
 */
function option(type: number, body: Uint8Array): Buffer {
  const units = Math.ceil((body.length + 2) / 8);
  if (units > 255) throw new RangeError(`option type ${type} is ${body.length + 2} bytes, more than 255 × 8`);
  const out = Buffer.alloc(units * 8);
  out[0] = type;
  out[1] = units;
  Buffer.from(body).copy(out, 2);
  return out;
}

/** RFC 4861 §4.6.2. The bits after the prefix length are sent as zero. */
function encodePrefixInformation(opt: Extract<NdOption, { type: 'prefix-information' }>): Buffer {
  requireAddress(opt.prefix, 'prefix');
  requirePrefixLength(opt.prefixLength);
  const body = Buffer.alloc(30);
  body[0] = opt.prefixLength;
  body[1] =
    (opt.onLink ? PI_ON_LINK : 0) | (opt.autonomous ? PI_AUTONOMOUS : 0) | (opt.routerAddress ? PI_ROUTER_ADDRESS : 0);
  body.writeUInt32BE(opt.validLifetime, 2);
  body.writeUInt32BE(opt.preferredLifetime, 6);
  maskPrefix(opt.prefix, opt.prefixLength).copy(body, 14);
  return option(OPT_PREFIX_INFORMATION, body);
}

/** RFC 4861 §4.6.4: 2 reserved bytes, then the MTU. */
function encodeMtu(mtu: number): Buffer {
  const body = Buffer.alloc(6);
  body.writeUInt32BE(mtu, 2);
  return option(OPT_MTU, body);
}

/** RFC 4191 §2.3: length 1, 2 or 3 carries 0, 8 or 16 prefix bytes; bits past the length are zero. */
function encodeRouteInformation(opt: Extract<NdOption, { type: 'route-information' }>): Buffer {
  requireAddress(opt.prefix, 'route prefix');
  requirePrefixLength(opt.prefixLength);
  const prefixBytes = opt.prefixLength === 0 ? 0 : opt.prefixLength <= 64 ? 8 : 16;
  const body = Buffer.alloc(6 + prefixBytes);
  body[0] = opt.prefixLength;
  body[1] = PREFERENCE_BITS[opt.preference];
  body.writeUInt32BE(opt.lifetime, 2);
  maskPrefix(opt.prefix, opt.prefixLength).copy(body, 6, 0, prefixBytes);
  return option(OPT_ROUTE_INFORMATION, body);
}

/** RFC 8106 §5.1: 2 reserved bytes, lifetime, one or more addresses. */
function encodeRdnss(opt: Extract<NdOption, { type: 'rdnss' }>): Buffer {
  if (opt.servers.length === 0) throw new RangeError('RDNSS option needs at least one server');
  const body = Buffer.alloc(6 + 16 * opt.servers.length);
  body.writeUInt32BE(opt.lifetime, 2);
  opt.servers.forEach((server, i) => {
    requireAddress(server, 'RDNSS server');
    Buffer.from(server).copy(body, 6 + 16 * i);
  });
  return option(OPT_RDNSS, body);
}

/** A label byte we accept: printable ASCII other than '.', so names survive as resolv.conf text. */
function isLabelByte(byte: number): boolean {
  return byte > 0x20 && byte < 0x7f && byte !== 0x2e;
}

/** RFC 1035 §3.1 wire format (labels, then a zero byte), no compression (RFC 8106 §5.2). */
function encodeDomainName(domain: string): Buffer {
  const labels = (domain.endsWith('.') ? domain.slice(0, -1) : domain).split('.');
  const parts = labels.map((label) => {
    if (label.length === 0 || label.length > MAX_LABEL_LENGTH) {
      throw new RangeError(`DNSSL domain ${JSON.stringify(domain)}: a label must be 1..63 characters`);
    }
    if (!Array.from(label).every((c) => isLabelByte(c.charCodeAt(0)))) {
      throw new RangeError(`DNSSL domain ${JSON.stringify(domain)}: a label has a character that is not printable ASCII`);
    }
    return Buffer.concat([Buffer.from([label.length]), Buffer.from(label, 'ascii')]);
  });
  const name = Buffer.concat([...parts, Buffer.alloc(1)]);
  if (name.length > MAX_NAME_LENGTH) throw new RangeError(`DNSSL domain ${JSON.stringify(domain)} is too long`);
  return name;
}

/** RFC 8106 §5.2: 2 reserved bytes, lifetime, names; `option` pads with zeros. */
function encodeDnssl(opt: Extract<NdOption, { type: 'dnssl' }>): Buffer {
  if (opt.domains.length === 0) throw new RangeError('DNSSL option needs at least one domain');
  const lifetime = Buffer.alloc(6);
  lifetime.writeUInt32BE(opt.lifetime, 2);
  return option(OPT_DNSSL, Buffer.concat([lifetime, ...opt.domains.map(encodeDomainName)]));
}

function encodeOption(opt: NdOption): Buffer {
  switch (opt.type) {
    case 'source-link-layer-address':
      return option(OPT_SLLA, opt.address);
    case 'target-link-layer-address':
      return option(OPT_TLLA, opt.address);
    case 'prefix-information':
      return encodePrefixInformation(opt);
    case 'mtu':
      return encodeMtu(opt.mtu);
    case 'route-information':
      return encodeRouteInformation(opt);
    case 'rdnss':
      return encodeRdnss(opt);
    case 'dnssl':
      return encodeDnssl(opt);
    case 'nonce':
      return option(OPT_NONCE, opt.nonce); // RFC 3971 §5.3.2: a 6-byte nonce gives length 1
    case 'unknown':
      return option(opt.code, opt.data);
  }
}

/** The ICMPv6 type and the message body after the 4-byte ICMP header (RFC 4861 §4.1–§4.4). */
function encodeBody(message: NdMessage): { type: number; body: Buffer } {
  switch (message.type) {
    case 'router-solicitation':
      return { type: ICMP6_RS, body: Buffer.alloc(4) };
    case 'router-advertisement': {
      const body = Buffer.alloc(12);
      body.writeUInt8(message.curHopLimit, 0);
      body[1] =
        (message.managed ? RA_MANAGED : 0) |
        (message.other ? RA_OTHER : 0) |
        (message.homeAgent ? RA_HOME_AGENT : 0) |
        PREFERENCE_BITS[message.preference] |
        (message.proxy ? RA_PROXY : 0);
      body.writeUInt16BE(message.routerLifetime, 2);
      body.writeUInt32BE(message.reachableTime, 4);
      body.writeUInt32BE(message.retransTimer, 8);
      return { type: ICMP6_RA, body };
    }
    case 'neighbor-solicitation': {
      requireAddress(message.target, 'target address');
      const body = Buffer.alloc(20);
      Buffer.from(message.target).copy(body, 4);
      return { type: ICMP6_NS, body };
    }
    case 'neighbor-advertisement': {
      requireAddress(message.target, 'target address');
      const body = Buffer.alloc(20);
      body[0] =
        (message.router ? NA_ROUTER : 0) | (message.solicited ? NA_SOLICITED : 0) | (message.override ? NA_OVERRIDE : 0);
      Buffer.from(message.target).copy(body, 4);
      return { type: ICMP6_NA, body };
    }
  }
}

/**
 * The ICMPv6 bytes of an ND message. With `addresses` the checksum is filled in; without, it is
 * left 0 for the kernel to fill (an ordinary raw ICMPv6 socket does, RFC 3542 §3.1).
 * Throws RangeError for input that cannot be encoded (a 15-byte address, a 64-byte label, ...).
 */
export function encodeNd(message: NdMessage, addresses?: { source: IPv6; destination: IPv6 }): Buffer {
  const { type, body } = encodeBody(message);
  const header = Buffer.from([type, 0, 0, 0]);
  const icmp = Buffer.concat([header, body, ...message.options.map(encodeOption)]);
  if (addresses) icmp.writeUInt16BE(icmp6Checksum(addresses.source, addresses.destination, icmp), 2);
  return icmp;
}

// ---------------------------------------------------------------------------------------------
// Decoding

/** An option as found in the packet: its type code and the bytes after its 2-byte header. */
interface RawOption {
  code: number;
  data: Buffer;
}

type Parsed<T> = { ok: true; value: T } | { ok: false; reason: string };

/** Either the decoded option, or the note saying why it was ignored. */
type OptionResult = { option: NdOption } | { ignored: string };

/**
 * Splits the options area. RFC 4861 §6.1.1/§6.1.2/§7.1.1/§7.1.2: every option has a length
 * greater than zero; an option running past the end (or a partial header) invalidates the message.
 */
function splitOptions(bytes: Buffer): Parsed<RawOption[]> {
  const options: RawOption[] = [];
  let offset = 0;
  while (offset < bytes.length) {
    const code = bytes[offset] ?? 0;
    if (offset + 2 > bytes.length) return { ok: false, reason: `option type ${code} header truncated` };
    const size = (bytes[offset + 1] ?? 0) * 8;
    if (size === 0) return { ok: false, reason: `option type ${code} has length 0` };
    if (offset + size > bytes.length) return { ok: false, reason: `option type ${code} runs past the end` };
    options.push({ code, data: Buffer.from(bytes.subarray(offset + 2, offset + size)) });
    offset += size;
  }
  return { ok: true, value: options };
}

/** The option's length field, from its data (which excludes the 2-byte header). */
function lengthUnits(raw: RawOption): number {
  return (raw.data.length + 2) / 8;
}

/** RFC 4861 §4.6.2: length must be 4; prefix length at most 128; bits past it are ignored. */
function decodePrefixInformation(raw: RawOption): OptionResult {
  if (lengthUnits(raw) !== 4) return { ignored: `prefix-information with length ${lengthUnits(raw)}, not 4` };
  const prefixLength = raw.data.readUInt8(0);
  if (prefixLength > 128) return { ignored: `prefix-information with prefix length ${prefixLength}` };
  const flags = raw.data.readUInt8(1);
  return {
    option: {
      type: 'prefix-information',
      prefix: maskPrefix(raw.data.subarray(14, 30), prefixLength),
      prefixLength,
      onLink: (flags & PI_ON_LINK) !== 0,
      autonomous: (flags & PI_AUTONOMOUS) !== 0,
      routerAddress: (flags & PI_ROUTER_ADDRESS) !== 0,
      validLifetime: raw.data.readUInt32BE(2),
      preferredLifetime: raw.data.readUInt32BE(6),
    },
  };
}

/** RFC 4861 §4.6.4: length must be 1. */
function decodeMtu(raw: RawOption): OptionResult {
  if (lengthUnits(raw) !== 1) return { ignored: `mtu with length ${lengthUnits(raw)}, not 1` };
  return { option: { type: 'mtu', mtu: raw.data.readUInt32BE(2) } };
}

/**
 * RFC 4191 §2.3: length 1..3, prefix length at most 128 and covered by the length (more than 0
 * needs length 2, more than 64 needs 3); a reserved (10) preference means ignore the option.
 */
function decodeRouteInformation(raw: RawOption): OptionResult {
  const units = lengthUnits(raw);
  if (units > 3) return { ignored: `route-information with length ${units}, more than 3` };
  const prefixLength = raw.data.readUInt8(0);
  if (prefixLength > 128) return { ignored: `route-information with prefix length ${prefixLength}` };
  const needed = prefixLength === 0 ? 1 : prefixLength <= 64 ? 2 : 3;
  if (units < needed) return { ignored: `route-information with length ${units}, too short for /${prefixLength}` };
  const preference = preferenceOf(raw.data.readUInt8(1));
  if (preference === 'reserved') return { ignored: 'route-information with reserved preference' };
  const prefix = Buffer.alloc(16);
  raw.data.copy(prefix, 0, 6);
  return {
    option: {
      type: 'route-information',
      prefix: maskPrefix(prefix, prefixLength),
      prefixLength,
      preference,
      lifetime: raw.data.readUInt32BE(2),
    },
  };
}

/** RFC 8106 §5.1 / §5.3.1: length at least 3 and odd (1 + 2 per address). */
function decodeRdnss(raw: RawOption): OptionResult {
  const units = lengthUnits(raw);
  if (units < 3 || (units - 1) % 2 !== 0) return { ignored: `rdnss with length ${units}` };
  const servers: IPv6[] = [];
  for (let offset = 6; offset < raw.data.length; offset += 16) {
    servers.push(Buffer.from(raw.data.subarray(offset, offset + 16)));
  }
  return { option: { type: 'rdnss', lifetime: raw.data.readUInt32BE(2), servers } };
}

/**
 * RFC 8106 §5.2: uncompressed RFC 1035 §3.1 names, then zero padding. Returns the names without
 * the trailing dot, or undefined if any is malformed (compression pointer, bad label, too long).
 */
function decodeDomainNames(bytes: Buffer): string[] | undefined {
  const names: string[] = [];
  let offset = 0;
  while (offset < bytes.length && bytes[offset] !== 0) {
    const labels: string[] = [];
    const start = offset;
    for (let length = bytes[offset] ?? 0; length !== 0; length = bytes[offset] ?? 0) {
      if (length > MAX_LABEL_LENGTH) return undefined; // compression pointer or extended label type
      const label = bytes.subarray(offset + 1, offset + 1 + length);
      if (label.length !== length || !label.every(isLabelByte)) return undefined;
      labels.push(label.toString('latin1'));
      offset += 1 + length;
      if (offset >= bytes.length) return undefined; // no terminating zero byte
    }
    offset += 1;
    if (offset - start > MAX_NAME_LENGTH) return undefined;
    names.push(labels.join('.'));
  }
  const paddingIsZero = bytes.subarray(offset).every((b) => b === 0);
  return names.length > 0 && paddingIsZero ? names : undefined;
}

/** RFC 8106 §5.2 / §5.3.1: length at least 2, one or more well-formed names. */
function decodeDnssl(raw: RawOption): OptionResult {
  const units = lengthUnits(raw);
  if (units < 2) return { ignored: `dnssl with length ${units}` };
  const domains = decodeDomainNames(raw.data.subarray(6));
  if (!domains) return { ignored: 'dnssl with a malformed domain name' };
  return { option: { type: 'dnssl', lifetime: raw.data.readUInt32BE(2), domains } };
}

/** Options this codec does not know are kept raw (RFC 4861 §4.6: receivers skip them). */
function decodeOption(raw: RawOption): OptionResult {
  switch (raw.code) {
    case OPT_SLLA:
      return { option: { type: 'source-link-layer-address', address: raw.data } };
    case OPT_TLLA:
      return { option: { type: 'target-link-layer-address', address: raw.data } };
    case OPT_PREFIX_INFORMATION:
      return decodePrefixInformation(raw);
    case OPT_MTU:
      return decodeMtu(raw);
    case OPT_ROUTE_INFORMATION:
      return decodeRouteInformation(raw);
    case OPT_RDNSS:
      return decodeRdnss(raw);
    case OPT_DNSSL:
      return decodeDnssl(raw);
    case OPT_NONCE:
      return { option: { type: 'nonce', nonce: raw.data } }; // RFC 3971 §5.3.2: padding included
    default:
      return { option: { type: 'unknown', code: raw.code, data: raw.data } };
  }
}

/** The message built from the fixed part (RFC 4861 §4.1–§4.4) and the decoded options. */
function decodeBody(type: number, icmp: Buffer, options: NdOption[]): NdMessage {
  switch (type) {
    case ICMP6_RS:
      return { type: 'router-solicitation', options };
    case ICMP6_RA: {
      const flags = icmp.readUInt8(5);
      return {
        type: 'router-advertisement',
        curHopLimit: icmp.readUInt8(4),
        managed: (flags & RA_MANAGED) !== 0,
        other: (flags & RA_OTHER) !== 0,
        homeAgent: (flags & RA_HOME_AGENT) !== 0,
        preference: preferenceOf(flags),
        proxy: (flags & RA_PROXY) !== 0,
        routerLifetime: icmp.readUInt16BE(6),
        reachableTime: icmp.readUInt32BE(8),
        retransTimer: icmp.readUInt32BE(12),
        options,
      };
    }
    case ICMP6_NS:
      return { type: 'neighbor-solicitation', target: Buffer.from(icmp.subarray(8, 24)), options };
    default: {
      // ICMP6_NA: the header checks admit only the four ND types
      const flags = icmp.readUInt8(4);
      return {
        type: 'neighbor-advertisement',
        router: (flags & NA_ROUTER) !== 0,
        solicited: (flags & NA_SOLICITED) !== 0,
        override: (flags & NA_OVERRIDE) !== 0,
        target: Buffer.from(icmp.subarray(8, 24)),
        options,
      };
    }
  }
}

/** RFC 4291 §2.7.1: ff02::1:ff00:0/104. */
function isSolicitedNodeMulticast(addr: Uint8Array): boolean {
  return solicitedNode(addr).equals(addr);
}

/** The per-message checks of RFC 4861 §6.1.1, §6.1.2, §7.1.1 and §7.1.2; undefined if it passes. */
function semanticProblem(message: NdMessage, meta: ReceivedMeta): string | undefined {
  const hasSlla = message.options.some((o) => o.type === 'source-link-layer-address');
  switch (message.type) {
    case 'router-solicitation':
      if (isUnspecified(meta.source) && hasSlla) return 'RS from :: has a source link-layer address option';
      return undefined;
    case 'router-advertisement':
      if (!isLinkLocal(meta.source)) return `RA source ${formatIPv6(meta.source)} is not link-local`;
      return undefined;
    case 'neighbor-solicitation':
      if (isMulticast(message.target)) return `NS target ${formatIPv6(message.target)} is multicast`;
      if (isUnspecified(meta.source) && !isSolicitedNodeMulticast(meta.destination)) {
        return `NS from :: to ${formatIPv6(meta.destination)}, not a solicited-node address`;
      }
      if (isUnspecified(meta.source) && hasSlla) return 'NS from :: has a source link-layer address option';
      return undefined;
    case 'neighbor-advertisement':
      if (isMulticast(message.target)) return `NA target ${formatIPv6(message.target)} is multicast`;
      if (isMulticast(meta.destination) && message.solicited) {
        return `NA to ${formatIPv6(meta.destination)} has the Solicited flag`;
      }
      return undefined;
  }
}

/** Checks that hold for every ND message, before its body is looked at (RFC 4861 §6.1, §7.1). */
function headerProblem(icmp: Buffer, meta: ReceivedMeta, verifyChecksum: boolean): string | undefined {
  if (meta.source.length !== 16 || meta.destination.length !== 16) return 'source or destination is not 16 bytes';
  // RFC 6980 §5: ND over fragments is ignored — a fragmented RA slips past RA-Guard-style
  // filters, and lets one message carry thousands of options.
  if (meta.fragmentSize !== undefined) return `fragmented (fragments of up to ${meta.fragmentSize} bytes): RFC 6980 forbids fragmented ND`;
  if (icmp.length < 4) return `ICMPv6 message of ${icmp.length} bytes is truncated`;
  const type = icmp.readUInt8(0);
  const minLength = MIN_LENGTH[type];
  if (minLength === undefined) return `not an ND message (ICMPv6 type ${type})`;
  if (meta.hopLimit !== 255) return `hop limit ${meta.hopLimit}, not 255`;
  if (icmp.readUInt8(1) !== 0) return `code ${icmp.readUInt8(1)}, not 0`;
  if (verifyChecksum && !verifyIcmp6Checksum(meta.source, meta.destination, icmp)) return 'bad ICMPv6 checksum';
  if (icmp.length < minLength) return `ICMPv6 type ${type} of ${icmp.length} bytes, less than ${minLength}`;
  return undefined;
}

/**
 * Decodes and validates a received ND message (RFC 4861 §6.1.1, §6.1.2, §7.1.1, §7.1.2). Never
 * throws. Known options with an impossible length or content are skipped and noted in
 * `ignoredOptions`; the message stays valid.
 */
export function decodeNd(icmp: Uint8Array, meta: ReceivedMeta, opts?: { verifyChecksum?: boolean }): DecodeResult {
  const bytes = Buffer.from(icmp.buffer, icmp.byteOffset, icmp.byteLength);
  const problem = headerProblem(bytes, meta, opts?.verifyChecksum ?? true);
  if (problem !== undefined) return { ok: false, reason: problem };
  const type = bytes.readUInt8(0);
  const raw = splitOptions(bytes.subarray(MIN_LENGTH[type]));
  if (!raw.ok) return raw;
  const options: NdOption[] = [];
  const ignoredOptions: string[] = [];
  for (const result of raw.value.map(decodeOption)) {
    if ('option' in result) options.push(result.option);
    else ignoredOptions.push(result.ignored);
  }
  const message = decodeBody(type, bytes, options);
  const semantic = semanticProblem(message, meta);
  if (semantic !== undefined) return { ok: false, reason: semantic };
  return { ok: true, message, ignoredOptions };
}
