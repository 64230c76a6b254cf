/**
 * Router discovery as a client object (RFC 4861 §6.3.7 with RFC 7559's retransmission backoff),
 * shaped after systemd's sd-ndisc: the transport (socket.ts: raw ICMPv6, each packet stamped on
 * CLOCK_BOOTTIME) receives, the codec (wire/ndp/codec.ts) parses and applies RFC 4861's validity
 * checks, and this state machine solicits and reports typed events:
 *
 * - `ra`      every valid Router Advertisement, for as long as the client runs (not only the first);
 * - `dropped` every packet that failed validation, with the reason;
 * - `error`   a send failure in a retransmission (the schedule goes on). With no `error` listener
 *             the EventEmitter convention applies: it is thrown.
 *
 * start() listens and sends the first RS at once (RFC 4861's random initial delay is not taken: a
 * container start is waiting). Retransmissions follow RFC 7559: RT = IRT + RAND×IRT, then
 * RT = 2×RTprev + RAND×RTprev, at most MRT + RAND×MRT, with RAND in [-0.1, +0.1] and no limit on
 * their number; the first RA ends them, and the client keeps listening until stop(). solicit()
 * starts a new round (the agent re-solicits before lifetimes run out).
 *
 * firstAdvertisement() is the one-shot use: start, wait for one RA within a deadline, stop.
 * gatherAdvertisements() is the attach's: every RA heard until one is usable (gives an address),
 * soliciting on meanwhile, so that a router with nothing to offer cannot end the search.
 */
import { EventEmitter } from 'node:events';
import { TimeoutError } from '../../core/errors';
import { ALL_ROUTERS, UNSPECIFIED, formatIPv6, isUnspecified, type IPv6 } from '../../core/ipv6';
import type { NdMessage, NdOption, RouterAdvertisement } from '../../core/nd-types';
import type { HeardRa } from '../../core/plan';
import { systemClock, type Clock, type Timer } from '../clock';
import { isLinkNotReady, LINK_NOT_READY_RETRY_MS, type ReceivedNd } from './socket';

/** What the client needs of a socket (NdSocket has it); tests stand in their own. */
export interface NdTransport {
  readonly ifname: string;
  /** Send one ND message from `source` to `destination`; throws errno errors. */
  send(message: NdMessage, source: IPv6, destination: IPv6): unknown;
  /** Deliver received packets (validated, `bootAt`-stamped) until stopListening(). */
  listen(onPackets: (packets: ReceivedNd[]) => void): void;
  stopListening(): void;
}

/** RFC 7559 §2: MAX_RTR_SOLICITATION_INTERVAL, the cap on the retransmission interval. */
export const MAX_RTR_SOLICITATION_INTERVAL_MS = 3_600_000;
/** The first retransmission interval when none is given (RFC 7559's IRT is 4 s; we are in a hurry). */
export const DEFAULT_RETRANSMIT_MS = 1000;

export interface NdClientOptions {
  transport: NdTransport;
  /** Source of our RS: a usable link-local address, or `::` (the default; then no SLLA, RFC 4861 §4.1). */
  source?: IPv6;
  /** Our link-layer address, sent as SLLA in every RS whose source is not `::`. */
  mac?: Buffer;
  /**
   * Source of the retransmissions, when not `source`. An RS from a link-local address without
   * SLLA is answered by unicast to whatever MAC the router has cached for that address — a stale
   * one if the same address was on another MAC before (the same container name on another link
   * kind). An RS from `::` is answered by multicast, whatever the router's cache holds.
   */
  retransmitSource?: IPv6;
  /** RFC 7559 IRT: the first retransmission after about this many ms, then doubling. */
  retransmitMs?: number;
  /** RFC 7559 MRT: the cap on the interval (default MAX_RTR_SOLICITATION_INTERVAL, 3600 s). */
  maxRetransmitMs?: number;
  /** RFC 7559 RAND, uniform in [-0.1, +0.1]; `() => 0` gives exact doubling. */
  random?: () => number;
  /** Default: the system clock (CLOCK_BOOTTIME, Node timers). */
  clock?: Clock;
  /**
   * Whether an RA ends this round's retransmissions (default: every RA does). The attach passes
   * "has a usable prefix": an RA without one is reported, and the RSs go on (RFC 7559's schedule)
   * until one with a prefix comes — from another router, or from the same one reconfigured.
   */
  endsSolicitation?: (ra: RouterAdvertisement) => boolean;
}

