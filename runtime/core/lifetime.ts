/**
 * Lifetimes, one way everywhere. On the wire (RFC 4861 §4.6.2, RFC 4191, RFC 8106) and in
 * rtnetlink's IFA_CACHEINFO / RTA_EXPIRES a lifetime is 32 bits of seconds, all ones meaning
 * infinity; in records and output it is seconds or "infinite". Times are on CLOCK_BOOTTIME
 * (system/clock.ts), which keeps counting through suspend as lifetimes must.
 */

/** All ones: infinity (RFC 4861 §4.6.2). */
export const INFINITE_LIFETIME = 0xffffffff;

/** Seconds, or "infinite". */
export type Lifetime = number | 'infinite';

export const toLifetime = (seconds: number): Lifetime => (seconds === INFINITE_LIFETIME ? 'infinite' : seconds);
export const fromLifetime = (l: Lifetime): number => (l === 'infinite' ? INFINITE_LIFETIME : l);

/** What is left of a lifetime received at `at`, at `now` (both boottime ms), for display. */
export function remaining(lifetime: Lifetime, at: number, now: number): Lifetime {
  return lifetime === 'infinite' ? 'infinite' : Math.max(0, Math.round(lifetime - (now - at) / 1000));
}
