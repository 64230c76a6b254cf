/**
 * Interface identifiers for container addresses: RFC 7217 stable, semantically opaque IIDs, and
 * operator-given static ones. Both refuse the reserved IIDs of RFC 5453.
 */
import { createHmac } from 'node:crypto';
import { InputError } from './errors';
import { formatIPv6, parseIPv6, type IPv6 } from './ipv6';

/** RFC 7217 §6: how many times to regenerate the IID after a DAD failure before giving up. */
export const IDGEN_RETRIES = 3;

/** The DAD counter is hashed as one byte. */
const MAX_DAD_COUNTER = 0xff;

/** RFC 7217 §5: secret_key "SHOULD be of at least 128 bits". */
const MIN_SECRET_BYTES = 16;

/**
 * IANA "Reserved IPv6 Interface Identifiers" registry (RFC 5453 §3, updated by RFC 6543),
 * inclusive ranges of the 64-bit IID. The u/g bits carry no meaning (RFC 7136), so only these
 * exact values count.
 */
const RESERVED_IIDS: ReadonlyArray<{ first: bigint; last: bigint; what: string }> = [
  { first: 0n, last: 0n, what: 'Subnet-Router anycast, RFC 4291' },
  { first: 0x0200_5eff_fe00_0000n, last: 0x0200_5eff_fe00_5212n, what: 'IANA Ethernet block, RFC 4291' },
  { first: 0x0200_5eff_fe00_5213n, last: 0x0200_5eff_fe00_5213n, what: 'Proxy Mobile IPv6, RFC 6543' },
  { first: 0x0200_5eff_fe00_5214n, last: 0x0200_5eff_feff_ffffn, what: 'IANA Ethernet block, RFC 4291' },
  { first: 0xfdff_ffff_ffff_ff80n, last: 0xfdff_ffff_ffff_ffffn, what: 'reserved subnet anycast, RFC 2526' },
];

function reservedAs(iid: Uint8Array): string | undefined {
  if (iid.length !== 8) throw new RangeError(`interface identifier must be 8 bytes, got ${iid.length}`);
  const value = Buffer.from(iid.buffer, iid.byteOffset, 8).readBigUInt64BE(0);
  return RESERVED_IIDS.find((r) => value >= r.first && value <= r.last)?.what;
}

/** RFC 5453 §3: is this 64-bit IID reserved (and so never to be configured)? */
export function isReservedIid(iid: Uint8Array): boolean {
  return reservedAs(iid) !== undefined;
}

/** Length-prefixed UTF-8: a 4-byte big-endian byte count, then the bytes. */
function lengthPrefixed(text: string): Buffer {
  const bytes = Buffer.from(text, 'utf8');
  const length = Buffer.alloc(4);
  length.writeUInt32BE(bytes.length);
  return Buffer.concat([length, bytes]);
}

/**
 * RFC 7217 §5 F(): the first 8 bytes of HMAC-SHA256 keyed with `secret` over
 *
 *     prefix[0..8] || u32be(len(name)) || name || u32be(len(networkId)) || networkId || u8(dadCounter)
 *
 * where name and networkId are UTF-8 and len is their byte length (the length prefixes keep
 * ("ab","c") and ("a","bc") apart). `name` is RFC 7217's Net_Iface, `networkId` its Network_ID
 * (may be empty). Pure; may return a reserved IID — `stableAddress` skips those.
 */
export function stableIid(input: { prefix: IPv6; name: string; networkId: string; dadCounter: number; secret: Buffer }): Buffer {
  const { prefix, name, networkId, dadCounter, secret } = input;
  if (prefix.length !== 16) throw new RangeError(`prefix must be 16 bytes, got ${prefix.length}`);
  if (!Number.isInteger(dadCounter) || dadCounter < 0 || dadCounter > MAX_DAD_COUNTER) {
    throw new RangeError(`DAD counter must be an integer 0..${MAX_DAD_COUNTER}, got ${dadCounter}`);
  }
  if (secret.length < MIN_SECRET_BYTES) throw new RangeError(`secret must be at least ${MIN_SECRET_BYTES} bytes, got ${secret.length}`);
  return createHmac('sha256', secret)
    .update(prefix.subarray(0, 8))
    .update(lengthPrefixed(name))
    .update(lengthPrefixed(networkId))
    .update(Buffer.from([dadCounter]))
    .digest()
    .subarray(0, 8);
}

