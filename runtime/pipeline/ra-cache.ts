/**
 * The agent's RA cache, as attach takes it (issue 11 item 6): when an agent answers with the RAs
 * it heard on the container's parent, and every one of them is fresh — received at most
 * `ra_cache_max_age_ms` ago, with none of its lifetimes run out since — and one of them has a
 * prefix usable for SLAAC, attach plans from them and sends no RS. Anything else (no agent, no
 * answer in time, nothing cached, one RA stale, none usable) and attach solicits, as without an
 * agent. Lifetimes count from each RA's receipt (its `receivedAt`), as they do for a solicited one.
 */
import type { HookConfig } from '../core/config';
import { formatIPv6 } from '../core/ipv6';
import type { NdOption, RouterAdvertisement } from '../core/nd-types';
import { unusableReason, type HeardRa } from '../core/plan';
import type { DiscoveredRouter } from '../system/nd/client';
import type { PipelineDeps } from './deps';

const INFINITE = 0xffffffff;

/** The lifetimes (seconds) of an RA that must not have run out for it to stand for the router now: non-zero, finite ones. */
function lifetimesOf(ra: RouterAdvertisement): number[] {
  const of = (o: NdOption): number[] => {
    switch (o.type) {
      case 'prefix-information':
        return [o.validLifetime, o.preferredLifetime];
      case 'route-information':
      case 'rdnss':
      case 'dnssl':
        return [o.lifetime];
      default:
        return [];
    }
  };
  return [ra.routerLifetime, ...ra.options.flatMap(of)].filter((s) => s !== 0 && s !== INFINITE);
}

/** Why a cached RA does not stand for its router at `now` (CLOCK_BOOTTIME ms), or undefined when it does. */
export function staleReason(h: HeardRa, now: number, maxAgeMs: number): string | undefined {
  if (h.receivedAt === undefined) return 'no receipt time';
  const age = now - h.receivedAt;
  if (age < 0) return 'received in the future';
  if (age > maxAgeMs) return `${Math.round(age)} ms old (ra_cache_max_age_ms ${maxAgeMs})`;
  const shortest = Math.min(...lifetimesOf(h.advertisement));
  if (shortest * 1000 <= age) return `${Math.round(age)} ms old, a lifetime of ${shortest} s run out`;
  return undefined;
}

/**
 * The cached RAs as a discovery result (no RS went out), or undefined: solicit. `heard` are the
 * decoded RAs the agent gave (deps.cachedRas); `now` CLOCK_BOOTTIME ms.
 */
export function fromCache(heard: HeardRa[] | undefined, now: number, maxAgeMs: number): { found: DiscoveredRouter } | { why: string } {
  if (!heard || heard.length === 0) return { why: 'nothing cached' };
  for (const h of heard) {
    const stale = staleReason(h, now, maxAgeMs);
    if (stale) return { why: `RA from ${formatIPv6(h.router)} ${stale}` };
  }
  const usable = heard.find((h) => unusableReason(h.advertisement) === undefined);
  if (!usable) return { why: 'no cached RA has a prefix usable for SLAAC' };
  const receivedAt = usable.receivedAt ?? now;
  return { found: { router: usable.router, advertisement: usable.advertisement, elapsedMs: 0, receivedAt, solicitations: 0, dropped: [], heard } };
}

/** Attach's step 4 with a cache: the agent's fresh RAs on the parent, or undefined (then solicit). Never throws. */
export async function cachedDiscovery(deps: PipelineDeps, cfg: Pick<HookConfig, 'parent' | 'ra_cache_max_age_ms'>): Promise<DiscoveredRouter | undefined> {
  if (!deps.cachedRas || cfg.ra_cache_max_age_ms === 0) return undefined;
  let heard: HeardRa[] | undefined;
  try {
    heard = await deps.cachedRas(cfg.parent);
  } catch {
    return undefined;
  }
  if (heard === undefined) return undefined; // no agent: nothing to say
  const r = fromCache(heard, deps.clock(), cfg.ra_cache_max_age_ms);
  if ('why' in r) {
    deps.log.info(`agent's RA cache not used (${r.why}): soliciting`);
    return undefined;
  }
  const age = Math.round(deps.clock() - r.found.receivedAt);
  deps.log.info(`RA from the agent's cache (${r.found.heard?.length ?? 1} RA${(r.found.heard?.length ?? 1) === 1 ? '' : 's'}, ${age} ms old): no solicitation`);
  return r.found;
}

/** A route's lifetime (seconds) as left `ageMs` after its RA was received (infinite stays infinite; at least 1 s). */
export function agedLifetime(lifetime: number, ageMs: number): number {
  if (lifetime === INFINITE || ageMs <= 0) return lifetime;
  return Math.max(1, lifetime - Math.floor(ageMs / 1000));
}
