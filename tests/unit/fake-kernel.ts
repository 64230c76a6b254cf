// Fakes for driving the pipeline (runtime/pipeline) with no kernel and no network: a NetKernel per
// network namespace over an in-memory model (links, addresses, routes, rules, proxy entries,
// sysctls) that appends every mutating call to one shared log, an NdPort whose router, DAD
// verdicts and timing the test decides, a memory RecordStore and a lock that records itself.
//
// The model behaves like the kernel where the pipeline depends on it: a link is made in the
// target netns, deleting a link takes its addresses, routes, proxy entries and sysctls with it,
// adding what exists fails with EEXIST, and deleting what is absent fails with the kernel's errno
// (ENODEV for a link, EADDRNOTAVAIL for an address, ESRCH for a route, ENOENT for a rule or a
// proxy entry), which undo counts as "already gone".
import { InputError } from '../../runtime/core/errors';
import { ruleCount } from '../../runtime/wire/nftables/ruleset';
import { formatIPv6, formatMac, isLinkLocal, parseIPv6, type IPv6 } from '../../runtime/core/ipv6';
import { INFINITE_LIFETIME } from '../../runtime/core/lifetime';
import type { SlaveSpec } from '../../runtime/core/link-kinds';
import type { RouterAdvertisement } from '../../runtime/core/nd-types';
import type { DadResult } from '../../runtime/core/dad';
import { TimeoutError } from '../../runtime/core/errors';
import type { ContainerRecord } from '../../runtime/core/record';
import { isRelated, type RelatedQuery } from '../../runtime/core/netns-id';
import type { AddressEntry, AddressSpec, FirewallSpec, FirewallState, Link, LinkChange, NetKernel, NetnsRef, RouteEntry, RouteSpec, SourceRule } from '../../runtime/system/kernel';
import { Logger } from '../../runtime/system/log';
import type { DiscoveredRouter, DiscoverOptions, NdPort, NdVantage } from '../../runtime/system/nd/port';
import type { RecordStore } from '../../runtime/pipeline/deps';

const IFF_UP = 1;
const RT_TABLE_MAIN = 254;
const RTPROT_BOOT = 3;
/** IP6_RT_PRIO_USER: the metric the kernel gives a route added without one. */
const DEFAULT_METRIC = 1024;

/** What a mutating call did: made an object, removed one, or changed a setting. Lock and ND entries are not kernel calls. */
export type CallKind = 'make' | 'unmake' | 'set' | 'lock' | 'nd';

export interface Call {
  /** The mutating kernel call's number (1-based, over every netns), for failure injection. */
  n?: number;
  kind: CallKind;
  ns: string;
  op: string;
  /** `ip`-like text, for messages and exact expectations. */
  text: string;
  /** What object it makes or removes: a make and its undo share the key. */
  key?: string;
  ok: boolean;
  error?: string;
}

export const errno = (code: string, what: string): Error => Object.assign(new Error(`${what}: ${code}`), { code });

interface FakeLink {
  index: number;
  name: string;
  alias: string | undefined;
  parentIndex: number | undefined;
  kind: string | undefined;
  mode: string | undefined;
  up: boolean;
  mtu: number;
  mac: Buffer | undefined;
  addrGenMode: string | undefined;
}

interface FakeRoute {
  table: number;
  destination: IPv6;
  prefixLength: number;
  gateway: IPv6 | undefined;
  oif: number;
  prefsrc: IPv6 | undefined;
  metric: number;
  protocol: number;
  expires: number | undefined;
  preference: string | undefined;
}

/** A netns as plain, comparable data (link indexes resolved to names in sysctls). */
export interface NetnsModel {
  links: string[];
  addresses: string[];
  routes: string[];
  rules: string[];
  proxies: string[];
  sysctls: string[];
  /** Firewall tables (only when there is one): `TABLE iif IFNAME TAG sets net_X=[a,b]`. */
  firewalls?: string[];
}

const CONF = /^net\/ipv6\/conf\/([^/]+)\/(.+)$/;

/** Several network namespaces, one call log, and the failure to inject. */
export class FakeNet {
  readonly calls: Call[] = [];
  readonly kernels = new Map<string, FakeKernel>();
  private mutations = 0;
  /** Fail the mutating call with this number (EIO), once. */
  failAt: number | undefined;

