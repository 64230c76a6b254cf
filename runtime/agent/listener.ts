/**
 * One RA listener per parent NIC, in the host netns: a macvlan lower device and an ipvlan master
 * hear the RAs the link multicasts. An NdClient on the parent (its socket ICMPv6-filtered to RAs;
 * the codec drops anything whose hop limit is not 255 or whose source is not link-local) keeps, per
 * router, the last RA (its canonical bytes) and when it came (CLOCK_BOOTTIME ms).
 *
 * An RA byte-identical to the router's previous one only moves its receipt time (one Buffer
 * compare). Before anything in a router's last RA runs out — its router lifetime, a prefix's
 * valid or preferred lifetime, a route's, an RDNSS/DNSSL lifetime — with no RA since, the listener
 * solicits (NetworkManager's pre-expiry RS, nm-ndisc.c): a router that answers only solicitations
 * is followed too. A router whose every lifetime has run out is forgotten.
 */
import { EventEmitter } from 'node:events';
import { ALL_NODES, formatIPv6 } from '../core/ipv6';
import type { RouterAdvertisement } from '../core/nd-types';
import type { HeardRa } from '../core/plan';
import { INFINITE_LIFETIME } from '../core/lifetime';
import type { Clock, Timer } from '../system/clock';
import { NdClient, type NdTransport, type RaEvent } from '../system/nd/client';
import { encodeNd } from '../wire/ndp/codec';
import type { CachedRa } from '../wire/agent-protocol';

export interface RouterEntry {
  router: string;
  advertisement: RouterAdvertisement;
  /** The RA's ICMPv6 bytes as we re-encode them (canonical: the same RA, the same bytes; checksum for ff02::1). */
  bytes: Buffer;
  receivedAt: number;
  /** RAs heard from this router, and how many of them were identical to the one before. */
  heard: number;
  unchanged: number;
}

export interface ListenerEvents {
  /** A valid RA; `changed` is false when it is byte-identical to the router's previous one. */
  ra: [heard: HeardRa, changed: boolean];
  /** A one-line note for the agent's log (dropped packets, solicitations, routers forgotten). */
  note: [line: string];
}

/** Lifetimes (seconds) in an RA after which something of it has run out; 0 and infinite are not deadlines. */
export function raLifetimes(ra: RouterAdvertisement): number[] {
  const out: number[] = [];
  const add = (s: number): void => {
    if (s > 0 && s !== INFINITE_LIFETIME) out.push(s);
  };
  add(ra.routerLifetime);
  for (const o of ra.options) {
    if (o.type === 'prefix-information') {
      add(o.validLifetime);
      add(o.preferredLifetime);
    } else if (o.type === 'route-information' || o.type === 'rdnss' || o.type === 'dnssl') add(o.lifetime);
  }
  return out;
}

/** When the last of an RA's lifetimes runs out (ms on its clock); Infinity when one is infinite or none finite and nonzero exists… see below. */
export function raEnd(ra: RouterAdvertisement, receivedAt: number): number {
  const all = [ra.routerLifetime, ...ra.options.flatMap((o) => (o.type === 'prefix-information' ? [o.validLifetime] : o.type === 'route-information' || o.type === 'rdnss' || o.type === 'dnssl' ? [o.lifetime] : []))];
  if (all.some((s) => s === INFINITE_LIFETIME)) return Infinity;
  return receivedAt + Math.max(0, ...all) * 1000;
}

/**
 * Fresh for the RA cache: younger than `maxAgeMs` and none of its lifetimes that matter to a
 * container run out — the router lifetime if nonzero, each PIO's valid lifetime.
 */
export function isFresh(e: Pick<RouterEntry, 'advertisement' | 'receivedAt'>, now: number, maxAgeMs: number): boolean {
  const age = now - e.receivedAt;
  if (age < 0 || age > maxAgeMs) return false;
  const ra = e.advertisement;
  const runOut = (s: number): boolean => s !== INFINITE_LIFETIME && age >= s * 1000;
  if (ra.routerLifetime > 0 && runOut(ra.routerLifetime)) return false;
  return !ra.options.some((o) => o.type === 'prefix-information' && runOut(o.validLifetime));
}

/** When to solicit before a lifetime of `seconds` counted from `receivedAt` runs out: a tenth of it early, 1..60 s. */
export function preExpiryAt(receivedAt: number, seconds: number): number {
  const ms = seconds * 1000;
  return receivedAt + ms - Math.min(Math.max(ms / 10, 1000), 60_000, ms);
}

