// rdisc6 (ndisc6), an independent Router Discovery client: solicit the lab
// router and parse what it printed.

import type { Lab } from './lab';
import { failure, run } from './run';

export interface Rdisc6Prefix {
  prefix: string; // "2001:db8:1::/64"
  onLink: boolean;
  autonomous: boolean;
  validLifetime: number; // INFINITE for "infinite"
  preferredLifetime: number;
}

export interface Rdisc6Route {
  prefix: string; // "2001:db8:ff::/48"
  preference: string; // low | medium | high | "medium (invalid)"
  lifetime: number;
}

export interface Rdisc6Rdnss {
  servers: string[];
  lifetime: number;
}

export interface Rdisc6Dnssl {
  domains: string[];
  lifetime: number;
}

/** One Router Advertisement as printed by rdisc6 (ndisc6 1.0.5). */
export interface Rdisc6Ra {
  hopLimit: number; // 0 = "undefined"
  managed: boolean; // "Stateful address conf."
  other: boolean; // "Stateful other conf."
  homeAgent: boolean;
  routerPreference: string;
  ndProxy: boolean;
  routerLifetime: number; // seconds
  reachableTimeMs: number; // 0 = "unspecified"
  retransTimeMs: number; // 0 = "unspecified"
  prefixes: Rdisc6Prefix[];
  mtu: number | undefined;
  mtuValid: boolean | undefined;
  routes: Rdisc6Route[];
  rdnss: Rdisc6Rdnss[];
  dnssl: Rdisc6Dnssl[];
  /** "02:5c:..." in lower case, as ip(8) prints MACs. */
  sourceLinkLayer: string | undefined;
  /** The router's (link-local) address. */
  from: string;
  /** Lines the parser did not understand (none expected). */
  unparsed: string[];
}

/** Value of a rdisc6 numeric field: the hex in "(0x...)" is exact; "infinite"/"unspecified"/"undefined" are covered by it. */
const words = (v: string | undefined): string[] => (v ?? '').split(/\s+/).filter((w) => w.length > 0);

function rdiscNumber(v: string, what: string): number {
  const hex = /\(\s*0x([0-9a-fA-F]+)\)/.exec(v);
  if (hex?.[1]) return parseInt(hex[1], 16);
  const dec = /^\s*(\d+)/.exec(v);
  if (dec?.[1]) return Number(dec[1]);
  throw new Error(`rdisc6: cannot read ${what} from '${v}'`);
}

function yesNo(v: string, what: string): boolean {
  const s = v.trim();
  if (s === 'Yes') return true;
  if (s === 'No') return false;
  throw new Error(`rdisc6: ${what}: expected Yes/No, got '${s}'`);
}