  get mutationCount(): number {
    return this.mutations;
  }

  addNetns(name: string, ref: { id: string; path: string; fd: number }): FakeKernel {
    const k = new FakeKernel(this, name, ref);
    this.kernels.set(name, k);
    return k;
  }

  kernel(name: string): FakeKernel {
    const k = this.kernels.get(name);
    if (!k) throw new Error(`no fake netns ${name}`);
    return k;
  }

  byRef(ref: NetnsRef): FakeKernel | undefined {
    return [...this.kernels.values()].find((k) => k.netns.id === ref.id);
  }

  /** `openNetns` for PipelineDeps: the netns at `path`, as the real one an InputError when there is none. */
  open(path: string): FakeKernel {
    const k = [...this.kernels.values()].find((x) => x.netns.path === path && !x.gone);
    if (!k) throw new InputError(`network namespace ${path} does not exist`);
    k.opened++;
    return k;
  }

  /** Every netns, by name. */
  model(): Record<string, NetnsModel> {
    return Object.fromEntries([...this.kernels].filter(([, k]) => !k.gone).map(([name, k]) => [name, k.model()]));
  }

  /** Append a non-kernel entry (lock, ND) to the log. */
  note(kind: 'lock' | 'nd', ns: string, op: string, text: string): void {
    this.calls.push({ kind, ns, op, text, ok: true });
  }

  /** Run a mutating call: numbered, logged, failed when asked, and logged as failed when it throws. */
  mutate(call: Omit<Call, 'n' | 'ok'>, apply: () => string | void): void {
    const n = ++this.mutations;
    const entry: Call = { ...call, n, ok: true };
    this.calls.push(entry);
    if (this.failAt === n) {
      entry.ok = false;
      entry.error = 'EIO (injected)';
      throw errno('EIO', `injected failure of call ${n}: ${call.text}`);
    }
    try {
      const key = apply();
      if (key) entry.key = key; // a removal names what it removed (the route the kernel matched)
    } catch (err) {
      entry.ok = false;
      entry.error = (err as { code?: string }).code ?? (err as Error).message;
      throw err;
    }
  }

  /** The calls after the `from`-th entry of the log. */
  since(from: number): Call[] {
    return this.calls.slice(from);
  }
}

export class FakeKernel implements NetKernel {
  readonly netns: NetnsRef;
  readonly links = new Map<number, FakeLink>();
  readonly addresses: (AddressEntry & { protocol?: number })[] = [];
  readonly routes: FakeRoute[] = [];
  readonly rules: SourceRule[] = [];
  readonly proxies: { index: number; address: IPv6; protocol: number }[] = [];
  /** Global sysctls, and per link (by index: a rename keeps them, a deletion takes them). */
  readonly sysctls = new Map<string, string>();
  readonly linkSysctls = new Map<number, Map<string, string>>();
  /** nf_tables tables by name: the spec made, its sets as they are now. */
  readonly firewalls = new Map<string, { spec: FirewallSpec; sets: Map<string, string[]> }>();
  private nextIndex = 1;
  opened = 0;
  closed = 0;
  /** The netns no longer exists (its links went with it). */
  gone = false;

  constructor(
    private readonly net: FakeNet,
    readonly name: string,
    ref: { id: string; path: string; fd: number },
  ) {
    this.netns = { id: ref.id, path: ref.path, fd: ref.fd };
  }

  // ---------------------------------------------------------------- setup (not logged)

  /** A link present from the start (lo, the parent NIC, podman's eth0). */
  seedLink(l: { name: string; index?: number; mtu?: number; up?: boolean; mac?: string; kind?: string; alias?: string; parentIndex?: number; mode?: string }): FakeLink {
    const index = l.index ?? this.nextIndex;
    this.nextIndex = Math.max(this.nextIndex, index + 1);
    const link: FakeLink = {
      index,
      name: l.name,
      alias: l.alias,
      parentIndex: l.parentIndex,
      kind: l.kind,
      mode: l.mode,
      up: l.up ?? false,
      mtu: l.mtu ?? 1500,
      mac: l.mac ? Buffer.from(l.mac.replace(/:/g, ''), 'hex') : undefined,
      addrGenMode: undefined,
    };
    this.links.set(index, link);
    return link;
  }

