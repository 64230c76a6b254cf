// The fuzz harness's targets and runner (scripts/fuzz.ts is the command; tests/unit/fuzz.test.ts
// runs a short pass in CI). Every parser of untrusted input, driven by mutations of valid seeds
// and by random bytes:
//   ndp-ra       ICMPv6 bytes → decodeNd → summarizeRa → planAttach (RFC 4861 §6.1.2 checks and the plan)
//   ndp-ns-na    ICMPv6 bytes → decodeNd for NS/NA (DAD's input), from :: and from a link-local source
//   oci-state    the OCI state on stdin → parseState
//   config-json  a bundle's config.json → parseConfigJson
//   config-toml  config.toml → parseConfig
//   annotations  annotations (and a config with an allow-list) → applyAnnotations → validateForAttach
//   dns          a DNS response → decodeMessage
//   cni          the CNI plugin's environment and stdin → parseCniEnv, parseCniArgs, parseNetConf,
//                encodeVersion, errorVersion (and an accepted prevResult → attachmentResult)
// What a target may throw (its `refusals`), exactly: the codecs (ndp-ra, ndp-ns-na, dns) nothing at
// all (a bad packet is a result with a reason); the parsers (oci-state, config-json, config-toml,
// annotations) only InputError, with a one-line message; cni nothing (its refusal is a CNI error
// result: a code of SPEC.md §5 and a one-line msg). Anything else is a finding.
// A case is deterministic: its input is derived from (seed, target, case index) alone, so any
// finding is replayed with `--seed S --target T --case I`. A finding is any throw but the error
// classes a target may refuse with (`refusals`), a case slower than the per-case bound, or a
// result that breaks the target's own invariant.
import { applyAnnotations, DEFAULTS, parseConfig, validateForAttach, type HookConfig } from '../runtime/core/config';
import { InputError } from '../runtime/core/errors';
import { formatIPv6, parseIPv6 } from '../runtime/core/ipv6';
import type { NdMessage, NdOption, ReceivedMeta, RouterAdvertisement } from '../runtime/core/nd-types';
import { planAttach } from '../runtime/core/plan';
import { CLASS, decodeMessage, encodeMessage, OPCODE, TYPE, type Message } from '../runtime/wire/dns/wire';
import { decodeNd, encodeNd } from '../runtime/wire/ndp/codec';
import { summarizeRa } from '../runtime/wire/ndp/summary';
import { parseConfigJson, parseState } from '../runtime/wire/oci/spec';
import { addHooks, type OciHook, type OurHooks } from '../runtime/wire/oci/add-hooks';
import { parseRuntimeArgs } from '../runtime/wire/oci/runtime-args';
import { parseRequest } from '../runtime/agent/server';
import { decodeCachedRa, parseAnswer } from '../runtime/system/agent-client';
import { parseRootlessAnswer, parseRootlessRequest } from '../runtime/wire/rootless-protocol';
import { MAX_ALLOW_FROM, MAX_EXPOSE, MAX_NETWORKS, POLICY_DEFAULTS, POLICY_KEYS, policyFor, policyTag, type Policy } from '../runtime/core/policy';
import { policyRuleset, ruleCount } from '../runtime/wire/nftables/ruleset';
import { isIfname } from '../runtime/core/link-kinds';
import type { ContainerRecord } from '../runtime/core/record';
import { attachmentResult } from '../runtime/wire/cni/result';
import { CNI_COMMANDS, CNI_VERSIONS, encodeError, encodeVersion, errorVersion, isCniVersion, isNetworkName, KNOWN_CNI_ARGS, parseCniArgs, parseCniEnv, parseNetConf, type CniError } from '../runtime/wire/cni/spec';

// ------------------------------------------------------------------ randomness

/** mulberry32: small, fast, deterministic. */
export function prng(seed: number): () => number {
  let state = seed | 0;
  return () => {
    state = (state + 0x6d2b79f5) | 0;
    let x = Math.imul(state ^ (state >>> 15), 1 | state);
    x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x;
    return ((x ^ (x >>> 14)) >>> 0) / 0x100000000;
  };
}

/** The seed of one case: (run seed, target, index) hashed (FNV-1a), so cases are independent. */
export function caseSeed(seed: number, target: string, index: number): number {
  let h = 0x811c9dc5 ^ seed;
  for (const c of `${target}#${index}`) h = Math.imul(h ^ c.charCodeAt(0), 0x01000193);
  return h >>> 0;
}

type Rand = () => number;
const int = (r: Rand, n: number): number => Math.floor(r() * n);
const pick = <T>(r: Rand, xs: readonly T[]): T => xs[int(r, xs.length)] as T;

const INTERESTING_BYTES = [0x00, 0x01, 0x7f, 0x80, 0xff, 0xfe, 0x40, 0x3f, 0xc0];
const INTERESTING_TEXT = [
  '"', '\\', '{', '}', '[', ']', ',', ':', '=', '\n', '\r', '\t', '\u0000', '\u001b', '\u2028', '\ufeff', '\ud800',
  '__proto__', 'constructor', 'null', 'true', '-1', '0', '1e309', '2147483647', '4294967296', '9007199254740993', '-0',
  '"""', "'''", '#', '[[a]]', '[dns]', '[annotation_allow]', 'é', '💥', 'a'.repeat(300), '9'.repeat(40),
  '['.repeat(1500), '{a='.repeat(1500), 'a.'.repeat(500),
];

/** One random mutation of `input` (bytes); `donor` is another seed to splice from. */
function mutateBytes(r: Rand, input: Buffer, donor: Buffer, text: boolean): Buffer {
  const b = Buffer.from(input);
  const at = (): number => int(r, Math.max(1, b.length));
  switch (int(r, text ? 11 : 9)) {
    case 0: // flip a bit
      if (b.length) b[at()] ^= 1 << int(r, 8);
      return b;
    case 1: // an interesting byte
      if (b.length) b[at()] = pick(r, INTERESTING_BYTES);
      return b;
    case 2: // a random byte
      if (b.length) b[at()] = int(r, 256);
      return b;
    case 3: { // delete a range
      const from = at();
      return Buffer.concat([b.subarray(0, from), b.subarray(from + 1 + int(r, 16))]);
    }
    case 4: { // duplicate a range
      const from = at();
      const len = 1 + int(r, 32);
      return Buffer.concat([b.subarray(0, from + len), b.subarray(from, from + len), b.subarray(from + len)]);
    }
    case 5: { // insert random bytes
      const from = at();
      const ins = Buffer.alloc(1 + int(r, 16));
      for (let i = 0; i < ins.length; i++) ins[i] = int(r, 256);
      return Buffer.concat([b.subarray(0, from), ins, b.subarray(from)]);
    }
    case 6: // truncate
      return b.subarray(0, at());
    case 7: { // splice in a piece of the donor
      const from = at();
      const d = int(r, Math.max(1, donor.length));
      return Buffer.concat([b.subarray(0, from), donor.subarray(d, d + 1 + int(r, 64)), b.subarray(from + int(r, 8))]);
    }
    case 8: // a 16-bit or 32-bit field set to an edge value
      if (b.length >= 4) {
        const o = int(r, b.length - 3);
        const v = pick(r, [0, 1, 0xff, 0x7fff, 0x8000, 0xffff, 0x7fffffff, 0xffffffff]);
        if (r() < 0.5) b.writeUInt16BE(v & 0xffff, o);
        else b.writeUInt32BE(v >>> 0, o);
      }
      return b;
    default: { // text: an interesting token inserted or replacing a little
      const from = at();
      const token = Buffer.from(pick(r, INTERESTING_TEXT));
      return Buffer.concat([b.subarray(0, from), token, b.subarray(from + int(r, 3))]);
    }
  }
}

const JSON_VALUES: unknown[] = [null, true, false, 0, -1, 1.5, 1e308, 2147483648, '', 'x', '/', '/proc/1/ns/net', '..', '.', '-x', 'a\nb', 'oci-slaac-hook.parent', [], {}, [null], { type: 'network' }, { type: 'network', path: 7 }, '\u0000', 'é'];
const JSON_KEYS = ['id', 'status', 'pid', 'bundle', 'annotations', 'ociVersion', 'linux', 'namespaces', 'type', 'path', 'hostname', '__proto__', 'constructor', 'oci-slaac-hook.name', 'oci-slaac-hook.ra_timeout_ms', 'oci-slaac-hook.parent', ''];

/** A structural mutation of parsed JSON: one node replaced, a key added or removed, or the value nested deep. */
function mutateJson(r: Rand, value: unknown, depth = 0): unknown {
  const roll = r();
  if (depth > 6 || roll < 0.15) return pick(r, JSON_VALUES);
  if (roll < 0.2) {
    let v: unknown = value;
    for (let i = 0, n = 1 + int(r, 20); i < n; i++) v = r() < 0.5 ? [v] : { a: v };
    return v;
  }
  if (Array.isArray(value)) {
    const out = [...value];
    if (out.length && r() < 0.7) out[int(r, out.length)] = mutateJson(r, out[int(r, out.length)], depth + 1);
    else out.push(mutateJson(r, pick(r, JSON_VALUES), depth + 1));
    return out;
  }
  if (value && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) Object.defineProperty(out, k, { value: v, enumerable: true, writable: true, configurable: true });
    const keys = Object.keys(out);
    const x = r();
    if (keys.length && x < 0.6) {
      const k = pick(r, keys);
      out[k] = mutateJson(r, out[k], depth + 1);
    } else if (keys.length && x < 0.75) delete out[pick(r, keys)];
    else Object.defineProperty(out, pick(r, JSON_KEYS), { value: mutateJson(r, pick(r, JSON_VALUES), depth + 1), enumerable: true, writable: true, configurable: true });
    return out;
  }
  return pick(r, JSON_VALUES);
}

