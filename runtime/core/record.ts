/**
 * What we keep per container (one state record each, see system/state-store.ts): plain data.
 */
import type { Preference } from './nd-types';

export const STATE_VERSION = 1;

import type { Lifetime } from './lifetime';

export interface AddressRecord {
  address: string;
  /** The RA prefix it was formed from ("2001:db8:1::/64"). */
  prefix: string;
  prefixLength: number;
  /** RFC 7217 DAD counter the address was made with; null for a static IID. */
  dadCounter: number | null;
  validLifetime: Lifetime;
  preferredLifetime: Lifetime;
  /** verified: our DAD said unique before use; optimistic: in use, DAD still running (RFC 4429). */
  dad: 'verified' | 'optimistic';
}

export interface ContainerRecord {
  version: number;
  id: string;
  /** The stable name the address is keyed by. */
  name: string;
  nameSource: 'annotation' | 'podman' | 'id';
  netns: { path: string; id: string };
  interface: { name: string; index: number; mac: string; kind: 'macvlan' | 'ipvlan'; mode: string };
  /** ipvlan l3/l3s: the host-side rule table and proxy NDP that make the addresses reachable. */
  l3?: { parentIndex: number; table: number };
  /** host_link: the host's companion link and its link-local (the host routes' source). */
  hostLink?: { name: string; index: number; linkLocal: string };
  parent: string;
  linkLocal: string;
  linkLocalDad: 'verified' | 'optimistic';
  addresses: AddressRecord[];
  /** RetransTimer from the RA (ms): the pace of DAD probes on this link. */
  retransMs: number;
  router: { address: string; mac: string | null; lifetime: number; preference: Preference };
  mtu: number | null;
  rdnss: string[];
  dnssl: string[];
  routes: string[];
  timings: { raMs: number; dadMs: number; totalMs: number };
  /** When the RA was received (ms since the epoch): lifetimes count from here. */
  raAt: number;
  since: string;
  /** DNS publication, when [dns] is configured. */
  dns?: DnsState;
}

export interface DnsRecord {
  zone: string;
  name: string;
  type: 'AAAA' | 'PTR';
  data: string;
  /** Added by us and not yet withdrawn. */
  published: boolean;
}

/** Everything needed to withdraw later, even if config.toml changes meanwhile. */
export interface DnsState {
  /** The container's label, and the fully qualified name (no trailing dot) it makes in the zone. */
  label: string;
  name: string;
  /** published: every record is in DNS; pending: publication failed and the container runs without; withdraw-failed: poststop could not delete them (retried by the next poststop). */
  status: 'published' | 'pending' | 'withdraw-failed';
  server: string;
  keyFile: string;
  ttl: number;
  timeoutMs: number;
  zone: string;
  reverseZone: string;
  records: DnsRecord[];
  error?: string;
}
