/**
 * Refresh: what one more Router Advertisement, or the passing of time, does to an attached
 * container — computed with no I/O from its record (tests/unit/refresh.test.ts). The kernel side
 * is ops/refresh.ts; the locking and the renumbering DAD are pipeline/refresh.ts.
 *
 * The record keeps, besides its addresses, the deadlines a host keeps in its Prefix List and
 * Default Router List (RFC 4861 §6.3.4, RFC 4862 §5.5.3), as CLOCK_BOOTTIME ms (null = infinite):
 *  - each address: validUntil, preferredUntil, state. An RA for its prefix updates them by RFC 4862
 *    §5.5.3 (e) — the preferred lifetime as received (0: deprecated at once, RFC 8978 §2's way for
 *    a router to retire a prefix), the valid one as received when above two hours or above what
 *    remains, else the two-hour rule (the kernel applies none to addresses set from userspace,
 *    so this is ours);
 *  - each router: its lifetime, preference and the time its last RA came. Router lifetime 0 drops it
 *    at once (§6.3.4). The default route goes via the most preferred live router (RFC 4191 §3),
 *    the current one on a tie (no flapping), else the first heard — attach's rule;
 *  - each RFC 4191 route, RDNSS server and DNSSL domain (RFC 8106 §5.1/§5.2): lifetime 0 removes;
 *  - a new autonomous prefix that §5.5.3 (a)–(d) accepts, within max_prefixes, is renumbering: the
 *    pipeline forms an RFC 7217 address in it (DAD first).
 * The MTU option is copied when within [1280, the parent's MTU] (RFC 4861 §6.3.4).
 * Whatever's deadline has passed is removed by `expire` (one timer at `nextDeadline`, as
 * systemd-networkd's ndisc_setup_expire arms one per link).
 */
import { formatIPv6, formatMac, formatPrefix, isLinkLocal, maskPrefix, parseIPv6 } from './ipv6';
import type { Preference, PrefixInformation } from './nd-types';
import { DEFAULT_LIMITS, MIN_IPV6_MTU, type HeardRa, type PlanLimits } from './plan';
import type { AddressRecord, ContainerRecord, DeadlineRecord, RouteRecord, RouterRecord } from './record';
import { fromLifetime, INFINITE_LIFETIME, toLifetime } from './lifetime';
import { checkPrefix, lifetimesFromPrefix, updateLifetimes, type LifetimeRule } from './slaac';
import { notADestination, notAServer, notForAddresses } from './special-ranges';

/** What refresh keeps of a record (every deadline filled in). */
export interface RefreshState {
  addresses: (AddressRecord & { validUntil: number | null; preferredUntil: number | null; state: 'preferred' | 'deprecated' })[];
  routers: RouterRecord[];
  routes: RouteRecord[];
  rdnss: DeadlineRecord[];
  dnssl: DeadlineRecord[];
  mtu: number | null;
}

export type StateAddress = RefreshState['addresses'][number];

/** A prefix with no address yet whose RA lifetimes make it one (renumbering). */
export interface NewPrefix {
  pi: PrefixInformation;
  prefix: string;
  validUntil: number | null;
  preferredUntil: number | null;
}

export interface RaEffect {
  state: RefreshState;
  newPrefixes: NewPrefix[];
  /** Which §5.5.3 (e) branch set each refreshed address's valid lifetime. */
  rules: { address: string; rule: LifetimeRule }[];
  /** What was not taken from the RA, one line each. */
  notes: string[];
}

/** RFC 4191 §2.2: a reserved (10) preference is treated as medium. */
const RANK: Record<Preference, number> = { high: 2, medium: 1, reserved: 1, low: 0 };

// Records hold ms and null; slaac.ts seconds and Infinity.
const toSec = (ms: number | null): number => (ms === null ? Infinity : ms / 1000);
const toMs = (s: number): number | null => (s === Infinity ? null : Math.round(s * 1000));
const until = (at: number, lifetime: number): number | null => (lifetime === INFINITE_LIFETIME ? null : at + lifetime * 1000);
const passed = (deadline: number | null, now: number): boolean => deadline !== null && deadline <= now;