/** A case's input: a seed mutated 1–8 times (85 %), or random bytes / random text (15 %); JSON seeds also structurally. */
export function caseInput(r: Rand, seeds: readonly Buffer[], text: boolean, json = false): Buffer {
  if (json && r() < 0.5) {
    let v: unknown = JSON.parse(pick(r, seeds).toString('utf8'));
    for (let i = 0, n = 1 + int(r, 4); i < n; i++) v = mutateJson(r, v);
    let text = JSON.stringify(v) ?? 'null';
    if (r() < 0.05) {
      // Deep nesting, as text (no recursion here): a decoder that recurses would overflow its stack.
      const n = 1 + int(r, 100_000);
      text = r() < 0.5 ? `${'['.repeat(n)}${text}${']'.repeat(n)}` : `${'{"a":'.repeat(n)}${text}${'}'.repeat(n)}`;
    }
    const out = Buffer.from(text);
    return r() < 0.2 ? mutateBytes(r, out, out, true) : out;
  }
  if (r() < 0.15) {
    const n = int(r, r() < 0.9 ? 128 : 4096);
    const out = Buffer.alloc(n);
    for (let i = 0; i < n; i++) out[i] = text && r() < 0.8 ? 0x20 + int(r, 95) : int(r, 256);
    return out;
  }
  let b = pick(r, seeds);
  const rounds = 1 + int(r, 8);
  for (let i = 0; i < rounds; i++) b = mutateBytes(r, b, pick(r, seeds), text);
  return b.length > 1 << 20 ? b.subarray(0, 1 << 20) : b;
}

// ------------------------------------------------------------------ seeds

const ip = parseIPv6;

/** Multicast (ff00::/8), link-local (fe80::/10), unspecified or loopback: never a global address, route or server. */
function isNonUnicast(a: Uint8Array): boolean {
  if (a[0] === 0xff || (a[0] === 0xfe && ((a[1] ?? 0) & 0xc0) === 0x80)) return true;
  const zeros = a.subarray(0, 15).every((b) => b === 0);
  return zeros && (a[15] === 0 || a[15] === 1);
}
const mac = Buffer.from('020000000001', 'hex');

const RA: RouterAdvertisement = {
  type: 'router-advertisement',
  curHopLimit: 64,
  managed: false,
  other: true,
  homeAgent: false,
  preference: 'high',
  proxy: false,
  routerLifetime: 1800,
  reachableTime: 30000,
  retransTimer: 1000,
  options: [
    { type: 'source-link-layer-address', address: mac },
    { type: 'mtu', mtu: 1500 },
    { type: 'prefix-information', prefix: ip('2001:db8:1::'), prefixLength: 64, onLink: true, autonomous: true, routerAddress: false, validLifetime: 86400, preferredLifetime: 14400 },
    { type: 'prefix-information', prefix: ip('2001:db8:2::'), prefixLength: 64, onLink: false, autonomous: true, routerAddress: false, validLifetime: 0xffffffff, preferredLifetime: 0xffffffff },
    { type: 'prefix-information', prefix: ip('2001:db8:3::'), prefixLength: 48, onLink: true, autonomous: false, routerAddress: true, validLifetime: 600, preferredLifetime: 300 },
    { type: 'route-information', prefix: ip('2001:db8:100::'), prefixLength: 48, preference: 'low', lifetime: 3600 },
    { type: 'route-information', prefix: ip('::'), prefixLength: 0, preference: 'medium', lifetime: 1800 },
    { type: 'rdnss', lifetime: 600, servers: [ip('2001:db8:1::53'), ip('2001:db8:1::54')] },
    { type: 'dnssl', lifetime: 600, domains: ['lab.example', 'example.org'] },
    { type: 'unknown', code: 200, data: Buffer.alloc(6) },
  ],
};
const RA_MIN: RouterAdvertisement = { ...RA, options: [RA.options[2] as NdOption] };

const NS: NdMessage = { type: 'neighbor-solicitation', target: ip('2001:db8:1::1234'), options: [{ type: 'nonce', nonce: Buffer.from('0102030405060708', 'hex').subarray(0, 6) }] };
const NS_LL: NdMessage = { type: 'neighbor-solicitation', target: ip('fe80::1234'), options: [{ type: 'source-link-layer-address', address: mac }] };
const NA: NdMessage = { type: 'neighbor-advertisement', router: false, solicited: false, override: true, target: ip('2001:db8:1::1234'), options: [{ type: 'target-link-layer-address', address: mac }] };
const NA_S: NdMessage = { type: 'neighbor-advertisement', router: true, solicited: true, override: false, target: ip('fe80::1'), options: [] };

const RA_META: ReceivedMeta = { source: ip('fe80::1'), destination: ip('ff02::1'), hopLimit: 255, ifindex: 2 };
const NS_METAS: ReceivedMeta[] = [
  { source: ip('::'), destination: ip('ff02::1:ff00:1234'), hopLimit: 255, ifindex: 2 },
  { source: ip('fe80::2'), destination: ip('fe80::1'), hopLimit: 255, ifindex: 2 },
  { source: ip('2001:db8:1::1234'), destination: ip('ff02::1'), hopLimit: 255, ifindex: 2 },
];

const STATE_SEEDS = [
  { ociVersion: '1.0.2', id: 'web1', status: 'creating', pid: 4242, bundle: '/run/containers/web1/userdata', annotations: { 'oci-slaac-hook.name': 'web1', 'io.podman.annotations.autoremove': 'FALSE' } },
  { ociVersion: '1.1.0', id: '0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef', status: 'stopped', bundle: '/var/lib/containers/storage/overlay-containers/x/userdata', root: '/run/crun' },
  { ociVersion: '1.0.2', id: '-x.y+z_', status: 'created', pid: 0, bundle: '/b', annotations: {} },
].map((s) => JSON.stringify(s));

const CONFIG_JSON_SEEDS = [
  { ociVersion: '1.0.2', hostname: 'web1', annotations: { 'oci-slaac-hook.name': 'web1', 'oci-slaac-hook.dad': 'optimistic' }, linux: { namespaces: [{ type: 'pid' }, { type: 'network', path: '/run/netns/cni-1234' }, { type: 'mount' }] } },
  { ociVersion: '1.0.2', process: { args: ['/bin/sh'], env: ['PATH=/bin'] }, root: { path: 'rootfs' }, linux: { namespaces: [{ type: 'network' }] } },
  { ociVersion: '1.0.2', linux: { namespaces: [] }, annotations: null },
  {},
].map((s) => JSON.stringify(s, null, s && Object.keys(s).length > 2 ? 2 : 0));

const TOML_SEEDS = [
  'parent = "eth0"\nmode = "macvlan"\nmacvlan_mode = "bridge"\ndad = "strict"\ndad_transmits = 1\nra_timeout_ms = 5000\nstate_dir = "/run/oci-slaac-hook"\nenable = true\nnetwork_id = ""\niid = ""\nhost_link = false\nl3_table = 4862\nmax_prefixes = 16\nmax_routes = 16\nmax_dns_servers = 16\n',
  'parent = "eth1"\nmode = "ipvlan"\nipvlan_mode = "l3"\n\n[annotation_allow]\nparent = ["eth1", "eth2"]\nipvlan_mode = ["l2", "l3"]\niid = ["::53"]\n',
  '# comment\nparent = \'eth0\'\n[dns]\nserver = "[2001:db8:1::53]:53"\nzone = "lab.example"\nreverse_zone = "0.0.0.0.1.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa"\nkey_file = "/etc/oci-slaac-hook/tsig.key"\nttl = 300\ntimeout_ms = 2000\nrequired = false\n',
  '',
];

const ANNOTATION_KEYS = ['parent', 'mode', 'macvlan_mode', 'ipvlan_mode', 'dad', 'dad_transmits', 'ra_timeout_ms', 'enable', 'iid', 'network_id', 'name', 'dns_name', 'state_dir', 'host_link', 'l3_table', 'max_prefixes', 'nosuch', ''];
const ANNOTATION_VALUES = ['eth0', 'eth1', 'eth2', 'wlan0', 'macvlan', 'ipvlan', 'bridge', 'passthru', 'l2', 'l3', 'l3s', 'strict', 'optimistic', '1', '10', '11', '0', '100', '30000', '2147483647', '-1', '1e3', 'true', 'false', '::53', '::1234', 'lan', '', 'a/b', 'x'.repeat(16)];

