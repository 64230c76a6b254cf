/**
 * Attach a container: state → netns → link → RA → address → DAD → configure. Everything is
 * native (rtnetlink, raw ICMPv6 sockets opened inside the container's netns); anything that
 * fails undoes what was made — the link, and with it every address and route on it.
 *
 * The container's interface gets a link-local address from RFC 7217 at once, added as usable
 * while our DAD for it runs (RFC 4429 optimistic use: the RS goes out from it without a SLLA
 * option, so the router answers by unicast without the multicast RA rate limit). The RA's
 * prefixes then give RFC 7217 global addresses that are installed only after our DAD says
 * unique (strict) — or at once, with DAD finishing afterwards (optimistic).
 *
 * ipvlan l3/l3s slaves hear no multicast: RS/RA and DAD then run on the parent, in the host
 * netns (`NdVantage`), and the host makes the addresses reachable (runtime/l3-host.ts). With
 * host_link, the host reaches its containers through a companion link (runtime/host-link.ts).
 */
import { randomBytes } from 'node:crypto';
import type { HookConfig } from '../core/config';
import type { StableName } from '../system/container-name';
import { claimAddress, DEFAULT_RETRANS_MS, type DadResult } from '../core/dad';
import { detectDuplicate } from '../system/nd/dad-probe';
import { InputError, NetlinkError } from '../core/errors';
import { IDGEN_RETRIES, stableAddress, stableMac, staticAddress } from '../core/iid';
import { formatIPv6, formatMac, formatPrefix, parseIPv6, UNSPECIFIED, type IPv6 } from '../core/ipv6';
import type { Logger } from '../system/log';
import { solicitRouter, type DiscoveredRouter } from '../system/nd/router-discovery';
import { NdSocket } from '../system/nd/socket';
import { announceAddress } from '../system/nd/announce';
import { ICMP6_NA, ICMP6_NS, ICMP6_RA, type NdOption, type PrefixInformation } from '../core/nd-types';
import { NetnsHandle, writeNetSysctl } from '../system/netns';
import { addAddress, deleteAddress, listAddresses } from '../system/rtnetlink/addresses';
import { IFA_F_DADFAILED, IFA_F_NODAD, IFA_F_TENTATIVE, RT_SCOPE_LINK } from '../wire/rtnetlink/constants';
import { addAddressReach, installTableRoutes, needsHostReach, prepareParent, releaseTable, removeAddressReach, type L3Reach } from '../ops/l3-reach';
import { addHostRoute, ensureCompanion, removeHostRoute } from '../ops/host-link';
import { createSlave, deleteLink, findLink, listLinks, setLink, type Link, type SlaveSpec } from '../system/rtnetlink/links';
import { addRoute } from '../system/rtnetlink/routes';
import { RtnetlinkSocket } from '../system/rtnetlink/socket';
import { lifetimesFromPrefix, remainingSeconds, selectPrefixes } from '../core/slaac';
import { STATE_VERSION, type AddressRecord, type ContainerRecord } from '../core/record';
import { toLifetime } from '../core/lifetime';

export interface AttachRequest {
  id: string;
  name: StableName;
  netnsPath: string;
  config: HookConfig;
  secret: Buffer;
  log: Logger;
}

const LINK_LOCAL_PREFIX = parseIPv6('fe80::');
const MIN_IPV6_MTU = 1280;

/** eth0, or the first free ethN when the netns already has one (e.g. podman's own eth0). */
export function freeInterfaceName(links: Link[]): string {
  const taken = new Set(links.map((l) => l.name));
  for (let n = 0; ; n++) if (!taken.has(`eth${n}`)) return `eth${n}`;
}

function slaveSpec(cfg: HookConfig): SlaveSpec {
  return cfg.mode === 'macvlan' ? { kind: 'macvlan', mode: cfg.macvlan_mode } : { kind: 'ipvlan', mode: cfg.ipvlan_mode };
}

/** The address to try for a prefix and DAD counter: RFC 7217, or the configured static IID. */
export function addressCandidate(cfg: HookConfig, name: string, secret: Buffer, prefix: IPv6, prefixLength: number): (dadCounter: number) => IPv6 {
  return (dadCounter) =>
    cfg.iid
      ? staticAddress(prefix, prefixLength, cfg.iid)
      : stableAddress({ prefix, prefixLength, name, networkId: cfg.network_id, dadCounter, secret }).address;
}

