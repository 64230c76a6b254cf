/**
 * @deprecated Use `NdClient` and `firstAdvertisement()` from `./client` (a client object with
 * start/stop, an event per RA and CLOCK_BOOTTIME receive times). Kept only until the pipeline
 * (runtime/pipeline/attach.ts) switches to the client; then this file goes.
 *
 * Router discovery (RFC 4861 §6.3.7): solicit, and take the first valid Router Advertisement.
 *
 * RFC 4861 paces solicitations 4 s apart (RTR_SOLICITATION_INTERVAL) for a host that has all
 * the time in the world; a container start does not, so the interval here is the caller's (RFC
 * 7559 backs retransmission with backoff) and the whole wait is bounded by `timeoutMs`.
 */
import { TimeoutError } from '../../core/errors';
import { ALL_ROUTERS, UNSPECIFIED, formatIPv6, type IPv6 } from '../../core/ipv6';
import { isLinkNotReady, LINK_NOT_READY_RETRY_MS, type NdSocket } from './socket';
import type { RouterAdvertisement } from '../../core/nd-types';

export interface SolicitOptions {
  /** Source of our RS: a usable link-local address, or `::` (then no SLLA option, RFC 4861 §4.1). */
  source?: IPv6;
  /** Our link-layer address, sent as SLLA when the source is not `::`. */
  mac?: Buffer;
  /**
   * Source of the retransmissions, when not `source`. An RS from a link-local address without
   * SLLA is answered by unicast to whatever MAC the router has cached for that address — a stale
   * one if the same address was on another MAC before (the same container name on another link
   * kind). An RS from `::` is answered by multicast, whatever the router's cache holds.
   */
  retransmitSource?: IPv6;
  timeoutMs: number;
  /** First retransmission after this many ms, doubling after each (RFC 7559). */
  retransmitMs?: number;
}

export interface DiscoveredRouter {
  router: IPv6;
  advertisement: RouterAdvertisement;
  /** ms from the first RS to the RA. */
  elapsedMs: number;
  solicitations: number;
  /** Why other packets seen meanwhile were dropped (for logs). */
  dropped: string[];
}

export function solicitRouter(sock: NdSocket, opts: SolicitOptions): Promise<DiscoveredRouter> {
  const source = opts.source ?? UNSPECIFIED;
  const withSlla = opts.mac !== undefined && !source.equals(UNSPECIFIED);
  const start = performance.now();
  const dropped: string[] = [];
  let solicitations = 0;
  let interval = opts.retransmitMs ?? 1000;

  return new Promise<DiscoveredRouter>((resolve, reject) => {
    let retransmit: NodeJS.Timeout | undefined;
    const finish = (err: Error | undefined, found?: DiscoveredRouter): void => {
      clearTimeout(retransmit);
      clearTimeout(deadline);
      sock.stopListening();
      if (err) reject(err);
      else if (found) resolve(found);
    };
    const deadline = setTimeout(
      () => finish(new TimeoutError(`no router advertisement on ${sock.ifname} within ${opts.timeoutMs} ms (${solicitations} solicitations sent)`)),
      opts.timeoutMs,
    );
    sock.listen((packets) => {
      for (const p of packets) {
        if (!p.result.ok) {
          dropped.push(`from ${formatIPv6(p.meta.source)}: ${p.result.reason}`);
          continue;
        }
        const m = p.result.message;
        if (m.type !== 'router-advertisement') continue;
        finish(undefined, { router: p.meta.source, advertisement: m, elapsedMs: p.at - start, solicitations, dropped });
        return;
      }
    });
    const solicit = (): void => {
      const from = solicitations > 0 && opts.retransmitSource ? opts.retransmitSource : source;
      const slla = withSlla && opts.mac && from.equals(source) ? [{ type: 'source-link-layer-address' as const, address: opts.mac }] : [];
      try {
        sock.send({ type: 'router-solicitation', options: slla }, from, ALL_ROUTERS);
        solicitations++;
      } catch (err) {
        if (!isLinkNotReady(err)) return finish(err as Error);
        retransmit = setTimeout(solicit, LINK_NOT_READY_RETRY_MS); // the link just came up
        return;
      }
      retransmit = setTimeout(solicit, interval);
      interval *= 2;
    };
    solicit();
  });
}
