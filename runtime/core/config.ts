/**
 * Configuration: /etc/oci-slaac-hook/config.toml (or --config / OCI_SLAAC_HOOK_CONFIG), then
 * per-container annotations `oci-slaac-hook.<key>` on top. Unknown keys and wrong types are
 * errors that name the key: a typo must not silently mean "default".
 *
 * Every number has a range (RANGES), the same in the file and in an annotation: a container
 * must not be able to make the hook wait for days (ra_timeout_ms, dad_transmits). Keys that
 * choose the host's resources (HOST_CHOICE_KEYS: the NIC, the link kind and mode, a static
 * address) are settable by annotation only to a value the operator lists in config.toml's
 * `[annotation_allow]` table (or to the value the file already sets); by default, to none.
 */
import { ANNOTATION_PREFIX } from './annotations';
import { parseNetworks, POLICY_DEFAULTS, POLICY_KEYS, policySection, type PolicyConfig } from './policy';
import { DEFAULT_CONFIG_PATH, isTable, parseTomlText } from './config-text';
import { SHIM_DEFAULTS, shimSection, type ShimConfig } from './shim-config';
import { InputError, shown } from './errors';
import { checkIfname, type IpvlanMode, type MacvlanMode } from './link-kinds';
import type { DadMode } from './dad';

export { DEFAULT_CONFIG_PATH };
export { ANNOTATION_PREFIX };

export interface HookConfig {
  /** The physical NIC the container's interface hangs off. */
  parent: string;
  mode: 'macvlan' | 'ipvlan';
  macvlan_mode: MacvlanMode;
  ipvlan_mode: IpvlanMode;
  dad: DadMode;
  /** DupAddrDetectTransmits (RFC 4862 §5.1). */
  dad_transmits: number;
  ra_timeout_ms: number;
  state_dir: string;
  /** Attach containers that do not say otherwise (annotation oci-slaac-hook.enable). */
  enable: boolean;
  /** RFC 7217 Network_ID; empty by default. */
  network_id: string;
  /** A static interface identifier ("::1234") instead of RFC 7217; per container via annotation. */
  iid: string;
  /** Let the host reach its own containers through a companion link (runtime/host-link.ts). */
  host_link: boolean;
  /** ipvlan l3/l3s: the host's routing table (and rule priority) for containers' traffic. */
  l3_table: number;
  /** At most this many RA prefixes (global addresses), routes and DNS servers (RDNSS) per container; the excess is logged. */
  max_prefixes: number;
  max_routes: number;
  max_dns_servers: number;
  /** "keep": the runtime's /etc/resolv.conf; "ra": the RA's RDNSS and DNSSL written into it (and kept current by the agent). */
  resolv_conf: 'keep' | 'ra';
  /** The agent's RA cache: a hook takes a cached RA (no RS) at most this old, with no lifetime in it run out. */
  ra_cache_max_age_ms: number;
  /** The agent: how often it looks for records whose netns is gone (garbage collection). */
  gc_interval_ms: number;
  /**
   * The RFC 7217 secret_key: "" = the host's own (<state lib>/secret, made at first use); an
   * absolute path = a secret the operator shares among hosts on one link, so that a name gets the
   * same addresses and MAC on any of them (system/host-secret.ts loadSecret). Never created by us.
   */
  secret_file: string;
  /** [dns]: publication by RFC 2136 dynamic update; absent = no publication. */
  dns?: DnsConfig;
  /** [annotation_allow]: the values a container may choose by annotation for keys that pick host resources. */
  annotation_allow: AnnotationAllow;
  /** [rootless]: the agent's broker for unprivileged users (rootless podman); off by default. */
  rootless: RootlessConfig;
  /** [shim]: the runtime wrapper (oci-slaac-runtime) for Docker, containerd and Kubernetes. */
  shim: ShimConfig;
  /** [policy]: who may reach a container (core/policy.ts): the defaults of its annotations. */
  policy: PolicyConfig;
}

/**
 * [rootless]: who may have containers attached by the agent's broker (agent/broker.ts), how many
 * at once, and on which parents and link kinds. A user in no quota entry is refused.
 */