/** Install a global address as usable (our DAD decides, not the kernel's), lifetimes counted from the RA. */
export function installAddress(inside: RtnetlinkSocket, index: number, pi: PrefixInformation, raAt: number, address: IPv6): void {
  const lt = lifetimesFromPrefix(pi, raAt / 1000);
  const now = Date.now() / 1000;
  addAddress(inside, {
    index,
    address,
    prefixLength: pi.prefixLength,
    flags: IFA_F_NODAD,
    validLifetime: remainingSeconds(lt.validUntil, now),
    preferredLifetime: remainingSeconds(lt.preferredUntil, now),
  });
}

/**
 * Where the container's Neighbor Discovery runs: on its own interface (macvlan, ipvlan l2), or on
 * the parent in the host netns (ipvlan l3/l3s, whose slave hears no multicast).
 */
export interface NdVantage {
  netns: NetnsHandle;
  ifname: string;
  ifindex: number;
  /** The link-layer address neighbours see for our addresses there (the TLLA we announce). */
  mac: Buffer | undefined;
}

/** ND on the container's own link, or — given the parent — on the parent in the host netns. */
export function ndVantage(parent: Link | undefined, netns: NetnsHandle, link: Link): NdVantage {
  const [ns, on] = parent ? [NetnsHandle.current(), parent] : [netns, link];
  return { netns: ns, ifname: on.name, ifindex: on.index, mac: on.mac };
}

/** A fresh ND socket for one DAD probe (each concurrent probe listens on its own). */
export function probeOn(at: NdVantage, transmits: number): (address: IPv6, retransMs: number) => Promise<DadResult> {
  return (address, retransMs) => {
    const sock = NdSocket.open({ ...at, types: [ICMP6_NS, ICMP6_NA] });
    return detectDuplicate(sock, { target: address, transmits, retransMs }).finally(() => sock.close());
  };
}

/** The parent's usable link-local address (the RS source on the parent), if it has one. */
function usableLinkLocal(host: RtnetlinkSocket, index: number): IPv6 | undefined {
  return listAddresses(host, index).find((a) => a.scope === RT_SCOPE_LINK && (a.flags & (IFA_F_TENTATIVE | IFA_F_DADFAILED)) === 0)?.address;
}

