/**
 * Per-container inbound policy (who may reach a container), as annotations, Docker labels and
 * config.toml give it: `open` (everything, today's behaviour) or `restricted` (only exposed
 * ports, members of a shared logical network, allowed prefixes, replies, and the ICMPv6 IPv6
 * needs). Parsing lives here; enforcement (nf_tables in the container's netns) in
 * system/nftables and ops/firewall.ts.
 */
import { createHash } from 'node:crypto';
import { ANNOTATION_PREFIX } from './annotations';
import { InputError, shown } from './errors';
import { formatIPv6, formatPrefix, maskPrefix, parseIPv6, type IPv6 } from './ipv6';

export type PolicyMode = 'open' | 'restricted';

/** A port range open to everyone: `tcp:80` is {proto: 'tcp', from: 80, to: 80}. */
export interface PortRange {
  proto: 'tcp' | 'udp' | 'sctp';
  from: number;
  to: number;
}

/** An IPv6 prefix allowed in: the address text (host bits zero) and its length. */
export interface AllowedPrefix {
  prefix: string;
  length: number;
}

export interface Policy {
  mode: PolicyMode;
  expose: PortRange[];
  /** Logical network names: DNS labels (lower case letters, digits, '-'), at most 63 characters. */
  networks: string[];
  allowFrom: AllowedPrefix[];
  /** ICMPv6 echo request admitted (restricted only). */
  echo: boolean;
}

/** What config.toml's [policy] holds: the defaults of the per-container keys, and what annotations may name. */
export interface PolicyConfig {
  policy: PolicyMode;
  expose: PortRange[];
  networks: string[];
  allow_from: AllowedPrefix[];
  echo: boolean;
  /** The logical networks a container may join by annotation; empty = any. */
  networks_allowed: string[];
}

export const POLICY_DEFAULTS: PolicyConfig = { policy: 'open', expose: [], networks: [], allow_from: [], echo: true, networks_allowed: [] };

/** The policy keys a container may set, as `oci-slaac-hook.<key>` annotations (or Docker labels). */
export const POLICY_KEYS = ['policy', 'expose', 'networks', 'allow_from', 'echo'] as const;

/** Bounds: a rule per entry is made in the container's netns; an annotation is not a place for thousands. */
export const MAX_EXPOSE = 64;
export const MAX_NETWORKS = 16;
export const MAX_ALLOW_FROM = 64;

const PROTOCOLS = ['tcp', 'udp', 'sctp'] as const;
const NETWORK = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;

/** A comma-separated list (or a TOML array of strings), each entry trimmed; empty entries refused. */
function entries(value: unknown, where: string, max: number): { list: string[] } | { error: string } {
  let list: unknown[];
  if (typeof value === 'string') list = value.trim() === '' ? [] : value.split(',');
  else if (Array.isArray(value)) list = value;
  else return { error: `${where} must be a comma-separated string or an array of strings, got ${typeof value}` };
  if (list.length > max) return { error: `${where}: at most ${max} entries, got ${list.length}` };
  const out: string[] = [];
  for (const e of list) {
    if (typeof e !== 'string') return { error: `${where}: entries must be strings` };
    const t = e.trim();
    if (t === '') return { error: `${where}: an empty entry in ${shown(String(value))}` };
    out.push(t);
  }
  return { list: out };
}

type Parsed<T> = { value: T } | { error: string };

/** `tcp:80`, `udp:53`, `tcp:8000-8099`. */
export function parseExpose(value: unknown, where: string): Parsed<PortRange[]> {
  const got = entries(value, where, MAX_EXPOSE);
  if ('error' in got) return got;
  const out: PortRange[] = [];
  for (const e of got.list) {
    const m = /^([a-z]+):(\d{1,5})(?:-(\d{1,5}))?$/.exec(e.toLowerCase());
    const proto = m?.[1] as PortRange['proto'] | undefined;
    if (!m || !proto || !PROTOCOLS.includes(proto)) return { error: `${where}: ${shown(e)} is not PROTO:PORT or PROTO:FROM-TO (PROTO tcp, udp or sctp)` };
    const from = Number(m[2]);
    const to = m[3] === undefined ? from : Number(m[3]);
    for (const p of [from, to]) if (p < 1 || p > 65535) return { error: `${where}: ${shown(e)}: port ${p} is not in 1..65535` };
    if (to < from) return { error: `${where}: ${shown(e)}: the range runs backwards` };
    if (!out.some((r) => r.proto === proto && r.from === from && r.to === to)) out.push({ proto, from, to });
  }
  return { value: out };
}

/** `blue,payments`: DNS labels, as each becomes `<network>.<networks zone>`. */
export function parseNetworks(value: unknown, where: string): Parsed<string[]> {
  const got = entries(value, where, MAX_NETWORKS);
  if ('error' in got) return got;
  const out: string[] = [];
  for (const e of got.list) {
    if (!NETWORK.test(e)) return { error: `${where}: ${shown(e)} is not a network name (lower case letters, digits and '-', at most 63, as a DNS label)` };
    if (!out.includes(e)) out.push(e);
  }
  return { value: out };
}

