/**
 * What we keep per container (one state record each, see system/state-store.ts): plain data.
 */
import type { Lifetime } from './lifetime';
import type { Preference } from './nd-types';
import type { Policy } from './policy';

export const STATE_VERSION = 1;

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
  /**
   * Deadlines as the last RA left them (RFC 4862 §5.5.3 e; CLOCK_BOOTTIME ms, null = infinite),
   * kept by refresh (core/refresh.ts). Absent in older records: raAt + the lifetimes above.
   */
  validUntil?: number | null;
  preferredUntil?: number | null;
  /** RFC 4862 §5.5.4: preferred until preferredUntil, then deprecated (still valid, not chosen for new connections). */
  state?: 'preferred' | 'deprecated';
}

/** A router heard on the link: its Default Router List entry (RFC 4861 §6.3.4), kept by refresh. */
export interface RouterRecord {
  address: string;
  mac: string | null;
  /** Router lifetime of its last RA (s; 0: not a default router, dropped at once). */
  lifetime: number;
  preference: Preference;
  /** When its last RA was received (CLOCK_BOOTTIME ms). */
  lastRaAt: number;
  /** lastRaAt + lifetime (ms): past it, the router is no default router any more. */
  until: number;
}

/** A Route Information route (RFC 4191) in the container, and when it expires (ms; null = infinite). */
export interface RouteRecord {
  destination: string;
  gateway: string;
  preference: Preference;
  until: number | null;
}

/** An RDNSS server or DNSSL domain (RFC 8106) and when it expires (ms; null = infinite). */
export interface DeadlineRecord {
  value: string;
  until: number | null;
}

/**
 * One effect on the kernel or on DNS, with what identifies it. The ledger lists them in the order
 * they were made; each is recorded *before* it is applied, so that whatever a killed process may
 * have made is in the ledger. Undo replays the ledger in reverse; an effect already gone counts as
 * undone. Addresses are text; "container" effects live in the record's netns, "host" ones in the
 * host's.
 */
export type Effect =
  /**
   * The container's link. Made under the passing name `madeAs`, then renamed and marked (IFLA_IFALIAS
   * `alias`) in one message: found by its mark, or by `madeAs` before that, whatever was recorded.
   */
  | { kind: 'link'; alias: string; madeAs: string; index: number | null; name: string; parentIndex: number; linkKind: 'macvlan' | 'ipvlan'; mode: string }
  /** A global or link-local address on the container's link. */
  | { kind: 'address'; index: number; address: string; prefixLength: number }
  /** A route in the container (default or RFC 4191) via the router. */
  | { kind: 'route'; index: number; destination: string; gateway: string }
  /** ipvlan l3/l3s: the RA's routes in the host's reach table (shared by every container of the parent). */
  | { kind: 'l3-table'; parentIndex: number; table: number }
  /** ipvlan l3/l3s: the host's rule `from ADDR lookup TABLE` and proxy entry for ADDR on the parent. */
  | { kind: 'l3-reach'; parentIndex: number; table: number; address: string }
  /** host_link: the host route `ADDR/128 dev osh-<parent> src LINKLOCAL`. */
  | { kind: 'host-route'; via: number; linkLocal: string; address: string }
  /** The DNS records of `dns` (published or only planned: a delete of an absent record is a no-op). */
  | { kind: 'dns'; name: string }
  /** The container's nf_tables table (policy restricted), in its netns: `table inet TABLE`. */
  | { kind: 'firewall'; table: string };

export type EffectKind = Effect['kind'];

/** A process as records keep it: a pid and its start time (/proc/PID/stat starttime), as a pid alone is reused. */
export interface ProcessRef {
  pid: number;
  start: string;
}

/** The unprivileged user a container was attached for: uid (SO_PEERCRED's) and user name. */
export interface RootlessOwner {
  uid: number;
  user: string;
}

/** attaching: the hook is at work (or died at work: poststop undoes it); attached: done. */
export type Phase = 'attaching' | 'attached';