export async function attachContainer(req: AttachRequest): Promise<ContainerRecord> {
  const { config: cfg, log } = req;
  const t0 = performance.now();
  const host = RtnetlinkSocket.open();
  const opened: { close(): void }[] = [host];
  /** What to take back if attach fails, run last-made first. */
  const undo: (() => void)[] = [];
  try {
    const parent = findLink(host, cfg.parent);
    if (!parent) throw new InputError(`parent interface ${JSON.stringify(cfg.parent)} does not exist`);
    const netns = NetnsHandle.open(req.netnsPath);
    opened.push(netns);
    const inside = RtnetlinkSocket.open(netns);
    opened.push(inside);

    // 1. The link, made directly inside the container's netns.
    const ifname = freeInterfaceName(listLinks(inside));
    const spec = slaveSpec(cfg);
    // macvlan: a MAC stable per name, so a restarted container is the same neighbour as before.
    const mac = spec.kind === 'macvlan' ? stableMac({ name: req.name.name, secret: req.secret }) : undefined;
    // Made under a name of its own, then renamed inside: kernel 6.1 refuses (EEXIST) a name the
    // host's namespace already has — and hosts have an eth0 — even when the link goes elsewhere.
    const madeAs = `osh${randomBytes(5).toString('hex')}`;
    try {
      createSlave(host, { parentIndex: parent.index, name: madeAs, target: netns, spec, mac });
    } catch (err) {
      // Name the interface the container gets, not the passing one.
      if (err instanceof NetlinkError) throw new NetlinkError(`create ${spec.kind} ${ifname} (${spec.mode}) on ${parent.name}`, err.code, err.errno, err.extack);
      throw err;
    }
    const made = findLink(inside, madeAs);
    if (!made) throw new Error(`${madeAs} vanished right after it was created`);
    undo.push(() => deleteLink(inside, made.index));
    setLink(inside, made.index, { name: ifname });
    const link = { ...made, name: ifname };
    const onParent = needsHostReach(spec.kind, spec.mode);
    const vantage = ndVantage(onParent ? parent : undefined, netns, link);

    // 2. The kernel must neither autoconfigure from the RA nor run its own DAD: we do both.
    for (const [key, value] of [['accept_ra', 0], ['autoconf', 0], ['accept_dad', 0]] as const) {
      writeNetSysctl(netns, `net/ipv6/conf/${ifname}/${key}`, value);
    }
    setLink(inside, link.index, { addrGenMode: 'none' });
    setLink(inside, link.index, { up: true });

    // 3. Link-local address (RFC 7217 on fe80::/64), usable at once; its DAD runs alongside.
    const probe = probeOn(vantage, cfg.dad_transmits);
    const optimistic = cfg.dad === 'optimistic';
    const linkLocal = stableAddress({ prefix: LINK_LOCAL_PREFIX, prefixLength: 64, name: req.name.name, networkId: cfg.network_id, dadCounter: 0, secret: req.secret }).address;
    addAddress(inside, { index: link.index, address: linkLocal, prefixLength: 64, flags: IFA_F_NODAD });
    // Optimistic mode returns before any DAD completes: the background check probes it instead.
    const linkLocalDad = optimistic ? undefined : probe(linkLocal, DEFAULT_RETRANS_MS);
    linkLocalDad?.catch(() => undefined); // awaited below; a failure before then must not go unhandled
    // Should the link-layer address ever change, the kernel announces it (RFC 4861 §7.2.6). It does
    // not announce addresses added with NODAD: we announce each verified address ourselves (9.).
    writeNetSysctl(netns, `net/ipv6/conf/${ifname}/ndisc_notify`, 1);

    // 4. Router discovery.
    //    On the parent, the RS goes out from the parent's own link-local address (or `::`).
    const raSock = NdSocket.open({ ...vantage, types: [ICMP6_RA] });
    const tRa = performance.now();
    let found: DiscoveredRouter;
    try {
      const source = onParent ? usableLinkLocal(host, parent.index) : linkLocal;
      // Retransmissions from `::`: answered by multicast, even by a router whose cache holds our
      // link-local address on another MAC (this name earlier on another link kind).
      found = await solicitRouter(raSock, { source, retransmitSource: UNSPECIFIED, timeoutMs: cfg.ra_timeout_ms, retransmitMs: 1000 });
    } finally {
      raSock.close();
    }
    const raAt = Date.now();
    const raMs = performance.now() - tRa;
    const ra = found.advertisement;
    const { usable, ignored } = selectPrefixes(ra.options);
    for (const i of ignored) log.info(`RA prefix ${i.prefix} not used: ${i.reason}`);
    if (usable.length === 0) {
      throw new Error(`router ${formatIPv6(found.router)} on ${cfg.parent} advertises no prefix usable for SLAAC`);
    }

    // 5. MTU from the RA (RFC 4861 §6.3.4: within [1280, the link's maximum]).
    const mtuOption = ra.options.find((o): o is Extract<NdOption, { type: 'mtu' }> => o.type === 'mtu');
    let mtu: number | null = null;
    if (mtuOption && mtuOption.mtu >= MIN_IPV6_MTU && mtuOption.mtu <= parent.mtu) {
      setLink(inside, link.index, { mtu: mtuOption.mtu });
      mtu = mtuOption.mtu;
    } else if (mtuOption) {
      log.warn(`RA MTU ${mtuOption.mtu} ignored: outside [${MIN_IPV6_MTU}, ${parent.mtu}]`);
    }

    // 6. Global addresses: one per usable prefix, each proven unique before it is installed.
    //    ipvlan l3/l3s: each one is made reachable by the host as it is installed.
    let reach: L3Reach | undefined;
    if (onParent) {
      const r: L3Reach = { parentIndex: parent.index, table: cfg.l3_table };
      prepareParent(parent.name);
      installTableRoutes(host, r, ra, found.router);
      undo.push(() => releaseTable(host, r.table));
      reach = r;
    }
    const reached: IPv6[] = [];
    undo.push(() => {
      for (const a of reached.splice(0)) if (reach) removeAddressReach(host, reach, a);
    });
    const install = (pi: PrefixInformation, address: IPv6): void => {
      installAddress(inside, link.index, pi, raAt, address);
      if (!reach) return;
      addAddressReach(host, reach, address);
      reached.push(address);
    };
    const withdraw = (pi: PrefixInformation, address: IPv6): void => {
      if (reach) {
        removeAddressReach(host, reach, address);
        const i = reached.findIndex((a) => a.equals(address));
        if (i >= 0) reached.splice(i, 1);
      }
      deleteAddress(inside, { index: link.index, address, prefixLength: pi.prefixLength });
    };
    const retransMs = ra.retransTimer > 0 ? ra.retransTimer : DEFAULT_RETRANS_MS;
    const tDad = performance.now();
    const claimFor = async (pi: PrefixInformation): Promise<AddressRecord> => {
      const candidate = addressCandidate(cfg, req.name.name, req.secret, pi.prefix, pi.prefixLength);
      const base = {
        prefix: formatPrefix(pi.prefix, pi.prefixLength),
        prefixLength: pi.prefixLength,
        validLifetime: toLifetime(pi.validLifetime),
        preferredLifetime: toLifetime(pi.preferredLifetime),
      };
      if (optimistic) {
        // RFC 4429: in use at once; DAD completes after the hook returns (runtime/optimistic.ts).
        const address = candidate(0);
        install(pi, address);
        return { ...base, address: formatIPv6(address), dadCounter: cfg.iid ? null : 0, dad: 'optimistic' };
      }
      const claim = await claimAddress({
        candidate,
        probe: (a) => probe(a, retransMs),
        mode: 'strict',
        retries: cfg.iid ? 0 : IDGEN_RETRIES,
        install: (address) => install(pi, address),
        withdraw: (address) => withdraw(pi, address),
      });
      for (const a of claim.attempts.filter((x) => x.verdict === 'duplicate')) log.warn(`DAD: ${formatIPv6(a.address)} is in use (${a.evidence ?? 'duplicate'}); trying the next`);
      return { ...base, address: formatIPv6(claim.address), dadCounter: cfg.iid ? null : claim.dadCounter, dad: 'verified' };
    };
    const addresses = await Promise.all(usable.map(claimFor));
    const llResult = await linkLocalDad;
    if (llResult?.verdict === 'duplicate') throw new Error(`link-local address ${formatIPv6(linkLocal)} is in use on the link (${llResult.evidence ?? 'duplicate'})`);
    const dadMs = performance.now() - tDad;

    // 7. Routes: default via the router (RFC 4861 §6.3.4), and its Route Information (RFC 4191).
    const routes: string[] = [];
    if (ra.routerLifetime > 0) {
      addRoute(inside, { destination: Buffer.alloc(16), prefixLength: 0, gateway: found.router, oif: link.index, expires: ra.routerLifetime, preference: ra.preference });
      routes.push('default');
    }
    for (const o of ra.options) {
      if (o.type !== 'route-information' || o.lifetime === 0 || o.prefixLength === 0) continue;
      addRoute(inside, { destination: o.prefix, prefixLength: o.prefixLength, gateway: found.router, oif: link.index, expires: o.lifetime, preference: o.preference });
      routes.push(formatPrefix(o.prefix, o.prefixLength));
    }

    // 8. host_link: the host's routes to the container through its companion link.
    let hostLink: ContainerRecord['hostLink'];
    if (cfg.host_link) {
      const companion = ensureCompanion(host, parent, spec, req.secret);
      const routed: IPv6[] = [];
      undo.push(() => {
        for (const a of routed) removeHostRoute(host, companion, a);
      });
      for (const a of addresses) {
        const address = parseIPv6(a.address);
        addHostRoute(host, companion, address);
        routed.push(address);
      }
      hostLink = { name: companion.name, index: companion.index, linkLocal: formatIPv6(companion.linkLocal) };
    }

    // 9. Announce what DAD proved ours (unsolicited NA, Override), so that a neighbour holding a
    //    stale entry for one of these addresses (this name earlier on another MAC) updates it now.
    if (!optimistic) announceAll(vantage, [...(onParent ? [] : [linkLocal]), ...addresses.map((a) => parseIPv6(a.address))], log);

    // 10. lo up, last: a failure before this point leaves the netns exactly as it was.
    const lo = findLink(inside, 'lo');
    if (lo) setLink(inside, lo.index, { up: true });

    const slla = ra.options.find((o): o is Extract<NdOption, { type: 'source-link-layer-address' }> => o.type === 'source-link-layer-address');
    return {
      version: STATE_VERSION,
      id: req.id,
      name: req.name.name,
      nameSource: req.name.source,
      netns: { path: req.netnsPath, id: netns.id },
      interface: { name: ifname, index: link.index, mac: link.mac ? formatMac(link.mac) : '', kind: spec.kind, mode: spec.mode },
      ...(reach ? { l3: reach } : {}),
      ...(hostLink ? { hostLink } : {}),
      parent: cfg.parent,
      linkLocal: formatIPv6(linkLocal),
      linkLocalDad: optimistic ? 'optimistic' : 'verified',
      retransMs,
      addresses,
      router: { address: formatIPv6(found.router), mac: slla ? formatMac(slla.address) : null, lifetime: ra.routerLifetime, preference: ra.preference },
      mtu,
      rdnss: ra.options.flatMap((o) => (o.type === 'rdnss' ? o.servers.map(formatIPv6) : [])),
      dnssl: ra.options.flatMap((o) => (o.type === 'dnssl' ? o.domains : [])),
      routes,
      timings: { raMs: round(raMs), dadMs: round(dadMs), totalMs: round(performance.now() - t0) },
      raAt,
      since: new Date().toISOString(),
    };
  } catch (err) {
    for (const step of undo.reverse()) {
      try {
        step();
      } catch (undoErr) {
        log.warn(`cleanup after failure: ${(undoErr as Error).message}`);
      }
    }
    throw err;
  } finally {
    for (const o of opened.reverse()) o.close();
  }
}

