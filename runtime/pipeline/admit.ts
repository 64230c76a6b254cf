/**
 * Admission: what a container's createRuntime means before anything is made — given this
 * container's record, the records of every other container and the netns it names:
 *
 * - the netns is the host's own (the hook's, init's, the runtime's): refused, whatever path or
 *   pid named it;
 * - this container is attached to this very netns already (createRuntime and prestart both
 *   configured): nothing to do;
 * - its record is for another netns (a restarted container whose old netns died without
 *   poststop) or an attach that never finished: stale — undone, then attached afresh;
 * - another container attached this netns (a podman pod's infra container, `--network
 *   container:X`): a pod is one host on the link — the newcomer joins as a member, sharing the
 *   owner's interface and addresses, and only the owner's stop withdraws them; a netns the CNI
 *   plugin attached is the container's already (its DEL withdraws), and another CNI attachment
 *   is `alongside` (one interface per network, each its own);
 * - another live container holds the same stable name (same MAC, address and DNS label):
 *   refused, naming it; a dead one's leftovers (its process gone, or its hook killed mid-attach
 *   with the link left in a netns that lives on) are undone first.
 */
import { InputError } from '../core/errors';
import { sameLiveNetns, sameNetnsId } from '../core/netns-id';
import type { ContainerRecord, RootlessOwner } from '../core/record';
import type { NetKernel, NetnsRef } from '../system/kernel';
import type { NamedNetns } from '../system/netns';
import { findMarkedLink } from '../ops/link';
import type { PipelineDeps } from './deps';
import { detach, legacyLedger, reopenNetns } from './detach';

export type Admission =
  /** This container holds this netns already (its own record, or the CNI plugin's attachment of it). */
  | { kind: 'attached'; record: ContainerRecord }
  /** It joined the netns container `owner` attached; its member record is written. */
  | { kind: 'joined'; record: ContainerRecord; owner: ContainerRecord }
  /** Attach it (stale records undone); `container` is its netns, open, for attach to take over. */
  | { kind: 'attach'; container: NetKernel };

export interface AdmitRequest {
  id: string;
  /** The stable name (system/container-name.ts). */
  name: string;
  netnsPath: string;
  /** The container's process (OCI state pid), when the runtime gives one. */
  pid?: number;
  /** The netns netnsPath must be ("dev:inode:cookie"): the broker's, from the descriptor it was given; anything else there is refused. */
  expectNetnsId?: string;
  /** Admitted for the rootless broker's user: a pod member's record says so too. */
  rootless?: RootlessOwner;
  /**
   * Other attachments of this netns are neighbours, not a pod to join (the CNI plugin: one
   * interface per network, each its own attachment); only their leftovers are undone.
   */
  alongside?: boolean;
}

/** The host's netns (which of them) that `netnsId` is, if it is one. */
export function hostNetnsOf(netnsId: string, deps: Pick<PipelineDeps, 'hostNamespaces'>): NamedNetns | undefined {
  return deps.hostNamespaces().find((h) => sameLiveNetns(h.id, netnsId));
}

/** Refuse a netns that is one of the host's, named however (a pid, /proc/self/ns/net, /proc/1/ns/net). */
export function refuseHostNetns(netns: NetnsRef, path: string, deps: Pick<PipelineDeps, 'hostNamespaces'>): void {
  const host = hostNetnsOf(netns.id, deps);
  if (host) throw new InputError(`network namespace ${path} is the host's (${host.what}), not a container's: refused`);
}

/** Records of an older hook have no phase: they were written once attached. */
const isAttached = (r: ContainerRecord): boolean => r.phase !== 'attaching';

/** The record's link, marked as ours, is in `k` (the same netns the record names). */
function holdsLink(record: ContainerRecord, k: NetKernel): boolean {
  if (!sameNetnsId(record.netns.id, k.netns.id)) return false;
  const link = (record.ledger ?? legacyLedger(record)).find((e) => e.kind === 'link');
  return link?.kind === 'link' && findMarkedLink({ container: k }, link) !== undefined;
}

/**
 * The record stands for a container that still runs: an attach whose hook is alive; an attached
 * container whose process is alive (same pid and start time) — or, for a record that names no
 * process, whose netns still holds its link.
 */
export function isLive(record: ContainerRecord, deps: Pick<PipelineDeps, 'openNetns' | 'processAlive'>): boolean {
  if (!isAttached(record)) return record.hook !== undefined && deps.processAlive(record.hook);
  if (record.process) return deps.processAlive(record.process);
  const k = reopenNetns(deps, record);
  if (!k) return false;
  try {
    return holdsLink(record, k);
  } finally {
    k.close();
  }
}

