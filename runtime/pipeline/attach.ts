/**
 * Attach a container: state → netns → link → RA → address → DAD → configure → publish, as steps
 * over operations (runtime/ops), each of which records its effect in the container's ledger
 * before making it. Any failure replays the ledger in reverse: nothing is left half-made, and a
 * process killed at any point leaves a record from which poststop undoes everything.
 *
 * The container's interface gets a link-local address from RFC 7217 at once, added as usable
 * while our DAD for it runs (RFC 4429 optimistic use: the RS goes out from it without a SLLA
 * option, so the router answers by unicast without the multicast RA rate limit). The RA's
 * prefixes then give RFC 7217 global addresses that are installed only after our DAD says
 * unique (strict) — or at once, with DAD finishing afterwards (optimistic, pipeline/optimistic.ts).
 *
 * ipvlan l3/l3s slaves hear no multicast: RS/RA and DAD then run on the parent, in the host
 * netns, and the host makes the addresses reachable (ops/l3-reach.ts). With host_link, the host
 * reaches its containers through a companion link (ops/host-link.ts). Host-side objects shared per
 * parent are made and released under the parent's lock.
 */
import { randomUUID } from 'node:crypto';
import type { HookConfig } from '../core/config';
import type { Policy } from '../core/policy';
import { claimAddress, DEFAULT_RETRANS_MS, type DadResult } from '../core/dad';
import { InputError, oneLine, settleAll } from '../core/errors';
import { IDGEN_RETRIES, stableMac } from '../core/iid';
import { formatIPv6, formatMac, formatPrefix, parseIPv6, UNSPECIFIED, type IPv6 } from '../core/ipv6';
import { toLifetime } from '../core/lifetime';
import { needsHostReach, type SlaveSpec } from '../core/link-kinds';
import type { PrefixInformation } from '../core/nd-types';
import { addressCandidate, limitsOf, linkLocalAddress, planFromAdvertisements, type AddressKeys, type PlannedRoute } from '../core/plan';
import { STATE_VERSION, type AddressRecord, type ContainerRecord, type RootlessOwner } from '../core/record';
import { refreshFields } from '../core/refresh';
import { lifetimesFromPrefix, remainingSeconds } from '../core/slaac';
import type { StableName } from '../system/container-name';
import { firstUsableLinkLocal } from '../system/interface';
import type { Link, NetKernel } from '../system/kernel';
import type { DiscoveredRouter, NdPort, NdVantage } from '../system/nd/port';
import { installAddress, type AddressPlace } from '../ops/address';
import { addRemoteMembers, installFirewall } from '../ops/firewall';
import { dnsLabel, publish } from '../ops/dns-records';
import { ensureCompanion } from '../ops/host-link';
import { installTable, prepareParent, type L3Reach } from '../ops/l3-reach';
import { Ledger } from '../ops/ledger';
import { freeInterfaceName, makeLink } from '../ops/link';
import { addContainerRoutes } from '../ops/route';
import { IFA_F_DADFAILED, IFA_F_OPTIMISTIC } from '../wire/rtnetlink/constants';
import { refuseHostNetns, refuseNameTaken } from './admit';
import { contextFor, replayUndo, type PipelineDeps } from './deps';
import { agedLifetime, cachedDiscovery } from './ra-cache';

export interface AttachRequest {
  id: string;
  name: StableName;
  netnsPath: string;
  config: HookConfig;
  annotations: Record<string, string>;
  secret: Buffer;
  /** The container's process (OCI state pid), when the runtime gives one: its liveness tells a running container from leftovers. */
  pid?: number;
  /** The netns at netnsPath, already open (admission's): attach takes it over and closes it. */
  container?: NetKernel;
  /** The name under the DNS zone, when the caller decides it (the rootless broker: `<name>.<user>`); else the dns_name annotation or the stable name. */
  dnsLabel?: string;
  /** Attached by the rootless broker for this user. */
  rootless?: RootlessOwner;
  /** Who may reach it (core/policy.ts policyFor); absent: open, in no network. */
  policy?: Policy;
  /** The interface's name in the container (CNI_IFNAME): refused if the netns has one of that name. Absent: the first free ethN. */
  ifname?: string;
  /** Attached by the CNI plugin: the runtime's key of the attachment, kept in the record. */
  cni?: ContainerRecord['cni'];
}