/** Parse the text of `rdisc6 -1` (the first RA in the text). */
export function parseRdisc6(text: string): Rdisc6Ra {
  const ra: Partial<Rdisc6Ra> & Pick<Rdisc6Ra, 'prefixes' | 'routes' | 'rdnss' | 'dnssl' | 'unparsed'> = {
    prefixes: [],
    routes: [],
    rdnss: [],
    dnssl: [],
    unparsed: [],
    mtu: undefined,
    mtuValid: undefined,
    sourceLinkLayer: undefined,
  };
  let prefix: Rdisc6Prefix | undefined;
  let route: Rdisc6Route | undefined;
  let servers: string[] = [];
  let domains: string[] = [];
  let started = false;
  for (const raw of text.split('\n')) {
    const line = raw.replace(/\s+$/, '');
    if (line === '' || line.startsWith('Soliciting ')) continue;
    const from = /^ from (\S+)/.exec(line);
    if (from?.[1]) {
      ra.from = from[1];
      break; // end of the first advertisement
    }
    const m = /^(\s*)([^:]+?)\s*:\s?(.*)$/.exec(line);
    if (!m) {
      ra.unparsed.push(line);
      continue;
    }
    const key = m[2] ?? '';
    const val = m[3] ?? '';
    started = true;
    switch (key) {
      case 'Hop limit':
        ra.hopLimit = rdiscNumber(val, key);
        break;
      case 'Stateful address conf.':
        ra.managed = yesNo(val, key);
        break;
      case 'Stateful other conf.':
        ra.other = yesNo(val, key);
        break;
      case 'Mobile home agent':
        ra.homeAgent = yesNo(val, key);
        break;
      case 'Router preference':
        ra.routerPreference = val.trim();
        break;
      case 'Neighbor discovery proxy':
        ra.ndProxy = yesNo(val, key);
        break;
      case 'Router lifetime':
        ra.routerLifetime = rdiscNumber(val, key);
        break;
      case 'Reachable time':
        ra.reachableTimeMs = rdiscNumber(val, key);
        break;
      case 'Retransmit time':
        ra.retransTimeMs = rdiscNumber(val, key);
        break;
      case 'Prefix':
        prefix = { prefix: val.trim(), onLink: false, autonomous: false, validLifetime: 0, preferredLifetime: 0 };
        ra.prefixes.push(prefix);
        break;
      case 'On-link':
        if (!prefix) throw new Error('rdisc6: On-link outside a prefix');
        prefix.onLink = yesNo(val, key);
        break;
      case 'Autonomous address conf.':
        if (!prefix) throw new Error('rdisc6: Autonomous outside a prefix');
        prefix.autonomous = yesNo(val, key);
        break;
      case 'Valid time':
        if (!prefix) throw new Error('rdisc6: Valid time outside a prefix');
        prefix.validLifetime = rdiscNumber(val, key);
        break;
      case 'Pref. time':
        if (!prefix) throw new Error('rdisc6: Pref. time outside a prefix');
        prefix.preferredLifetime = rdiscNumber(val, key);
        break;
      case 'Route':
        route = { prefix: val.trim(), preference: '', lifetime: 0 };
        ra.routes.push(route);
        break;
      case 'Route preference':
        if (!route) throw new Error('rdisc6: Route preference outside a route');
        route.preference = val.trim();
        break;
      case 'Route lifetime':
        if (!route) throw new Error('rdisc6: Route lifetime outside a route');
        route.lifetime = rdiscNumber(val, key);
        break;
      case 'Recursive DNS server':
        servers.push(val.trim());
        break;
      case 'DNS server lifetime':
      case 'DNS servers lifetime':
        ra.rdnss.push({ servers, lifetime: rdiscNumber(val, key) });
        servers = [];
        break;
      case 'DNS search list':
        domains.push(...words(val));
        break;
      case 'DNS search list lifetime':
        ra.dnssl.push({ domains, lifetime: rdiscNumber(val, key) });
        domains = [];
        break;
      case 'MTU': {
        const mm = /^\s*(\d+)\s+bytes\s+\((\w+)\)/.exec(val);
        if (!mm?.[1]) throw new Error(`rdisc6: cannot read MTU from '${val}'`);
        ra.mtu = Number(mm[1]);
        ra.mtuValid = mm[2] === 'valid';
        break;
      }
      case 'Source link-layer address':
        ra.sourceLinkLayer = val.trim().toLowerCase();
        break;
      default:
        ra.unparsed.push(line);
    }
  }
  if (!started || ra.from === undefined) throw new Error(`rdisc6: no complete advertisement in output:\n${text}`);
  if (servers.length) ra.rdnss.push({ servers, lifetime: NaN });
  if (domains.length) ra.dnssl.push({ domains, lifetime: NaN });
  const need = <K extends keyof Rdisc6Ra>(k: K): NonNullable<Rdisc6Ra[K]> => {
    const v = ra[k];
    if (v === undefined || v === null) throw new Error(`rdisc6: output lacks ${String(k)}:\n${text}`);
    return v as NonNullable<Rdisc6Ra[K]>;
  };
  return {
    hopLimit: need('hopLimit'),
    managed: need('managed'),
    other: need('other'),
    homeAgent: need('homeAgent'),
    routerPreference: need('routerPreference'),
    ndProxy: need('ndProxy'),
    routerLifetime: need('routerLifetime'),
    reachableTimeMs: need('reachableTimeMs'),
    retransTimeMs: need('retransTimeMs'),
    prefixes: ra.prefixes,
    mtu: ra.mtu,
    mtuValid: ra.mtuValid,
    routes: ra.routes,
    rdnss: ra.rdnss,
    dnssl: ra.dnssl,
    sourceLinkLayer: ra.sourceLinkLayer,
    from: need('from'),
    unparsed: ra.unparsed,
  };
}

export interface Rdisc6Options {
  /** How long to wait for each answer (rdisc6 -w, ms). Default 1000. */
  timeoutMs?: number;
  /** Solicitations to send (rdisc6 -r). Default 3. */
  retries?: number;
}

/**
 * Solicit the lab router from the host NIC with rdisc6 (an independent RS/RA
 * implementation) and parse the first answer. Rejects if none came.
 */
export async function rdisc6(lab: Pick<Lab, 'hostIf' | 'hostNetns'>, timeoutMs = 1000, opts: Omit<Rdisc6Options, 'timeoutMs'> = {}): Promise<Rdisc6Ra & { raw: string }> {
  const retries = opts.retries ?? 3;
  const r = await run('rdisc6', ['-1', '-n', '-r', String(retries), '-w', String(timeoutMs), lab.hostIf], {
    netns: lab.hostNetns,
    timeoutMs: timeoutMs * retries + 10_000,
  });
  if (r.code !== 0) throw failure(`rdisc6 on ${lab.hostIf}`, r);
  return { ...parseRdisc6(r.stdout), raw: r.stdout };
}