  seedAddress(index: number, address: string, prefixLength: number): void {
    const a = parseIPv6(address);
    this.addresses.push({ index, address: a, prefixLength, flags: 0, scope: isLinkLocal(a) ? 253 : 0, validLifetime: INFINITE_LIFETIME, preferredLifetime: INFINITE_LIFETIME });
  }

  seedSysctl(key: string, value: string | number): void {
    this.storeSysctl(key, String(value));
  }

  // ---------------------------------------------------------------- reads

  private toLink(l: FakeLink): Link {
    return { index: l.index, name: l.name, flags: l.up ? IFF_UP : 0, mtu: l.mtu, mac: l.mac, parentIndex: l.parentIndex, kind: l.kind, operstate: undefined, alias: l.alias };
  }

  private byName(name: string): FakeLink | undefined {
    return [...this.links.values()].find((l) => l.name === name);
  }

  listLinks = (): Link[] => [...this.links.values()].sort((a, b) => a.index - b.index).map((l) => this.toLink(l));
  findLink = (name: string): Link | undefined => {
    const l = this.byName(name);
    return l && this.toLink(l);
  };
  listAddresses = (index?: number): AddressEntry[] =>
    this.addresses.filter((a) => index === undefined || a.index === index).map((a) => ({ ...a, address: Buffer.from(a.address) }));
  listRoutes = (table?: number): RouteEntry[] =>
    this.routes
      .filter((r) => table === undefined || r.table === table)
      .map((r) => ({ destination: Buffer.from(r.destination), prefixLength: r.prefixLength, gateway: r.gateway && Buffer.from(r.gateway), oif: r.oif, table: r.table, protocol: r.protocol, metric: r.metric, expires: r.expires }));
  listRules = (): SourceRule[] => this.rules.map((r) => ({ ...r, source: Buffer.from(r.source) }));
  listProxies = (): { index: number; address: IPv6; protocol: number }[] => this.proxies.map((p) => ({ ...p, address: Buffer.from(p.address) }));

  readSysctl = (key: string): string => {
    const m = CONF.exec(key);
    if (m && m[1] !== 'all' && m[1] !== 'default') {
      const link = this.byName(m[1] ?? '');
      if (!link) throw errno('ENOENT', `open /proc/sys/${key}`);
      return `${this.linkSysctls.get(link.index)?.get(m[2] ?? '') ?? '0'}\n`;
    }
    return `${this.sysctls.get(key) ?? '0'}\n`;
  };

  // ---------------------------------------------------------------- keys (a make and its undo share one)

  linkKey = (index: number): string => `link ${this.name}#${index}`;
  addressKey = (index: number, address: IPv6, prefixLength: number): string => `addr ${this.name}#${index} ${formatIPv6(address)}/${prefixLength}`;
  routeKey = (r: Pick<FakeRoute, 'table' | 'destination' | 'prefixLength' | 'gateway' | 'oif' | 'metric'>): string =>
    `route ${this.name} table ${r.table} ${formatIPv6(r.destination)}/${r.prefixLength} via ${r.gateway ? formatIPv6(r.gateway) : '-'} dev ${r.oif} metric ${r.metric}`;
  ruleKey = (r: SourceRule): string => `rule ${this.name} from ${formatIPv6(r.source)} lookup ${r.table} prio ${r.priority}`;
  proxyKey = (index: number, address: IPv6): string => `proxy ${this.name}#${index} ${formatIPv6(address)}`;

  // ---------------------------------------------------------------- mutations

  private need(index: number): FakeLink {
    const l = this.links.get(index);
    if (!l) throw errno('ENODEV', `link ${index}`);
    return l;
  }

  createSlave(opts: { parentIndex: number; name: string; target?: NetnsRef; spec: SlaveSpec; mac?: Buffer }): void {
    const target = opts.target ? this.net.byRef(opts.target) : this;
    const where = target && target !== this ? ` netns ${target.name}` : '';
    const text = `ip link add link ${opts.parentIndex} name ${opts.name}${where}${opts.mac ? ` address ${formatMac(opts.mac)}` : ''} type ${opts.spec.kind} mode ${opts.spec.mode}`;
    this.net.mutate({ kind: 'make', ns: this.name, op: 'createSlave', text }, () => {
      if (!target || target.gone) throw errno('EINVAL', 'no such target netns');
      const parent = this.need(opts.parentIndex);
      if (target.byName(opts.name)) throw errno('EEXIST', `link ${opts.name}`);
      const made = target.seedLink({ name: opts.name, mtu: parent.mtu, kind: opts.spec.kind, mode: opts.spec.mode, parentIndex: parent.index });
      made.mac = opts.mac ? Buffer.from(opts.mac) : opts.spec.kind === 'ipvlan' ? parent.mac : Buffer.from([2, 0, 0, 0, 0, made.index]);
      return target.linkKey(made.index);
    });
  }

