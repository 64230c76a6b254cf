/**
 * Detach a container: replay its ledger in reverse — its DNS records, then what the host holds for
 * it (rules, proxy entries, host routes; the shared l3 table with the last container), then its
 * addresses, routes and link if its netns still exists and is still the container's (a
 * /proc/PID path may by now name another process's; a netns that is gone took them with it).
 * Idempotent: a second detach, or one of a record whose effects are already gone, is a no-op.
 */
import { sameNetnsId } from '../core/netns-id';
import type { ContainerRecord, Effect } from '../core/record';
import type { NetKernel } from '../system/kernel';
import type { ContainerLock } from '../system/lock';
import { Ledger } from '../ops/ledger';
import { findMarkedLink, linkAlias } from '../ops/link';
import { contextFor, replayUndo, type PipelineDeps } from './deps';

/** The container's netns if it still exists and is the same one; undefined otherwise. */
export function reopenNetns(deps: Pick<PipelineDeps, 'openNetns'>, record: ContainerRecord): NetKernel | undefined {
  let k: NetKernel;
  try {
    k = deps.openNetns(record.netns.path);
  } catch {
    return undefined;
  }
  if (sameNetnsId(record.netns.id, k.netns.id)) return k;
  k.close();
  return undefined;
}

/**
 * The ledger a record written before ledgers existed (a container attached by an older hook,
 * running across an upgrade) stands for: its link (by index and name: it has no mark), addresses
 * with their host side, the l3 table, its DNS records — in the order attach made them.
 */
export function legacyLedger(record: ContainerRecord): Effect[] {
  const i = record.interface;
  const l3 = record.l3;
  const hl = record.hostLink;
  return [
    { kind: 'link', alias: linkAlias(record.id), madeAs: '', index: i.index, name: i.name, parentIndex: l3?.parentIndex ?? 0, linkKind: i.kind, mode: i.mode },
    ...(l3 ? [{ kind: 'l3-table' as const, parentIndex: l3.parentIndex, table: l3.table }] : []),
    ...record.addresses.flatMap((a): Effect[] => [
      { kind: 'address', index: i.index, address: a.address, prefixLength: a.prefixLength },
      ...(l3 ? [{ kind: 'l3-reach' as const, parentIndex: l3.parentIndex, table: l3.table, address: a.address }] : []),
      ...(hl ? [{ kind: 'host-route' as const, via: hl.index, linkLocal: hl.linkLocal, address: a.address }] : []),
    ]),
    ...(record.dns ? [{ kind: 'dns' as const, name: record.dns.name }] : []),
  ];
}

export interface DetachResult {
  link: 'deleted' | 'gone';
  /** What could not be undone (kept in the record for a retry). */
  failures: string[];
  /** The record was removed: nothing of ours is left. */
  removed: boolean;
}

/**
 * Under the container's lock, which a background DAD (pipeline/optimistic.ts) takes before each
 * change and then finds the record gone: the record is read again under it (the caller's copy,
 * updated in place, may predate that process's last save).
 */
export function detach(record: ContainerRecord, deps: PipelineDeps): Promise<DetachResult> {
  return deps.withContainerLock(record.id, (lock) => undoRecord(Object.assign(record, deps.store.read(record.id)), deps, lock));
}

async function undoRecord(record: ContainerRecord, deps: PipelineDeps, lock: ContainerLock): Promise<DetachResult> {
  record.ledger ??= legacyLedger(record);
  const container = reopenNetns(deps, record);
  try {
    const ledger = new Ledger(deps.store, record);
    const ctx = contextFor(deps, ledger, container);
    const linkEffect = record.ledger.find((e) => e.kind === 'link');
    const hadLink = linkEffect?.kind === 'link' && findMarkedLink(ctx, linkEffect) !== undefined;
    const failures = await replayUndo(ctx, deps);
    const removed = record.ledger.length === 0;
    if (removed) {
      deps.store.remove(record.id);
      lock.forget();
    } else ledger.save({ durable: true });
    return { link: hadLink ? 'deleted' : 'gone', failures, removed };
  } finally {
    container?.close();
  }
}