const stateOfAddress = (preferredUntil: number | null, now: number): 'preferred' | 'deprecated' => (passed(preferredUntil, now) ? 'deprecated' : 'preferred');

/** Deadlines of an address formed from `pi` heard at `at` (ms), for attach and renumbering. */
export function addressDeadlines(pi: Pick<PrefixInformation, 'validLifetime' | 'preferredLifetime'>, at: number): { validUntil: number | null; preferredUntil: number | null } {
  const lt = lifetimesFromPrefix(pi, at / 1000);
  return { validUntil: toMs(lt.validUntil), preferredUntil: toMs(lt.preferredUntil) };
}

/** The record's refresh state; an older record's deadlines are derived from raAt and its lifetimes. */
export function stateOf(record: ContainerRecord, now = record.raAt): RefreshState {
  const addresses = record.addresses.map((a) => {
    const derived = addressDeadlines({ validLifetime: fromLifetime(a.validLifetime), preferredLifetime: fromLifetime(a.preferredLifetime) }, record.raAt);
    const validUntil = a.validUntil !== undefined ? a.validUntil : derived.validUntil;
    const preferredUntil = a.preferredUntil !== undefined ? a.preferredUntil : derived.preferredUntil;
    return { ...a, validUntil, preferredUntil, state: a.state ?? stateOfAddress(preferredUntil, now) };
  });
  const r = record.router;
  const routers =
    record.routers ?? (r.address && r.lifetime > 0 ? [{ address: r.address, mac: r.mac, lifetime: r.lifetime, preference: r.preference, lastRaAt: record.raAt, until: record.raAt + r.lifetime * 1000 }] : []);
  const routes =
    record.routeDeadlines ??
    record.ledger.flatMap((e) => (e.kind === 'route' && !e.destination.endsWith('/0') ? [{ destination: e.destination, gateway: e.gateway, preference: 'medium' as Preference, until: null }] : []));
  const forever = (values: string[]): DeadlineRecord[] => values.map((value) => ({ value, until: null }));
  return {
    addresses,
    routers: routers.map((x) => ({ ...x })),
    routes: routes.map((x) => ({ ...x })),
    rdnss: (record.rdnssDeadlines ?? forever(record.rdnss)).map((x) => ({ ...x })),
    dnssl: (record.dnsslDeadlines ?? forever(record.dnssl)).map((x) => ({ ...x })),
    mtu: record.mtu,
  };
}

/** The default router: the most preferred live one (RFC 4191 §3), `current` on a tie, else the first. */
export function defaultRouter(routers: RouterRecord[], now: number, current?: string): RouterRecord | undefined {
  const live = routers.filter((r) => r.lifetime > 0 && r.until > now);
  const best = Math.max(...live.map((r) => RANK[r.preference]));
  const top = live.filter((r) => RANK[r.preference] === best);
  return top.find((r) => r.address === current) ?? top[0];
}

function upsert<T extends { until: number | null }>(list: T[], match: (x: T) => boolean, make: () => T, cap: number): 'added' | 'updated' | 'capped' {
  const i = list.findIndex(match);
  if (i >= 0) {
    list[i] = make();
    return 'updated';
  }
  if (list.length >= cap) return 'capped';
  list.push(make());
  return 'added';
}

/**
 * One RA heard at `heard.receivedAt` (else `now`). Lifetimes count from the receipt, as the
 * router meant them.
 */