export interface RootlessConfig {
  enable: boolean;
  /** A user name or "@group" → the most containers (attachments) that user may have at once. A user's own entry wins over groups; of several groups, the largest. */
  quota: Record<string, number>;
  /** The parent NICs rootless containers may use, the first by default; empty: `parent` alone. */
  parents: string[];
  /** The link kinds ("macvlan", "ipvlan", with the file's macvlan_mode / ipvlan_mode) they may use, the first by default; empty: `mode` alone. */
  modes: ('macvlan' | 'ipvlan')[];
  /** The logical networks (policy) a rootless container may join; empty: none — a network admits its members to every port. */
  networks: string[];
}

export const ROOTLESS_DEFAULTS: RootlessConfig = { enable: false, quota: {}, parents: [], modes: [], networks: [] };
/** Most containers one quota entry may grant. */
export const MAX_QUOTA = 4096;
/** A user or group name as shadow's useradd accepts it (a trailing $ for machine accounts). */
const ACCOUNT = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,31}\$?$/;

/** Keys that choose the host's resources: by annotation only within the operator's allow-list. */
export const HOST_CHOICE_KEYS = ['parent', 'mode', 'macvlan_mode', 'ipvlan_mode', 'iid'] as const;
export type HostChoiceKey = (typeof HOST_CHOICE_KEYS)[number];
export type AnnotationAllow = Partial<Record<HostChoiceKey, string[]>>;

/** Inclusive ranges of every number in config.toml (and of those a container may set). */
export const RANGES: Readonly<Record<string, readonly [number, number]>> = {
  // RFC 4862 §5.1: DupAddrDetectTransmits is 1 by default; each transmit costs a RetransTimer (1 s).
  dad_transmits: [1, 10],
  // RFC 4861 §10 solicits for 3 × 4 s; the runtime's hook timeout is typically 30 s.
  ra_timeout_ms: [100, 30000],
  // A routing table id (u32) and rule priority; 253..255 are refused by validateForAttach.
  l3_table: [1, 0x7fffffff],
  max_prefixes: [1, 256],
  max_routes: [1, 256],
  max_dns_servers: [1, 256],
  ra_cache_max_age_ms: [0, 3600000],
  gc_interval_ms: [100, 600000],
  // [dns]: per attempt (the client retries a bounded number of times); a week at most as TTL.
  timeout_ms: [100, 30000],
  ttl: [1, 604800],
};

/** Longest string a container may set (network_id, iid): an annotation is not a place for a novel. */
export const MAX_STRING = 255;

export interface DnsConfig {
  /** "2001:db8::53", "[2001:db8::53]:5353", "192.0.2.53:53". */
  server: string;
  zone: string;
  /** The ip6.arpa zone for PTR records; empty = no PTR. The one-zone shorthand of reverse_zones. */
  reverse_zone: string;
  /**
   * The ip6.arpa zones for PTR records (lower case, no trailing dot): each address's PTR goes to
   * the most specific one that covers it; none covers it → no PTR for that address. Absent =
   * reverse_zone alone (reverseZonesOf). Never set together with reverse_zone in a file.
   */
  reverse_zones?: string[];
  /** BIND-style TSIG key file; empty = unsigned updates. */
  key_file: string;
  ttl: number;
  /** true: a failed update fails the container. false: it starts, and the record is pending. */
  required: boolean;
  timeout_ms: number;
  /** Where logical networks' members are published, `<network>.<networks_zone>`; empty = `networks.<zone>`. */
  networks_zone?: string;
}

export const DNS_DEFAULTS: DnsConfig = { server: '', zone: '', reverse_zone: '', key_file: '', ttl: 300, required: false, timeout_ms: 2000, networks_zone: '' };

export const DEFAULTS: HookConfig = {
  parent: '',
  mode: 'macvlan',
  macvlan_mode: 'bridge',
  ipvlan_mode: 'l2',
  dad: 'strict',
  dad_transmits: 1,
  ra_timeout_ms: 5000,
  state_dir: '/run/oci-slaac-hook',
  enable: true,
  network_id: '',
  iid: '',
  host_link: false,
  l3_table: 4862,
  max_prefixes: 16,
  max_routes: 16,
  max_dns_servers: 16,
  resolv_conf: 'keep',
  ra_cache_max_age_ms: 600000,
  gc_interval_ms: 2000,
  secret_file: '',
  annotation_allow: {},
  rootless: ROOTLESS_DEFAULTS,
  shim: SHIM_DEFAULTS,
  policy: POLICY_DEFAULTS,
};

