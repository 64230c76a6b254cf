/**
 * Keeping a container's addresses and routes alive after attach (the agent's work, issue 11):
 * every RA heard on its parent refreshes its addresses' lifetimes (RFC 4862 §5.5.3 e), its default
 * route (router lifetime; 0 → gone), Route Information routes, MTU, RDNSS/DNSSL; a new autonomous
 * prefix gives it a new DAD-proven address (renumbering); whatever runs out is removed at its
 * deadline. Under the container's lock, on the record as stored (re-read), changes recorded in
 * its ledger like attach's.
 *
 * Each step runs under the container's lock (which detach holds while it undoes and removes the
 * record) on the record read again there, in the netns the record names if it is still that netns
 * (its identity checked, as detach and the background DAD do): a container detached meanwhile is
 * `gone` and nothing is changed. Renumbering probes (DAD) outside the lock — a probe changes
 * nothing — and installs the proven address under it, after checking again that the container is
 * the same attach and has no address in that prefix yet.
 */
import { claimAddress } from '../core/dad';
import { oneLine, settleAll } from '../core/errors';
import { IDGEN_RETRIES } from '../core/iid';
import { formatIPv6, parseIPv6, type IPv6 } from '../core/ipv6';
import { toLifetime } from '../core/lifetime';
import { needsHostReach } from '../core/link-kinds';
import { addressCandidate, DEFAULT_LIMITS, planFromAdvertisements, type HeardRa, type PlanLimits } from '../core/plan';
import type { AddressRecord, ContainerRecord } from '../core/record';
import { absorbRa, adoptOrphans, defaultRouter, expire, nextDeadline as recordDeadline, stateOf, withState, type NewPrefix, type RefreshState } from '../core/refresh';
import { loadOrCreateHostSecret } from '../system/host-secret';
import type { NetKernel } from '../system/kernel';
import { writeResolvConf } from '../system/resolv-conf';
import { installAddress, type AddressPlace } from '../ops/address';
import { republish } from '../ops/dns-records';
import { Ledger } from '../ops/ledger';
import type { OpContext } from '../ops/context';
import { applyRefresh, refreshReachTable, secondsLeft } from '../ops/refresh';
import { ndVantage } from './attach';
import { contextFor, type PipelineDeps } from './deps';
import { reopenNetns } from './detach';

export interface RefreshResult {
  /** One line per change made ("2001:db8::1 valid 120 s preferred 0 s (deprecated)", "default via fe80::1 removed"), for the agent's log. */
  changes: string[];
  /**
   * One line per renewal: an address's or a route's lifetime moved and nothing else about it
   * ("2001:db8::1 valid 120 s preferred 60 s", "default via fe80::1 expires 30 s") — what every RA
   * does to every container, made in the kernel like a change but not worth a log line each.
   */
  renewed?: string[];
  /** The container's next deadline (CLOCK_BOOTTIME ms) after this refresh; null when nothing of it expires. */
  nextDeadline: number | null;
  /** The record is gone (detached meanwhile) or its netns is: the agent forgets it (GC handles leftovers). */
  gone: boolean;
}

/** What the agent may add; without, the host secret is read when a new prefix needs it and the caps are the record's. */
export interface RefreshOptions {
  /** The host's RFC 7217 secret (system/host-secret.ts). */
  secret?: Buffer;
  /** max_prefixes, max_routes, max_dns_servers (else those attach applied, kept in the record). */
  limits?: PlanLimits;
}

interface Step {
  record: ContainerRecord;
  ledger: Ledger;
  ctx: OpContext;
  container: NetKernel;
  /** The record is as last saved: the step's closing save is skipped (set by whoever saved last, cleared by any change after). */
  saved: boolean;
}

const GONE = Symbol('gone');

/**
 * Run `fn` under the container's lock on its record as stored and its netns (the same one), saving
 * the record after; GONE when the record or its netns is gone, or (with `attach`) it is another
 * attach than the one a step started from.
 */
async function step<T>(id: string, deps: PipelineDeps, fn: (s: Step) => Promise<T> | T, attach?: Pick<ContainerRecord, 'attachId' | 'since' | 'netns'>): Promise<T | typeof GONE> {
  return deps.withContainerLock(id, async (lock) => {
    const record = deps.store.read(id);
    if (!record) lock.forget(); // the lock file detach removed, made again by taking it
    if (!record) return GONE;
    if (attach && (record.attachId !== attach.attachId || record.since !== attach.since || record.netns.id !== attach.netns.id)) return GONE;
    const container = reopenNetns(deps, record);
    if (!container) return GONE;
    const ledger = new Ledger(deps.store, record);
    const s: Step = { record, ledger, ctx: contextFor(deps, ledger, container), container, saved: false };
    try {
      return await fn(s);
    } finally {
      try {
        if (!s.saved) ledger.save();
      } finally {
        container.close();
      }
    }
  });
}