export function absorbRa(current: RefreshState, heard: HeardRa, now: number, opts: { limits?: PlanLimits; parentMtu?: number } = {}): RaEffect {
  const limits = opts.limits ?? DEFAULT_LIMITS;
  const at = heard.receivedAt ?? now;
  const ra = heard.advertisement;
  const router = formatIPv6(heard.router);
  const notes: string[] = [];
  const rules: RaEffect['rules'] = [];
  // An RA older than the last one applied from the same router (queued behind it) says nothing newer.
  const known = current.routers.find((r) => r.address === router);
  if (known && at < known.lastRaAt) return { state: current, newPrefixes: [], rules: [], notes: [`RA from ${router} received before the last one applied: ignored`] };
  const state: RefreshState = {
    addresses: current.addresses.map((a) => ({ ...a })),
    routers: current.routers.map((r) => ({ ...r })),
    routes: current.routes.map((r) => ({ ...r })),
    rdnss: current.rdnss.map((r) => ({ ...r })),
    dnssl: current.dnssl.map((r) => ({ ...r })),
    mtu: current.mtu,
  };

  // Prefixes: §5.5.3 (a)–(c) gate an option; (e) updates the addresses of a known prefix; (d)
  // forms a new one. A prefix listed twice in one RA is taken once (the first).
  const seen = new Set<string>();
  const newPrefixes: NewPrefix[] = [];
  const prefixesHeld = new Set(state.addresses.map((a) => a.prefix));
  for (const o of ra.options) {
    if (o.type !== 'prefix-information' || !o.autonomous || isLinkLocal(o.prefix)) continue; // (a), (b)
    const prefix = formatPrefix(o.prefix, o.prefixLength);
    if (seen.has(prefix)) continue;
    seen.add(prefix);
    if (notForAddresses(o.prefix, o.prefixLength)) continue;
    if (o.preferredLifetime > o.validLifetime) {
      notes.push(`RA prefix ${prefix} from ${router} ignored: preferred lifetime ${o.preferredLifetime} exceeds valid lifetime ${o.validLifetime}`); // (c)
      continue;
    }
    const mine = state.addresses.filter((a) => a.prefix === prefix);
    if (mine.length > 0) {
      for (const a of mine) {
        const { lifetimes, rule } = updateLifetimes({ validUntil: toSec(a.validUntil), preferredUntil: toSec(a.preferredUntil) }, o, at / 1000);
        a.validUntil = toMs(lifetimes.validUntil);
        a.preferredUntil = toMs(lifetimes.preferredUntil);
        a.state = stateOfAddress(a.preferredUntil, now);
        rules.push({ address: a.address, rule });
      }
      continue;
    }
    if (o.validLifetime === 0) continue; // a prefix being retired that we never had: no news (and no log line per RA)
    const verdict = checkPrefix(o);
    if (!verdict.usable) {
      notes.push(`RA prefix ${prefix} from ${router} not used: ${verdict.reason}`);
      continue;
    }
    if (prefixesHeld.size + newPrefixes.length >= limits.maxPrefixes) {
      notes.push(`RA prefix ${prefix} from ${router} beyond max_prefixes = ${limits.maxPrefixes} not used`);
      continue;
    }
    const d = addressDeadlines(o, at);
    if (passed(d.validUntil, now)) continue; // heard long ago: already over
    newPrefixes.push({ pi: o, prefix, ...d });
  }

  // The router (RFC 4861 §6.3.4): lifetime 0 times it out at once.
  const slla = ra.options.find((o) => o.type === 'source-link-layer-address');
  const mac = slla && slla.type === 'source-link-layer-address' ? formatMac(slla.address) : null;
  const ri = state.routers.findIndex((r) => r.address === router);
  if (ra.routerLifetime === 0) {
    if (ri >= 0) state.routers.splice(ri, 1);
  } else {
    const entry: RouterRecord = { address: router, mac: mac ?? state.routers[ri]?.mac ?? null, lifetime: ra.routerLifetime, preference: ra.preference, lastRaAt: at, until: at + ra.routerLifetime * 1000 };
    if (ri >= 0) state.routers[ri] = entry;
    else state.routers.push(entry);
  }

  // MTU: the option's value when within [1280, the link's maximum] (RFC 4861 §6.3.4; RFC 8200 §5).
  for (const o of ra.options) {
    if (o.type !== 'mtu') continue;
    if (o.mtu >= MIN_IPV6_MTU && (opts.parentMtu === undefined || o.mtu <= opts.parentMtu)) state.mtu = o.mtu;
    else notes.push(`RA MTU ${o.mtu} from ${router} ignored: outside [${MIN_IPV6_MTU}, ${opts.parentMtu ?? '-'}]`);
  }

  // RFC 4191 routes: via the router that advertised each, the first one heard keeping a destination;
  // ::/0 is the router lifetime's business (§3.1), not a route of its own.
  for (const o of ra.options) {
    if (o.type !== 'route-information' || o.prefixLength === 0) continue;
    const destination = formatPrefix(o.prefix, o.prefixLength);
    const bad = notADestination(o.prefix, o.prefixLength);
    if (bad) {
      notes.push(`RA route ${destination} from ${router} not used: ${bad}`);
      continue;
    }
    const i = state.routes.findIndex((r) => r.destination === destination);
    const owner = state.routes[i];
    if (owner && owner.gateway !== router && !passed(owner.until, at)) continue; // another router's, still live
    if (o.lifetime === 0) {
      if (i >= 0) state.routes.splice(i, 1);
      continue;
    }
    const make = (): RouteRecord => ({ destination, gateway: router, preference: o.preference, until: until(at, o.lifetime) });
    if (upsert(state.routes, (r) => r.destination === destination, make, limits.maxRoutes) === 'capped') notes.push(`RA route ${destination} beyond max_routes = ${limits.maxRoutes} not used`);
  }

  // RDNSS and DNSSL (RFC 8106 §5.1, §5.2): lifetime 0 means "no longer use".
  for (const o of ra.options) {
    if (o.type === 'rdnss') {
      for (const server of o.servers) {
        const value = formatIPv6(server);
        const bad = notAServer(server);
        if (bad) {
          notes.push(`RA DNS server ${value} from ${router} not used: ${bad}`);
          continue;
        }
        if (o.lifetime === 0) {
          state.rdnss = state.rdnss.filter((x) => x.value !== value);
          continue;
        }
        if (upsert(state.rdnss, (x) => x.value === value, () => ({ value, until: until(at, o.lifetime) }), limits.maxDnsServers) === 'capped') {
          notes.push(`RA DNS server ${value} beyond max_dns_servers = ${limits.maxDnsServers} not used`);
        }
      }
    } else if (o.type === 'dnssl') {
      for (const value of o.domains) {
        if (o.lifetime === 0) state.dnssl = state.dnssl.filter((x) => x.value !== value);
        else upsert(state.dnssl, (x) => x.value === value, () => ({ value, until: until(at, o.lifetime) }), Infinity);
      }
    }
  }
  return { state, newPrefixes, rules, notes };
}