const round = (ms: number): number => Math.round(ms * 10) / 10;

export function slaveSpec(cfg: HookConfig): SlaveSpec {
  return cfg.mode === 'macvlan' ? { kind: 'macvlan', mode: cfg.macvlan_mode } : { kind: 'ipvlan', mode: cfg.ipvlan_mode };
}

export const addressKeys = (cfg: HookConfig, name: string, secret: Buffer): AddressKeys => ({ name, secret, networkId: cfg.network_id, iid: cfg.iid });

/** Where the container's ND runs: on its own link, or on the parent in the host netns (ipvlan l3/l3s). */
export function ndVantage(onParent: boolean, host: NetKernel, parent: Link, container: NetKernel, link: Pick<Link, 'name' | 'index' | 'mac'>): NdVantage {
  const [netns, on] = onParent ? [host.netns, parent] : [container.netns, link];
  return { netns, ifname: on.name, ifindex: on.index, mac: on.mac };
}

/** An ipvlan mode belongs to the parent, not the slave: refuse a second one rather than switch the running containers. */
function refuseIpvlanModeChange(cfg: HookConfig, parent: Link, peers: ContainerRecord[]): void {
  if (cfg.mode !== 'ipvlan') return;
  const others = peers.filter((r) => (r.ledger ?? []).some((e) => e.kind === 'link' && e.parentIndex === parent.index && e.linkKind === 'ipvlan' && e.mode !== cfg.ipvlan_mode));
  const first = others[0]?.ledger.find((e) => e.kind === 'link');
  if (first && first.kind === 'link') {
    throw new InputError(
      `ipvlan_mode ${cfg.ipvlan_mode} refused: ${cfg.parent} already carries ipvlan ${first.mode} containers (${others.map((r) => r.id).join(', ')}), and the mode is one per parent`,
    );
  }
}

/** The container's process and the hook's own, as the record keeps them (absent when unknown). */
function processRefs(pid: number | undefined, deps: PipelineDeps): Pick<ContainerRecord, 'process' | 'hook'> {
  const container = pid ? deps.processRef(pid) : undefined;
  const hook = deps.processRef(process.pid);
  return { ...(container ? { process: container } : {}), ...(hook ? { hook } : {}) };
}

function newRecord(req: AttachRequest, netnsId: string, spec: SlaveSpec, deps: PipelineDeps): ContainerRecord {
  return {
    version: STATE_VERSION,
    id: req.id,
    phase: 'attaching',
    ledger: [],
    attachId: randomUUID(),
    name: req.name.name,
    nameSource: req.name.source,
    ...(req.rootless ? { rootless: req.rootless } : {}),
    ...(req.cni ? { cni: req.cni } : {}),
    ...processRefs(req.pid, deps),
    derivation: { networkId: req.config.network_id, iid: req.config.iid, dadTransmits: req.config.dad_transmits },
    netns: { path: req.netnsPath, id: netnsId },
    interface: { name: '', index: 0, mac: '', kind: spec.kind, mode: spec.mode },
    parent: req.config.parent,
    linkLocal: '',
    linkLocalDad: req.config.dad === 'optimistic' ? 'optimistic' : 'verified',
    addresses: [],
    retransMs: 0,
    router: { address: '', mac: null, lifetime: 0, preference: 'medium' },
    mtu: null,
    rdnss: [],
    dnssl: [],
    routes: [],
    timings: { raMs: 0, dadMs: 0, totalMs: 0 },
    raAt: 0,
    since: new Date().toISOString(),
  };
}

/** What claimIdentity found: the name's identity (DAD counter) on this link, and the RAs it solicited for that, if it had to. */
interface Identity {
  counter: number;
  discovered?: Promise<DiscoveredRouter>;
}