export interface RaEvent {
  /** The RA's source: the router's link-local address. */
  router: IPv6;
  advertisement: RouterAdvertisement;
  /** When the transport received it, ms on CLOCK_BOOTTIME (the packet's `bootAt`). */
  receivedAt: number;
  /** RSs sent since start(), this one's answer included. */
  solicitations: number;
  /** Options the codec skipped as malformed (the RA itself is valid). */
  ignoredOptions: string[];
}

export interface DroppedEvent {
  source: IPv6;
  reason: string;
  receivedAt: number;
}

export interface NdClientEvents {
  ra: [event: RaEvent];
  dropped: [event: DroppedEvent];
  error: [error: Error];
}

/** idle: never started; soliciting: RSs going out; listening: an RA came, no more RSs; stopped. */
export type NdClientState = 'idle' | 'soliciting' | 'listening' | 'stopped';

export class NdClient extends EventEmitter<NdClientEvents> {
  readonly clock: Clock;
  private readonly transport: NdTransport;
  private readonly source: IPv6;
  private readonly mac: Buffer | undefined;
  private readonly retransmitSource: IPv6 | undefined;
  private readonly retransmitMs: number;
  private readonly maxRetransmitMs: number;
  private readonly random: () => number;
  private readonly endsSolicitation: (ra: RouterAdvertisement) => boolean;
  private current: NdClientState = 'idle';
  private timer: Timer | undefined;
  /** The interval last armed in this round; undefined before its first retransmission. */
  private interval: number | undefined;
  private roundSent = 0;
  private sent = 0;

  constructor(opts: NdClientOptions) {
    super();
    this.transport = opts.transport;
    this.source = opts.source ?? UNSPECIFIED;
    this.mac = opts.mac;
    this.retransmitSource = opts.retransmitSource;
    this.retransmitMs = opts.retransmitMs ?? DEFAULT_RETRANSMIT_MS;
    this.maxRetransmitMs = opts.maxRetransmitMs ?? MAX_RTR_SOLICITATION_INTERVAL_MS;
    this.random = opts.random ?? (() => Math.random() * 0.2 - 0.1);
    this.clock = opts.clock ?? systemClock;
    this.endsSolicitation = opts.endsSolicitation ?? (() => true);
    if (!(this.retransmitMs > 0) || !(this.maxRetransmitMs >= this.retransmitMs)) {
      throw new RangeError(`retransmit interval ${this.retransmitMs} ms must be > 0 and at most the cap ${this.maxRetransmitMs} ms`);
    }
  }

  get ifname(): string {
    return this.transport.ifname;
  }

  get state(): NdClientState {
    return this.current;
  }

  get running(): boolean {
    return this.current === 'soliciting' || this.current === 'listening';
  }

  /** RSs sent since the last start(). */
  get solicitations(): number {
    return this.sent;
  }

  /**
   * Listen, and send the first RS now. A no-op while running; after stop() it starts afresh. A
   * send failure other than "link not ready yet" (retried every LINK_NOT_READY_RETRY_MS) is
   * thrown, with the client stopped.
   */
  start(): void {
    if (this.running) return;
    this.sent = 0;
    this.current = 'soliciting';
    try {
      this.transport.listen((packets) => this.receive(packets));
      this.beginRound();
    } catch (err) {
      this.stop();
      throw err;
    }
  }

  /**
   * A new round of solicitation: an RS now, then retransmissions with backoff from the first
   * interval until the next RA. Throws, as start() does, when this RS cannot be sent; the client
   * keeps running (and listening) then.
   */
  solicit(): void {
    if (!this.running) throw new Error(`ND client on ${this.ifname}: solicit() while ${this.current}`);
    this.current = 'soliciting';
    this.beginRound();
  }

  /** Cancel every timer and stop listening. Idempotent. */
  stop(): void {
    this.cancelTimer();
    if (this.running) this.transport.stopListening();
    if (this.current !== 'idle') this.current = 'stopped';
  }

  private beginRound(): void {
    this.cancelTimer();
    this.interval = undefined;
    this.roundSent = 0;
    this.transmit();
  }