/**
 * Keys a container may set by annotation. state_dir, host_link, l3_table and the max_* caps are
 * the host's alone; HOST_CHOICE_KEYS only within [annotation_allow].
 */
const ANNOTATABLE: readonly (keyof HookConfig)[] = ['parent', 'mode', 'macvlan_mode', 'ipvlan_mode', 'dad', 'dad_transmits', 'ra_timeout_ms', 'enable', 'iid', 'network_id', 'resolv_conf'];
/** Annotations read elsewhere: the stable name (container-name.ts), the DNS label (publish.ts), the policy (policy.ts). */
const OTHER_ANNOTATIONS: readonly string[] = ['name', 'dns_name', ...POLICY_KEYS];

const CHOICES: Partial<Record<keyof HookConfig, readonly string[]>> = {
  mode: ['macvlan', 'ipvlan'],
  macvlan_mode: ['bridge', 'private', 'vepa', 'passthru'],
  ipvlan_mode: ['l2', 'l3', 'l3s'],
  dad: ['strict', 'optimistic'],
  resolv_conf: ['keep', 'ra'],
};

type Raw = string | number | boolean;

/** The tables of config.toml, each read by its own section parser (into the config): never a plain key. */
type Section = (cfg: HookConfig, table: Record<string, unknown>, where: string) => void;
const SECTIONS: Readonly<Record<string, Section>> = {
  dns: (cfg, t, where) => void (cfg.dns = dnsSection(t, where)),
  annotation_allow: (cfg, t, where) => void (cfg.annotation_allow = allowSection(t, where)),
  rootless: (cfg, t, where) => void (cfg.rootless = rootlessSection(t, where)),
  shim: (cfg, t, where) => void (cfg.shim = shimSection(t, where)),
  policy: (cfg, t, where) => void (cfg.policy = policySection(t, where)),
};
export const TABLES: readonly string[] = Object.keys(SECTIONS);

/** String keys that are paths: up to PATH_MAX (4096) characters rather than MAX_STRING. */
const PATH_KEYS: readonly string[] = ['state_dir', 'key_file', 'secret_file'];

/** Text as an error may show it without quotes: control characters escaped, at most 64 characters. */
export function bare(text: string): string {
  const escaped = JSON.stringify(text).slice(1, -1);
  return escaped.length > 64 ? `${escaped.slice(0, 60)}…(${text.length} chars)` : escaped;
}

function setKey<T extends object>(cfg: T, defaults: T, key: string, value: unknown, where: string): void {
  if (!Object.prototype.hasOwnProperty.call(defaults, key) || TABLES.includes(key)) throw new InputError(`${where}: unknown key ${shown(key)}`);
  const k = key as keyof T;
  const want = typeof defaults[k];
  let v: Raw;
  if (want === 'number') {
    const [min, max] = RANGES[key] ?? [1, 0x7fffffff];
    const n = typeof value === 'string' && /^\d{1,16}$/.test(value) ? Number(value) : typeof value === 'bigint' ? Number(value) : value;
    if (typeof n !== 'number' || !Number.isInteger(n) || n < min || n > max) throw new InputError(`${where}: ${key} must be an integer in ${min}..${max}, got ${shown(value)}`);
    v = n;
  } else if (want === 'boolean') {
    const b = value === 'true' ? true : value === 'false' ? false : value;
    if (typeof b !== 'boolean') throw new InputError(`${where}: ${key} must be true or false, got ${shown(value)}`);
    v = b;
  } else {
    if (typeof value !== 'string') throw new InputError(`${where}: ${key} must be a string, got ${shown(value)}`);
    const choices = CHOICES[k as keyof HookConfig];
    if (choices && !choices.includes(value)) throw new InputError(`${where}: ${key} must be one of ${choices.join(', ')}, got ${shown(value)}`);
    const longest = PATH_KEYS.includes(key) ? 4096 : MAX_STRING;
    if (value.length > longest) throw new InputError(`${where}: ${key} is longer than ${longest} characters`);
    // eslint-disable-next-line no-control-regex
    if (/[\u0000-\u001f\u007f]/.test(value)) throw new InputError(`${where}: ${key} must not contain control characters, got ${shown(value)}`);
    // Relative to what? A hook's working directory is the runtime's (the bundle, or anywhere).
    if (key === 'secret_file' && value !== '' && !value.startsWith('/')) throw new InputError(`${where}: secret_file must be an absolute path, got ${shown(value)}`);
    v = value;
  }
  (cfg as unknown as Record<string, Raw>)[key] = v;
}