  setLink(index: number, change: LinkChange): void {
    const what = Object.entries(change).map(([k, v]) => `${k} ${String(v)}`).join(' ');
    this.net.mutate({ kind: 'set', ns: this.name, op: 'setLink', text: `ip link set ${index} ${what}` }, () => {
      const l = this.need(index);
      if (change.name !== undefined && change.name !== l.name && this.byName(change.name)) throw errno('EEXIST', `link ${change.name}`);
      if (change.up !== undefined) l.up = change.up;
      if (change.mtu !== undefined) l.mtu = change.mtu;
      if (change.name !== undefined) l.name = change.name;
      if (change.alias !== undefined) l.alias = change.alias;
      if (change.addrGenMode !== undefined) l.addrGenMode = change.addrGenMode;
    });
  }

  deleteLink(index: number): void {
    this.net.mutate({ kind: 'unmake', ns: this.name, op: 'deleteLink', text: `ip link del ${index}`, key: this.linkKey(index) }, () => {
      this.need(index);
      this.dropLink(index);
    });
  }

  /** What the kernel does when a link goes: its addresses, routes, proxy entries and sysctls with it. */
  private dropLink(index: number): void {
    this.links.delete(index);
    this.linkSysctls.delete(index);
    for (const list of [this.addresses, this.proxies] as { index: number }[][]) {
      for (let i = list.length - 1; i >= 0; i--) if (list[i]?.index === index) list.splice(i, 1);
    }
    for (let i = this.routes.length - 1; i >= 0; i--) if (this.routes[i]?.oif === index) this.routes.splice(i, 1);
  }

  /** The netns is destroyed (the container's process exited): everything in it goes. */
  destroy(): void {
    this.gone = true;
    for (const index of [...this.links.keys()]) this.dropLink(index);
  }

  addAddress(spec: AddressSpec): void {
    const key = this.addressKey(spec.index, spec.address, spec.prefixLength);
    const lt = spec.validLifetime !== undefined ? ` valid_lft ${spec.validLifetime} preferred_lft ${spec.preferredLifetime}` : '';
    this.net.mutate({ kind: 'make', ns: this.name, op: 'addAddress', text: `ip -6 addr add ${formatIPv6(spec.address)}/${spec.prefixLength} dev ${spec.index} flags ${spec.flags ?? 0}${lt}`, key }, () => {
      this.need(spec.index);
      if (this.addresses.some((a) => a.index === spec.index && a.address.equals(spec.address))) throw errno('EEXIST', key);
      this.addresses.push({
        index: spec.index,
        address: Buffer.from(spec.address),
        prefixLength: spec.prefixLength,
        flags: spec.flags ?? 0,
        scope: isLinkLocal(spec.address) ? 253 : 0,
        validLifetime: spec.validLifetime ?? INFINITE_LIFETIME,
        preferredLifetime: spec.preferredLifetime ?? INFINITE_LIFETIME,
      });
    });
  }

  replaceAddress(spec: AddressSpec): void {
    const key = this.addressKey(spec.index, spec.address, spec.prefixLength);
    this.net.mutate({ kind: 'set', ns: this.name, op: 'replaceAddress', text: `ip -6 addr replace ${formatIPv6(spec.address)}/${spec.prefixLength} dev ${spec.index}`, key }, () => {
      this.need(spec.index);
      const i = this.addresses.findIndex((a) => a.index === spec.index && a.address.equals(spec.address));
      if (i >= 0) this.addresses.splice(i, 1);
      this.addresses.push({ index: spec.index, address: Buffer.from(spec.address), prefixLength: spec.prefixLength, flags: spec.flags ?? 0, scope: 0, validLifetime: spec.validLifetime ?? INFINITE_LIFETIME, preferredLifetime: spec.preferredLifetime ?? INFINITE_LIFETIME });
    });
  }

