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
 */
import { EventEmitter } from 'node:events';
import { TimeoutError } from '../../core/errors';
import { ALL_ROUTERS, UNSPECIFIED, formatIPv6, isUnspecified, type IPv6 } from '../../core/ipv6';
import type { NdMessage, NdOption, RouterAdvertisement } from '../../core/nd-types';
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
      if (this.current === 'soliciting') {
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