async function undoStale(record: ContainerRecord, why: string, deps: PipelineDeps): Promise<void> {
  deps.log.warn(`${why}: undoing it`);
  const undone = await detach(record, deps);
  if (!undone.removed) throw new Error(`cannot undo ${why}: ${undone.failures.join('; ')}`);
}

export async function admit(req: AdmitRequest, deps: PipelineDeps): Promise<Admission> {
  const target = deps.openNetns(req.netnsPath);
  let handedOver = false;
  try {
    refuseHostNetns(target.netns, req.netnsPath, deps);
    if (req.expectNetnsId !== undefined && !sameNetnsId(req.expectNetnsId, target.netns.id)) {
      throw new InputError(`network namespace ${req.netnsPath} is no longer the one given (its process is gone): refused`);
    }

    const own = deps.store.read(req.id);
    if (own) {
      const here = sameNetnsId(own.netns.id, target.netns.id);
      if (here && own.member) return { kind: 'attached', record: own };
      if (here && isAttached(own) && holdsLink(own, target)) return { kind: 'attached', record: own };
      await undoStale(own, !isAttached(own) && here ? 'a previous attach of this container did not finish' : `this container's record for network namespace ${own.netns.path} (${own.netns.id}) is stale`, deps);
    }

    // Only the records of this netns and of this name matter here (the index answers: no read of
    // every record at every start).
    const others = deps.store.related({ name: req.name, netnsId: target.netns.id }).filter((r) => r.id !== req.id && !r.member);
    for (const r of others.filter((o) => sameNetnsId(o.netns.id, target.netns.id))) {
      if (isAttached(r) && holdsLink(r, target)) {
        if (req.alongside) continue;
        // The CNI plugin attached this netns (our network among the runtime's): that is this
        // container's attachment, and the runtime's DEL withdraws it — nothing to join.
        if (r.cni) return { kind: 'attached', record: r };
        return { kind: 'joined', record: join(req, r, deps), owner: r };
      }
      if (!isAttached(r) && isLive(r, deps)) {
        if (req.alongside) continue;
        throw new InputError(`network namespace ${req.netnsPath} is being attached by container ${r.id} right now: start this one once that one has started`);
      }
      await undoStale(r, `container ${r.id}'s record for this network namespace is stale (its link is gone)`, deps);
    }

    for (const r of others.filter((o) => o.name === req.name && !sameNetnsId(o.netns.id, target.netns.id))) {
      if (isLive(r, deps)) throw nameInUse(req.name, r);
      await undoStale(r, `container ${r.id} (name "${r.name}") is no longer running but its attachment is left`, deps);
    }
    handedOver = true;
    return { kind: 'attach', container: target };
  } finally {
    if (!handedOver) target.close();
  }
}

/**
 * Under the parent's lock, just before the link is made: a live container of the same name that
 * came first (the earlier record; ids break a tie) — two hooks racing with one name both passed
 * admission, and exactly one of them must go on.
 */
export function refuseNameTaken(record: ContainerRecord, peers: ContainerRecord[], deps: Pick<PipelineDeps, 'openNetns' | 'processAlive'>): void {
  const first = (p: ContainerRecord): boolean => p.since < record.since || (p.since === record.since && p.id < record.id);
  const holder = peers.find((p) => !p.member && p.name === record.name && first(p) && isLive(p, deps));
  if (holder) throw nameInUse(record.name, holder);
}

function nameInUse(name: string, holder: ContainerRecord): InputError {
  return new InputError(
    `name "${name}" is in use by container ${holder.id} (attached since ${holder.since}): one name is one address and one MAC on the link; stop that container or give this one another name (annotation oci-slaac-hook.name)`,
  );
}

/** The member record: the owner's attachment, repeated for `status`, with nothing of its own to undo. */
function join(req: AdmitRequest, owner: ContainerRecord, deps: PipelineDeps): ContainerRecord {
  const { ledger: _ledger, hook: _hook, dns: _dns, process: _process, attachId: _attachId, rootless: _rootless, ...shared } = owner;
  const process = req.pid ? deps.processRef(req.pid) : undefined;
  const record: ContainerRecord = {
    ...shared,
    id: req.id,
    phase: 'attached',
    ledger: [],
    member: { owner: owner.id },
    ...(req.rootless ? { rootless: req.rootless } : {}),
    ...(process ? { process } : {}),
    netns: { path: req.netnsPath, id: owner.netns.id },
    since: new Date().toISOString(),
  };
  deps.store.write(record, { durable: true });
  return record;
}
