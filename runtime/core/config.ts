/**
 * Configuration: /etc/oci-slaac-hook/config.toml (or --config / OCI_SLAAC_HOOK_CONFIG), then
 * per-container annotations `oci-slaac-hook.<key>` on top. Unknown keys and wrong types are
 * errors that name the key: a typo must not silently mean "default".
 */
import { parse as parseToml } from 'smol-toml';
import { InputError } from './errors';
import { checkIfname, type IpvlanMode, type MacvlanMode } from './link-kinds';
import type { DadMode } from './dad';

export const DEFAULT_CONFIG_PATH = '/etc/oci-slaac-hook/config.toml';
export const ANNOTATION_PREFIX = 'oci-slaac-hook.';

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
  /** [dns]: publication by RFC 2136 dynamic update; absent = no publication. */
  dns?: DnsConfig;
}

export interface DnsConfig {
  /** "2001:db8::53", "[2001:db8::53]:5353", "192.0.2.53:53". */
  server: string;
  zone: string;
  /** The ip6.arpa zone for PTR records; empty = no PTR. */
  reverse_zone: string;
  /** BIND-style TSIG key file; empty = unsigned updates. */
  key_file: string;
  ttl: number;
  /** true: a failed update fails the container. false: it starts, and the record is pending. */
  required: boolean;
  timeout_ms: number;
}

export const DNS_DEFAULTS: DnsConfig = { server: '', zone: '', reverse_zone: '', key_file: '', ttl: 300, required: false, timeout_ms: 2000 };

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
};

/** Keys a container may set by annotation. state_dir, host_link and l3_table are the host's alone. */
const ANNOTATABLE: readonly (keyof HookConfig)[] = ['parent', 'mode', 'macvlan_mode', 'ipvlan_mode', 'dad', 'dad_transmits', 'ra_timeout_ms', 'enable', 'iid', 'network_id'];
/** Annotations read elsewhere: the stable name (container-name.ts) and the DNS label (publish.ts). */
const OTHER_ANNOTATIONS = ['name', 'dns_name'];

const CHOICES: Partial<Record<keyof HookConfig, readonly string[]>> = {
  mode: ['macvlan', 'ipvlan'],
  macvlan_mode: ['bridge', 'private', 'vepa', 'passthru'],
  ipvlan_mode: ['l2', 'l3', 'l3s'],
  dad: ['strict', 'optimistic'],
};

type Raw = string | number | boolean;

function setKey<T extends object>(cfg: T, defaults: T, key: string, value: unknown, where: string): void {
  if (!(key in defaults) || key === 'dns') throw new InputError(`${where}: unknown key ${JSON.stringify(key)}`);
  const k = key as keyof T;
  const want = typeof defaults[k];
  let v: Raw;
  if (want === 'number') {
    const n = typeof value === 'string' && /^\d+$/.test(value) ? Number(value) : value;
    if (typeof n !== 'number' || !Number.isInteger(n) || n <= 0 || n > 0x7fffffff) throw new InputError(`${where}: ${key} must be a positive integer, got ${JSON.stringify(value)}`);
    v = n;
  } else if (want === 'boolean') {
    const b = value === 'true' ? true : value === 'false' ? false : value;
    if (typeof b !== 'boolean') throw new InputError(`${where}: ${key} must be true or false, got ${JSON.stringify(value)}`);
    v = b;
  } else {
    if (typeof value !== 'string') throw new InputError(`${where}: ${key} must be a string, got ${JSON.stringify(value)}`);
    const choices = CHOICES[k as keyof HookConfig];
    if (choices && !choices.includes(value)) throw new InputError(`${where}: ${key} must be one of ${choices.join(', ')}, got ${JSON.stringify(value)}`);
    v = value;
  }
  (cfg as unknown as Record<string, Raw>)[key] = v;
}

/** A config.toml's text (`file` names it in errors) on top of the defaults. */
export function parseConfig(text: string, file: string): HookConfig {
  const cfg: HookConfig = { ...DEFAULTS };
  let table: Record<string, unknown>;
  try {
    table = parseToml(text) as Record<string, unknown>;
  } catch (err) {
    throw new InputError(`config ${file}: ${(err as Error).message.split('\n')[0]}`);
  }
  for (const [key, value] of Object.entries(table)) {
    if (key === 'dns' && typeof value === 'object' && value !== null && !Array.isArray(value)) {
      cfg.dns = dnsSection(value as Record<string, unknown>, `config ${file} [dns]`);
      continue;
    }
    setKey(cfg, DEFAULTS, key, value, `config ${file}`);
  }
  return cfg;
}

function dnsSection(table: Record<string, unknown>, where: string): DnsConfig {
  const dns: DnsConfig = { ...DNS_DEFAULTS };
  for (const [key, value] of Object.entries(table)) setKey(dns, DNS_DEFAULTS, key, value, where);
  if (!dns.server) throw new InputError(`${where}: "server" is required`);
  if (!dns.zone) throw new InputError(`${where}: "zone" is required`);
  return dns;
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
    if (!ANNOTATABLE.includes(key as keyof HookConfig)) throw new InputError(`annotation ${name}: not a key a container may set`);
    setKey(cfg, DEFAULTS, key, value, `annotation ${name}`);
  }
  return cfg;
}

/** Final checks once file and annotations are merged. */
export function validateForAttach(cfg: HookConfig): HookConfig {
  if (!cfg.parent) throw new InputError('no parent interface configured (set "parent" in config.toml or the oci-slaac-hook.parent annotation)');
  checkIfname(cfg.parent);
  if (cfg.l3_table >= 253 && cfg.l3_table <= 255) throw new InputError(`l3_table ${cfg.l3_table} is one of the kernel's own tables (253 default, 254 main, 255 local)`);
  return cfg;
}
