/**
 * Time for neighbour discovery: CLOCK_BOOTTIME, as the kernel counts address and route lifetimes
 * (it keeps running while the machine is suspended, where CLOCK_MONOTONIC, performance.now() and
 * Node's timers stop). Every received ND packet is stamped with it; lifetimes are counted from it.
 *
 * A `Clock` gives the time and arms timers, so that code built on one can be driven by
 * `FakeClock` in tests. The system clock's timers are Node's: they do not advance during a
 * suspend, so a timer armed before one fires late by the suspend's length; compare `now()` values
 * to learn how much time really passed.
 */
import { native } from './native';

/** Now on CLOCK_BOOTTIME, in ms with sub-ms precision. */
export function bootNow(): number {
  return native().clockBoottime();
}

export interface Timer {
  /** Idempotent; a no-op once the timer has fired. */
  cancel(): void;
}

export interface Clock {
  /** ms on this clock (CLOCK_BOOTTIME for the system clock). */
  now(): number;
  /** Call `fn` once, `ms` from now. */
  setTimer(ms: number, fn: () => void): Timer;
}

export const systemClock: Clock = {
  now: bootNow,
  setTimer(ms, fn) {
    const t = setTimeout(fn, ms);
    return { cancel: () => clearTimeout(t) };
  },
};

/** A clock that moves only when told to: `advance()` fires the timers that fall due, in order. */
export class FakeClock implements Clock {
  private timers: { due: number; seq: number; fn: () => void }[] = [];
  private seq = 0;

  constructor(private time = 0) {}

  now(): number {
    return this.time;
  }

  setTimer(ms: number, fn: () => void): Timer {
    const entry = { due: this.time + Math.max(0, ms), seq: this.seq++, fn };
    this.timers.push(entry);
    return { cancel: () => void (this.timers = this.timers.filter((t) => t !== entry)) };
  }

  /** Timers armed and not yet fired or cancelled. */
  get pending(): number {
    return this.timers.length;
  }

  /** When the next timer falls due, or undefined when none is armed. */
  get nextDue(): number | undefined {
    return this.timers.reduce<number | undefined>((min, t) => (min === undefined || t.due < min ? t.due : min), undefined);
  }

  /** Move time on by `ms`, firing each timer at its due time (timers armed meanwhile included). */
  advance(ms: number): void {
    const end = this.time + ms;
    for (;;) {
      const next = this.timers.filter((t) => t.due <= end).sort((a, b) => a.due - b.due || a.seq - b.seq)[0];
      if (!next) break;
      this.timers = this.timers.filter((t) => t !== next);
      this.time = next.due;
      next.fn();
    }
    this.time = end;
  }
}