/** What ran out that applyRefresh does not itself report (it names the addresses and routes it removes). */
const expiredLines = (removed: string[]): string[] => removed.filter((r) => !r.startsWith('address ') && !r.startsWith('route ')).map((r) => `${r} expired`);

/** A record refresh leaves alone: one still attaching (the hook finishes it), a pod member (its owner's record carries the netns). */
const notOurs = (r: ContainerRecord): boolean => r.phase !== 'attached' || r.member !== undefined;

/**
 * Apply `after` to the step's container and record (saved: `s.saved` says whether nothing changed
 * since); withdraws DNS records of addresses that went. Renewals (lifetimes moved, nothing else)
 * go to `renewed`.
 */
async function settle(s: Step, before: RefreshState, after: RefreshState, now: number, deps: PipelineDeps, renewed: string[] = []): Promise<string[]> {
  const { changes, renewed: lines, addressesRemoved } = applyRefresh(s.ctx, s.record.interface.index, before, after, now);
  renewed.push(...lines);
  const resolver = JSON.stringify([s.record.rdnss, s.record.dnssl]);
  Object.assign(s.record, withState(s.record, after, now));
  s.ledger.save();
  s.saved = true;
  // resolv_conf = "ra": the container's resolver follows the RA's RDNSS and DNSSL (RFC 8106 §5.3.1).
  if (s.record.resolvConf && JSON.stringify([s.record.rdnss, s.record.dnssl]) !== resolver) {
    try {
      writeResolvConf(s.record.resolvConf, s.record.rdnss, s.record.dnssl);
      changes.push(`resolv.conf: ${[...s.record.rdnss.map((a) => `nameserver ${a}`), ...(s.record.dnssl.length ? [`search ${s.record.dnssl.join(' ')}`] : [])].join(', ') || 'empty'}`);
    } catch (err) {
      deps.log.warn(`${s.record.id}: resolv.conf ${s.record.resolvConf}: ${oneLine(err)}`);
    }
  }
  if (addressesRemoved.length > 0) changes.push(...(await republishDns(s, deps)));
  return changes;
}

/** The container's DNS records made to match its addresses (RFC 2136; what is about to be added is saved first). */
async function republishDns(s: Step, deps: PipelineDeps): Promise<string[]> {
  const dns = s.record.dns;
  if (!dns) return [];
  s.saved = false;
  const addresses = s.record.addresses.map((a) => a.address);
  try {
    const out = await republish(
      dns,
      addresses,
      (intent) => {
        s.record.dns = intent;
        s.ledger.save();
      },
      (line) => deps.log.warn(`${s.record.id}: DNS: ${line}`),
    );
    s.record.dns = out;
    if (out.status !== 'published') deps.log.warn(`${s.record.id}: DNS: ${out.error ?? 'update failed'}`);
    return out === dns ? [] : [`DNS ${out.name}: ${addresses.join(', ') || 'no address'} (${out.status})`];
  } catch (err) {
    deps.log.warn(`${s.record.id}: DNS: ${oneLine(err)}`);
    return [];
  }
}