  deleteAddress(spec: { index: number; address: IPv6; prefixLength: number }): void {
    const key = this.addressKey(spec.index, spec.address, spec.prefixLength);
    this.net.mutate({ kind: 'unmake', ns: this.name, op: 'deleteAddress', text: `ip -6 addr del ${formatIPv6(spec.address)}/${spec.prefixLength} dev ${spec.index}`, key }, () => {
      this.need(spec.index);
      const i = this.addresses.findIndex((a) => a.index === spec.index && a.address.equals(spec.address) && a.prefixLength === spec.prefixLength);
      if (i < 0) throw errno('EADDRNOTAVAIL', key);
      this.addresses.splice(i, 1);
    });
  }

  private routeText(verb: string, s: RouteSpec): string {
    const parts = [`ip -6 route ${verb} ${s.prefixLength === 0 ? 'default' : `${formatIPv6(s.destination)}/${s.prefixLength}`}`];
    if (s.gateway) parts.push(`via ${formatIPv6(s.gateway)}`);
    parts.push(`dev ${s.oif}`);
    if (s.prefsrc) parts.push(`src ${formatIPv6(s.prefsrc)}`);
    if (s.table !== undefined) parts.push(`table ${s.table}`);
    if (s.metric !== undefined) parts.push(`metric ${s.metric}`);
    if (s.protocol !== undefined) parts.push(`proto ${s.protocol}`);
    if (s.expires !== undefined && s.expires !== INFINITE_LIFETIME) parts.push(`expires ${s.expires}`);
    if (s.preference) parts.push(`pref ${s.preference}`);
    return parts.join(' ');
  }

  private toRoute(s: RouteSpec): FakeRoute {
    return {
      table: s.table ?? RT_TABLE_MAIN,
      destination: Buffer.from(s.destination),
      prefixLength: s.prefixLength,
      gateway: s.gateway && Buffer.from(s.gateway),
      oif: s.oif,
      prefsrc: s.prefsrc && Buffer.from(s.prefsrc),
      metric: s.metric ?? DEFAULT_METRIC,
      protocol: s.protocol ?? RTPROT_BOOT,
      expires: s.expires,
      preference: s.preference,
    };
  }

  /** The kernel's identity of an IPv6 route: table, destination, metric (and the nexthop). */
  private sameRoute(a: FakeRoute, b: FakeRoute): boolean {
    return a.table === b.table && a.prefixLength === b.prefixLength && a.destination.equals(b.destination) && a.metric === b.metric && a.oif === b.oif && (a.gateway?.equals(b.gateway ?? Buffer.alloc(0)) ?? b.gateway === undefined);
  }

  addRoute(spec: RouteSpec): void {
    const r = this.toRoute(spec);
    this.net.mutate({ kind: 'make', ns: this.name, op: 'addRoute', text: this.routeText('add', spec), key: this.routeKey(r) }, () => {
      this.need(spec.oif);
      if (this.routes.some((x) => this.sameRoute(x, r))) throw errno('EEXIST', this.routeKey(r));
      this.routes.push(r);
    });
  }

  /** A replace of an existing route is a change ('set'), of a missing one a make. */
  replaceRoute(spec: RouteSpec): void {
    const r = this.toRoute(spec);
    const exists = this.routes.some((x) => this.sameRoute(x, r));
    this.net.mutate({ kind: exists ? 'set' : 'make', ns: this.name, op: 'replaceRoute', text: this.routeText('replace', spec), key: this.routeKey(r) }, () => {
      this.need(spec.oif);
      const i = this.routes.findIndex((x) => this.sameRoute(x, r));
      if (i >= 0) this.routes.splice(i, 1, r);
      else this.routes.push(r);
    });
  }