/** A config.toml's text (`file` names it in errors) on top of the defaults. */
export function parseConfig(text: string, file: string): HookConfig {
  const cfg: HookConfig = { ...DEFAULTS };
  for (const [key, value] of Object.entries(parseTomlText(text, file))) {
    const section = Object.hasOwn(SECTIONS, key) ? SECTIONS[key] : undefined;
    if (section && isTable(value)) {
      section(cfg, value, `config ${file} [${key}]`);
      continue;
    }
    if (TABLES.includes(key)) throw new InputError(`config ${file}: ${key} must be a table ([${key}])`);
    setKey(cfg, DEFAULTS, key, value, `config ${file}`);
  }
  return cfg;
}


/** `[annotation_allow]`: each host-choice key → the values a container may choose (each checked as the key's own value would be). */
function allowSection(table: Record<string, unknown>, where: string): AnnotationAllow {
  const allow: AnnotationAllow = {};
  for (const [key, list] of Object.entries(table)) {
    if (!(HOST_CHOICE_KEYS as readonly string[]).includes(key)) throw new InputError(`${where}: ${shown(key)} is not a key that chooses host resources (those are ${HOST_CHOICE_KEYS.join(', ')})`);
    if (!Array.isArray(list) || list.length > 256) throw new InputError(`${where}: ${key} must be an array of at most 256 strings`);
    const values: string[] = [];
    for (const value of list) {
      const probe = { ...DEFAULTS };
      setKey(probe, DEFAULTS, key, value, `${where} ${key}`);
      if (key === 'parent') ifname(value as string, `${where} parent`);
      values.push(value as string);
    }
    allow[key as HostChoiceKey] = values;
  }
  return allow;
}


/** checkIfname, its error naming where the name was. */
function ifname(name: string, where: string): void {
  try {
    checkIfname(name);
  } catch (err) {
    throw new InputError(`${where}: ${(err as Error).message}`);
  }
}

function rootlessSection(table: Record<string, unknown>, where: string): RootlessConfig {
  const r: RootlessConfig = { ...ROOTLESS_DEFAULTS, quota: {}, parents: [], modes: [], networks: [] };
  for (const [key, value] of Object.entries(table)) {
    if (key === 'enable') {
      if (typeof value !== 'boolean') throw new InputError(`${where}: enable must be true or false, got ${shown(value)}`);
      r.enable = value;
    } else if (key === 'quota') {
      if (!isTable(value)) throw new InputError(`${where}: quota must be a table of user or "@group" = number, e.g. quota = { alice = 4, "@containers" = 2 }`);
      const entries = Object.entries(value);
      if (entries.length > 4096) throw new InputError(`${where}: quota has more than 4096 entries`);
      for (const [who, n] of entries) {
        if (!ACCOUNT.test(who.startsWith('@') ? who.slice(1) : who)) throw new InputError(`${where}: quota: ${shown(who)} is not a user name or "@group"`);
        const count = typeof n === 'bigint' ? Number(n) : n;
        if (typeof count !== 'number' || !Number.isInteger(count) || count < 0 || count > MAX_QUOTA) throw new InputError(`${where}: quota.${who} must be an integer in 0..${MAX_QUOTA}, got ${shown(n)}`);
        r.quota[who] = count;
      }
    } else if (key === 'parents') {
      if (!Array.isArray(value) || value.length > 64) throw new InputError(`${where}: parents must be an array of at most 64 interface names`);
      for (const p of value) {
        if (typeof p !== 'string') throw new InputError(`${where}: parents must be interface names, got ${shown(p)}`);
        ifname(p, `${where}: parents`);
        r.parents.push(p);
      }
    } else if (key === 'networks') {
      r.networks = orThrowNetworks(value, `${where}: networks`);
    } else if (key === 'modes') {
      if (!Array.isArray(value) || value.length > 2) throw new InputError(`${where}: modes must be an array of "macvlan" and/or "ipvlan"`);
      for (const m of value) {
        if (m !== 'macvlan' && m !== 'ipvlan') throw new InputError(`${where}: modes must be "macvlan" or "ipvlan", got ${shown(m)}`);
        r.modes.push(m);
      }
    } else throw new InputError(`${where}: unknown key ${shown(key)}`);
  }
  return r;
}

