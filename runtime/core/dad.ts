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
import { formatIPv6, formatMac, isUnspecified, sameAddress, type IPv6 } from './ipv6';
import type { DecodeResult, NdOption } from './nd-types';

export interface DadResult {
  address: IPv6;
  verdict: 'unique' | 'duplicate';
  /** What showed the duplicate: "NA from fe80::1 at 02:.." or "DAD NS for the same address from another node". */
  evidence?: string;
  elapsedMs: number;
  sent: number;
}

export const DEFAULT_RETRANS_MS = 1000;

function nonceOf(options: NdOption[]): Buffer | undefined {
  for (const o of options) if (o.type === 'nonce') return o.nonce;
  return undefined;
}

/** What in this received packet shows `target` is someone else's (undefined: nothing). */
export function conflictIn(packet: { source: IPv6; result: DecodeResult }, target: IPv6, ourNonces: Buffer[]): string | undefined {
  if (!packet.result.ok) return undefined;
  const m = packet.result.message;
  if (m.type === 'neighbor-advertisement' && sameAddress(m.target, target)) {
    const tlla = m.options.find((o) => o.type === 'target-link-layer-address');
    const mac = tlla && tlla.type === 'target-link-layer-address' ? ` at ${formatMac(tlla.address)}` : '';
    return `NA from ${formatIPv6(packet.source)}${mac}`;
  }
  if (m.type === 'neighbor-solicitation' && sameAddress(m.target, target) && isUnspecified(packet.source)) {
    const nonce = nonceOf(m.options);
    if (nonce && ourNonces.some((n) => n.equals(nonce))) return undefined; // our own, looped back
    return 'DAD NS for the same address from another node';
  }
  return undefined;
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