/** The RetransTimer an RA gives (RFC 4861 §6.3.4: 0 = unspecified, the default). */
const retransOf = (f: DiscoveredRouter): number => f.advertisement.retransTimer || DEFAULT_RETRANS_MS;

/**
 * secret_file (a secret shared by hosts of one link): this name may be running on another of them,
 * where the same secret gave it the same MAC and link-local address. A second port with that MAC
 * would blind DAD both ways — a macvlan drops multicast whose source MAC is its own slave's, so
 * neither container hears the other's NS or NA (seen here: both then hold one address) — and
 * would pull the other's unicast traffic to us. (An ipvlan slave has its parent's MAC, but the
 * same link-local address would refuse it.) So before the link exists, the name's link-local
 * is probed from the parent, whose MAC is ours alone; in use, the next identity — MAC, link-local
 * and global addresses of the next RFC 7217 §6 DAD_Counter — is tried, up to IDGEN_RETRIES; a
 * static iid cannot move, and is refused. The probes are paced by the link's RetransTimer: the
 * agent's cached RA's, else one solicited from the parent now (and used by the attach after).
 */
async function claimIdentity(req: AttachRequest, parent: Link, deps: PipelineDeps, caching: Promise<DiscoveredRouter | undefined>): Promise<Identity> {
  const cfg = req.config;
  const nd = deps.nd({ netns: deps.host.netns, ifname: parent.name, ifindex: parent.index, mac: parent.mac }, cfg.dad_transmits);
  const cached = await caching;
  const discovered = cached ? undefined : nd.discover({ source: firstUsableLinkLocal(deps.host.listAddresses(parent.index)), retransmitSource: UNSPECIFIED, timeoutMs: cfg.ra_timeout_ms, retransmitMs: 1000 });
  discovered?.catch(() => undefined); // the attach awaits it (and names its failure) later
  const retransLater = discovered?.then(retransOf, () => DEFAULT_RETRANS_MS);
  const keys = addressKeys(cfg, req.name.name, req.secret);
  const retries = cfg.iid ? 0 : IDGEN_RETRIES;
  // Asked as a neighbour, from the parent's link-local (dad-probe.ts asNeighbour): the other host's
  // copy answers even in its first second, while its link-local is still Optimistic — where a DAD
  // NS from `::` would make its DAD fail instead. A parent without a link-local: DAD's NS.
  const source = firstUsableLinkLocal(deps.host.listAddresses(parent.index));
  const asNeighbour = source && parent.mac ? { source, mac: parent.mac } : undefined;
  const inUse: string[] = [];
  for (let counter = 0; counter <= retries; counter++) {
    const linkLocal = linkLocalAddress(keys, counter);
    const r = await nd.probe(linkLocal, cached ? retransOf(cached) : DEFAULT_RETRANS_MS, retransLater, asNeighbour);
    if (r.verdict === 'unique') {
      if (counter > 0) deps.log.warn(`name "${req.name.name}" is in use on ${cfg.parent}'s link (another host sharing secret_file ${cfg.secret_file}: ${inUse.join('; ')}): taking DAD counter ${counter} for its MAC and addresses`);
      return { counter, ...(discovered ? { discovered } : {}) };
    }
    inUse.push(`${formatIPv6(linkLocal)} ${r.evidence ?? 'duplicate'}`);
  }
  throw new InputError(
    `name "${req.name.name}" is in use on ${cfg.parent}'s link by another host sharing secret_file ${cfg.secret_file} (${inUse.join('; ')}): ${cfg.iid ? `its static iid ${cfg.iid} cannot move to another address` : `no free identity among DAD counters 0..${retries}`}`,
  );
}

const linkLocalInUse = (address: IPv6, r: DadResult): Error => new Error(`link-local address ${formatIPv6(address)} is in use on the link (${r.evidence ?? 'duplicate'})`);