/** Apply one RA (from a router on the container's parent) to a container. */
export async function refreshContainer(id: string, heard: HeardRa, deps: PipelineDeps, opts: RefreshOptions = {}): Promise<RefreshResult> {
  const changes: string[] = [];
  const renewed: string[] = [];
  const first = await step(id, deps, async (s) => {
    if (notOurs(s.record)) return { newPrefixes: [] as NewPrefix[], record: s.record, deadline: recordDeadline(s.record) };
    const now = deps.clock();
    const before = stateOf(s.record, now);
    const ra = absorbRa(before, heard, now, { limits: opts.limits ?? s.record.limits ?? DEFAULT_LIMITS, parentMtu: deps.host.findLink(s.record.parent)?.mtu });
    for (const note of ra.notes) deps.log.info(`${id}: ${note}`);
    const after = expire(ra.state, now);
    changes.push(...expiredLines(after.removed));
    const orphans = ra.newPrefixes.length > 0 ? adoptOrphans(s.record, after.state, ra.newPrefixes, now, counterFinder(s.record, opts)) : { state: after.state, newPrefixes: ra.newPrefixes, adopted: [] };
    changes.push(...orphans.adopted.map((a) => `${a} adopted (installed by a refresh that did not finish)`));
    changes.push(...(await settle(s, before, orphans.state, now, deps, renewed)));
    if (orphans.adopted.length > 0) changes.push(...(await republishDns(s, deps)));
    const reach = s.record.l3;
    if (reach) {
      const parentMtu = deps.host.findLink(s.record.parent)?.mtu ?? 1500;
      const chosen = defaultRouter(after.state.routers, now, s.record.router.address);
      const via = chosen && { gateway: chosen.address, until: chosen.until, preference: chosen.preference };
      deps.withLock(s.record.parent, () => refreshReachTable(s.ctx, reach, planFromAdvertisements([heard], parentMtu).tableRoutes, via, now));
    }
    // The record as this step leaves it: a copy only when renumbering works from it (outside the lock).
    return { newPrefixes: orphans.newPrefixes, record: orphans.newPrefixes.length > 0 ? structuredClone(s.record) : s.record, deadline: recordDeadline(s.record) };
  });
  if (first === GONE) return { changes, nextDeadline: null, gone: true };
  if (first.newPrefixes.length === 0) return { changes, renewed, nextDeadline: first.deadline, gone: false };
  const renumbered = await renumber(first.record, first.newPrefixes, deps, opts);
  if (renumbered === GONE) return { changes, nextDeadline: null, gone: true };
  changes.push(...renumbered);
  const record = deps.store.read(id);
  return { changes, renewed, nextDeadline: record ? recordDeadline(record) : null, gone: !record };
}

/** The DAD counter an address was made with (RFC 7217 candidates 0..IDGEN_RETRIES), null when none matches (static IID). */
function counterFinder(record: ContainerRecord, opts: RefreshOptions): (address: string, p: NewPrefix) => number | null {
  return (address, p) => {
    const d = record.derivation ?? { networkId: '', iid: '', dadTransmits: 1 };
    if (d.iid) return null;
    const candidate = addressCandidate({ name: record.name, secret: opts.secret ?? loadOrCreateHostSecret(), networkId: d.networkId, iid: d.iid }, p.pi.prefix, p.pi.prefixLength);
    for (let n = 0; n <= IDGEN_RETRIES; n++) if (formatIPv6(candidate(n)) === address) return n;
    return null;
  };
}

/** Remove what has run out at `now` (CLOCK_BOOTTIME ms): addresses, routes, routers, DNS servers. */
export async function expireContainer(id: string, now: number, deps: PipelineDeps): Promise<RefreshResult> {
  const out = await step(id, deps, async (s) => {
    if (notOurs(s.record)) return { changes: [] as string[], nextDeadline: recordDeadline(s.record) };
    const before = stateOf(s.record, now);
    const after = expire(before, now);
    const renewed: string[] = [];
    const changes = [...expiredLines(after.removed), ...(await settle(s, before, after.state, now, deps, renewed))];
    return { changes, renewed, nextDeadline: recordDeadline(s.record) };
  });
  return out === GONE ? { changes: [], nextDeadline: null, gone: true } : { ...out, gone: false };
}

/** The earliest deadline of a record (CLOCK_BOOTTIME ms), null when none. */
export function nextDeadline(record: ContainerRecord): number | null {
  return recordDeadline(record);
}

/** Prefixes being claimed in this process (`id prefix`): a second RA meanwhile does not start another DAD. */
const claiming = new Set<string>();

class Skip extends Error {}

/**
 * Renumbering (RFC 4862 §5.5.3 d): an RFC 7217 address in each new prefix, with the keys attach
 * used (the record's derivation), proven unique by DAD from the vantage attach used (the next
 * candidate on a conflict, RFC 7217 §6), installed, announced, published.
 */