function orThrowNetworks(value: unknown, where: string): string[] {
  const p = parseNetworks(value, where);
  if ('error' in p) throw new InputError(p.error);
  return p.value;
}

/** The most containers `user` (in `groups`) may have at once: their own entry, else the largest of their groups', else 0. */
export function quotaOf(r: RootlessConfig, user: string, groups: string[]): number {
  const own = r.quota[user];
  if (own !== undefined) return own;
  return Math.max(0, ...groups.map((g) => r.quota[`@${g}`] ?? 0));
}

/** The parents and link kinds rootless containers may use (the file's own parent and mode when the lists are empty). */
export const rootlessParents = (cfg: HookConfig): string[] => (cfg.rootless.parents.length ? cfg.rootless.parents : [cfg.parent]);
export const rootlessModes = (cfg: HookConfig): ('macvlan' | 'ipvlan')[] => (cfg.rootless.modes.length ? cfg.rootless.modes : [cfg.mode]);

function dnsSection(table: Record<string, unknown>, where: string): DnsConfig {
  const dns: DnsConfig = { ...DNS_DEFAULTS };
  for (const [key, value] of Object.entries(table)) {
    if (key === 'reverse_zones') dns.reverse_zones = reverseZonesKey(value, `${where}: reverse_zones`);
    else setKey(dns, DNS_DEFAULTS, key, value, where);
  }
  if (!dns.server) throw new InputError(`${where}: "server" is required`);
  if (!dns.zone) throw new InputError(`${where}: "zone" is required`);
  if (dns.reverse_zones && Object.prototype.hasOwnProperty.call(table, 'reverse_zone')) {
    throw new InputError(`${where}: reverse_zone and reverse_zones are both set: list every reverse zone in reverse_zones`);
  }
  if (dns.reverse_zone) dns.reverse_zone = checkReverseZone(dns.reverse_zone, `${where}: reverse_zone`);
  return dns;
}

/** At most this many reverse zones: each address is matched against every one. */
export const MAX_REVERSE_ZONES = 64;

/** `reverse_zones = [...]`: ip6.arpa zones of whole nibbles, no two the same. */
function reverseZonesKey(value: unknown, where: string): string[] {
  if (!Array.isArray(value) || value.length > MAX_REVERSE_ZONES) throw new InputError(`${where} must be an array of at most ${MAX_REVERSE_ZONES} zone names, got ${shown(value)}`);
  const zones: string[] = [];
  value.forEach((z: unknown, i) => {
    if (typeof z !== 'string') throw new InputError(`${where}[${i}] must be a string, got ${shown(z)}`);
    const zone = checkReverseZone(z, `${where}[${i}]`);
    if (zones.includes(zone)) throw new InputError(`${where}[${i}]: ${zone} is listed twice`);
    zones.push(zone);
  });
  return zones;
}

/**
 * A reverse zone as configured, in the form records use (lower case, no trailing dot), or an
 * InputError naming `where`: under ip6.arpa, whole nibbles (one hex digit a label, RFC 3596 §2.5),
 * 1 to 32 of them.
 */
