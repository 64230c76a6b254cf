/**
 * Undo, driven by the ledger: each effect kind's undo, with "already gone" counted as undone
 * (ENOENT, ESRCH, ENODEV, EADDRNOTAVAIL — and a container netns that no longer exists, which took
 * the link, its addresses and routes with it).
 */
import { formatIPv6, type IPv6 } from '../core/ipv6';
import { removeUnlessGone } from '../core/errors';
import type { Effect } from '../core/record';
import { undoAddress } from './address';
import type { OpContext } from './context';
import { undoDns } from './dns-records';
import { undoFirewall } from './firewall';
import { undoHostRoute } from './host-link';
import { undoReach, undoTable } from './l3-reach';
import { undoLink } from './link';
import { undoRoute } from './route';

type KernelEffect = Exclude<Effect, { kind: 'dns' }>;
type DnsEffect = Extract<Effect, { kind: 'dns' }>;

function undoSync(ctx: OpContext, e: KernelEffect): void {
  switch (e.kind) {
    case 'link':
      return undoLink(ctx, e);
    case 'address':
      return undoAddress(ctx, e);
    case 'route':
      return undoRoute(ctx, e);
    case 'l3-table':
      return undoTable(ctx, e);
    case 'l3-reach':
      return undoReach(ctx, e);
    case 'host-route':
      return undoHostRoute(ctx, e);
    case 'firewall':
      return undoFirewall(ctx, e);
  }
}

/** Undo one kernel effect and forget it; throws (keeping it in the ledger) only when it could not be undone. */
export function undoEffect(ctx: OpContext, e: KernelEffect): void {
  const failure = removeUnlessGone(() => undoSync(ctx, e));
  if (failure) throw new Error(failure);
  ctx.ledger.forget(e);
}

/** Undo the DNS records of the ledger and forget the effect; throws (keeping it) when the server could not be told. */
export async function undoNames(ctx: OpContext): Promise<void> {
  for (const e of ctx.ledger.record.ledger.filter((x): x is DnsEffect => x.kind === 'dns').reverse()) {
    await undoDns(ctx, e);
    ctx.ledger.forget(e);
  }
}

/**
 * Replay the kernel's effects of the ledger in reverse (synchronously: callers hold the parent's
 * lock throughout). Every effect is tried; those that could not be undone stay in the ledger (for
 * the next attempt) and their failures are returned.
 */
export function undoKernelEffects(ctx: OpContext): string[] {
  const failures: string[] = [];
  for (const e of [...ctx.ledger.record.ledger].reverse()) {
    if (e.kind === 'dns') continue;
    try {
      undoEffect(ctx, e);
    } catch (err) {
      failures.push(`undo ${e.kind}: ${(err as Error).message}`);
    }
  }
  return failures;
}

/** Withdraw one address and what the host holds for it (the host's part first), forgetting each. */
export function withdrawAddress(ctx: OpContext, address: IPv6): void {
  const text = formatIPv6(address);
  const mine = ctx.ledger.record.ledger.filter((e): e is KernelEffect => (e.kind === 'address' || e.kind === 'l3-reach' || e.kind === 'host-route') && e.address === text);
  for (const e of mine.reverse()) undoEffect(ctx, e);
}