  /** Send this round's next RS and arm the following one; throws what send throws. */
  private transmit(): void {
    const from = this.roundSent > 0 && this.retransmitSource ? this.retransmitSource : this.source;
    const options: NdOption[] = this.mac && !isUnspecified(from) ? [{ type: 'source-link-layer-address', address: this.mac }] : [];
    try {
      this.transport.send({ type: 'router-solicitation', options }, from, ALL_ROUTERS);
    } catch (err) {
      if (!isLinkNotReady(err)) {
        this.armNext(); // the schedule goes on; the caller hears of it
        throw err;
      }
      this.arm(LINK_NOT_READY_RETRY_MS); // the link just came up: try again shortly
      return;
    }
    this.roundSent++;
    this.sent++;
    this.armNext();
  }

  /** RFC 7559 §2 (the RFC 3315 §14 algorithm): the next retransmission's interval. */
  private armNext(): void {
    const rand = this.random();
    const prev = this.interval;
    let rt = prev === undefined ? this.retransmitMs * (1 + rand) : prev * (2 + rand);
    if (rt > this.maxRetransmitMs) rt = this.maxRetransmitMs * (1 + rand);
    this.interval = rt;
    this.arm(rt);
  }

  private arm(ms: number): void {
    this.cancelTimer();
    this.timer = this.clock.setTimer(ms, () => {
      this.timer = undefined;
      if (this.current !== 'soliciting') return;
      try {
        this.transmit();
      } catch (err) {
        this.emit('error', err instanceof Error ? err : new Error(String(err)));
      }
    });
  }

  private cancelTimer(): void {
    this.timer?.cancel();
    this.timer = undefined;
  }

  private receive(packets: ReceivedNd[]): void {
    for (const p of packets) {
      if (!this.running) return; // stopped by a listener meanwhile
      if (!p.result.ok) {
        this.emit('dropped', { source: p.meta.source, reason: p.result.reason, receivedAt: p.bootAt });
        continue;
      }
      const m = p.result.message;
      if (m.type !== 'router-advertisement') {
        this.emit('dropped', { source: p.meta.source, reason: `a ${m.type}, not a router advertisement`, receivedAt: p.bootAt });
        continue;
      }
      if (this.current === 'soliciting' && this.endsSolicitation(m)) {
        this.cancelTimer();
        this.current = 'listening';
      }
      this.emit('ra', { router: p.meta.source, advertisement: m, receivedAt: p.bootAt, solicitations: this.sent, ignoredOptions: p.result.ignoredOptions });
    }
  }
}

export interface DiscoveredRouter {
  router: IPv6;
  advertisement: RouterAdvertisement;
  /** ms from firstAdvertisement() (the first RS, when it started the client) to the RA. */
  elapsedMs: number;
  /** When the RA was received, ms on CLOCK_BOOTTIME: what its lifetimes count from. */
  receivedAt: number;
  solicitations: number;
  /** Why other packets seen meanwhile were dropped (for logs). */
  dropped: string[];
  /**
   * gatherAdvertisements(): every valid RA heard, in order, this one included — to be merged
   * (core/plan.ts planFromAdvertisements). Absent: this RA alone.
   */
  heard?: HeardRa[];
}

/**
 * The next RA the client reports, within `timeoutMs`: starts the client unless running, and stops
 * it when done, whatever the outcome. Rejects with TimeoutError, or with the first send error.
 */
export function firstAdvertisement(client: NdClient, timeoutMs: number): Promise<DiscoveredRouter> {
  return new Promise<DiscoveredRouter>((resolve, reject) => {
    const startedAt = client.clock.now();
    const dropped: string[] = [];
    let done = false;
    let deadline: Timer | undefined;
    const finish = (err: Error | undefined, found?: DiscoveredRouter): void => {
      if (done) return;
      done = true;
      deadline?.cancel();
      client.off('ra', onRa).off('dropped', onDropped).off('error', onError);
      client.stop();
      if (err) reject(err);
      else if (found) resolve(found);
    };
    const onRa = (e: RaEvent): void =>
      finish(undefined, { router: e.router, advertisement: e.advertisement, elapsedMs: e.receivedAt - startedAt, receivedAt: e.receivedAt, solicitations: e.solicitations, dropped });
    const onDropped = (e: DroppedEvent): void => void dropped.push(`from ${formatIPv6(e.source)}: ${e.reason}`);
    const onError = (err: Error): void => finish(err);
    client.on('ra', onRa).on('dropped', onDropped).on('error', onError);
    deadline = client.clock.setTimer(timeoutMs, () =>
      finish(new TimeoutError(`no router advertisement on ${client.ifname} within ${timeoutMs} ms (${client.solicitations} solicitations sent)`)),
    );
    try {
      client.start();
    } catch (err) {
      finish(err instanceof Error ? err : new Error(String(err)));
    }
  });
}