/**
 * RFC 7217 §5: "if the resulting IID is reserved, the DAD_Counter is incremented and F() is
 * computed again". Tries counters from `counterStart` upwards; returns the first unreserved IID and
 * the counter that produced it.
 */
export function firstUnreservedIid(counterStart: number, compute: (dadCounter: number) => Buffer): { iid: Buffer; dadCounter: number } {
  for (let dadCounter = counterStart; dadCounter <= MAX_DAD_COUNTER; dadCounter++) {
    const iid = compute(dadCounter);
    if (!isReservedIid(iid)) return { iid, dadCounter };
  }
  throw new Error(`no unreserved interface identifier for DAD counters ${counterStart}..${MAX_DAD_COUNTER}`);
}

/** The /64 prefix followed by the IID. */
function join64(prefix: IPv6, iid: Buffer): IPv6 {
  return Buffer.concat([prefix.subarray(0, 8), iid]);
}

/**
 * RFC 7217 stable address in a /64 (RFC 7136: IIDs are 64 bits). The returned `dadCounter` is the
 * one actually hashed, which exceeds the input when a reserved IID was skipped; the caller resumes
 * from it (+1) after a DAD failure.
 */
export function stableAddress(input: {
  prefix: IPv6;
  prefixLength: number;
  name: string;
  networkId: string;
  dadCounter: number;
  secret: Buffer;
}): { address: IPv6; iid: Buffer; dadCounter: number } {
  const { prefixLength, ...rest } = input;
  if (prefixLength !== 64) throw new InputError(`stable addresses need a /64 prefix, got /${prefixLength}`);
  const { iid, dadCounter } = firstUnreservedIid(input.dadCounter, (counter) => stableIid({ ...rest, dadCounter: counter }));
  return { address: join64(input.prefix, iid), iid, dadCounter };
}

/**
 * A /64 prefix with an operator-given IID written as an IPv6 address with only the low 64 bits set
 * ("::1234", "::a:b:c:d"); throws InputError if it sets higher bits or is reserved (RFC 5453).
 */
export function staticAddress(prefix: IPv6, prefixLength: number, iid: string): IPv6 {
  if (prefixLength !== 64) throw new InputError(`static interface identifiers need a /64 prefix, got /${prefixLength}`);
  const parsed = parseIPv6(iid, 'interface identifier');
  if (!parsed.subarray(0, 8).every((b) => b === 0)) {
    throw new InputError(`interface identifier ${JSON.stringify(iid)} sets bits above the low 64 (write it like "::1234")`);
  }
  const low = parsed.subarray(8);
  const reserved = reservedAs(low);
  if (reserved !== undefined) throw new InputError(`interface identifier ${formatIPv6(parsed)} is reserved (${reserved})`);
  return join64(prefix, low);
}

/**
 * A stable MAC address for a container's macvlan interface, derived like an RFC 7217 IID from
 * (name, secret): unicast and locally administered (IEEE 802 U/L bit set, I/G clear). A
 * restarted container then keeps its MAC as well as its link-local and global addresses (which
 * depend on the same name and secret), so neighbours' caches stay right and the router's unicast
 * RA reaches it at once (systemd-networkd does the like for virtual links: MACAddressPolicy=persistent).
 *
 * `dadCounter` > 0: the name's next identity, when hosts sharing a secret (secret_file) run it at
 * once — its MAC must differ with its addresses, or the link carries one MAC on two ports and
 * DAD cannot tell them apart (pipeline/attach.ts claimIdentity).
 */
export function stableMac(input: { name: string; secret: Buffer; dadCounter?: number }): Buffer {
  if (input.secret.length < MIN_SECRET_BYTES) throw new RangeError(`secret must be at least ${MIN_SECRET_BYTES} bytes, got ${input.secret.length}`);
  const counter = input.dadCounter ?? 0;
  if (!Number.isInteger(counter) || counter < 0 || counter > MAX_DAD_COUNTER) throw new RangeError(`DAD counter must be an integer 0..${MAX_DAD_COUNTER}, got ${counter}`);
  const hmac = createHmac('sha256', input.secret).update('oci-slaac-hook mac\0').update(lengthPrefixed(input.name));
  // Counter 0 hashes no counter byte: the MAC every name had before counters existed.
  if (counter > 0) hmac.update(Buffer.from([counter]));
  const mac = hmac.digest().subarray(0, 6);
  mac[0] = ((mac[0] ?? 0) & 0xfc) | 0x02;
  return Buffer.from(mac);
}
