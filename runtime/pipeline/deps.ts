/**
 * What the pipeline runs on: the host's kernel handle, a way to open a container's netns, ND at
 * a vantage point, the state store, the per-parent lock, the clock and the log — the real ones
 * from `systemDeps`, fakes in tests (tests/unit/pipeline.test.ts).
 */
import type { RelatedQuery } from '../core/netns-id';
import type { HeardRa } from '../core/plan';
import type { ContainerRecord, ProcessRef } from '../core/record';
import { AgentClient } from '../system/agent-client';
import { systemClock } from '../system/clock';
import { RtnlKernel, type NetKernel } from '../system/kernel';
import { withContainerLock, withParentLock, type ContainerLock } from '../system/lock';
import type { Logger } from '../system/log';
import { ndPort, type NdPort, type NdVantage } from '../system/nd/port';
import { hostNamespaces, type NamedNetns } from '../system/netns';
import { processAlive, processRef } from '../system/process';
import { StateStore } from '../system/state-store';
import type { OpContext } from '../ops/context';
import type { Ledger, RecordSink } from '../ops/ledger';
import { undoKernelEffects, undoNames } from '../ops/undo';

export interface RecordStore extends RecordSink {
  read(id: string): ContainerRecord | undefined;
  remove(id: string): boolean;
  list(): ContainerRecord[];
  /**
   * The records of one name or one netns (core/netns-id.ts isRelated), oldest first: what a start
   * must know of the others, without reading every record (StateStore answers from an index).
   */
  related(query: RelatedQuery): ContainerRecord[];
}

export interface PipelineDeps {
  host: NetKernel;
  /** The netns at a path (an InputError naming it when there is none). */
  openNetns(path: string): NetKernel;
  nd(vantage: NdVantage, dadTransmits: number): NdPort;
  /**
   * The agent's cached RAs on parent NIC `parent` (decoded; pipeline/ra-cache.ts decides whether
   * they are fresh), or undefined when no agent answers: attach then solicits. Absent: no cache.
   */
  cachedRas?(parent: string): Promise<HeardRa[] | undefined>;
  store: RecordStore;
  /** Run `fn` holding the lock of parent NIC `parent`. */
  withLock<T>(parent: string, fn: () => T): T;
  /**
   * Run `fn` holding container `id`'s lock until its promise settles (system/lock.ts): poststop's
   * detach holds it while it undoes and removes the record, the background DAD before each change.
   */
  withContainerLock<T>(id: string, fn: (lock: ContainerLock) => Promise<T> | T): Promise<T>;
  /** CLOCK_BOOTTIME, ms. */
  clock(): number;
  /** The namespaces a container's must never be: the hook's own, init's, the runtime's (its parent's). */
  hostNamespaces(): NamedNetns[];
  /** A process as a record keeps it (pid and start time); undefined when there is none. */
  processRef(pid: number): ProcessRef | undefined;
  /** The process a record names still runs. */
  processAlive(ref: ProcessRef): boolean;
  log: Logger;
  /** Fault injection for tests (a named point of the attach). */
  failpoint?(name: string): void;
}

/**
 * The fault-injection points, by name, for the kill tests: OCI_SLAAC_HOOK_FAILPOINT=link (for
 * example) makes the process SIGKILL itself there. Unset, nothing happens. Attach's: link, rs, dad,
 * address, dns-sent (the DNS update has left, its answer not yet in), dns.
 */
export function envFailpoint(name: string): void {
  if (process.env.OCI_SLAAC_HOOK_FAILPOINT === name) process.kill(process.pid, 'SIGKILL');
}

/**
 * The agent of `stateDir` as the hook asks it. No agent (no socket, nobody listening) is the
 * embedded default and says nothing; an agent that fails to answer is one warning, once.
 */
export function hookAgent(stateDir: string, log: Logger): AgentClient {
  return new AgentClient(stateDir, {
    onFailure: (op, why) => {
      if (why.startsWith('no agent')) return;
      log.warn(why.startsWith('agent said') ? `agent refused "${op}" (${why}): doing without it` : `agent did not answer "${op}" (${why}): doing without it`);
    },
  });
}

/** `fn`'s first answer, kept. */
const once = <T>(fn: () => T): (() => T) => {
  let kept: { value: T } | undefined;
  return () => (kept ??= { value: fn() }).value;
};

export function systemDeps(stateDir: string, log: Logger, agent: AgentClient = hookAgent(stateDir, log)): PipelineDeps {
  return {
    host: RtnlKernel.host(),
    openNetns: (path) => RtnlKernel.open(path),
    nd: ndPort,
    cachedRas: (parent) => agent.cachedRas(parent),
    store: new StateStore(stateDir),
    withLock: (parent, fn) => withParentLock(stateDir, parent, fn),
    withContainerLock: (id, fn) => withContainerLock(stateDir, id, fn),
    clock: () => systemClock.now(),
    // Admission and attach both ask: the host's namespaces do not change while a hook runs.
    hostNamespaces: once(hostNamespaces),
    processRef,
    processAlive,
    log,
    failpoint: envFailpoint,
  };
}

export function contextFor(deps: PipelineDeps, ledger: Ledger, container: NetKernel | undefined): OpContext {
  const id = ledger.record.id;
  return { host: deps.host, container, ledger, peers: () => deps.store.list().filter((r) => r.id !== id), log: deps.log, failpoint: deps.failpoint };
}

/**
 * Undo what the ledger holds, in reverse: the DNS records first and outside the lock (the slowest,
 * and the last made), then the kernel's effects under the parent's lock (the shared table is
 * released only when no other ledger holds it) — those whatever DNS said: a server that cannot be
 * told keeps only the DNS effect for the retry. Returns what could not be undone.
 */
export async function replayUndo(ctx: OpContext, deps: Pick<PipelineDeps, 'withLock'>): Promise<string[]> {
  const failures: string[] = [];
  try {
    await undoNames(ctx);
  } catch (err) {
    failures.push(`undo dns: ${(err as Error).message}`); // kept in the ledger for the retry
  }
  return [...failures, ...deps.withLock(ctx.ledger.record.parent, () => undoKernelEffects(ctx))];
}