const POLICY_VALUES = ['open', 'restricted', 'tcp:80', 'tcp:80,udp:53', 'tcp:8000-8099', 'tcp:0', 'tcp:65536', 'udp:53-52', 'blue', 'blue,payments', 'Blue', '2001:db8::/32', '2001:db8::1/32', '::/0', 'fe80::/10', '/', 'true', 'false', '', ',', 'x'.repeat(70)];
const POLICY_SEEDS = ['tcp:80,tcp:443,udp:53', 'blue,payments', '2001:db8:ffff::/48', 'restricted', 'sctp:1-65535'];

const ANNOTATION_SEEDS = [
  { 'oci-slaac-hook.name': 'web1', 'oci-slaac-hook.dad': 'optimistic', 'oci-slaac-hook.ra_timeout_ms': '8000' },
  { 'oci-slaac-hook.parent': 'eth1', 'oci-slaac-hook.mode': 'ipvlan', 'oci-slaac-hook.ipvlan_mode': 'l3' },
  { 'oci-slaac-hook.iid': '::53', 'oci-slaac-hook.dad_transmits': '3', 'oci-slaac-hook.enable': 'true', other: 'x' },
].map((s) => JSON.stringify(s));

const ANNOTATION_BASES: HookConfig[] = [
  { ...DEFAULTS, parent: 'eth0' },
  { ...DEFAULTS, parent: 'eth1', mode: 'ipvlan', annotation_allow: { parent: ['eth1', 'eth2'], mode: ['macvlan', 'ipvlan'], ipvlan_mode: ['l2', 'l3'], iid: ['::53'] } },
  { ...DEFAULTS },
];

function dnsSeeds(): Buffer[] {
  const header = { id: 0x1234, qr: true, opcode: OPCODE.UPDATE, aa: false, tc: false, rd: false, ra: false, z: 0, rcode: 0 };
  const update: Message = {
    header,
    questions: [{ name: 'lab.example', type: TYPE.SOA, class: CLASS.IN }],
    answers: [],
    authorities: [],
    additionals: [
      { name: 'key.', type: TYPE.TSIG, class: CLASS.ANY, ttl: 0, rdata: { type: 'TSIG', algorithm: 'hmac-sha256', timeSigned: 1_700_000_000, fudge: 300, mac: Buffer.alloc(32, 7), originalId: 0x1234, error: 0, other: Buffer.alloc(0) } },
    ],
  };
  const query: Message = {
    header: { ...header, opcode: OPCODE.QUERY, aa: true },
    questions: [{ name: 'web1.lab.example', type: TYPE.AAAA, class: CLASS.IN }],
    answers: [
      { name: 'web1.lab.example', type: TYPE.AAAA, class: CLASS.IN, ttl: 300, rdata: { type: 'AAAA', address: ip('2001:db8:1::1234') } },
      { name: 'web1.lab.example', type: TYPE.AAAA, class: CLASS.IN, ttl: 300, rdata: { type: 'AAAA', address: ip('2001:db8:1::99') } },
    ],
    authorities: [{ name: 'lab.example', type: TYPE.SOA, class: CLASS.IN, ttl: 300, rdata: { type: 'SOA', mname: 'ns.lab.example', rname: 'root.lab.example', serial: 7, refresh: 3600, retry: 600, expire: 86400, minimum: 300 } }],
    additionals: [{ name: '4.3.2.1.0.0.0.0.0.0.0.0.0.0.0.0.1.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa', type: TYPE.PTR, class: CLASS.IN, ttl: 300, rdata: { type: 'PTR', target: 'web1.lab.example' } }],
  };
  const refused: Message = { header: { ...header, rcode: 5 }, questions: [{ name: 'lab.example', type: TYPE.SOA, class: CLASS.IN }], answers: [], authorities: [], additionals: [] };
  const seeds = [encodeMessage(update), encodeMessage(query), encodeMessage(refused)];
  // A compression pointer loop and a pointer to itself: classic decoder traps.
  const loop = Buffer.from(encodeMessage(refused));
  loop.writeUInt16BE(0xc000 | 12, 12);
  seeds.push(loop);
  return seeds;
}

// ------------------------------------------------------------------ structured generators

const LIFETIMES = [0, 1, 2, 7199, 7200, 7201, 86400, 0x7fffffff, 0xfffffffe, 0xffffffff];
const PREFIXES = ['2001:db8:1::', '2001:db8:2::', '::', 'fe80::', 'ff02::', 'ff00::', '::1', '::ffff:0:0', '64:ff9b::', 'fc00::', '2001:db8:1::1', '100::'];
const PREFS = ['high', 'medium', 'low', 'reserved'] as const;

function randomAddress(r: Rand): Buffer {
  if (r() < 0.7) {
    const a = Buffer.from(ip(pick(r, PREFIXES)));
    if (r() < 0.3) a[int(r, 16)] = int(r, 256);
    return a;
  }
  const a = Buffer.alloc(16);
  for (let i = 0; i < 16; i++) a[i] = int(r, 256);
  return a;
}

function randomOption(r: Rand): NdOption {
  switch (int(r, 8)) {
    case 0:
      return { type: 'source-link-layer-address', address: r() < 0.9 ? mac : Buffer.alloc(int(r, 3) * 8 + 6) };
    case 1:
      return { type: 'mtu', mtu: pick(r, [0, 1279, 1280, 1500, 9000, 65535, 65536, 0xffffffff]) };
    case 2:
    case 3: {
      const valid = pick(r, LIFETIMES);
      return { type: 'prefix-information', prefix: randomAddress(r), prefixLength: r() < 0.7 ? 64 : pick(r, [0, 1, 48, 63, 65, 127, 128, 129, 255]), onLink: r() < 0.7, autonomous: r() < 0.8, routerAddress: r() < 0.1, validLifetime: valid, preferredLifetime: r() < 0.8 ? Math.min(valid, pick(r, LIFETIMES)) : pick(r, LIFETIMES) };
    }
    case 4:
      return { type: 'route-information', prefix: randomAddress(r), prefixLength: pick(r, [0, 8, 48, 64, 65, 128]), preference: pick(r, PREFS), lifetime: pick(r, LIFETIMES) };
    case 5:
      return { type: 'rdnss', lifetime: pick(r, LIFETIMES), servers: Array.from({ length: int(r, 5) }, () => randomAddress(r)) };
    case 6:
      return { type: 'dnssl', lifetime: pick(r, LIFETIMES), domains: Array.from({ length: int(r, 4) }, () => pick(r, ['lab.example', 'a', 'x'.repeat(63), 'a.b.c.d', 'é.example', 'bad..name', '-x.example'])) };
    default:
      return { type: 'unknown', code: int(r, 256), data: Buffer.alloc(6 + 8 * int(r, 3)) };
  }
}

/** A Router Advertisement built from random fields: many options, edge lifetimes, odd prefixes. */
function generateRa(r: Rand): Buffer {
  const n = r() < 0.05 ? 200 + int(r, 800) : int(r, 20);
  const options = Array.from({ length: n }, () => randomOption(r));
  const ra: RouterAdvertisement = { ...RA, curHopLimit: int(r, 256), managed: r() < 0.5, other: r() < 0.5, preference: pick(r, PREFS), routerLifetime: pick(r, [0, 1, 1800, 9000, 65535]), reachableTime: pick(r, LIFETIMES), retransTimer: pick(r, [0, 1, 1000, 0xffffffff]), options };
  try {
    return encodeNd(ra, { source: RA_META.source, destination: RA_META.destination });
  } catch {
    return encodeNd(RA_MIN);
  }
}

function generateNsNa(r: Rand): Buffer {
  const options = Array.from({ length: int(r, 4) }, () => (r() < 0.5 ? { type: 'nonce', nonce: Buffer.alloc(6 + 8 * int(r, 2), int(r, 256)) } : r() < 0.5 ? { type: 'target-link-layer-address', address: mac } : randomOption(r)) as NdOption);
  const m: NdMessage = r() < 0.5 ? { type: 'neighbor-solicitation', target: randomAddress(r), options } : { type: 'neighbor-advertisement', router: r() < 0.5, solicited: r() < 0.5, override: r() < 0.5, target: randomAddress(r), options };
  try {
    return encodeNd(m);
  } catch {
    return encodeNd(NS);
  }
}

