/**
 * The ledger: every effect an operation makes is appended to the container's state record, and
 * the record saved, *before* the effect is applied — so a process killed at any point leaves a
 * record naming everything it may have made, and undo (poststop, a failed attach, the agent's GC)
 * replays it in reverse. Undo removes each effect from the ledger as it is undone.
 */
import type { ContainerRecord, Effect } from '../core/record';

/** Where records are saved (system/state-store.ts; a memory sink in tests). */
export interface RecordSink {
  write(record: ContainerRecord, opts?: { durable?: boolean }): void;
}

export class Ledger {
  constructor(
    private readonly sink: RecordSink,
    readonly record: ContainerRecord,
  ) {}

  /** Record effects about to be applied, in the order they will be (saved, once, before this returns). */
  intend<E extends Effect>(effect: E, ...more: Effect[]): E {
    this.record.ledger.push(effect, ...more);
    this.save();
    return effect;
  }

  /** Save after fields of a recorded effect (or of the record) changed. */
  save(opts: { durable?: boolean } = { durable: false }): void {
    this.sink.write(this.record, opts);
  }

  /**
   * Drop an effect that is undone (or was never made). Not saved by itself: undo is idempotent (an
   * effect still listed after a crash is found gone and dropped again), so whoever undoes saves
   * once at the end — or removes the record.
   */
  forget(effect: Effect): void {
    const i = this.record.ledger.lastIndexOf(effect);
    if (i >= 0) this.record.ledger.splice(i, 1);
  }
}