/** What has run out at `now`, removed; the addresses' preferred/deprecated state brought up to date. */
export function expire(current: RefreshState, now: number): { state: RefreshState; removed: string[] } {
  const removed: string[] = [];
  const keep = <T>(list: T[], deadline: (x: T) => number | null, what: (x: T) => string): T[] =>
    list.filter((x) => {
      if (!passed(deadline(x), now)) return true;
      removed.push(what(x));
      return false;
    });
  return {
    state: {
      addresses: keep(current.addresses, (a) => a.validUntil, (a) => `address ${a.address}`).map((a) => ({ ...a, state: stateOfAddress(a.preferredUntil, now) })),
      routers: keep(current.routers, (r) => r.until, (r) => `router ${r.address}`),
      routes: keep(current.routes, (r) => r.until, (r) => `route ${r.destination} via ${r.gateway}`),
      rdnss: keep(current.rdnss, (x) => x.until, (x) => `DNS server ${x.value}`),
      dnssl: keep(current.dnssl, (x) => x.until, (x) => `search domain ${x.value}`),
      mtu: current.mtu,
    },
    removed,
  };
}

/** The earliest deadline of a state (ms), including an address's coming deprecation; null when none. */
export function stateDeadline(state: RefreshState): number | null {
  const all = [
    ...state.addresses.flatMap((a) => [a.validUntil, a.state === 'preferred' ? a.preferredUntil : null]),
    ...state.routers.map((r) => r.until),
    ...state.routes.map((r) => r.until),
    ...state.rdnss.map((x) => x.until),
    ...state.dnssl.map((x) => x.until),
  ].filter((x): x is number => x !== null);
  return all.length ? Math.min(...all) : null;
}

/** The earliest deadline of a record (CLOCK_BOOTTIME ms), null when none. */
export function nextDeadline(record: ContainerRecord): number | null {
  if (record.member) return null; // the owner's record carries the netns's deadlines
  return stateDeadline(stateOf(record));
}

