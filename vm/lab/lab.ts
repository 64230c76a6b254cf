// Bring the netns lab (vm/lab.sh and its role scripts) up and down from
// TypeScript, and read its effective configuration (`vm/lab.sh env`).
// Everything here runs external programs as root.

import * as path from 'node:path';
import { type RunResult, REPO_ROOT, failure, run } from './run';

export const LAB_SH = path.join(REPO_ROOT, 'vm', 'lab.sh');
/** The 32-bit all-ones lifetime ("infinity" in radvd.conf, "infinite" in rdisc6). */
export const INFINITE = 0xffffffff;

export type Preference = 'low' | 'medium' | 'high';

/** The effective lab configuration, i.e. what radvd is configured to send. */
export interface LabConfig {
  prefix: string; // "2001:db8:1::/64"
  validLifetime: number; // INFINITE for "infinity"
  preferredLifetime: number;
  mtu: number; // 0 = no MTU option
  rdnss: string[];
  rdnssLifetime: number;
  dnssl: string[];
  dnsslLifetime: number;
  routes: string[]; // route information options, "prefix/len"
  routePreference: Preference;
  routeLifetime: number;
  routerLifetime: number;
  curHopLimit: number;
  reachableMs: number;
  retransMs: number;
  managed: boolean;
  other: boolean;
  routerPreference: Preference;
  raInterval: number; // MaxRtrAdvInterval
  raMinInterval: number; // MinRtrAdvInterval
  routerAddr: string; // without /len
  routerMac: string; // lower case, colon separated
  hostMac: string;
  peerAddr: string; // without /len
  peerMac: string;
}

export interface Lab {
  name: string;
  /** The host NIC (plays the physical NIC). */
  hostIf: string;
  /** Name of the host netns; undefined = the root network namespace. */
  hostNetns: string | undefined;
  /** /run/netns/NAME of the host netns; undefined = the root network namespace. */
  hostNetnsPath: string | undefined;
  routerNetns: string;
  routerIf: string;
  peerNetns: string;
  peerIf: string;
  lanNetns: string;
  bridge: string;
  runDir: string;
  config: LabConfig;
  /** LAB_HOST_ADDR without /len: the host NIC's static address; undefined = none (link-local only). */
  hostAddr?: string;
  /** Second host (LAB_HOSTB=1): its netns, NIC and static address (without /len; undefined = none). */
  hostbNetns?: string;
  hostbIf?: string;
  hostbAddr?: string;
  /** DNS role (LAB_DNS=bind|knot): the server, its netns ('' = current netns), address (without /len) and port. */
  dnsServer?: 'bind' | 'knot';
  dnsNetns?: string;
  dnsAddr?: string;
  dnsPort?: number;
  /** Forward and reverse (ip6.arpa) zone, without trailing dot. */
  dnsZone?: string;
  dnsReverseZone?: string;
  /** Every reverse zone served (LAB_DNS_REVERSE_ZONES; dnsReverseZone alone by default). */
  dnsReverseZones?: string[];
  /** BIND-style TSIG key file (hmac-sha256) allowed to update AAAA, PTR and TXT in both zones; `nsupdate -k` reads it. */
  dnsKeyFile?: string;
  /** Every effective LAB_* value as printed by `vm/lab.sh env`. */
  env: Readonly<Record<string, string>>;
  /** stdout of `vm/lab.sh up`. */
  upOutput: string;
  /** `vm/lab.sh down` with the same environment; rejects if it fails. */
  down(): Promise<RunResult>;
  /** `vm/lab.sh status`. */
  status(): Promise<RunResult>;
}

/** Parse "NAME=value" lines. */
export function parseEnvLines(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const i = line.indexOf('=');
    if (i > 0) out[line.slice(0, i)] = line.slice(i + 1);
  }
  return out;
}

function lifetime(v: string, name: string): number {
  if (v === 'infinity') return INFINITE;
  if (!/^\d+$/.test(v)) throw new Error(`${name}: not a lifetime: '${v}'`);
  return Number(v);
}

function pref(v: string, name: string): Preference {
  if (v === 'low' || v === 'medium' || v === 'high') return v;
  throw new Error(`${name}: not a preference: '${v}'`);
}

const words = (v: string | undefined): string[] => (v ?? '').split(/\s+/).filter((w) => w.length > 0);
const noLen = (a: string): string => a.replace(/\/\d+$/, '');