export async function attach(req: AttachRequest, deps: PipelineDeps): Promise<ContainerRecord> {
  const { config: cfg } = req;
  const { log, host } = deps;
  const t0 = performance.now();
  const container = req.container ?? deps.openNetns(req.netnsPath);
  let parent: Link | undefined;
  try {
    refuseHostNetns(container.netns, req.netnsPath, deps);
    parent = host.findLink(cfg.parent);
    if (!parent) throw new InputError(`parent interface ${JSON.stringify(cfg.parent)} does not exist`);
  } catch (err) {
    container.close();
    throw err;
  }
  const spec = slaveSpec(cfg);
  const record = newRecord(req, container.netns.id, spec, deps);
  const ledger = new Ledger(deps.store, record);
  const ctx = contextFor(deps, ledger, container);
  const failpoint = deps.failpoint ?? ((): void => undefined);
  try {
    try {
      ledger.save(); // the record exists before the first effect
    } catch (err) {
      throw new Error(`cannot write state to ${cfg.state_dir}: ${oneLine(err)}`);
    }

    // The agent's RA cache (pipeline/ra-cache.ts), asked now: its answer comes while the link is made.
    const caching = cachedDiscovery(deps, cfg);

    // 1. The link, made directly inside the container's netns; the parent's mode checked and the
    //    link made under the parent's lock, so two hooks never pick two modes.
    const links = container.listLinks();
    if (req.ifname !== undefined && links.some((l) => l.name === req.ifname)) throw new InputError(`interface ${req.ifname} already exists in network namespace ${req.netnsPath}`);
    const ifname = req.ifname ?? freeInterfaceName(links);
    // A shared secret: which identity of this name is free on the link (claimIdentity), first.
    const identity: Identity = cfg.secret_file ? await claimIdentity(req, parent, deps, caching) : { counter: 0 };
    if (identity.counter > 0 && record.derivation) record.derivation.identity = identity.counter;
    // macvlan: a MAC stable per name, so a restarted container is the same neighbour as before.
    const mac = spec.kind === 'macvlan' ? stableMac({ name: req.name.name, secret: req.secret, dadCounter: identity.counter }) : undefined;
    const link = deps.withLock(cfg.parent, () => {
      // One name's records decide the race; ipvlan's mode check needs every record of the parent.
      refuseNameTaken(record, deps.store.related({ name: record.name, netnsId: record.netns.id }).filter((r) => r.id !== record.id), deps);
      if (cfg.mode === 'ipvlan') refuseIpvlanModeChange(cfg, parent, ctx.peers());
      return makeLink(ctx, { parent, ifname, spec, mac });
    });
    record.interface = { name: ifname, index: link.index, mac: link.mac ? formatMac(link.mac) : '', kind: spec.kind, mode: spec.mode };
    failpoint('link');

    // 2. IPv6 on for this link alone: Docker sets all/default disable_ipv6=1 in a container netns
    //    whose network has none (`--network none` too), which a new link inherits; Docker's own
    //    links keep what Docker set. The kernel must neither autoconfigure from the RA nor run its
    //    own DAD: we do both.
    for (const [key, value] of [['disable_ipv6', 0], ['accept_ra', 0], ['autoconf', 0], ['accept_dad', 0]] as const) container.writeSysctl(`net/ipv6/conf/${ifname}/${key}`, value);
    container.setLink(link.index, { addrGenMode: 'none' });
    // A restricted container's firewall, before its first address: never reachable beyond its
    // policy. Its networks' members: the host's own now, other hosts' (DNS) once published (11.).
    if (req.policy) installFirewall(ctx, ifname, req.policy);
    failpoint('firewall');
    container.setLink(link.index, { up: true });

    // 3. Link-local address (RFC 7217 on fe80::/64), usable at once; its DAD runs alongside.
    const onParent = needsHostReach(spec.kind, spec.mode);
    const nd: NdPort = deps.nd(ndVantage(onParent, host, parent, container, link), cfg.dad_transmits);
    const optimistic = cfg.dad === 'optimistic';
    const keys = addressKeys(cfg, req.name.name, req.secret);
    const linkLocal = linkLocalAddress(keys, identity.counter);
    record.linkLocal = formatIPv6(linkLocal);
    // RFC 4429 §3.3: until our DAD of it ends, the link-local is Optimistic, and NAs for it carry no
    // Override. The kernel clears Override for an IFA_F_OPTIMISTIC address (ndisc_send_na) but keeps
    // that flag only while its own DAD runs: inet6_addr_add ignores it without optimistic_dad, and
    // addrconf_dad_begin drops it at once for NODAD or accept_dad < 1. So for the link-local alone
    // the kernel's DAD runs too (dad_transmits × the link's RetransTimer, 1000 ms before any RA; no
    // initial delay for an optimistic address), and its end makes the address final; the global
    // addresses stay NODAD (7.), our DAD alone deciding for them.
    for (const [key, value] of [['accept_dad', 1], ['optimistic_dad', 1], ['dad_transmits', cfg.dad_transmits]] as const) container.writeSysctl(`net/ipv6/conf/${ifname}/${key}`, value);
    installAddress(ctx, { index: link.index }, linkLocal, 64, {}, IFA_F_OPTIMISTIC);
    // Optimistic mode returns before any DAD completes: the background check probes it instead.
    // Our probe goes out now, before any RA, at the default RetransTimer (RFC 4861 §10: 1000 ms);
    // once the RA gives the link's (4.), the wait ends that long after the NS, as for the global
    // addresses (RFC 4861 §6.3.2) — not a full second on a link whose router says 250 ms. (The
    // kernel's own run, armed already, may keep the address optimistic — usable — a little longer.)
    let retransKnown: (ms: number) => void = () => undefined;
    const retransLater = new Promise<number>((resolve) => (retransKnown = resolve));
    const linkLocalDad = optimistic ? undefined : nd.probe(linkLocal, DEFAULT_RETRANS_MS, retransLater);
    linkLocalDad?.catch(() => undefined); // awaited below; a failure before then must not go unhandled
    // Should the link-layer address ever change, the kernel announces it (RFC 4861 §7.2.6). It does
    // not announce addresses added with NODAD: we announce each verified address ourselves (9.).
    container.writeSysctl(`net/ipv6/conf/${ifname}/ndisc_notify`, 1);

    // 4. Router discovery. On the parent, the RS goes out from the parent's own link-local (or ::);
    //    retransmissions from `::` are answered by multicast, even by a router whose cache holds
    //    our link-local address on another MAC (this name earlier on another link kind).
    //    With an agent's fresh RAs of the parent (pipeline/ra-cache.ts), no RS at all.
    const tRa = performance.now();
    const cached = await caching;
    const discovering = cached ? Promise.resolve(cached) : identity.discovered ?? nd.discover({ source: onParent ? firstUsableLinkLocal(host.listAddresses(parent.index)) : linkLocal, retransmitSource: UNSPECIFIED, timeoutMs: cfg.ra_timeout_ms, retransmitMs: 1000 });
    failpoint('rs');
    // A link-local in use is found by the kernel's DAD too (it runs beside ours, 3.), which then
    // takes the address away: sends from it — and from `::`, the kernel finding no source — fail
    // with EADDRNOTAVAIL. A failure then is named by the verdict: ours, else the kernel's flag.
    const refuseIfKernelFailed = (): void => {
      const kernel = container.listAddresses(link.index).find((a) => a.address.equals(linkLocal));
      if (kernel && kernel.flags & IFA_F_DADFAILED) throw linkLocalInUse(linkLocal, { address: linkLocal, verdict: 'duplicate', evidence: "the kernel's DAD failed", elapsedMs: 0, sent: 0 });
    };
    const orLinkLocalInUse = async (err: unknown): Promise<never> => {
      const ll = await linkLocalDad?.catch(() => undefined);
      if (ll?.verdict === 'duplicate') throw linkLocalInUse(linkLocal, ll);
      refuseIfKernelFailed();
      throw err;
    };
    const found = await discovering.catch(orLinkLocalInUse);
    // Before the global addresses' DAD: their NSs from `::` would find no source and retry in vain.
    if (!optimistic) refuseIfKernelFailed();
    const raMs = performance.now() - tRa;
    // Every RA heard until one was usable, merged; at most max_prefixes/max_routes/max_dns_servers.
    const plan = planFromAdvertisements(found.heard ?? [found], parent.mtu, limitsOf(cfg));
    for (const note of plan.notes) log.info(note);
    if (plan.prefixes.length === 0) throw new Error(`router ${formatIPv6(plan.router)} on ${cfg.parent} advertises no prefix usable for SLAAC`);
    retransKnown(plan.retransMs);
    record.raAt = plan.receivedAt ?? found.receivedAt;
    // A cached RA was received a while ago: route lifetimes count from then too (addresses' do, from raAt).
    const raAge = cached ? deps.clock() - record.raAt : 0;
    const aged = (routes: PlannedRoute[]): PlannedRoute[] => routes.map((r) => ({ ...r, lifetime: agedLifetime(r.lifetime, raAge) }));

    // 5. MTU from the RA (RFC 4861 §6.3.4: within [1280, the link's maximum]).
    if (plan.mtu !== null) container.setLink(link.index, { mtu: plan.mtu });
    if (plan.mtuIgnored) log.warn(plan.mtuIgnored);

    // 6. The host's shared part, under the parent's lock: the l3 reach table, the host-link companion.
    let reach: L3Reach | undefined;
    let hostLink: AddressPlace['hostLink'];
    if (onParent || cfg.host_link) {
      deps.withLock(cfg.parent, () => {
        if (onParent) {
          reach = { parentIndex: parent.index, table: cfg.l3_table };
          prepareParent(host, parent.name);
          installTable(ctx, reach, aged(plan.tableRoutes));
        }
        if (cfg.host_link) {
          const companion = ensureCompanion(host, parent, spec, req.secret, cfg.secret_file !== '');
          hostLink = { index: companion.index, linkLocal: formatIPv6(companion.linkLocal) };
          record.hostLink = { name: companion.name, ...hostLink };
        }
      });
    }
    if (reach) record.l3 = reach;

    // 7. Global addresses: one per usable prefix, each proven unique before it is installed
    //    (strict), or installed at once with DAD to follow (optimistic, RFC 4429).
    const place: AddressPlace = { index: link.index, reach, hostLink };
    const install = (pi: PrefixInformation, address: IPv6): void => {
      const lt = lifetimesFromPrefix(pi, record.raAt / 1000);
      const now = deps.clock() / 1000;
      installAddress(ctx, place, address, pi.prefixLength, { validLifetime: remainingSeconds(lt.validUntil, now), preferredLifetime: remainingSeconds(lt.preferredUntil, now) });
    };
    const claimFor = async (pi: PrefixInformation): Promise<AddressRecord> => {
      // From the identity's DAD counter on (0 but with a shared secret and the name in use elsewhere).
      const from = addressCandidate(keys, pi.prefix, pi.prefixLength);
      const candidate = (n: number): IPv6 => from(n + identity.counter);
      const base = { prefix: formatPrefix(pi.prefix, pi.prefixLength), prefixLength: pi.prefixLength, validLifetime: toLifetime(pi.validLifetime), preferredLifetime: toLifetime(pi.preferredLifetime) };
      if (optimistic) {
        const address = candidate(0);
        install(pi, address);
        return { ...base, address: formatIPv6(address), dadCounter: cfg.iid ? null : identity.counter, dad: 'optimistic' };
      }
      const claim = await claimAddress({
        candidate,
        probe: (a) => nd.probe(a, plan.retransMs),
        mode: 'strict',
        retries: cfg.iid ? 0 : IDGEN_RETRIES - identity.counter,
        install: (address) => install(pi, address),
        withdraw: () => undefined, // strict: nothing is installed before DAD says unique
      });
      for (const a of claim.attempts.filter((x) => x.verdict === 'duplicate')) log.warn(`DAD: ${formatIPv6(a.address)} is in use (${a.evidence ?? 'duplicate'}); trying the next`);
      return { ...base, address: formatIPv6(claim.address), dadCounter: cfg.iid ? null : claim.dadCounter + identity.counter, dad: 'verified' };
    };
    const tDad = performance.now();
    // Every claim settles before a failure is acted on: undo must not run while another prefix's
    // DAD is still going, or that claim would install (and record) its address after the undo.
    const claiming = settleAll(plan.prefixes.map(claimFor));
    failpoint('dad');
    const addresses = await claiming.catch(orLinkLocalInUse);
    const llResult: DadResult | undefined = await linkLocalDad?.catch(orLinkLocalInUse);
    if (llResult?.verdict === 'duplicate') throw linkLocalInUse(linkLocal, llResult);
    const dadMs = performance.now() - tDad;
    record.addresses = addresses;
    failpoint('address');

    // 8. Routes: default via the router (RFC 4861 §6.3.4), and its Route Information (RFC 4191).
    record.routes = addContainerRoutes(ctx, link.index, aged(plan.routes).map((r) => ({ ...r, gateway: r.gateway ?? plan.router })));

    // 9. Announce what DAD proved ours (unsolicited NA, Override), so that a neighbour holding a
    //    stale entry for one of these addresses (this name earlier on another MAC) updates it now.
    if (!optimistic) {
      try {
        nd.announce([...(onParent ? [] : [linkLocal]), ...addresses.map((a) => parseIPv6(a.address))]);
      } catch (err) {
        log.warn(`unsolicited NA on ${nd.vantage.ifname}: ${(err as Error).message}`);
      }
    }

    // 10. lo up, last of the kernel steps: a failure before this point leaves the netns as it was.
    //     IPv6 on lo too: the kernel delivers to the container's own addresses through lo, and
    //     Docker's `--network none` turns IPv6 off there — the container could not reach itself.
    const lo = container.findLink('lo');
    if (lo) {
      if (container.readSysctl('net/ipv6/conf/lo/disable_ipv6').trim() !== '0') container.writeSysctl('net/ipv6/conf/lo/disable_ipv6', 0);
      container.setLink(lo.index, { up: true });
    }

    Object.assign(record, {
      retransMs: plan.retransMs,
      router: { address: formatIPv6(plan.router), mac: plan.routerMac, lifetime: plan.routerLifetime, preference: plan.routerPreference },
      mtu: plan.mtu,
      rdnss: plan.rdnss,
      dnssl: plan.dnssl,
      timings: { raMs: round(raMs), dadMs: round(dadMs), totalMs: 0 },
    });
    // What the agent's refresh keeps between RAs (deadlines per address, router, route, DNS option).
    Object.assign(record, refreshFields(record, found.heard ?? [found], limitsOf(cfg), parent.mtu));

    // 11. Publication (RFC 2136 + TSIG), when [dns] is configured: at its name, and at its networks'.
    const networks = req.policy?.networks ?? [];
    if (cfg.dns) await publish(ctx, cfg.dns, () => req.dnsLabel ?? dnsLabel(req.name, req.annotations), addresses.map((a) => a.address), networks);
    failpoint('dns');
    // The other hosts' members of its networks, as DNS has them now (the agent keeps them current).
    if (cfg.dns && record.firewall && networks.length > 0) await addRemoteMembers(ctx, cfg.dns);

    record.timings.totalMs = round(performance.now() - t0);
    record.phase = 'attached';
    delete record.hook;
    ledger.save({ durable: true });
    return record;
  } catch (err) {
    for (const f of await replayUndo(ctx, deps)) log.warn(`cleanup after failure: ${f}`);
    if (record.ledger.length === 0) deps.store.remove(req.id);
    else ledger.save({ durable: true }); // what could not be undone, for poststop to retry
    throw err;
  } finally {
    container.close();
  }
}