/** What of a record has run out at `now` (empty: nothing). */
export function expired(record: ContainerRecord, now: number): string[] {
  return expire(stateOf(record, now), now).removed;
}

/**
 * The record fields refresh keeps, from the RAs attach merged (in the order heard): a fresh record
 * is then refreshable. The addresses keep their lifetimes from attach's plan; each RA refines them
 * as a later one would.
 */
export function refreshFields(record: ContainerRecord, heard: HeardRa[], limits: PlanLimits, parentMtu?: number): Partial<ContainerRecord> {
  let state = stateOf(record);
  for (const h of heard) state = absorbRa(state, { ...h, receivedAt: h.receivedAt ?? record.raAt }, record.raAt, { limits, parentMtu }).state;
  // attach's plan made the routes: keep only the deadlines of those it made.
  const made = new Set(record.ledger.flatMap((e) => (e.kind === 'route' ? [`${e.destination} ${e.gateway}`] : [])));
  return {
    addresses: state.addresses,
    routers: state.routers,
    routeDeadlines: state.routes.filter((r) => made.has(`${r.destination} ${r.gateway}`)),
    rdnssDeadlines: state.rdnss.filter((x) => record.rdnss.includes(x.value)),
    dnsslDeadlines: state.dnssl.filter((x) => record.dnssl.includes(x.value)),
    limits,
  };
}

/** The record with a new state written into it (addresses, routers, routes, DNS options, MTU; `router` = the default one). */
export function withState(record: ContainerRecord, state: RefreshState, now: number): ContainerRecord {
  const chosen = defaultRouter(state.routers, now, record.router.address);
  return {
    ...record,
    addresses: state.addresses,
    routers: state.routers,
    routeDeadlines: state.routes,
    rdnssDeadlines: state.rdnss,
    dnsslDeadlines: state.dnssl,
    rdnss: state.rdnss.map((x) => x.value),
    dnssl: state.dnssl.map((x) => x.value),
    mtu: state.mtu,
    router: chosen ? { address: chosen.address, mac: chosen.mac, lifetime: chosen.lifetime, preference: chosen.preference } : { ...record.router, lifetime: 0 },
    routes: [...(chosen ? ['default'] : []), ...state.routes.map((r) => r.destination)],
  };
}

/**
 * An address in a new prefix that the ledger holds but the record's addresses do not: a refresh
 * killed between installing a DAD-proven address (recorded in the ledger first) and saving it in
 * the record. It is adopted rather than claimed again — our own address would answer our DAD and
 * push us to the next candidate, leaving two.
 */
export function adoptOrphans(
  record: Pick<ContainerRecord, 'ledger' | 'interface'>,
  state: RefreshState,
  newPrefixes: NewPrefix[],
  now: number,
  counterOf: (address: string, p: NewPrefix) => number | null = () => null,
): { state: RefreshState; newPrefixes: NewPrefix[]; adopted: string[] } {
  const held = new Set(state.addresses.map((a) => a.address));
  const addresses = [...state.addresses];
  const left: NewPrefix[] = [];
  const adopted: string[] = [];
  for (const p of newPrefixes) {
    const orphan = record.ledger.find(
      (e) => e.kind === 'address' && e.index === record.interface.index && e.prefixLength === p.pi.prefixLength && !held.has(e.address) && maskPrefix(parseIPv6(e.address), p.pi.prefixLength).equals(maskPrefix(p.pi.prefix, p.pi.prefixLength)),
    );
    if (orphan?.kind !== 'address') {
      left.push(p);
      continue;
    }
    addresses.push({
      address: orphan.address,
      prefix: p.prefix,
      prefixLength: p.pi.prefixLength,
      dadCounter: counterOf(orphan.address, p),
      validLifetime: toLifetime(p.pi.validLifetime),
      preferredLifetime: toLifetime(p.pi.preferredLifetime),
      dad: 'verified', // installed only once DAD said unique (strict)
      validUntil: p.validUntil,
      preferredUntil: p.preferredUntil,
      state: stateOfAddress(p.preferredUntil, now),
    });
    adopted.push(orphan.address);
  }
  return { state: { ...state, addresses }, newPrefixes: left, adopted };
}
