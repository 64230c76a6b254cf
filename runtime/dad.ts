/**
 * Duplicate Address Detection, done by us rather than the kernel (RFC 4862 §5.4, RFC 7527).
 *
 * We send `transmits` Neighbor Solicitations from `::` to the target's solicited-node group,
 * RetransTimer apart, each with a fresh nonce, and listen until RetransTimer after the last one.
 * The address is a duplicate when (§5.4.3, §5.4.4):
 *   - a Neighbor Advertisement for the target arrives, or
 *   - a Neighbor Solicitation for the target arrives from `::` that is not one of ours (its
 *     nonce differs, or it has none): another node is probing the same address.
 * An NS for the target from a unicast source is address resolution, not a conflict.
 * Our own NS looped back carries our nonce and is ignored (RFC 7527 §4.2).
 */
import { randomBytes } from 'node:crypto';
import { UNSPECIFIED, formatIPv6, formatMac, isUnspecified, sameAddress, solicitedNode, type IPv6 } from './ipv6';
import { isLinkNotReady, LINK_NOT_READY_RETRY_MS, type NdSocket, type ReceivedNd } from './ndp/socket';
import type { NdOption } from './ndp/types';

export interface DadOptions {
  target: IPv6;
  /** DupAddrDetectTransmits (RFC 4862 §5.1); default 1. */
  transmits?: number;
  /** RetransTimer in ms (RFC 4861 §10: 1000 unless the RA says otherwise). */
  retransMs?: number;
}

export interface DadResult {
  address: IPv6;
  verdict: 'unique' | 'duplicate';
  /** What showed the duplicate: "NA from fe80::1 at 02:.." or "DAD NS for the same address from another node". */
  evidence?: string;
  elapsedMs: number;
  sent: number;
}

export const DEFAULT_RETRANS_MS = 1000;
/** How long a link that was just brought up may take to accept our first probe. */
const LINK_READY_LIMIT_MS = 3000;

function nonceOf(options: NdOption[]): Buffer | undefined {
  for (const o of options) if (o.type === 'nonce') return o.nonce;
  return undefined;
}

function conflictIn(packet: ReceivedNd, target: IPv6, ourNonces: Buffer[]): string | undefined {
  if (!packet.result.ok) return undefined;
  const m = packet.result.message;
  if (m.type === 'neighbor-advertisement' && sameAddress(m.target, target)) {
    const tlla = m.options.find((o) => o.type === 'target-link-layer-address');
    const mac = tlla && tlla.type === 'target-link-layer-address' ? ` at ${formatMac(tlla.address)}` : '';
    return `NA from ${formatIPv6(packet.meta.source)}${mac}`;
  }
  if (m.type === 'neighbor-solicitation' && sameAddress(m.target, target) && isUnspecified(packet.meta.source)) {
    const nonce = nonceOf(m.options);
    if (nonce && ourNonces.some((n) => n.equals(nonce))) return undefined; // our own, looped back
    return 'DAD NS for the same address from another node';
  }
  return undefined;
}

/** Probe `target` on the socket's link. Resolves with the verdict; rejects only on socket errors. */
export function detectDuplicate(sock: NdSocket, opts: DadOptions): Promise<DadResult> {
  const transmits = Math.max(1, opts.transmits ?? 1);
  const retransMs = opts.retransMs && opts.retransMs > 0 ? opts.retransMs : DEFAULT_RETRANS_MS;
  const target = opts.target;
  const group = solicitedNode(target);
  const nonces: Buffer[] = [];
  const start = performance.now();
  sock.joinGroup(group);

  return new Promise<DadResult>((resolve, reject) => {
    let timer: NodeJS.Timeout | undefined;
    const finish = (verdict: DadResult['verdict'], evidence?: string, err?: Error): void => {
      clearTimeout(timer);
      sock.stopListening();
      if (err) return reject(err);
      resolve({ address: target, verdict, evidence, elapsedMs: performance.now() - start, sent: nonces.length });
    };
    sock.listen((packets) => {
      for (const p of packets) {
        const evidence = conflictIn(p, target, nonces);
        if (evidence) return finish('duplicate', evidence);
      }
    });
    const probe = (): void => {
      if (nonces.length === transmits) return finish('unique');
      const nonce = randomBytes(6);
      try {
        sock.send({ type: 'neighbor-solicitation', target, options: [{ type: 'nonce', nonce }] }, UNSPECIFIED, group);
      } catch (err) {
        if (!isLinkNotReady(err) || performance.now() - start > LINK_READY_LIMIT_MS) return finish('duplicate', undefined, err as Error);
        timer = setTimeout(probe, LINK_NOT_READY_RETRY_MS); // the link just came up
        return;
      }
      nonces.push(nonce);
      timer = setTimeout(probe, retransMs);
    };
    probe();
  });
}

export type DadMode = 'strict' | 'optimistic';

export interface ClaimOptions {
  /** The address to try for a DAD counter (RFC 7217 §5: the counter changes the IID). */
  candidate: (dadCounter: number) => IPv6;
  probe: (address: IPv6) => Promise<DadResult>;
  mode: DadMode;
  /** Strict: called once DAD said unique. Optimistic (RFC 4429): called before DAD completes. */
  install: (address: IPv6, dadCounter: number) => void | Promise<void>;
  /** Optimistic only: take back an address DAD found duplicate. */
  withdraw: (address: IPv6) => void | Promise<void>;
  /** Extra attempts after the first (RFC 7217 §6 IDGEN_RETRIES = 3). */
  retries: number;
}

export interface ClaimResult {
  address: IPv6;
  dadCounter: number;
  attempts: DadResult[];
}

export class DadFailedError extends Error {
  override name = 'DadFailedError';
  constructor(readonly attempts: DadResult[]) {
    super(
      `duplicate address detection failed ${attempts.length} times: ` +
        attempts.map((a) => `${formatIPv6(a.address)} (${a.evidence ?? 'duplicate'})`).join(', '),
    );
  }
}

/** Find an address DAD accepts, moving to the next DAD counter on each conflict. */
export async function claimAddress(opts: ClaimOptions): Promise<ClaimResult> {
  const attempts: DadResult[] = [];
  for (let counter = 0; counter <= opts.retries; counter++) {
    const address = opts.candidate(counter);
    if (opts.mode === 'optimistic') await opts.install(address, counter);
    const result = await opts.probe(address);
    attempts.push(result);
    if (result.verdict === 'unique') {
      if (opts.mode === 'strict') await opts.install(address, counter);
      return { address, dadCounter: counter, attempts };
    }
    if (opts.mode === 'optimistic') await opts.withdraw(address);
  }
  throw new DadFailedError(attempts);
}