  /** As the kernel matches a deletion: destination and table, then gateway, oif, metric and protocol only when given. */
  deleteRoute(spec: RouteSpec): void {
    const want = this.toRoute(spec);
    this.net.mutate({ kind: 'unmake', ns: this.name, op: 'deleteRoute', text: this.routeText('del', spec), key: this.routeKey(want) }, () => {
      const i = this.routes.findIndex(
        (x) =>
          x.table === want.table &&
          x.prefixLength === want.prefixLength &&
          x.destination.equals(want.destination) &&
          (!spec.gateway || (x.gateway !== undefined && x.gateway.equals(spec.gateway))) &&
          (!spec.oif || x.oif === spec.oif) &&
          (spec.metric === undefined || x.metric === spec.metric) &&
          (spec.protocol === undefined || x.protocol === spec.protocol),
      );
      if (i < 0) throw errno('ESRCH', this.routeKey(want));
      const [gone] = this.routes.splice(i, 1);
      return gone && this.routeKey(gone);
    });
  }

  addRule(rule: SourceRule): void {
    this.net.mutate({ kind: 'make', ns: this.name, op: 'addRule', text: `ip -6 rule add from ${formatIPv6(rule.source)} lookup ${rule.table} priority ${rule.priority} protocol ${rule.protocol ?? 0}`, key: this.ruleKey(rule) }, () => {
      if (this.rules.some((r) => r.source.equals(rule.source) && r.table === rule.table && r.priority === rule.priority)) throw errno('EEXIST', this.ruleKey(rule));
      this.rules.push({ ...rule, source: Buffer.from(rule.source), protocol: rule.protocol ?? 0 });
    });
  }

  deleteRule(rule: SourceRule): void {
    this.net.mutate({ kind: 'unmake', ns: this.name, op: 'deleteRule', text: `ip -6 rule del from ${formatIPv6(rule.source)} lookup ${rule.table} priority ${rule.priority}`, key: this.ruleKey(rule) }, () => {
      const i = this.rules.findIndex((r) => r.source.equals(rule.source) && r.table === rule.table && r.priority === rule.priority);
      if (i < 0) throw errno('ENOENT', this.ruleKey(rule));
      this.rules.splice(i, 1);
    });
  }

  addProxy(index: number, address: IPv6, protocol?: number): void {
    this.net.mutate({ kind: 'make', ns: this.name, op: 'addProxy', text: `ip -6 neigh replace proxy ${formatIPv6(address)} dev ${index} protocol ${protocol ?? 0}`, key: this.proxyKey(index, address) }, () => {
      this.need(index);
      const i = this.proxies.findIndex((p) => p.index === index && p.address.equals(address));
      if (i >= 0) this.proxies.splice(i, 1);
      this.proxies.push({ index, address: Buffer.from(address), protocol: protocol ?? 0 });
    });
  }

  deleteProxy(index: number, address: IPv6): void {
    this.net.mutate({ kind: 'unmake', ns: this.name, op: 'deleteProxy', text: `ip -6 neigh del proxy ${formatIPv6(address)} dev ${index}`, key: this.proxyKey(index, address) }, () => {
      const i = this.proxies.findIndex((p) => p.index === index && p.address.equals(address));
      if (i < 0) throw errno('ENOENT', this.proxyKey(index, address));
      this.proxies.splice(i, 1);
    });
  }

  private storeSysctl(key: string, value: string): void {
    const m = CONF.exec(key);
    if (m && m[1] !== 'all' && m[1] !== 'default') {
      const link = this.byName(m[1] ?? '');
      if (!link) throw errno('ENOENT', `open /proc/sys/${key}`);
      const per = this.linkSysctls.get(link.index) ?? new Map<string, string>();
      per.set(m[2] ?? '', value);
      this.linkSysctls.set(link.index, per);
    } else {
      this.sysctls.set(key, value);
    }
  }

  writeSysctl(key: string, value: string | number): void {
    this.net.mutate({ kind: 'set', ns: this.name, op: 'writeSysctl', text: `sysctl -w ${key.replace(/\//g, '.')}=${value}` }, () => this.storeSysctl(key, String(value)));
  }

  installFirewall(spec: FirewallSpec): void {
    this.net.mutate({ kind: 'make', ns: this.name, op: 'installFirewall', text: `nft add table inet ${spec.table} (iif ${spec.ifname})` }, () => {
      this.firewalls.set(spec.table, { spec, sets: new Map(Object.entries(spec.members).map(([n, a]) => [`net_${n}`, [...a]])) });
      return `firewall ${spec.table}`;
    });
  }

