/**
 * Keeping a container's addresses and routes alive after attach (the agent's work, issue 11):
 * every RA heard on its parent refreshes its addresses' lifetimes (RFC 4862 §5.5.3 e), its default
 * route (router lifetime; 0 → gone), Route Information routes, MTU, RDNSS/DNSSL; a new autonomous
 * prefix gives it a new DAD-proven address (renumbering); whatever runs out is removed at its
 * deadline. Under the container's lock, on the record as stored (re-read), changes recorded in
 * its ledger like attach's.
 *
 * STUB: signatures fixed for the agent (runtime/agent) — implemented by the refresh work.
 */
import type { ContainerRecord } from '../core/record';
import type { HeardRa } from '../core/plan';
import type { PipelineDeps } from './deps';

export interface RefreshResult {
  /** One line per change made ("2001:db8::1 valid 120 s preferred 60 s", "default via fe80::1 removed"), for the agent's log. */
  changes: string[];
  /** The container's next deadline (CLOCK_BOOTTIME ms) after this refresh; null when nothing of it expires. */
  nextDeadline: number | null;
  /** The record is gone (detached meanwhile) or its netns is: the agent forgets it (GC handles leftovers). */
  gone: boolean;
}

/** Apply one RA (from a router on the container's parent) to a container. */
export async function refreshContainer(id: string, heard: HeardRa, deps: PipelineDeps): Promise<RefreshResult> {
  void id;
  void heard;
  void deps;
  return { changes: [], nextDeadline: null, gone: false };
}

/** Remove what has run out at `now` (CLOCK_BOOTTIME ms): addresses, routes, routers, DNS servers. */
export async function expireContainer(id: string, now: number, deps: PipelineDeps): Promise<RefreshResult> {
  void id;
  void now;
  void deps;
  return { changes: [], nextDeadline: null, gone: false };
}

/** The earliest deadline of a record (CLOCK_BOOTTIME ms), null when none. */
export function nextDeadline(record: ContainerRecord): number | null {
  void record;
  return null;
}