function generateDns(r: Rand): Buffer {
  const names = ['lab.example', 'web1.lab.example', '', 'a.'.repeat(60) + 'x', 'x'.repeat(63) + '.example', '4.3.2.1.ip6.arpa', 'key.'];
  const record = (): Message['answers'][number] => {
    const name = pick(r, names);
    switch (int(r, 4)) {
      case 0:
        return { name, type: TYPE.AAAA, class: pick(r, [CLASS.IN, CLASS.NONE, CLASS.ANY]), ttl: pick(r, LIFETIMES), rdata: { type: 'AAAA', address: randomAddress(r) } };
      case 1:
        return { name, type: TYPE.PTR, class: CLASS.IN, ttl: 300, rdata: { type: 'PTR', target: pick(r, names) } };
      case 2:
        return { name, type: TYPE.SOA, class: CLASS.IN, ttl: 300, rdata: { type: 'SOA', mname: pick(r, names), rname: pick(r, names), serial: pick(r, LIFETIMES), refresh: 1, retry: 2, expire: 3, minimum: 4 } };
      default:
        return { name, type: int(r, 300), class: CLASS.IN, ttl: 0, rdata: { type: 'raw', bytes: Buffer.alloc(int(r, 40), int(r, 256)) } };
    }
  };
  const m: Message = {
    header: { id: int(r, 65536), qr: r() < 0.9, opcode: pick(r, [OPCODE.QUERY, OPCODE.UPDATE, 3, 15]), aa: r() < 0.5, tc: r() < 0.1, rd: r() < 0.5, ra: r() < 0.5, z: int(r, 8), rcode: int(r, 16) },
    questions: Array.from({ length: int(r, 3) }, () => ({ name: pick(r, names), type: pick(r, [TYPE.SOA, TYPE.AAAA, TYPE.PTR, TYPE.ANY]), class: CLASS.IN })),
    answers: Array.from({ length: int(r, 6) }, record),
    authorities: Array.from({ length: int(r, 3) }, record),
    additionals: Array.from({ length: int(r, 3) }, record),
  };
  try {
    return encodeMessage(m);
  } catch {
    return pick(r, dnsSeeds());
  }
}

// ------------------------------------------------------------------ targets

export type Refusal = new (...args: never[]) => Error;

export interface Target {
  name: string;
  /** Valid inputs to mutate. */
  seeds: Buffer[];
  /** Text targets get text-aware mutations too. */
  text: boolean;
  /** The error classes with which this target may refuse an input; none = it must never throw. */
  refusals: readonly Refusal[];
  /** Text targets holding JSON also get structural mutations (a value replaced, a key added, deep nesting). */
  json?: boolean;
  /** Structured inputs: a valid message built from random fields (some of the cases), then maybe byte-mutated. */
  generate?: (r: Rand) => Buffer;
  /** Run one case; throw (anything not in `refusals`) on a finding; 'refused' when a decoder refused the input by its result. */
  run(input: Buffer, r: Rand): 'refused' | void;
}

const s = (b: Buffer): string => b.toString('utf8');
const invariant = (ok: boolean, what: string): void => {
  if (!ok) throw new Error(`invariant: ${what}`);
};

/** Requests and answers of the agent's control protocol, the RA one carrying a real RA's bytes. */
const AGENT_SEEDS = [
  '{"op":"ping"}',
  '{"op":"ra","parent":"eth0"}',
  '{"op":"register","id":"web1"}',
  '{"op":"complete-dad","id":"web1"}',
  '{"ok":false,"error":"no such container"}',
  '{"ok":true,"containers":3,"parents":["eth0"]}',
  JSON.stringify({ ok: true, heard: [{ router: 'fe80::1', receivedAt: 5_000_000, icmp: encodeNd(RA, { source: RA_META.source, destination: RA_META.destination }).toString('base64') }] }),
];

const ROOTLESS_SEEDS = [
  '{"op":"attach","id":"0123456789abcdef","pid":4242,"name":"web"}',
  '{"op":"attach","id":"web1","pid":2,"name":"a.b-c_d","parent":"eth0","mode":"ipvlan"}',
  '{"op":"detach","id":"web1"}',
  '{"ok":false,"error":"container web1: refused by the rootless broker"}',
  '{"ok":true,"op":"attach","interface":"eth0","addresses":["2001:db8::1/64"],"router":"fe80::1","name":"web.alice","dns":"web.alice.lab.example"}',
  '{"ok":true,"op":"detach","withdrawn":["2001:db8::1","web.alice.lab.example"]}',
];

/** Tokens of an OCI runtime's command line (runc, crun) as engines write it, and odd ones. */
const RUNTIME_ARG_TOKENS = [
  'create', 'run', 'start', 'state', 'kill', 'delete', 'exec', '9', '--force', '--detach', '--no-pivot', '--version', '--help',
  '-b', '--bundle', '-b=/b', '--bundle=/run/b', '--bundle=', '-b=', '--preserve-fds', '--preserve-fds=2', '2', '99999', '-1',
  '--console-socket', '--pid-file', '--notify-socket', '/run/p/init.pid', '--root', '--root=/r', '--log', '--log-format', 'json',
  '--systemd-cgroup', '--cgroup-manager', 'systemd', '--log-level', '--debug', '--criu', '--rootless', 'true',
  '--slaac-config', '--slaac-config=', '--slaac-config=/etc/a.toml', '/etc/oci-slaac-hook/config.toml',
  'web1', '0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef', '/run/containerd/io.containerd.runtime.v2.task/moby/x', 'rel/dir',
  '--', '-', '', '=', '--=', '-x', '\u0000', 'a\nb',
];

/** runc's and crun's global flags that take a value (the next element when not joined with '='). */
const GLOBAL_VALUE_FLAGS = ['--log', '--log-format', '--root', '--criu', '--rootless', '--cgroup-manager', '--log-level'];

function generateRuntimeArgs(r: Rand): Buffer {
  const n = int(r, 16);
  const argv: string[] = [];
  for (let i = 0; i < n; i++) argv.push(r() < 0.9 ? pick(r, RUNTIME_ARG_TOKENS) : pick(r, INTERESTING_TEXT).slice(0, 64));
  return Buffer.from(JSON.stringify(argv));
}

/** A case's argv: the JSON array the generator wrote, else the input's NUL-separated parts. */
function runtimeArgv(input: Buffer): string[] {
  try {
    const v = JSON.parse(s(input)) as unknown;
    if (Array.isArray(v)) return v.map((x) => (typeof x === 'string' ? x : JSON.stringify(x) ?? ''));
  } catch {
    // not JSON
  }
  return s(input).split(/[\u0000 ]/);
}

const RUNTIME_ARGS_SEEDS = [
  ['--root', '/var/run/docker/runtime-runc/moby', '--log', '/run/l/log.json', '--log-format', 'json', 'create', '--bundle', '/run/b', '--pid-file', '/run/b/init.pid', 'web1'],
  ['--root', '/run/containerd/runc/k8s.io', '--log', '/run/l/log.json', '--log-format', 'json', '--systemd-cgroup', 'create', '--bundle', '/run/b', '--pid-file', '/run/p', 'web1'],
  ['--slaac-config', '/etc/a.toml', '--cgroup-manager', 'systemd', 'run', '-b', '/b', '--preserve-fds', '2', 'web1'],
  ['--slaac-config=/etc/a.toml', 'delete', '--force', 'web1'],
  ['--version'],
].map((a) => Buffer.from(JSON.stringify(a)));

const HOOK_SEEDS = [
  { ociVersion: '1.0.2-dev', process: { args: ['sh', '-c', 'echo "{hooks}"'] }, root: { path: '/var/lib/docker/overlay2/x/merged' }, hooks: { prestart: [{ path: '/proc/4242/exe', args: ['libnetwork-setkey', '-exec-root=/var/run/docker', 'x', 'y'] }] }, linux: { resources: { memory: { swap: 0 } } } },
  { ociVersion: '1.0.2', hooks: { createRuntime: [{ path: '/usr/bin/nvidia-container-runtime-hook', args: ['x', 'prestart'] }], poststop: [] }, annotations: { a: 'b' } },
  { ociVersion: '1.0.2', linux: { namespaces: [{ type: 'network' }] } },
  {},
];
const OUR_FUZZ_HOOKS: OurHooks = {
  createRuntime: { path: '/usr/bin/node', args: ['node', '/usr/lib/oci-slaac-hook/oci-slaac-hook.js', 'createRuntime', '--config', '/etc/c.toml'], env: ['PATH=/usr/sbin:/usr/bin:/sbin:/bin'], timeout: 30 },
  poststop: { path: '/usr/bin/node', args: ['node', '/usr/lib/oci-slaac-hook/oci-slaac-hook.js', 'poststop', '--config', '/etc/c.toml'], env: ['PATH=/usr/sbin:/usr/bin:/sbin:/bin'], timeout: 30 },
};
/** Seeds as engines write them (compact or indented), a uint64 in one; the hooks already there in one. */
const ADD_HOOKS_SEEDS = [
  ...HOOK_SEEDS.map((x, i) => JSON.stringify(x, null, i % 2 ? 2 : 0)),
  JSON.stringify(HOOK_SEEDS[0]).replace('"swap":0', '"swap":18446744073709551615'),
  JSON.stringify({ ociVersion: '1.0.2', hooks: { createRuntime: [OUR_FUZZ_HOOKS.createRuntime], poststop: [OUR_FUZZ_HOOKS.poststop] } }),
  '{"hooks":{"prestart":[]},"id":"x","hooks":{"poststop":[{"path":"/p"}]}}',
];

const sameHook = (a: unknown, b: OciHook): boolean => !!a && typeof a === 'object' && (a as OciHook).path === b.path && JSON.stringify((a as OciHook).args ?? []) === JSON.stringify(b.args ?? []);
/** Structural equality without recursion (a case may nest 100 000 deep). */
function deepEqual(a: unknown, b: unknown): boolean {
  const stack: [unknown, unknown][] = [[a, b]];
  while (stack.length) {
    const [x, y] = stack.pop() as [unknown, unknown];
    if (x === y) continue;
    if (!x || !y || typeof x !== 'object' || typeof y !== 'object' || Array.isArray(x) !== Array.isArray(y)) return false;
    const kx = Object.keys(x);
    const ky = Object.keys(y);
    if (kx.length !== ky.length || kx.some((k, i) => k !== ky[i])) return false;
    for (const k of kx) stack.push([(x as Record<string, unknown>)[k], (y as Record<string, unknown>)[k]]);
  }
  return true;
}