export class ParentListener extends EventEmitter<ListenerEvents> {
  readonly routers = new Map<string, RouterEntry>();
  readonly counters = { ras: 0, unchanged: 0, dropped: 0, solicitations: 0 };
  private readonly client: NdClient;
  private solicitTimer: Timer | undefined;
  private solicitAt: number | undefined;
  private stopped = false;

  /**
   * `ifindex`: the parent's interface index when the socket was bound (the agent restarts the
   * listener when the NIC is gone or re-created with another index); undefined in tests.
   */
  constructor(
    readonly parent: string,
    private readonly transport: NdTransport & { close?(): void },
    private readonly clock: Clock,
    readonly ifindex?: number,
  ) {
    super();
    // RSs from `::` (no SLLA): the router answers by multicast, which every container's listener hears.
    this.client = new NdClient({ transport, clock, retransmitMs: 4000, maxRetransmitMs: 600_000 });
    this.client.on('ra', (e) => this.onRa(e));
    this.client.on('dropped', (e) => {
      this.counters.dropped++;
      this.emit('note', `${parent}: dropped a packet from ${formatIPv6(e.source)}: ${e.reason}`);
    });
    this.client.on('error', (err) => this.emit('note', `${parent}: router solicitation failed: ${err.message}`));
  }

  /** Listen, and solicit once now (the routers' current RAs, without waiting for their interval). */
  start(): void {
    this.client.start();
  }

  stop(): void {
    this.stopped = true;
    this.solicitTimer?.cancel();
    this.solicitTimer = undefined;
    this.client.stop();
    this.transport.close?.();
  }

  /** Every router's last RA that is fresh (see isFresh), for the control protocol's `ra`. */
  fresh(now: number, maxAgeMs: number): CachedRa[] {
    return [...this.routers.values()].filter((e) => isFresh(e, now, maxAgeMs)).map((e) => ({ router: e.router, receivedAt: e.receivedAt, icmp: e.bytes.toString('base64') }));
  }

  private onRa(e: RaEvent): void {
    const router = formatIPv6(e.router);
    const bytes = encodeNd(e.advertisement, { source: e.router, destination: ALL_NODES });
    const before = this.routers.get(router);
    const changed = !before || !before.bytes.equals(bytes);
    this.counters.ras++;
    if (!changed) this.counters.unchanged++;
    if (before && !changed) {
      before.receivedAt = e.receivedAt;
      before.heard++;
      before.unchanged++;
    } else {
      this.routers.set(router, { router, advertisement: e.advertisement, bytes, receivedAt: e.receivedAt, heard: (before?.heard ?? 0) + 1, unchanged: before?.unchanged ?? 0 });
    }
    this.schedule();
    this.emit('ra', { router: e.router, advertisement: e.advertisement, receivedAt: e.receivedAt }, changed);
  }

  /** Arm the one pre-expiry timer at the earliest solicitation time of all routers; forget routers run out. */
  private schedule(): void {
    if (this.stopped) return;
    const now = this.clock.now();
    let earliest = Infinity;
    for (const [key, e] of this.routers) {
      if (raEnd(e.advertisement, e.receivedAt) <= now) {
        this.routers.delete(key);
        this.emit('note', `${this.parent}: router ${key} forgotten: everything in its last RA has run out`);
        continue;
      }
      for (const s of raLifetimes(e.advertisement)) {
        const at = preExpiryAt(e.receivedAt, s);
        if (at > now && at < earliest) earliest = at;
      }
    }
    if (earliest === this.solicitAt) return;
    this.solicitTimer?.cancel();
    this.solicitTimer = undefined;
    this.solicitAt = undefined;
    if (earliest === Infinity) return;
    this.solicitAt = earliest;
    // Node's timers take at most 2^31-1 ms: a later deadline is re-armed on the way.
    const delay = Math.min(earliest - now, 3_600_000);
    this.solicitTimer = this.clock.setTimer(delay, () => {
      this.solicitTimer = undefined;
      this.solicitAt = undefined;
      if (this.stopped) return;
      if (this.clock.now() + 1 >= earliest) this.preExpirySolicit();
      this.schedule();
    });
  }

  private preExpirySolicit(): void {
    // Only if no RA came meanwhile that moved the deadline: schedule() re-arms on every RA.
    this.counters.solicitations++;
    this.emit('note', `${this.parent}: soliciting: a router's RA runs out soon and no new one came`);
    try {
      this.client.solicit();
    } catch (err) {
      this.emit('note', `${this.parent}: router solicitation failed: ${(err as Error).message}`);
    }
  }
}
