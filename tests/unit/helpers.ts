// Small helpers the unit tests share.
import { parseIPv6 } from '../../runtime/core/ipv6';
import type { NdOption, PrefixInformation, RouterAdvertisement } from '../../runtime/core/nd-types';
import type { ContainerRecord } from '../../runtime/core/record';

/** Bytes from hex text; white space and // comments are ignored, so vectors can be annotated. */
export const hex = (text: string): Buffer => Buffer.from(text.replace(/\s+|\/\/[^\n]*/g, ''), 'hex');

/** Deterministic PRNG (mulberry32) so a fuzz failure can be replayed from its seed. */
export function seededRandom(seed: number): () => number {
  let state = seed;
  return () => {
    state = (state + 0x6d2b79f5) | 0;
    let x = Math.imul(state ^ (state >>> 15), 1 | state);
    x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x;
    return ((x ^ (x >>> 14)) >>> 0) / 0x100000000;
  };
}

/** A Prefix Information option: an autonomous, on-link /64 valid for a day, preferred for 4 h. */
export const pio = (prefix: string, over: Partial<PrefixInformation> = {}): PrefixInformation & Extract<NdOption, { type: 'prefix-information' }> => ({
  type: 'prefix-information',
  prefix: parseIPv6(prefix),
  prefixLength: 64,
  onLink: true,
  autonomous: true,
  routerAddress: false,
  validLifetime: 86400,
  preferredLifetime: 14400,
  ...over,
});

/** A Router Advertisement with these options: router lifetime 1800 s, timers unspecified. */
export const raWith = (options: NdOption[], over: Partial<RouterAdvertisement> = {}): RouterAdvertisement => ({
  type: 'router-advertisement',
  curHopLimit: 64,
  managed: false,
  other: false,
  homeAgent: false,
  preference: 'medium',
  proxy: false,
  routerLifetime: 1800,
  reachableTime: 0,
  retransTimer: 0,
  options,
  ...over,
});


/**
 * A state record with every required field, for tests that need a record but not an attach:
 * `id` names it, its netns (/run/netns/ID) and its attach; `over` sets the rest.
 */
export function sampleRecord(id: string, over: Partial<ContainerRecord> = {}): ContainerRecord {
  return {
    version: 1,
    id,
    phase: 'attached',
    ledger: [],
    attachId: `a-${id}`,
    name: id,
    nameSource: 'id',
    netns: { path: `/run/netns/${id}`, id: `0:${id}:1` },
    interface: { name: 'eth0', index: 2, mac: '02:00:00:00:00:02', kind: 'macvlan', mode: 'bridge' },
    parent: 'eth0',
    linkLocal: 'fe80::2',
    linkLocalDad: 'verified',
    addresses: [],
    retransMs: 1000,
    router: { address: 'fe80::1', mac: null, lifetime: 1800, preference: 'medium' },
    mtu: null,
    rdnss: [],
    dnssl: [],
    routes: [],
    timings: { raMs: 1, dadMs: 1, totalMs: 1 },
    raAt: 0,
    since: '2026-01-01T00:00:00Z',
    ...over,
  };
}