/** gatherAdvertisements keeps at most this many unusable RAs (and dropped-packet notes). */
const MAX_HEARD = 32;
/** …and names at most this many (router, reason) pairs in its error. */
const MAX_REASONS = 8;

/**
 * Every RA the client reports until one is usable (`unusable` says why not, or undefined), within
 * `timeoutMs`: resolves at once with that RA and all heard before it (and with it, in the same
 * receive) — a container start is waiting, so no time is spent listening for more. The client
 * solicits on while no RA is usable (it must be built with the same predicate as
 * `endsSolicitation`), and is stopped when done. Rejects with TimeoutError naming, for each router
 * heard, why its RAs were unusable; or with the first send error.
 */
export function gatherAdvertisements(client: NdClient, timeoutMs: number, unusable: (ra: RouterAdvertisement) => string | undefined): Promise<DiscoveredRouter> {
  return new Promise<DiscoveredRouter>((resolve, reject) => {
    const startedAt = client.clock.now();
    const dropped: string[] = [];
    const heard: HeardRa[] = [];
    const why = new Map<string, { router: string; reason: string; count: number }>();
    let found: RaEvent | undefined;
    let more = 0;
    let done = false;
    const finish = (err: Error | undefined): void => {
      if (done) return;
      done = true;
      deadline.cancel();
      client.off('ra', onRa).off('dropped', onDropped).off('error', onError);
      client.stop();
      if (err) return reject(err);
      if (found) {
        const e = found;
        resolve({ router: e.router, advertisement: e.advertisement, elapsedMs: e.receivedAt - startedAt, receivedAt: e.receivedAt, solicitations: e.solicitations, dropped, heard });
      }
    };
    const onRa = (e: RaEvent): void => {
      const reason = unusable(e.advertisement);
      // A flood of RAs must not grow without bound: the first ones and every usable one are kept.
      if (reason === undefined || heard.length < MAX_HEARD) heard.push({ router: e.router, advertisement: e.advertisement, receivedAt: e.receivedAt });
      if (reason === undefined) {
        found ??= e;
        // RAs of the same receive are delivered synchronously after this one: take them too.
        queueMicrotask(() => finish(undefined));
        return;
      }
      const router = formatIPv6(e.router);
      const key = `${router} ${reason}`;
      const seen = why.get(key);
      if (seen) seen.count++;
      else if (why.size < MAX_HEARD) why.set(key, { router, reason, count: 1 });
      else more++;
    };
    const onDropped = (e: DroppedEvent): void => {
      if (dropped.length < MAX_HEARD) dropped.push(`from ${formatIPv6(e.source)}: ${e.reason}`);
    };
    const onError = (err: Error): void => finish(err);
    client.on('ra', onRa).on('dropped', onDropped).on('error', onError);
    const deadline = client.clock.setTimer(timeoutMs, () => {
      const base = `within ${timeoutMs} ms (${client.solicitations} solicitations sent)`;
      if (why.size === 0) return finish(new TimeoutError(`no router advertisement on ${client.ifname} ${base}`));
      const each = [...why.values()].slice(0, MAX_REASONS).map((w) => `${w.router}${w.count > 1 ? ` (${w.count} RAs)` : ''}: ${w.reason}`);
      const rest = why.size - Math.min(why.size, MAX_REASONS) + more;
      if (rest > 0) each.push(`${rest} more`);
      finish(new TimeoutError(`no router advertisement with a prefix usable for SLAAC on ${client.ifname} ${base}; heard ${each.join('; ')}`));
    });
    try {
      client.start();
    } catch (err) {
      finish(err instanceof Error ? err : new Error(String(err)));
    }
  });
}