  setFirewallMembers(table: string, network: string, addresses: string[]): void {
    this.net.mutate({ kind: 'set', ns: this.name, op: 'setFirewallMembers', text: `nft flush set inet ${table} net_${network}; add element { ${addresses.join(', ')} }` }, () => {
      const t = this.firewalls.get(table);
      if (!t?.sets.has(`net_${network}`)) throw errno('ENOENT', `no set net_${network} in table ${table}`);
      t.sets.set(`net_${network}`, [...addresses]);
    });
  }

  deleteFirewall(table: string): boolean {
    let had = false;
    this.net.mutate({ kind: 'unmake', ns: this.name, op: 'deleteFirewall', text: `nft delete table inet ${table}` }, () => {
      // The real handle says false; here, the kernel's ENOENT, so that the call log shows a miss.
      if (!this.firewalls.has(table)) throw errno('ENOENT', `no table ${table}`);
      had = this.firewalls.delete(table);
      return `firewall ${table}`;
    });
    return had;
  }

  readFirewall = (table: string): FirewallState | undefined => {
    const t = this.firewalls.get(table);
    if (!t) return undefined;
    const n = ruleCount(t.spec.policy) - 1; // the input chain holds the other
    const guard = Array.from({ length: n }, (_, i) => ({ chain: 'guard', ...(i === n - 1 ? { comment: t.spec.tag } : {}), exprs: [] as string[] }));
    return { chains: ['input', 'guard'], rules: [{ chain: 'input', exprs: ['meta', 'cmp', 'immediate'] }, ...guard], sets: Object.fromEntries([...t.sets].map(([k, v]) => [k, [...v]])) };
  };

  close(): void {
    this.closed++;
  }

  // ---------------------------------------------------------------- the model as data

  model(): NetnsModel {
    const sorted = (xs: string[]): string[] => [...xs].sort();
    const linkName = (i: number): string => this.links.get(i)?.name ?? `#${i}`;
    return {
      links: sorted(
        [...this.links.values()].map(
          (l) =>
            `${l.index}: ${l.name} alias=${l.alias ?? '-'} parent=${l.parentIndex ?? '-'} ${l.kind ?? '-'}/${l.mode ?? '-'} ${l.up ? 'UP' : 'DOWN'} mtu ${l.mtu} mac ${l.mac ? formatMac(l.mac) : '-'} addrgenmode ${l.addrGenMode ?? '-'}`,
        ),
      ),
      addresses: sorted(this.addresses.map((a) => `${formatIPv6(a.address)}/${a.prefixLength} dev ${linkName(a.index)} valid ${a.validLifetime} preferred ${a.preferredLifetime} flags ${a.flags}`)),
      routes: sorted(this.routes.map((r) => `${this.routeKey(r)} (dev ${linkName(r.oif)}) src ${r.prefsrc ? formatIPv6(r.prefsrc) : '-'} proto ${r.protocol} expires ${r.expires ?? '-'} pref ${r.preference ?? '-'}`)),
      rules: sorted(this.rules.map((r) => `${this.ruleKey(r)} proto ${r.protocol ?? 0}`)),
      proxies: sorted(this.proxies.map((p) => `${formatIPv6(p.address)} dev ${linkName(p.index)} proto ${p.protocol}`)),
      ...(this.firewalls.size
        ? { firewalls: sorted([...this.firewalls].map(([name, t]) => `${name} iif ${t.spec.ifname} ${t.spec.tag} sets ${[...t.sets].map(([k, v]) => `${k}=[${v.join(',')}]`).join(' ')}`)) }
        : {}),
      sysctls: sorted([
        ...[...this.sysctls].map(([k, v]) => `${k}=${v}`),
        ...[...this.linkSysctls].flatMap(([i, per]) => [...per].map(([k, v]) => `net/ipv6/conf/${linkName(i)}/${k}=${v}`)),
      ]),
    };
  }
}

// ---------------------------------------------------------------- ND

export interface FakeNdOptions {
  /** The RA discover resolves with, or the error it rejects with. */
  router: () => DiscoveredRouter | Error;
  /** Each probe's verdict (`attempt` counts the probes of that address, from 0). */
  verdict?: (address: string, attempt: number) => DadResult['verdict'];
  /** Milliseconds before a probe of this address answers (0: at once). */
  delayMs?: (address: string) => number;
}