/** CNI network configs as runtimes write them: standalone, with settings and CNI's keys, chained (prevResult), GC's, an old one. */
const CNI_SEEDS = [
  { cniVersion: '1.0.0', name: 'slaac-lan', type: 'oci-slaac-cni', parent: 'eth0' },
  { cniVersion: '1.1.0', name: 'slaac-lan', type: 'oci-slaac-cni', config: '/etc/oci-slaac-hook/lan.toml', mode: 'ipvlan', ipvlan_mode: 'l3', dad_transmits: 2, capabilities: { mac: true }, runtimeConfig: { mac: '02:00:00:00:00:09' }, args: { cni: { labels: [] } }, dns: { nameservers: ['2001:db8::53'] } },
  {
    cniVersion: '1.0.0',
    name: 'podman',
    type: 'oci-slaac-cni',
    prevResult: {
      cniVersion: '1.0.0',
      interfaces: [{ name: 'cni-podman0', mac: '0a:58:0a:58:00:01' }, { name: 'eth0', mac: '0a:58:0a:58:00:05', sandbox: '/run/netns/cni-1' }],
      ips: [{ address: '10.88.0.5/16', gateway: '10.88.0.1', interface: 1 }],
      routes: [{ dst: '0.0.0.0/0' }],
      dns: { nameservers: ['10.88.0.1'], search: ['dns.podman'], options: ['ndots:5'] },
    },
  },
  { cniVersion: '1.1.0', name: 'slaac-lan', type: 'oci-slaac-cni', 'cni.dev/valid-attachments': [{ containerID: 'c0ffee-1', ifname: 'eth0' }, { containerID: 'c2', ifname: 'net1' }] },
  { cniVersion: '0.4.0', name: 'old', type: 'oci-slaac-cni', ipam: { type: 'host-local' } },
].map((x) => JSON.stringify(x));

/** SPEC.md §5's well-known codes and ours (100, 101). */
const CNI_CODES = [1, 2, 3, 4, 5, 6, 7, 11, 50, 51, 100, 101];
/** Keys of the CNI configuration itself (SPEC.md §1, §3), and ours that are no setting. */
const CNI_NOT_SETTINGS = ['cniVersion', 'cniVersions', 'name', 'type', 'args', 'ipMasq', 'dns', 'prevResult', 'runtimeConfig', 'capabilities', 'disableCheck', 'disableGC', 'cni.dev/valid-attachments', 'cni.dev/attachments', 'config', 'ipam'];
const CNI_FIELDS = [...CNI_NOT_SETTINGS, 'parent', 'mode', 'dad_transmits', 'bogus', '__proto__', 'constructor', ''];
const CNI_FIELD_VALUES: unknown[] = [
  ...JSON_VALUES, '1.0.0', '1.1.0', '0.4.0', '1.0', 'eth0', 'ipvlan', '/etc/a.toml', 'rel.toml', 'a'.repeat(300), { type: 'host-local' },
  [{ containerID: 'c0ffee-1', ifname: 'eth0' }], [{ containerID: 1 }], { interfaces: [{ name: 'eth0', sandbox: '/n' }] }, { interfaces: [{}] }, { ips: [1] },
  { dns: { nameservers: ['2001:db8::53'] } }, { dns: { nameservers: 5 } }, { dns: { search: {} } },
];
/** prevResults as a chained plugin may receive them, some with DNS lists that are no lists of strings. */
const CNI_PREV_RESULTS: unknown[] = [
  {}, { cniVersion: '1.0.0', interfaces: [{ name: 'eth0', sandbox: '/run/netns/cni-1' }], ips: [{ address: '10.88.0.5/16', interface: 0 }] }, { interfaces: [] },
  { dns: {} }, { dns: { nameservers: ['2001:db8::53', '10.88.0.1'], search: ['lab.example'] } }, { dns: { nameservers: null, search: null } },
  { dns: { nameservers: 5 } }, { dns: { search: {} } }, { dns: { nameservers: 'abc' } }, { dns: { nameservers: [null, 1] } }, { 'x-vendor': [1], routes: [] },
];
const CNI_ARGS_PARTS = [
  'K8S_POD_NAME=web-0', 'K8S_POD_NAMESPACE=default', 'K8S_POD_INFRA_CONTAINER_ID=0123abc', 'K8S_POD_UID=6f1c-22', 'IgnoreUnknown=1', 'IgnoreUnknown=true',
  'IgnoreUnknown=0', 'FOO=bar', 'MAC=02:00:00:00:00:01', '=x', 'x', '', 'a=b=c', 'K8S_POD_NAME=a\nb', 'é=1', 'a-b=1', `K8S_POD_NAME=${'p'.repeat(300)}`,
];
const CNI_ENV_VALUES: Record<string, readonly string[]> = {
  CNI_COMMAND: [...CNI_COMMANDS, ...CNI_COMMANDS, 'add', '', 'VERSION ', 'ADD\n', 'X'.repeat(5000)],
  CNI_CONTAINERID: ['c0ffee-1', 'a', '9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08', '-a', '.', '..', 'a+b', 'a b', 'a'.repeat(1025), 'a'.repeat(4097), ''],
  CNI_NETNS: ['/run/netns/cni-1', '/proc/42/ns/net', '/', 'rel', '', '/a\u0000b', `/${'a'.repeat(4096)}`],
  CNI_IFNAME: ['eth0', 'net1', 'x'.repeat(15), 'x'.repeat(16), '.', '..', 'a/b', 'eth0:1', ''],
  CNI_PATH: ['/opt/cni/bin', ''],
};

/** CNI_ARGS: known and unknown pairs, odd parts, pieces of stdin. */
function cniArgsText(r: Rand, stdin: string): string {
  const parts: string[] = [];
  for (let i = 0, n = int(r, 7); i < n; i++) {
    const x = r();
    const at = int(r, Math.max(1, stdin.length));
    parts.push(x < 0.85 ? pick(r, CNI_ARGS_PARTS) : x < 0.93 ? pick(r, INTERESTING_TEXT) : stdin.slice(at, at + 1 + int(r, 64)));
  }
  return parts.join(pick(r, [';', ';', ';;', ' ;']));
}

/** A runtime's environment, or something like one: each variable absent, a known value, an odd one, or a piece of stdin. */
function cniEnv(r: Rand, stdin: string): Record<string, string | undefined> {
  const env: Record<string, string | undefined> = {};
  for (const name of [...Object.keys(CNI_ENV_VALUES), 'CNI_ARGS']) {
    const x = r();
    if (x < 0.12) continue;
    const at = int(r, Math.max(1, stdin.length));
    env[name] = x < 0.75 ? (name === 'CNI_ARGS' ? cniArgsText(r, stdin) : pick(r, CNI_ENV_VALUES[name] ?? [''])) : x < 0.88 ? pick(r, INTERESTING_TEXT) : stdin.slice(at, at + int(r, 5000));
  }
  if (r() < 0.1) env[pick(r, ['cni_command', 'CNI_COMMAND ', 'CNI_CONTAINER_ID'])] = 'ADD';
  return env;
}

/** A network config from a seed with fields set, and (a quarter) one field's value nested deep: whatever quotes it must not recurse. */
function generateNetConf(r: Rand): Buffer {
  const o = JSON.parse(pick(r, CNI_SEEDS)) as Record<string, unknown>;
  for (let i = 0, n = int(r, 4); i < n; i++) {
    const field = r() < 0.2 ? 'prevResult' : pick(r, CNI_FIELDS);
    const value = field === 'prevResult' && r() < 0.7 ? pick(r, CNI_PREV_RESULTS) : pick(r, CNI_FIELD_VALUES);
    Object.defineProperty(o, field, { value, enumerable: true, writable: true, configurable: true });
  }
  let text = JSON.stringify(o);
  if (r() < 0.25) {
    const field = pick(r, ['ipam', 'config', 'cniVersion', 'name', 'type', 'prevResult', 'parent', 'cni.dev/valid-attachments']);
    const depth = r() < 0.5 ? 1 + int(r, 100) : 5000 + int(r, 95000);
    const [open, close] = r() < 0.5 ? ['[', ']'] : ['{"a":', '}'];
    let nested = `${open.repeat(depth)}${open === '[' ? '' : '0'}${close.repeat(depth)}`;
    if (field === 'cni.dev/valid-attachments') nested = `[${nested}]`;
    // The field last: JSON.parse keeps the last of a key.
    text = `${text.slice(0, -1)}${text.length > 2 ? ',' : ''}${JSON.stringify(field)}:${nested}}`;
  }
  return Buffer.from(text);
}

