/**
 * What every operation acts on: the host's kernel, the container's (while its netns exists and is
 * still the container's), the ledger it records its effects in, the other containers' records
 * (for objects they share), and the log.
 */
import type { ContainerRecord } from '../core/record';
import type { NetKernel } from '../system/kernel';
import type { Logger } from '../system/log';
import type { Ledger } from './ledger';

export interface OpContext {
  host: NetKernel;
  /** undefined once the container's netns is gone (its links, addresses and routes went with it). */
  container: NetKernel | undefined;
  ledger: Ledger;
  /** Every other container's record (for host-side objects shared per parent). */
  peers(): ContainerRecord[];
  log: Logger;
  /** Fault injection for tests (PipelineDeps.failpoint), for points inside an operation ("dns-sent"). */
  failpoint?(name: string): void;
}

/** The container's kernel, or an error saying it is gone (for operations that must act there). */
export function inside(ctx: OpContext): NetKernel {
  if (!ctx.container) throw new Error(`network namespace ${ctx.ledger.record.netns.path} is gone`);
  return ctx.container;
}