/** `nd` for PipelineDeps: every port logs discover/probe/announce to the call log. */
export function fakeNd(net: FakeNet, opts: FakeNdOptions) {
  const vantages: NdVantage[] = [];
  const probes: string[] = [];
  const announced: string[][] = [];
  const attempts = new Map<string, number>();
  const make = (vantage: NdVantage, dadTransmits: number): NdPort => {
    vantages.push(vantage);
    const where = `${vantage.ifname}#${vantage.ifindex} in ${net.byRef(vantage.netns)?.name ?? vantage.netns.id}`;
    return {
      vantage,
      discover(d: DiscoverOptions): Promise<DiscoveredRouter> {
        net.note('nd', 'nd', 'discover', `RS on ${where} from ${d.source ? formatIPv6(d.source) : '::'} within ${d.timeoutMs} ms`);
        const r = opts.router();
        return r instanceof Error ? Promise.reject(r) : Promise.resolve(r);
      },
      probe(address: IPv6, retransMs: number): Promise<DadResult> {
        const text = formatIPv6(address);
        const attempt = attempts.get(text) ?? 0;
        attempts.set(text, attempt + 1);
        probes.push(text);
        net.note('nd', 'nd', 'probe', `DAD ${text} on ${where} (${dadTransmits} × ${retransMs} ms)`);
        const verdict = opts.verdict?.(text, attempt) ?? 'unique';
        const result: DadResult = { address: Buffer.from(address), verdict, elapsedMs: 1, sent: dadTransmits, ...(verdict === 'duplicate' ? { evidence: 'NA from fe80::bad' } : {}) };
        const delay = opts.delayMs?.(text) ?? 0;
        return delay > 0 ? new Promise((resolve) => setTimeout(() => resolve(result), delay)) : Promise.resolve(result);
      },
      announce(addresses: IPv6[]): void {
        const list = addresses.map(formatIPv6);
        announced.push(list);
        net.note('nd', 'nd', 'announce', `NA on ${where}: ${list.join(' ')}`);
      },
    };
  };
  return { make, vantages, probes, announced };
}

/** What the ND client resolves with for `ra` from `router`. */
export function discovered(ra: RouterAdvertisement, router = 'fe80::1', receivedAt = 5_000_000): DiscoveredRouter {
  return { router: parseIPv6(router), advertisement: ra, elapsedMs: 3, receivedAt, solicitations: 1, dropped: [] };
}

export const noRouter = (ms = 5000): Error => new TimeoutError(`no router advertisement on eth0 within ${ms} ms (3 solicitations sent)`);

// ---------------------------------------------------------------- store, lock, log

/** Records as the state store keeps them: copies (JSON), so the pipeline's objects are not shared. */
export class MemoryStore implements RecordStore {
  readonly records = new Map<string, string>();
  writes = 0;
  write(record: ContainerRecord): void {
    this.writes++;
    this.records.set(record.id, JSON.stringify(record));
  }
  read(id: string): ContainerRecord | undefined {
    const text = this.records.get(id);
    return text === undefined ? undefined : (JSON.parse(text) as ContainerRecord);
  }
  remove(id: string): boolean {
    return this.records.delete(id);
  }
  list(): ContainerRecord[] {
    return [...this.records.values()].map((t) => JSON.parse(t) as ContainerRecord);
  }
  related(query: RelatedQuery): ContainerRecord[] {
    return this.list().filter((r) => isRelated(r, query));
  }
}

/** A per-parent lock that logs lock/unlock and refuses to be taken twice (it is not reentrant). */
export function recordingLock(net: FakeNet) {
  const held = new Set<string>();
  const withLock = <T>(parent: string, fn: () => T): T => {
    if (held.has(parent)) throw new Error(`lock of ${parent} taken while held`);
    held.add(parent);
    net.note('lock', 'lock', 'lock', `lock ${parent}`);
    try {
      return fn();
    } finally {
      held.delete(parent);
      net.note('lock', 'lock', 'unlock', `unlock ${parent}`);
    }
  };
  return { withLock, held };
}

/** A Logger that keeps its lines (no stderr, no syslog). */
export class MemoryLogger extends Logger {
  readonly lines: string[] = [];
  constructor() {
    super('test', '/nonexistent');
  }
  override log(level: string, message: string): void {
    this.lines.push(`${level}: ${message}`);
  }
}