/** A CNI error as the plugin prints it: a code among `codes` (all §5's or ours), a message of one short line. */
function cniRefusal(e: CniError, codes: readonly number[], what: string): void {
  invariant(Number.isInteger(e.code) && CNI_CODES.includes(e.code) && codes.includes(e.code), `${what}: code ${e.code} is one of ${codes.join(', ')}`);
  invariant(typeof e.msg === 'string' && e.msg.length > 0 && e.msg.length <= 300, `${what}: a message of 1 to 300 characters (${e.msg.length})`);
  invariant(!/[\r\n]/.test(e.msg), `${what}: a one-line message (${JSON.stringify(e.msg.slice(0, 80))})`);
  const line = encodeError('1.1.0', e);
  invariant(!line.includes('\n') && (JSON.parse(line) as CniError).code === e.code, `${what}: the error result is one line of JSON`);
}

/** A container record for attachmentResult: two addresses, a route, RDNSS and DNSSL. */
const CNI_RECORD: ContainerRecord = {
  version: 1,
  id: 'c0ffee-1+eth1',
  phase: 'attached',
  ledger: [{ kind: 'route', index: 7, destination: '::/0', gateway: 'fe80::1' }],
  name: 'web-0.default',
  nameSource: 'kubernetes',
  netns: { path: '/run/netns/cni-1', id: '4:4026532999' },
  interface: { name: 'eth1', index: 7, mac: '02:5c:0f:01:02:03', kind: 'macvlan', mode: 'bridge' },
  parent: 'eth0',
  linkLocal: 'fe80::5c0:ffff:fe01:2',
  linkLocalDad: 'verified',
  addresses: [
    { address: '2001:db8:1::5c0:1', prefix: '2001:db8:1::/64', prefixLength: 64, dadCounter: 0, validLifetime: 86400, preferredLifetime: 14400, dad: 'verified' },
    { address: '2001:db8:2::5c0:2', prefix: '2001:db8:2::/64', prefixLength: 64, dadCounter: null, validLifetime: 'infinite', preferredLifetime: 'infinite', dad: 'optimistic' },
  ],
  retransMs: 1000,
  router: { address: 'fe80::1', mac: null, lifetime: 1800, preference: 'medium' },
  mtu: 1400,
  rdnss: ['2001:db8::53'],
  dnssl: ['lab.example'],
  routes: ['::/0'],
  timings: { raMs: 1, dadMs: 1, totalMs: 2 },
  raAt: 0,
  since: '2026-01-01T00:00:00Z',
};