export interface ContainerRecord {
  version: number;
  id: string;
  phase: Phase;
  /** What exists because of us, in the order it was made. */
  ledger: Effect[];
  /** A random id of this attach (absent in older records): a background process started for one attach acts on no other of the same container. */
  attachId?: string;
  /**
   * What the container's addresses were derived and probed with — annotations may have set them —
   * for whoever derives its next candidate later (the background DAD reads only config.toml).
   */
  derivation?: {
    networkId: string;
    iid: string;
    dadTransmits: number;
    /**
     * The name's identity on the link (pipeline/attach.ts claimIdentity): the RFC 7217 DAD counter
     * its MAC, link-local and first address candidates came from — > 0 when a host sharing
     * secret_file ran the name already. Renumbering starts there too. Absent: 0.
     */
    identity?: number;
  };
  /** The stable name the address is keyed by. */
  name: string;
  nameSource: 'annotation' | 'pod' | 'podman' | 'id' | 'kubernetes' | 'nerdctl' | 'docker' | 'cni';
  /** The container's process when it was attached (its liveness tells a running container from a dead one's leftovers). */
  process?: ProcessRef;
  /** The hook at work, while phase is attaching (dead: nobody will finish this attach). */
  hook?: ProcessRef;
  /**
   * A pod member: this container joined a netns that container `owner` attached (a podman pod,
   * `--network container:X`). The record repeats the owner's attachment for `status`; its ledger
   * is empty: the owner's stop withdraws, a member's only forgets its record.
   */
  member?: { owner: string };
  /**
   * Attached by the CNI plugin (hooks/cni.ts): the runtime's key of the attachment — network name,
   * CNI_CONTAINERID, CNI_IFNAME — which GC's list of valid attachments is matched against.
   */
  cni?: { network: string; containerId: string; ifname: string };
  /** Attached by the rootless broker for this user (agent/broker.ts): only they may detach it, and it counts against their quota. */
  rootless?: RootlessOwner;
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
  /** When the RA was received (CLOCK_BOOTTIME ms, system/clock.ts): lifetimes count from here. */
  raAt: number;
  since: string;
  /** Who may reach it (annotations, labels, [policy]); absent in older records: open, no networks. */
  policy?: Policy;
  /** policy restricted: the firewall table in its netns and the fingerprint it carries (check compares). */
  firewall?: { table: string; tag: string };
  /** DNS publication, when [dns] is configured. */
  dns?: DnsState;
  /** resolv_conf = "ra": the file (real path) the container sees as /etc/resolv.conf, written from rdnss/dnssl (system/resolv-conf.ts writeResolvConf). */
  resolvConf?: string;
  /**
   * What refresh (core/refresh.ts) keeps between RAs, filled at attach; absent in older records
   * (derived then from raAt and the fields above). `router` above is then the default router chosen
   * among `routers`, `routes` the names of what `routeDeadlines` holds (and the default route).
   */
  routers?: RouterRecord[];
  routeDeadlines?: RouteRecord[];
  rdnssDeadlines?: DeadlineRecord[];
  dnsslDeadlines?: DeadlineRecord[];
  /** The caps attach applied (max_prefixes, …), so that renumbering applies the same. */
  limits?: { maxPrefixes: number; maxRoutes: number; maxDnsServers: number };
}

export interface DnsRecord {
  zone: string;
  name: string;
  type: 'AAAA' | 'PTR';
  data: string;
  /** Added by us and not yet withdrawn. */
  published: boolean;
  /**
   * Its add was (or was about to be) sent and no answer said whether it was applied — a lost
   * reply, a process killed meanwhile: undo deletes it too (deleting an absent record is a no-op).
   */
  uncertain?: boolean;
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
  /** The first of reverseZones ('' when none): what records before reverseZones carried. */
  reverseZone: string;
  /** The ip6.arpa zones a PTR may go to (the most specific covering the address); absent in older records: [reverseZone]. */
  reverseZones?: string[];
  /** The logical networks' names (and the zone each is updated in) where the addresses are published too (policy networks). */
  memberships?: { name: string; zone: string }[];
  records: DnsRecord[];
  error?: string;
}