/** `2001:db8:ffff::/48`: prefixes with no host bits set (a typo there would open more than meant). */
export function parseAllowFrom(value: unknown, where: string): Parsed<AllowedPrefix[]> {
  const got = entries(value, where, MAX_ALLOW_FROM);
  if ('error' in got) return got;
  const out: AllowedPrefix[] = [];
  for (const e of got.list) {
    const m = /^([0-9A-Fa-f:.]{2,45})\/(\d{1,3})$/.exec(e);
    const length = m ? Number(m[2]) : NaN;
    let address: IPv6 | undefined;
    try {
      if (m && length <= 128) address = parseIPv6(m[1] ?? '');
    } catch {
      address = undefined;
    }
    if (!m || !address) return { error: `${where}: ${shown(e)} is not an IPv6 prefix (ADDRESS/LENGTH, LENGTH 0..128)` };
    const masked = maskPrefix(address, length);
    if (!masked.equals(address)) return { error: `${where}: ${shown(e)} has bits set past /${length} (did you mean ${formatPrefix(masked, length)}?)` };
    const prefix = formatIPv6(masked);
    if (!out.some((p) => p.prefix === prefix && p.length === length)) out.push({ prefix, length });
  }
  return { value: out };
}

function parseMode(value: unknown, where: string): Parsed<PolicyMode> {
  return value === 'open' || value === 'restricted' ? { value } : { error: `${where}: must be open or restricted, got ${typeof value === 'string' ? shown(value) : typeof value}` };
}

function parseEcho(value: unknown, where: string): Parsed<boolean> {
  const b = value === 'true' ? true : value === 'false' ? false : value;
  return typeof b === 'boolean' ? { value: b } : { error: `${where}: must be true or false, got ${typeof value === 'string' ? shown(value) : typeof value}` };
}

function orThrow<T>(p: Parsed<T>): T {
  if ('error' in p) throw new InputError(p.error);
  return p.value;
}

/** config.toml's [policy] table; `where` names it in errors. */
export function policySection(table: Record<string, unknown>, where: string): PolicyConfig {
  const cfg: PolicyConfig = { ...POLICY_DEFAULTS };
  for (const [key, value] of Object.entries(table)) {
    const at = `${where}: ${key}`;
    if (key === 'policy') cfg.policy = orThrow(parseMode(value, at));
    else if (key === 'expose') cfg.expose = orThrow(parseExpose(value, at));
    else if (key === 'networks') cfg.networks = orThrow(parseNetworks(value, at));
    else if (key === 'allow_from') cfg.allow_from = orThrow(parseAllowFrom(value, at));
    else if (key === 'echo') cfg.echo = orThrow(parseEcho(value, at));
    else if (key === 'networks_allowed') cfg.networks_allowed = orThrow(parseNetworks(value, at));
    else throw new InputError(`${where}: unknown key ${shown(key)}`);
  }
  return cfg;
}

/**
 * One container's policy: config.toml's [policy] defaults, each key replaced by its annotation
 * when there is one. A bad value is an InputError naming the annotation and the value; a network
 * outside `networks_allowed` (when that is set) or outside `onlyNetworks` (the rootless broker's
 * list) is refused likewise.
 */
export function policyFor(cfg: PolicyConfig, annotations: Record<string, string>, onlyNetworks?: string[]): Policy {
  const a = (key: string): string | undefined => {
    const v = annotations[`${ANNOTATION_PREFIX}${key}`];
    return typeof v === 'string' ? v : undefined;
  };
  const at = (key: string): string => `annotation ${ANNOTATION_PREFIX}${key}`;
  const raw = { policy: a('policy'), expose: a('expose'), networks: a('networks'), allow_from: a('allow_from'), echo: a('echo') };
  const policy: Policy = {
    mode: raw.policy === undefined ? cfg.policy : orThrow(parseMode(raw.policy, at('policy'))),
    expose: raw.expose === undefined ? cfg.expose : orThrow(parseExpose(raw.expose, at('expose'))),
    networks: raw.networks === undefined ? cfg.networks : orThrow(parseNetworks(raw.networks, at('networks'))),
    allowFrom: raw.allow_from === undefined ? cfg.allow_from : orThrow(parseAllowFrom(raw.allow_from, at('allow_from'))),
    echo: raw.echo === undefined ? cfg.echo : orThrow(parseEcho(raw.echo, at('echo'))),
  };
  const allowed = onlyNetworks ?? (cfg.networks_allowed.length ? cfg.networks_allowed : undefined);
  const outside = allowed && policy.networks.find((n) => !allowed.includes(n));
  if (outside) throw new InputError(`${raw.networks === undefined ? 'config [policy] networks' : at('networks')}: network ${shown(outside)} is not one this host lets containers join (${allowed.length ? allowed.join(', ') : 'none'})`);
  return policy;
}

/** Whether the policy makes a firewall (restricted) — an open container only belongs to networks. */
export const enforced = (p: Policy | undefined): boolean => p?.mode === 'restricted';

/** A short fingerprint of what the firewall enforces, kept in the record and in the table (check compares the two). */
export function policyTag(p: Policy): string {
  const text = JSON.stringify([p.mode, p.expose, p.networks, p.allowFrom, p.echo]);
  return `oci-slaac-hook ${createHash('sha256').update(text).digest('hex').slice(0, 16)}`;
}

/** "restricted: expose tcp:80,udp:53; networks blue; allow 2001:db8::/32; echo" — one line for status. */
export function describePolicy(p: Policy | undefined): string {
  if (!p) return 'open';
  const parts: string[] = [p.mode];
  if (p.mode === 'restricted') {
    parts.push(`expose ${p.expose.length ? p.expose.map((r) => `${r.proto}:${r.from === r.to ? r.from : `${r.from}-${r.to}`}`).join(',') : 'none'}`);
    if (p.allowFrom.length) parts.push(`allow ${p.allowFrom.map((x) => `${x.prefix}/${x.length}`).join(',')}`);
    parts.push(p.echo ? 'echo' : 'no echo');
  }
  if (p.networks.length) parts.push(`networks ${p.networks.join(',')}`);
  return parts.join('; ');
}