export const TARGETS: Target[] = [
  {
    name: 'ndp-ra',
    generate: generateRa,
    seeds: [encodeNd(RA, { source: RA_META.source, destination: RA_META.destination }), encodeNd(RA_MIN, { source: RA_META.source, destination: RA_META.destination })],
    text: false,
    refusals: [],
    run(input, r) {
      const result = decodeNd(input, RA_META, { verifyChecksum: r() < 0.05 });
      if (!result.ok) {
        invariant(typeof result.reason === 'string' && result.reason.length > 0, 'a refusal has a reason');
        return 'refused';
      }
      if (result.message.type !== 'router-advertisement') return;
      const summary = summarizeRa(RA_META.source, result.message);
      JSON.stringify(summary);
      const parentMtu = pick(r, [1280, 1500, 9000]);
      const plan = planAttach(result.message, RA_META.source, parentMtu);
      invariant(plan.mtu === null || (plan.mtu >= 1280 && plan.mtu <= parentMtu), `plan MTU ${plan.mtu} within 1280..${parentMtu}`);
      // Issue 10's RA rules (RFC 4861 §6.3.4, RFC 4862 §5.5.3): capped, deduplicated, unicast only.
      invariant(plan.prefixes.length <= 16 && plan.routes.length <= 16 + 16 + 1 && plan.rdnss.length <= 16, `plan within the default caps (${plan.prefixes.length} prefixes, ${plan.routes.length} routes, ${plan.rdnss.length} DNS servers)`);
      const seen = new Set<string>();
      for (const p of plan.prefixes) {
        const key = `${formatIPv6(p.prefix)}/${p.prefixLength}`;
        invariant(!seen.has(key), `prefix ${key} planned twice`);
        seen.add(key);
        invariant(p.prefixLength <= 128 && !isNonUnicast(p.prefix), `prefix ${key} is unicast`);
      }
      for (const rt of plan.routes) invariant(rt.prefixLength <= 128 && rt.destination[0] !== 0xff, `route ${formatIPv6(rt.destination)}/${rt.prefixLength} is not multicast`);
      for (const server of plan.rdnss) invariant(!isNonUnicast(ip(server)), `DNS server ${server} is unicast`);
    },
  },
  {
    name: 'ndp-ns-na',
    generate: generateNsNa,
    seeds: [NS, NS_LL, NA, NA_S].flatMap((m) => NS_METAS.map((meta) => encodeNd(m, { source: meta.source, destination: meta.destination }))),
    text: false,
    refusals: [],
    run(input, r) {
      const meta = pick(r, NS_METAS);
      const result = decodeNd(input, meta, { verifyChecksum: r() < 0.05 });
      if (!result.ok) {
        invariant(typeof result.reason === 'string' && result.reason.length > 0, 'a refusal has a reason');
        return 'refused';
      }
      const m = result.message;
      if (m.type === 'neighbor-solicitation' || m.type === 'neighbor-advertisement') invariant(m.target.length === 16, 'target is 16 bytes');
    },
  },
  {
    name: 'oci-state',
    json: true,
    seeds: STATE_SEEDS.map((x) => Buffer.from(x)),
    text: true,
    refusals: [InputError],
    run(input) {
      const state = parseState(s(input));
      invariant(/^[\w+.-]{1,1024}$/.test(state.id) && state.id !== '.' && state.id !== '..', 'a valid id');
      invariant(state.bundle.startsWith('/'), 'an absolute bundle');
      for (const v of Object.values(state.annotations)) invariant(typeof v === 'string', 'annotations are strings');
    },
  },
  {
    name: 'config-json',
    json: true,
    seeds: CONFIG_JSON_SEEDS.map((x) => Buffer.from(x)),
    text: true,
    refusals: [InputError],
    run(input) {
      const cfg = parseConfigJson(s(input), '/bundle/config.json');
      invariant(['host', 'new', 'path'].includes(cfg.network.kind), 'a network kind');
      if (cfg.network.kind === 'path') invariant(cfg.network.path.startsWith('/'), 'an absolute netns path');
    },
  },
  {
    name: 'config-toml',
    seeds: TOML_SEEDS.map((x) => Buffer.from(x)),
    text: true,
    refusals: [InputError],
    run(input) {
      const cfg = parseConfig(s(input), '/etc/oci-slaac-hook/config.toml');
      invariant(cfg.ra_timeout_ms >= 100 && cfg.ra_timeout_ms <= 30000, `ra_timeout_ms ${cfg.ra_timeout_ms} in range`);
      invariant(cfg.dad_transmits >= 1 && cfg.dad_transmits <= 10, `dad_transmits ${cfg.dad_transmits} in range`);
    },
  },
  {
    name: 'annotations',
    json: true,
    seeds: ANNOTATION_SEEDS.map((x) => Buffer.from(x)),
    text: true,
    refusals: [InputError],
    run(input, r) {
      // Half the cases: the mutated JSON text as annotations; half: built from keys and values.
      let annotations: Record<string, string> = {};
      if (r() < 0.5) {
        let v: unknown;
        try {
          v = JSON.parse(s(input));
        } catch {
          return;
        }
        if (typeof v !== 'object' || v === null || Array.isArray(v)) return;
        for (const [k, val] of Object.entries(v)) if (typeof val === 'string') Object.defineProperty(annotations, k, { value: val, enumerable: true });
      } else {
        annotations = {};
        const n = 1 + int(r, 5);
        for (let i = 0; i < n; i++) {
          const key = `oci-slaac-hook.${pick(r, ANNOTATION_KEYS)}`;
          const value = r() < 0.7 ? pick(r, ANNOTATION_VALUES) : s(caseInput(r, [Buffer.from(pick(r, ANNOTATION_VALUES))], true));
          annotations[key] = value;
        }
      }
      const base = pick(r, ANNOTATION_BASES);
      const cfg = validateForAttach(applyAnnotations(base, annotations));
      invariant(cfg.ra_timeout_ms >= 100 && cfg.ra_timeout_ms <= 30000, `ra_timeout_ms ${cfg.ra_timeout_ms} in range`);
      invariant(cfg.dad_transmits >= 1 && cfg.dad_transmits <= 10, `dad_transmits ${cfg.dad_transmits} in range`);
      for (const key of ['parent', 'mode', 'macvlan_mode', 'ipvlan_mode', 'iid'] as const) {
        invariant(cfg[key] === base[key] || (base.annotation_allow[key] ?? []).includes(cfg[key]), `${key} ${JSON.stringify(cfg[key])} is the file's or allowed`);
      }
    },
  },
  {
    // The agent's control protocol (wire/agent-protocol.ts), both ends: the agent's request parser
    // (one-line refusals) and the hook's answer parser with its cached RAs (never a throw).
    name: 'agent-protocol',
    json: true,
    seeds: AGENT_SEEDS.map((x) => Buffer.from(x)),
    text: true,
    refusals: [],
    run(input) {
      const text = s(input);
      const answer = parseAnswer(text);
      if (typeof answer !== 'string' && answer.ok) for (const c of answer.heard ?? []) {
        const h = decodeCachedRa(c);
        if (h) invariant(h.advertisement.type === 'router-advertisement' && h.router.length === 16, 'a cached RA decodes to an RA from a router');
      }
      try {
        parseRequest(text);
      } catch (err) {
        invariant(err instanceof Error && !err.message.includes('\n') && err.message.length <= 200, 'a refused request: one short line');
        return 'refused';
      }
    },
  },
  {
    // The policy annotations (core/policy.ts), then the nf_tables messages of what was accepted
    // (wire/nftables/ruleset.ts): any value refused in one line naming it, or accepted within
    // bounds and encodable.
    name: 'policy',
    seeds: POLICY_SEEDS.map((x) => Buffer.from(x)),
    text: true,
    refusals: [InputError],
    run(input, r) {
      const annotations: Record<string, string> = {};
      const n = 1 + int(r, 4);
      for (let i = 0; i < n; i++) {
        const key = pick(r, POLICY_KEYS);
        annotations[`oci-slaac-hook.${key}`] = r() < 0.5 ? s(input) : pick(r, POLICY_VALUES);
      }
      let p: Policy;
      try {
        p = policyFor(POLICY_DEFAULTS, annotations, r() < 0.3 ? ['blue'] : undefined);
      } catch (err) {
        invariant(!(err as Error).message.includes('\n'), 'a refusal is one line');
        throw err;
      }
      invariant(p.expose.length <= MAX_EXPOSE && p.networks.length <= MAX_NETWORKS && p.allowFrom.length <= MAX_ALLOW_FROM, 'bounded');
      invariant(p.expose.every((e) => e.from >= 1 && e.to <= 65535 && e.from <= e.to), 'ports in range');
      invariant(p.networks.every((x) => /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/.test(x)), 'networks are labels');
      invariant(p.allowFrom.every((a) => a.length >= 0 && a.length <= 128), 'prefix lengths');
      const messages = policyRuleset('oci_slaac_hook', 'eth0', { ...p, mode: 'restricted' }, Object.fromEntries(p.networks.map((x) => [x, ['2001:db8::1']])), policyTag(p));
      invariant(messages.length > ruleCount({ ...p, mode: 'restricted' }), 'every rule encoded');
    },
  },
  {
    // The rootless broker's protocol (wire/rootless-protocol.ts), both ends: any user may send the
    // broker anything; the hook parses the broker's answer. Neither parser ever throws.
    name: 'rootless-protocol',
    json: true,
    seeds: ROOTLESS_SEEDS.map((x) => Buffer.from(x)),
    text: true,
    refusals: [],
    run(input) {
      const answer = parseRootlessAnswer(input);
      if (!answer.ok) invariant(!answer.error.includes('\n') && answer.error.length <= 200, 'a refused answer: one short line');
      const request = parseRootlessRequest(input);
      if (!request.ok) {
        invariant(!request.error.includes('\n') && request.error.length <= 200, 'a refused request: one short line');
        return 'refused';
      }
      const r = request.value;
      invariant(/^[\w+.-]{1,128}$/.test(r.id) && r.id !== '.' && r.id !== '..', 'an accepted id is a container id');
      if (r.op === 'attach') invariant(Number.isInteger(r.pid) && r.pid >= 1 && /^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/.test(r.name), 'an accepted attach has a pid and a plain name');
    },
  },
  {
    // The runtime wrapper's reading of an OCI runtime's command line (wire/oci/runtime-args.ts):
    // whatever an engine passes, never a throw; ours never handed on; the command and all after it kept.
    name: 'runtime-args',
    generate: generateRuntimeArgs,
    seeds: RUNTIME_ARGS_SEEDS,
    text: true,
    json: true,
    refusals: [],
    run(input) {
      const args = runtimeArgv(input);
      const p = parseRuntimeArgs(args);
      invariant(Array.isArray(p.argv) && p.argv.every((a) => typeof a === 'string'), 'argv is strings');
      if (p.problem !== undefined) {
        invariant(typeof p.problem === 'string' && p.problem.length > 0 && !p.problem.includes('\n'), 'a problem: one line');
        // A line with a problem is refused by the wrapper, never handed on (known: a trailing
        // --slaac-config stays in argv; see tests/unit/runtime-args.test.ts's todo).
        return 'refused';
      }
      // The command and all after it, as given: the longest tail of argv that is the input's tail and starts with the command.
      let k = 0;
      if (p.command !== undefined) {
        k = Math.min(args.length, p.argv.length);
        while (k > 0 && !(p.argv[p.argv.length - k] === p.command && args[args.length - k] === p.command && deepEqual(p.argv.slice(-k), args.slice(-k)))) k--;
        invariant(k > 0, 'argv ends with the input from the command on');
      }
      // Ours is a global flag: never handed on among the globals (after the command, the line is the runtime's, untouched).
      // (as the value of another global flag, `--root --slaac-config`, it is that flag's value, runc's reading too).
      const globals = p.argv.slice(0, p.argv.length - k);
      for (let i = 0; i < globals.length; i++) {
        const a = globals[i] as string;
        invariant(a !== '--slaac-config' && !a.startsWith('--slaac-config='), '--slaac-config never handed on');
        if (GLOBAL_VALUE_FLAGS.includes(a)) i++;
      }
      if (p.preserveFds !== undefined) invariant(Number.isInteger(p.preserveFds) && p.preserveFds >= 0 && p.preserveFds <= 9999, 'preserve-fds a small count');
    },
  },
  {
    // Our hooks into a bundle's config.json (wire/oci/add-hooks.ts): the engine wrote the file; a
    // malformed one is an InputError, anything else gets our hooks last and every other key as it was.
    name: 'add-hooks',
    json: true,
    seeds: ADD_HOOKS_SEEDS.map((x) => Buffer.from(x)),
    text: true,
    refusals: [InputError],
    run(input) {
      const text = s(input);
      const out = addHooks(text, OUR_FUZZ_HOOKS, '/run/b/config.json');
      const before = JSON.parse(text) as Record<string, unknown>;
      if (!out.changed) {
        invariant(out.text === text, 'unchanged: the very text');
        return;
      }
      let after: Record<string, unknown>;
      try {
        after = JSON.parse(out.text) as Record<string, unknown>;
      } catch (err) {
        throw new Error(`invariant: the output is not JSON (${describe(err)})`);
      }
      invariant(deepEqual(Object.keys(after).filter((k) => k !== 'hooks'), Object.keys(before).filter((k) => k !== 'hooks')), 'the other top-level keys, in order');
      for (const k of Object.keys(before)) if (k !== 'hooks') invariant(deepEqual(after[k], before[k]), `top-level "${k}" unchanged`);
      const was = (before.hooks ?? {}) as Record<string, unknown>;
      const now = after.hooks as Record<string, unknown>;
      invariant(!!now && typeof now === 'object', 'hooks an object');
      for (const k of Object.keys(was)) if (k !== 'createRuntime' && k !== 'poststop') invariant(deepEqual(now[k], was[k]), `hooks.${k} unchanged`);
      for (const stage of ['createRuntime', 'poststop'] as const) {
        const ours = OUR_FUZZ_HOOKS[stage] as OciHook;
        const old = (was[stage] ?? []) as unknown[];
        const list = now[stage] as unknown[];
        invariant(Array.isArray(list), `hooks.${stage} an array`);
        if (old.some((h) => sameHook(h, ours))) invariant(deepEqual(list, old), `hooks.${stage} already ours: unchanged`);
        else invariant(deepEqual(list.slice(0, -1), old) && deepEqual(list[list.length - 1], ours), `hooks.${stage}: the old entries, then ours last`);
      }
    },
  },
  {
    // The CNI plugin's input (wire/cni/spec.ts): the environment a runtime sets, CNI_ARGS and the
    // network config on stdin. Never a throw: a refusal is a CNI error (a §5 code, one line naming
    // what), an acceptance holds only what the spec allows, VERSION always has an answer; an
    // accepted prevResult is one ADD can answer with (result.ts attachmentResult).
    name: 'cni',
    generate: generateNetConf,
    json: true,
    seeds: CNI_SEEDS.map((x) => Buffer.from(x)),
    text: true,
    refusals: [],
    run(input, r) {
      const stdin = s(input);
      const env = cniEnv(r, stdin);
      const pe = parseCniEnv(env);
      if (!pe.ok) {
        cniRefusal(pe.error, [4], 'parseCniEnv');
        invariant(/^CNI_(COMMAND|CONTAINERID|NETNS|IFNAME|ARGS)\b/.test(pe.error.msg), `parseCniEnv: the message names the variable (${JSON.stringify(pe.error.msg.slice(0, 40))})`);
      } else {
        const e = pe.value;
        invariant(e.command === env.CNI_COMMAND && (CNI_COMMANDS as readonly string[]).includes(e.command), 'the command as given');
        if (e.command === 'ADD' || e.command === 'CHECK' || e.command === 'DEL') {
          invariant(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,1023}$/.test(e.containerId ?? ''), 'a CNI container id');
          invariant(isIfname(e.ifname ?? ''), 'an interface name');
        }
        if (e.command === 'ADD' || e.command === 'CHECK') invariant(e.netns !== undefined, 'ADD and CHECK have a netns');
        if (e.netns !== undefined) invariant(e.netns.startsWith('/') && !e.netns.includes('\0') && e.netns.length <= 4096, 'an absolute netns path');
        invariant(Object.keys(e.args).every((k) => (KNOWN_CNI_ARGS as readonly string[]).includes(k)), 'only known CNI_ARGS');
      }
      const pa = parseCniArgs(r() < 0.5 ? cniArgsText(r, stdin) : (env.CNI_ARGS ?? ''));
      if (!pa.ok) {
        cniRefusal(pa.error, [4], 'parseCniArgs');
        invariant(pa.error.msg.startsWith('CNI_ARGS: '), 'parseCniArgs: the message names CNI_ARGS');
      } else {
        // eslint-disable-next-line no-control-regex
        for (const [k, v] of Object.entries(pa.value)) invariant((KNOWN_CNI_ARGS as readonly string[]).includes(k) && typeof v === 'string' && !/[\u0000-\u001f\u007f]/.test(v), `CNI_ARGS ${k}: known, no control characters`);
      }
      const command = pick(r, ['ADD', 'DEL', 'CHECK', 'GC', 'STATUS'] as const);
      const pn = parseNetConf(stdin, command);
      const version = errorVersion(stdin);
      invariant((CNI_VERSIONS as readonly string[]).includes(version), `errorVersion ${version} is ours`);
      const answer = JSON.parse(encodeVersion(stdin)) as { cniVersion: unknown; supportedVersions: unknown };
      invariant(typeof answer.cniVersion === 'string' && /^\d{1,4}\.\d{1,4}\.\d{1,4}$/.test(answer.cniVersion) && deepEqual(answer.supportedVersions, ['1.0.0', '1.1.0']), 'VERSION: a version and ours');
      if (!pn.ok) {
        // 'refused': the network config (the environment's refusals are checked, not counted).
        cniRefusal(pn.error, [1, 2, 6, 7], `parseNetConf ${command}`);
        return 'refused';
      }
      const c = pn.value;
      invariant(isCniVersion(c.cniVersion) && version === c.cniVersion && answer.cniVersion === c.cniVersion, "the config's version: ours, and the one errors and VERSION answer in");
      invariant(isNetworkName(c.name) && typeof c.type === 'string' && c.type !== '', 'a network name and a type');
      invariant(c.configFile === undefined || (c.configFile.startsWith('/') && !c.configFile.includes('\0') && c.configFile.length <= 4096), 'config: an absolute path');
      invariant(Object.getPrototypeOf(c.settings) === Object.prototype, 'settings: a plain object (its prototype untouched)');
      for (const key of Object.keys(c.settings)) invariant(!CNI_NOT_SETTINGS.includes(key), `${JSON.stringify(key)} is no setting`);
      invariant(command === 'GC' || c.validAttachments === undefined, 'valid attachments read for GC only');
      for (const a of c.validAttachments ?? []) invariant(typeof a.containerID === 'string' && typeof a.ifname === 'string', 'a valid attachment: two strings');
      if (c.prevResult !== undefined) {
        invariant(typeof c.prevResult === 'object' && c.prevResult !== null && !Array.isArray(c.prevResult), 'prevResult: an object');
        // What ADD prints from it: the previous interfaces first, ours after them.
        const result = attachmentResult(CNI_RECORD, '/run/netns/cni-1', c.cniVersion, c.prevResult);
        const before = c.prevResult.interfaces ?? [];
        invariant(result.interfaces?.length === before.length + 1 && result.ips?.slice(-2).every((x) => x.interface === before.length) === true, 'ours appended after the previous interfaces');
        // hooks/cni.ts prints it with JSON.stringify, after the attach: it must be printable.
        try {
          JSON.stringify(result);
        } catch (err) {
          throw new Error(`invariant: the ADD result of an accepted prevResult cannot be printed (${describe(err)})`);
        }
      }
    },
  },
  {
    name: 'dns',
    generate: generateDns,
    seeds: dnsSeeds(),
    text: false,
    refusals: [],
    run(input) {
      const result = decodeMessage(input);
      if (!result.ok) {
        invariant(typeof result.reason === 'string' && result.reason.length > 0, 'a refusal has a reason');
        return 'refused';
      }
      const m = result.message;
      invariant(m.questions.length + m.answers.length + m.authorities.length + m.additionals.length <= input.length, 'no more records than bytes');
    },
  },
];

