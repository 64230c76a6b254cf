/**
 * Duplicate Address Detection on the wire (RFC 4862 §5.4, RFC 7527): Neighbor Solicitations from
 * `::` with a nonce, RetransTimer apart; the verdict on what comes back is core/dad.ts's.
 */
import { randomBytes } from 'node:crypto';
import { conflictIn, DEFAULT_RETRANS_MS, type DadResult } from '../../core/dad';
import { UNSPECIFIED, solicitedNode, type IPv6 } from '../../core/ipv6';
import { isLinkNotReady, LINK_NOT_READY_RETRY_MS, type NdSocket } from './socket';

export interface DadOptions {
  target: IPv6;
  /** DupAddrDetectTransmits (RFC 4862 §5.1); default 1. */
  transmits?: number;
  /** RetransTimer in ms (RFC 4861 §10: 1000 unless the RA says otherwise). */
  retransMs?: number;
  /**
   * The link's RetransTimer once an RA gives it, while this run may still be waiting: the wait
   * after the last NS then ends that long after it was sent, and later NSs are spaced by it (RFC
   * 4861 §6.3.2: the host's RetransTimer is the RA's from its receipt on; RFC 4862 §5.4 waits
   * RetransTimer after the last NS).
   */
  retransLater?: Promise<number>;
  /**
   * Ask as a neighbour instead (RFC 4861 §7.2.2 address resolution): the NS from this usable
   * address of ours, with our link-layer address (SLLA), not from `::`. Whoever holds the target
   * answers it — also while the target is Optimistic (RFC 4429 §3.3), when a DAD NS would only make
   * the holder's own DAD fail (RFC 4862 §5.4.3) and bring no answer. For a target that is not ours
   * to claim yet: is it in use on the link (pipeline/attach.ts claimIdentity)?
   */
  asNeighbour?: { source: IPv6; mac: Buffer };
}

/** How long a link that was just brought up may take to accept our first probe. */
const LINK_READY_LIMIT_MS = 3000;

/** Probe `target` on the socket's link. Resolves with the verdict; rejects only on socket errors. */
export function detectDuplicate(sock: NdSocket, opts: DadOptions): Promise<DadResult> {
  const transmits = Math.max(1, opts.transmits ?? 1);
  let retransMs = opts.retransMs && opts.retransMs > 0 ? opts.retransMs : DEFAULT_RETRANS_MS;
  const target = opts.target;
  const group = solicitedNode(target);
  const nonces: Buffer[] = [];
  const start = performance.now();
  sock.joinGroup(group);

  return new Promise<DadResult>((resolve, reject) => {
    let timer: NodeJS.Timeout | undefined;
    let lastSent = 0;
    let done = false;
    const finish = (verdict: DadResult['verdict'], evidence?: string, err?: Error): void => {
      done = true;
      clearTimeout(timer);
      sock.stopListening();
      if (err) return reject(err);
      resolve({ address: target, verdict, evidence, elapsedMs: performance.now() - start, sent: nonces.length });
    };
    sock.listen((packets) => {
      for (const p of packets) {
        const evidence = conflictIn({ source: p.meta.source, result: p.result }, target, nonces);
        if (evidence) return finish('duplicate', evidence);
      }
    });
    const probe = (): void => {
      if (nonces.length === transmits) return finish('unique');
      const nonce = randomBytes(6);
      try {
        const from = opts.asNeighbour;
        if (from) sock.send({ type: 'neighbor-solicitation', target, options: [{ type: 'source-link-layer-address', address: from.mac }] }, from.source, group);
        else sock.send({ type: 'neighbor-solicitation', target, options: [{ type: 'nonce', nonce }] }, UNSPECIFIED, group);
      } catch (err) {
        if (!isLinkNotReady(err) || performance.now() - start > LINK_READY_LIMIT_MS) return finish('duplicate', undefined, err as Error);
        timer = setTimeout(probe, LINK_NOT_READY_RETRY_MS); // the link just came up
        return;
      }
      nonces.push(nonce);
      lastSent = performance.now();
      timer = setTimeout(probe, retransMs);
    };
    probe();
    opts.retransLater?.then(
      (ms) => {
        if (done || !(ms > 0) || ms === retransMs) return;
        retransMs = ms;
        if (nonces.length === 0) return; // still waiting for the link: the first NS is not out yet
        clearTimeout(timer);
        timer = setTimeout(probe, Math.max(0, lastSent + ms - performance.now()));
      },
      () => undefined,
    );
  });
}