export function checkReverseZone(zone: string, where: string): string {
  const z = zone.toLowerCase().replace(/\.$/, '');
  if (z.length > MAX_STRING || !/^[\x21-\x7e]+$/.test(z) || !/^([^.]+\.)*ip6\.arpa$/.test(z)) throw new InputError(`${where}: ${shown(zone)} is not an ip6.arpa zone name (e.g. "1.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa")`);
  const labels = z.split('.').slice(0, -2);
  const bad = labels.find((l) => !/^[0-9a-f]$/.test(l));
  if (bad !== undefined) throw new InputError(`${where}: ${shown(zone)} is not nibble-aligned: label ${shown(bad)} is not one hex digit (an ip6.arpa zone is one hex digit a label, e.g. "8.b.d.0.1.0.0.2.ip6.arpa" for 2001:db8::/32)`);
  if (labels.length === 0 || labels.length > 32) throw new InputError(`${where}: ${shown(zone)} must have 1 to 32 nibbles, has ${labels.length}`);
  return z;
}

/** The reverse zones of a [dns] table: reverse_zones, else reverse_zone alone, else none. */
export function reverseZonesOf(dns: Pick<DnsConfig, 'reverse_zone' | 'reverse_zones'>): string[] {
  return dns.reverse_zones ?? (dns.reverse_zone ? [dns.reverse_zone] : []);
}

/** The annotations `oci-slaac-hook.<key>` that apply to one container. */
/** The defaults alone (no config file). */
export const defaultConfig = (): HookConfig => ({ ...DEFAULTS });

export function applyAnnotations(base: HookConfig, annotations: Record<string, string>): HookConfig {
  const cfg: HookConfig = { ...base };
  for (const [name, value] of Object.entries(annotations)) {
    if (!name.startsWith(ANNOTATION_PREFIX)) continue;
    const key = name.slice(ANNOTATION_PREFIX.length);
    if (OTHER_ANNOTATIONS.includes(key)) continue;
    if (!ANNOTATABLE.includes(key as keyof HookConfig)) throw new InputError(`annotation ${bare(name)}: not a key a container may set`);
    setKey(cfg, DEFAULTS, key, value, `annotation ${name}`);
    if ((HOST_CHOICE_KEYS as readonly string[]).includes(key)) checkAllowed(base, key as HostChoiceKey, value, name);
  }
  return cfg;
}

/** A host-choice annotation: the file's own value, or one the operator listed in [annotation_allow]. */
function checkAllowed(base: HookConfig, key: HostChoiceKey, value: string, name: string): void {
  if (value === base[key]) return;
  const listed = base.annotation_allow[key] ?? [];
  if (listed.includes(value)) return;
  const allowed = [...new Set([base[key], ...listed].filter((v) => v !== ''))];
  throw new InputError(
    listed.length === 0
      ? `annotation ${name}: ${key} is not settable by annotation on this host${allowed.length ? ` (it is ${shown(base[key])})` : ''}: the operator allows values in config.toml [annotation_allow] ${key} = [...]`
      : `annotation ${name}: ${key} ${shown(value)} is not allowed; allowed: ${allowed.join(', ')} (config.toml [annotation_allow])`,
  );
}

/**
 * A top-level key of config.toml (not a table): what a CNI network config may also set — except
 * secret_file, config.toml's alone: the agent (refresh, optimistic DAD, the rootless broker) reads
 * it from there, and one host's containers must not derive their addresses from two secrets.
 */
export const isSettingKey = (key: string): boolean => Object.hasOwn(DEFAULTS, key) && !TABLES.includes(key) && key !== 'secret_file';

/**
 * Settings given as typed values (a CNI network config's keys) on top of `base`: the same names,
 * types and ranges as config.toml's top-level keys; `where` names the source in errors.
 */
export function applySettings(base: HookConfig, settings: Record<string, unknown>, where: string): HookConfig {
  const cfg: HookConfig = { ...base };
  for (const [key, value] of Object.entries(settings)) setKey(cfg, DEFAULTS, key, value, where);
  return cfg;
}

/** Final checks once file and annotations are merged. */
export function validateForAttach(cfg: HookConfig): HookConfig {
  if (!cfg.parent) throw new InputError('no parent interface configured (set "parent" in config.toml or the oci-slaac-hook.parent annotation)');
  checkIfname(cfg.parent);
  if (cfg.l3_table >= 253 && cfg.l3_table <= 255) throw new InputError(`l3_table ${cfg.l3_table} is one of the kernel's own tables (253 default, 254 main, 255 local)`);
  return cfg;
}