/** Best effort: an announcement that cannot go out only leaves neighbours to find us by NS. */
export function announceAll(at: NdVantage, addresses: IPv6[], log: Logger): void {
  const mac = at.mac;
  if (!mac || addresses.length === 0) return;
  let sock: NdSocket | undefined;
  try {
    sock = NdSocket.open({ ...at, types: [ICMP6_NA] });
    for (const a of addresses) announceAddress(sock, a, mac);
  } catch (err) {
    log.warn(`unsolicited NA on ${at.ifname}: ${(err as Error).message}`);
  } finally {
    sock?.close();
  }
}

const round = (ms: number): number => Math.round(ms * 10) / 10;

/**
 * Withdraw what attach made. The host's part (host routes, l3 rules and proxy entries) always —
 * it outlives the container's netns. Then the link, if the container's netns still exists (and is
 * the same netns: a /proc/PID path may by now name another process). When the netns is gone, the
 * kernel has already removed the link with it. Returns the host-side failures as warnings.
 */
export function detachContainer(record: ContainerRecord): { link: 'deleted' | 'gone'; warnings: string[] } {
  const warnings = detachHostSide(record);
  return { link: detachLink(record), warnings };
}

function detachHostSide(record: ContainerRecord): string[] {
  if (!record.l3 && !record.hostLink) return [];
  const warnings: string[] = [];
  const host = RtnetlinkSocket.open();
  try {
    const addresses = record.addresses.map((a) => parseIPv6(a.address));
    const hl = record.hostLink;
    if (hl) {
      for (const a of addresses) {
        const w = removeHostRoute(host, { index: hl.index, linkLocal: parseIPv6(hl.linkLocal) }, a);
        if (w) warnings.push(w);
      }
    }
    const l3 = record.l3;
    if (l3) {
      for (const a of addresses) warnings.push(...removeAddressReach(host, l3, a));
      releaseTable(host, l3.table);
    }
  } finally {
    host.close();
  }
  return warnings;
}

function detachLink(record: ContainerRecord): 'deleted' | 'gone' {
  let netns: NetnsHandle;
  try {
    netns = NetnsHandle.open(record.netns.path);
  } catch {
    return 'gone';
  }
  try {
    if (netns.id !== record.netns.id) return 'gone';
    const inside = RtnetlinkSocket.open(netns);
    try {
      const link = listLinks(inside).find((l) => l.index === record.interface.index && l.name === record.interface.name);
      if (!link) return 'gone';
      deleteLink(inside, link.index);
      return 'deleted';
    } finally {
      inside.close();
    }
  } finally {
    netns.close();
  }
}