/** Turn `vm/lab.sh env` values into a typed LabConfig. */
export function labConfigFromEnv(env: Record<string, string>): LabConfig {
  const get = (k: string): string => {
    const v = env[k];
    if (v === undefined) throw new Error(`lab env lacks ${k}`);
    return v;
  };
  const num = (k: string): number => {
    const v = get(k);
    if (!/^\d+$/.test(v)) throw new Error(`${k}: not a number: '${v}'`);
    return Number(v);
  };
  return {
    prefix: get('LAB_PREFIX'),
    validLifetime: lifetime(get('LAB_VALID_LIFETIME'), 'LAB_VALID_LIFETIME'),
    preferredLifetime: lifetime(get('LAB_PREFERRED_LIFETIME'), 'LAB_PREFERRED_LIFETIME'),
    mtu: num('LAB_MTU'),
    rdnss: words(env.LAB_RDNSS),
    rdnssLifetime: lifetime(get('LAB_RDNSS_LIFETIME'), 'LAB_RDNSS_LIFETIME'),
    dnssl: words(env.LAB_DNSSL),
    dnsslLifetime: lifetime(get('LAB_DNSSL_LIFETIME'), 'LAB_DNSSL_LIFETIME'),
    routes: words(env.LAB_ROUTE),
    routePreference: pref(get('LAB_ROUTE_PREFERENCE'), 'LAB_ROUTE_PREFERENCE'),
    routeLifetime: lifetime(get('LAB_ROUTE_LIFETIME'), 'LAB_ROUTE_LIFETIME'),
    routerLifetime: num('LAB_ROUTER_LIFETIME'),
    curHopLimit: num('LAB_CUR_HOP_LIMIT'),
    reachableMs: num('LAB_REACHABLE_MS'),
    retransMs: num('LAB_RETRANS_MS'),
    managed: get('LAB_MANAGED') === 'on',
    other: get('LAB_OTHER') === 'on',
    routerPreference: pref(get('LAB_ROUTER_PREFERENCE'), 'LAB_ROUTER_PREFERENCE'),
    raInterval: num('LAB_RA_INTERVAL'),
    raMinInterval: num('LAB_RA_MIN_INTERVAL'),
    routerAddr: noLen(get('LAB_ROUTER_ADDR')),
    routerMac: get('LAB_ROUTER_MAC').toLowerCase(),
    hostMac: get('LAB_HOST_MAC').toLowerCase(),
    peerAddr: noLen(get('LAB_PEER_ADDR')),
    peerMac: get('LAB_PEER_MAC').toLowerCase(),
  };
}

/** Only LAB_* variables of the test process are dropped so a test's lab is exactly what it asks for. */
function labBaseEnv(): Record<string, string | undefined> {
  const base: Record<string, string | undefined> = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('LAB_')) base[k] = v;
  return base;
}

/**
 * Bring the lab up (`vm/lab.sh up`) with the given LAB_* variables (defaults
 * for the rest; LAB_* of the test process itself are ignored). On failure the
 * partial lab is taken down again and the promise rejects.
 */
export async function labUp(env: Record<string, string> = {}): Promise<Lab> {
  const baseEnv = labBaseEnv();
  const up = await run('sh', [LAB_SH, 'up'], { baseEnv, env, timeoutMs: 60_000 });
  if (up.code !== 0) {
    await run('sh', [LAB_SH, 'down'], { baseEnv, env, timeoutMs: 60_000 });
    throw failure('vm/lab.sh up', up);
  }
  const envRun = await run('sh', [LAB_SH, 'env'], { baseEnv, env });
  if (envRun.code !== 0) throw failure('vm/lab.sh env', envRun);
  const eff = parseEnvLines(envRun.stdout);
  const get = (k: string): string => eff[k] ?? '';
  const hostNetns = get('LAB_HOST_NETNS') || undefined;
  const runDir = path.join(get('LAB_RUN_DIR'), get('LAB_NAME'));
  const optional: Partial<Lab> = {};
  if (get('LAB_HOST_ADDR')) optional.hostAddr = noLen(get('LAB_HOST_ADDR'));
  if (get('LAB_HOSTB') === '1') {
    optional.hostbNetns = get('LAB_HOSTB_NETNS');
    optional.hostbIf = get('LAB_HOSTB_IF');
    if (get('LAB_HOSTB_ADDR')) optional.hostbAddr = noLen(get('LAB_HOSTB_ADDR'));
  }
  const dnsServer = get('LAB_DNS');
  if (dnsServer === 'bind' || dnsServer === 'knot') {
    optional.dnsServer = dnsServer;
    optional.dnsNetns = get('LAB_DNS_NETNS');
    optional.dnsAddr = noLen(get('LAB_DNS_ADDR'));
    optional.dnsPort = Number(get('LAB_DNS_PORT'));
    optional.dnsZone = get('LAB_DNS_ZONE');
    optional.dnsReverseZone = get('LAB_DNS_REVERSE_ZONE');
    optional.dnsReverseZones = words(get('LAB_DNS_REVERSE_ZONES'));
    optional.dnsKeyFile = path.join(runDir, 'tsig.key');
  }
  return {
    ...optional,
    name: get('LAB_NAME'),
    hostIf: get('LAB_HOST_IF'),
    hostNetns,
    hostNetnsPath: hostNetns ? `/run/netns/${hostNetns}` : undefined,
    routerNetns: get('LAB_ROUTER_NETNS'),
    routerIf: get('LAB_ROUTER_IF'),
    peerNetns: get('LAB_PEER_NETNS'),
    peerIf: get('LAB_PEER_IF'),
    lanNetns: get('LAB_LAN_NETNS'),
    bridge: 'br0',
    runDir,
    config: labConfigFromEnv(eff),
    env: Object.freeze(eff),
    upOutput: up.stdout,
    async down(): Promise<RunResult> {
      const r = await run('sh', [LAB_SH, 'down'], { baseEnv, env, timeoutMs: 60_000 });
      if (r.code !== 0) throw failure('vm/lab.sh down', r);
      return r;
    },
    status(): Promise<RunResult> {
      return run('sh', [LAB_SH, 'status'], { baseEnv, env });
    },
  };
}
