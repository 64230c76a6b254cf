/**
 * RFC 4862 §5.5.3: what a host does with the Prefix Information options of a Router Advertisement.
 * Pure functions; times are absolute seconds on a monotonic clock supplied by the caller.
 */
import { formatPrefix, isLinkLocal } from './ipv6';
import type { NdOption, PrefixInformation } from './nd-types';
import { notForAddresses } from './special-ranges';

import { INFINITE_LIFETIME } from './lifetime';

export { INFINITE_LIFETIME };

/** RFC 4862 §5.5.3 (e): the floor that protects a valid lifetime from spoofed short ones. */
export const TWO_HOURS = 7200;

export type PrefixVerdict = { usable: true } | { usable: false; reason: string };

/**
 * RFC 4862 §5.5.3 (a)–(d) for a prefix we have no address in yet: may an address be formed from
 * it? (For a prefix already in use, a valid lifetime of 0 is not a rejection but input to
 * `updateLifetimes`; only (a)–(c) gate that.)
 */
export function checkPrefix(pi: PrefixInformation, iidLength = 64): PrefixVerdict {
  const no = (reason: string): PrefixVerdict => ({ usable: false, reason });
  if (!pi.autonomous) return no('autonomous flag (A) clear'); // (a)
  if (isLinkLocal(pi.prefix)) return no('link-local prefix'); // (b)
  // Beyond (b): multicast, unspecified, loopback, IPv4-mapped, … are no prefix for a host's own
  // unicast address (RFC 4291 §2.4; RFC 6890). `::/64` would otherwise give `::<iid>`.
  const special = notForAddresses(pi.prefix, pi.prefixLength);
  if (special) return no(special);
  if (pi.preferredLifetime > pi.validLifetime) {
    return no(`preferred lifetime ${pi.preferredLifetime} exceeds valid lifetime ${pi.validLifetime}`); // (c)
  }
  if (pi.prefixLength + iidLength !== 128) {
    return no(`prefix length ${pi.prefixLength} plus interface identifier length ${iidLength} is not 128`); // (d), RFC 7136
  }
  if (pi.validLifetime === 0) return no('valid lifetime 0'); // (d): only a non-zero lifetime forms an address
  return { usable: true };
}

/** Absolute expiry times in seconds; Infinity for an infinite lifetime. */
export interface AddressLifetimes {
  validUntil: number;
  preferredUntil: number;
}

function expiry(lifetime: number, now: number): number {
  return lifetime === INFINITE_LIFETIME ? Infinity : now + lifetime;
}

/** Lifetimes of an address newly formed from `pi` (§5.5.3 d). */
export function lifetimesFromPrefix(pi: Pick<PrefixInformation, 'validLifetime' | 'preferredLifetime'>, now: number): AddressLifetimes {
  const validUntil = expiry(pi.validLifetime, now);
  return { validUntil, preferredUntil: Math.min(expiry(pi.preferredLifetime, now), validUntil) };
}

/** Which branch of §5.5.3 (e) set the valid lifetime. */
export type LifetimeRule =
  | 'received' // e.1: received valid lifetime > 2 hours or > remaining
  | 'keep-remaining' // e.2: remaining ≤ 2 hours, RA not authenticated (no SEND): keep it
  | 'two-hours'; // e.3: otherwise, 2 hours

/**
 * RFC 4862 §5.5.3 (e): lifetimes of an existing address after another option for its prefix
 * (which must have passed (a)–(c) of `checkPrefix`). Preferred is reset to the received one,
 * capped by the new valid lifetime.
 */
export function updateLifetimes(
  current: AddressLifetimes,
  pi: PrefixInformation,
  now: number,
): { lifetimes: AddressLifetimes; rule: LifetimeRule } {
  const received = pi.validLifetime === INFINITE_LIFETIME ? Infinity : pi.validLifetime;
  const remaining = Math.max(0, current.validUntil - now);
  let rule: LifetimeRule;
  let validUntil: number;
  if (received > TWO_HOURS || received > remaining) {
    rule = 'received';
    validUntil = expiry(pi.validLifetime, now);
  } else if (remaining <= TWO_HOURS) {
    rule = 'keep-remaining';
    validUntil = current.validUntil;
  } else {
    rule = 'two-hours';
    validUntil = now + TWO_HOURS;
  }
  return { lifetimes: { validUntil, preferredUntil: Math.min(expiry(pi.preferredLifetime, now), validUntil) }, rule };
}

/** Seconds left until `until`, as rtnetlink's IFA_CACHEINFO wants them: 0xffffffff for infinity. */
export function remainingSeconds(until: number, now: number): number {
  if (until === Infinity) return INFINITE_LIFETIME;
  return Math.min(INFINITE_LIFETIME - 1, Math.max(0, Math.floor(until - now)));
}

/** The Prefix Information options of an RA, split by `checkPrefix` (64-bit IIDs). */
export function selectPrefixes(options: NdOption[]): { usable: PrefixInformation[]; ignored: { prefix: string; reason: string }[] } {
  const usable: PrefixInformation[] = [];
  const ignored: { prefix: string; reason: string }[] = [];
  for (const option of options) {
    if (option.type !== 'prefix-information') continue;
    const verdict = checkPrefix(option);
    if (verdict.usable) usable.push(option);
    else ignored.push({ prefix: formatPrefix(option.prefix, option.prefixLength), reason: verdict.reason });
  }
  return { usable, ignored };
}