/** OSH_FUZZ_SELFTEST=1: targets that must be reported (a throw, a slow case, a hang), to test the harness itself. */
if (process.env.OSH_FUZZ_SELFTEST === '1') {
  TARGETS.push({
    name: 'selftest',
    seeds: [Buffer.from('x')],
    text: false,
    refusals: [InputError],
    run(_input, r) {
      const x = r();
      if (x < 0.001) for (;;);
      if (x < 0.01) throw new TypeError('a bug');
      if (x < 0.02) throw new InputError('a refusal');
    },
  });
}

// ------------------------------------------------------------------ runner

export interface Finding {
  target: string;
  seed: number;
  case: number;
  kind: 'throw' | 'slow' | 'invariant';
  error: string;
  /** The input, hex, at most 256 bytes shown. */
  input: string;
  inputBytes: number;
  ms: number;
}

export interface TargetReport {
  target: string;
  cases: number;
  refused: number;
  ms: number;
  slowestCaseMs: number;
  findings: Finding[];
  heapBeforeMb: number;
  heapAfterMb: number;
  maxRssMb: number;
  stoppedEarly: boolean;
}

export interface RunOptions {
  seed: number;
  cases: number;
  /** Stop the target after this long (its report says so). */
  maxMs: number;
  /** A case slower than this is a finding. */
  caseMs: number;
  /** Only this case (replay). */
  only?: number;
  /** Called before each case (the watchdog's heartbeat). */
  onCase?: (index: number) => void;
}

export const describe = (err: unknown): string => {
  const e = err as Error;
  return `${e?.name ?? typeof err}: ${String(e?.message ?? err).replace(/\s+/g, ' ').slice(0, 300)}`;
};

/** The input of one case, as the runner makes it. */
export function inputOf(target: Target, seed: number, index: number): { input: Buffer; r: Rand } {
  const r = prng(caseSeed(seed, target.name, index));
  if (target.generate && r() < 0.4) {
    let input = target.generate(r);
    if (r() < 0.3) input = mutateBytes(r, input, pick(r, target.seeds), false);
    return { input, r };
  }
  return { input: caseInput(r, target.seeds, target.text, target.json), r };
}

export function runTarget(target: Target, opts: RunOptions): TargetReport {
  const mb = (n: number): number => Math.round((n / 1048576) * 10) / 10;
  const gc = (globalThis as { gc?: () => void }).gc;
  gc?.();
  const heapBefore = process.memoryUsage().heapUsed;
  let maxRss = process.memoryUsage.rss();
  const findings: Finding[] = [];
  let refused = 0;
  let slowest = 0;
  let done = 0;
  const start = performance.now();
  const first = opts.only ?? 0;
  const last = opts.only !== undefined ? opts.only + 1 : opts.cases;
  let stoppedEarly = false;
  for (let i = first; i < last; i++) {
    if (performance.now() - start > opts.maxMs) {
      stoppedEarly = true;
      break;
    }
    opts.onCase?.(i);
    const { input, r } = inputOf(target, opts.seed, i);
    const t0 = performance.now();
    let error: unknown;
    try {
      if (target.run(input, r) === 'refused') refused++;
    } catch (err) {
      error = err;
    }
    const ms = performance.now() - t0;
    slowest = Math.max(slowest, ms);
    done++;
    const finding = (kind: Finding['kind'], text: string): void => {
      if (findings.length < 50) findings.push({ target: target.name, seed: opts.seed, case: i, kind, error: text, input: input.subarray(0, 256).toString('hex'), inputBytes: input.length, ms: Math.round(ms * 10) / 10 });
    };
    if (error !== undefined) {
      if (target.refusals.some((cls) => error instanceof cls)) {
        refused++;
        const message = (error as Error).message;
        if (message.includes('\n')) finding('invariant', `a refusal of more than one line: ${describe(error)}`);
      } else finding(String((error as Error)?.message).startsWith('invariant:') ? 'invariant' : 'throw', describe(error));
    }
    if (ms > opts.caseMs) finding('slow', `case took ${Math.round(ms)} ms (bound ${opts.caseMs} ms)`);
    if ((i & 1023) === 0) maxRss = Math.max(maxRss, process.memoryUsage.rss());
  }
  gc?.();
  maxRss = Math.max(maxRss, process.memoryUsage.rss());
  // Garbage is not growth: collected before the figure is read, as before the run.
  gc?.();
  return {
    target: target.name,
    cases: done,
    refused,
    ms: Math.round(performance.now() - start),
    slowestCaseMs: Math.round(slowest * 10) / 10,
    findings,
    heapBeforeMb: mb(heapBefore),
    heapAfterMb: mb(process.memoryUsage().heapUsed),
    maxRssMb: mb(maxRss),
    stoppedEarly,
  };
}