async function renumber(from: ContainerRecord, prefixes: NewPrefix[], deps: PipelineDeps, opts: RefreshOptions): Promise<string[] | typeof GONE> {
  const { host, log } = deps;
  const container = reopenNetns(deps, from);
  if (!container) return GONE;
  const mine = prefixes.filter((p) => !claiming.has(`${from.id} ${p.prefix}`));
  for (const p of mine) claiming.add(`${from.id} ${p.prefix}`);
  try {
    const parent = host.findLink(from.parent);
    const link = container.listLinks().find((l) => l.index === from.interface.index);
    if (!parent || !link) return [];
    const onParent = needsHostReach(from.interface.kind, from.interface.mode);
    const d = from.derivation ?? { networkId: '', iid: '', dadTransmits: 1 };
    const nd = deps.nd(ndVantage(onParent, host, parent, container, link), d.dadTransmits);
    const keys = { name: from.name, secret: opts.secret ?? loadOrCreateHostSecret(), networkId: d.networkId, iid: d.iid };
    const place: AddressPlace = { index: link.index, reach: from.l3, hostLink: from.hostLink && { index: from.hostLink.index, linkLocal: from.hostLink.linkLocal } };
    const retransMs = from.retransMs || 1000;

    // From the name's identity on the link on (attach's claimIdentity: > 0 when another host sharing
    // its secret ran it already), so that a new prefix's address is that identity's too.
    const base = d.iid ? 0 : Math.min(d.identity ?? 0, IDGEN_RETRIES);

    const claimOne = async (p: NewPrefix): Promise<AddressRecord | undefined> => {
      const candidates = addressCandidate(keys, p.pi.prefix, p.pi.prefixLength);
      const candidate = (n: number): IPv6 => candidates(n + base);
      let made: AddressRecord | undefined;
      try {
        const claim = await claimAddress({
          candidate,
          probe: (a) => nd.probe(a, retransMs),
          mode: 'strict',
          retries: d.iid ? 0 : IDGEN_RETRIES - base,
          withdraw: () => undefined, // strict: nothing is installed before DAD says unique
          install: async (address, counter) => {
            const r = await step(
              from.id,
              deps,
              (s) => {
                const limits = opts.limits ?? s.record.limits ?? DEFAULT_LIMITS;
                const prefixes = new Set(s.record.addresses.map((a) => a.prefix));
                if (prefixes.has(p.prefix)) throw new Skip(`${p.prefix} has an address already`);
                if (prefixes.size >= limits.maxPrefixes) throw new Skip(`${p.prefix} beyond max_prefixes = ${limits.maxPrefixes} not used`);
                const now = deps.clock();
                if (p.validUntil !== null && p.validUntil <= now) throw new Skip(`${p.prefix} ran out during DAD`);
                const deprecated = p.preferredUntil !== null && p.preferredUntil <= now;
                installAddress(s.ctx, place, address, p.pi.prefixLength, { validLifetime: Math.max(1, secondsLeft(p.validUntil, now)), preferredLifetime: deprecated ? 0 : secondsLeft(p.preferredUntil, now) });
                made = {
                  address: formatIPv6(address),
                  prefix: p.prefix,
                  prefixLength: p.pi.prefixLength,
                  dadCounter: d.iid ? null : base + counter,
                  validLifetime: toLifetime(p.pi.validLifetime),
                  preferredLifetime: toLifetime(p.pi.preferredLifetime),
                  dad: 'verified',
                  validUntil: p.validUntil,
                  preferredUntil: p.preferredUntil,
                  state: deprecated ? 'deprecated' : 'preferred',
                };
                s.record.addresses.push(made);
              },
              from,
            );
            if (r === GONE) throw new Skip(`container ${from.id} was detached meanwhile`);
          },
        });
        for (const a of claim.attempts.filter((x) => x.verdict === 'duplicate')) log.warn(`${from.id}: DAD: ${formatIPv6(a.address)} is in use (${a.evidence ?? 'duplicate'}); trying the next`);
        return made;
      } catch (err) {
        if (err instanceof Skip) log.info(`${from.id}: renumbering: ${err.message}`);
        else log.error(`${from.id}: renumbering: no address on ${p.prefix}: ${oneLine(err)}`);
        return undefined;
      }
    };

    // Every claim settles before anything else happens: none may act after the handle closes.
    const added = (await settleAll(mine.map(claimOne))).filter((a): a is AddressRecord => a !== undefined);
    if (added.length === 0) return [];
    // Proven ours: announce them (unsolicited NA with Override, RFC 4861 §7.2.6), as attach does.
    try {
      nd.announce(added.map((a) => parseIPv6(a.address)));
    } catch (err) {
      log.warn(`${from.id}: unsolicited NA on ${nd.vantage.ifname}: ${oneLine(err)}`);
    }
    const changes = added.map((a) => `${a.address} added in ${a.prefix} (DAD: unique; valid ${describe(a.validUntil ?? null, deps)} preferred ${describe(a.preferredUntil ?? null, deps)})`);
    const published = await step(from.id, deps, (s) => republishDns(s, deps), from);
    return published === GONE ? GONE : [...changes, ...published];
  } finally {
    for (const p of mine) claiming.delete(`${from.id} ${p.prefix}`);
    container.close();
  }
}

const describe = (until: number | null, deps: PipelineDeps): string => (until === null ? 'forever' : `${Math.max(0, Math.round((until - deps.clock()) / 1000))} s`);
