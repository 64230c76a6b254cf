/**
 * Check a container (the CNI CHECK verb): compare what the kernel and DNS hold now with what the
 * container's ledger says we made. Read-only: nothing is changed, the record is never written.
 *
 * Container side, in its netns (reopened by path and compared by netns id, as detach does): the
 * link (found by its ifalias mark), each address (present, and neither tentative nor dadfailed),
 * each route. A netns that is gone, or is another one now, is one difference: everything in it
 * went with it. Host side: the l3 table's routes, each l3 rule and proxy entry, each host_link
 * route. DNS: each record the state says published, asked of the server (a QUERY; a server that
 * does not answer is a difference, not a failure of the check).
 */
import { describePolicy } from '../core/policy';
import { ruleCount } from '../wire/nftables/ruleset';
import { InputError, oneLine } from '../core/errors';
import { parseIPv6, parsePrefix } from '../core/ipv6';
import { sameNetnsId } from '../core/netns-id';
import type { ContainerRecord, DnsRecord, Effect, EffectKind } from '../core/record';
import { loadKeyFile, type TsigKey } from '../wire/dns/keyfile';
import { IFA_F_DADFAILED, IFA_F_OPTIMISTIC, IFA_F_TENTATIVE, IFF_UP, RTPROT_OSH, RT_TABLE_MAIN } from '../wire/rtnetlink/constants';
import { DnsQueryError, formatServer, parseServer, recordExists, type QueryOptions } from '../system/dns-client';
import type { NetKernel, RouteEntry } from '../system/kernel';
import { hostRouteSpec } from '../ops/host-link';
import { Ledger } from '../ops/ledger';
import { findMarkedLink } from '../ops/link';
import type { PipelineDeps, RecordStore } from './deps';

export interface Difference {
  /** The ledger's effect kind that differs; 'netns' (the container's netns is gone), 'phase' (attach not finished). */
  kind: EffectKind | 'netns' | 'phase';
  /**
   * missing: not there; gone: the link or netns (and all in it); replaced: the netns path opens
   * another netns; tentative/dadfailed: an address the kernel holds but cannot use; down: the
   * link; unanswered: the DNS server; failed: the DNS server's refusal or an unreadable key;
   * unfinished: attach is at work or died; detached: the ledger is empty; changed: the firewall
   * table is not the one the policy makes (a rule or set added, removed or altered).
   */
  state: 'missing' | 'gone' | 'replaced' | 'tentative' | 'dadfailed' | 'down' | 'unanswered' | 'failed' | 'unfinished' | 'detached' | 'changed';
  /** One line, for people. */
  text: string;
}

export interface CheckDeps extends Pick<PipelineDeps, 'host' | 'openNetns' | 'log'>, Partial<Pick<PipelineDeps, 'store'>> {
  /** Whether the DNS server holds a record (system/dns-client's recordExists; a fake in tests). */
  dnsExists?(opts: QueryOptions & { data: string }): Promise<boolean>;
}

type Of<K extends EffectKind> = Extract<Effect, { kind: K }>;

/** The container's netns: open and the same one, or why not. */
function openContainer(deps: CheckDeps, record: ContainerRecord): { kernel: NetKernel } | { difference: Difference } {
  const { path, id } = record.netns;
  let k: NetKernel;
  try {
    k = deps.openNetns(path);
  } catch (err) {
    const why = oneLine(err).replace(`network namespace ${path}: `, '');
    return { difference: { kind: 'netns', state: 'gone', text: `network namespace ${path} is gone (${why}): its link, addresses and routes went with it` } };
  }
  if (sameNetnsId(id, k.netns.id)) return { kernel: k };
  const now = k.netns.id;
  k.close();
  return { difference: { kind: 'netns', state: 'replaced', text: `network namespace ${path} is another one now (${now}, was ${id}): the container's is gone, and its link, addresses and routes with it` } };
}

const routeText = (destination: string, gateway: string | undefined, dev: string): string => {
  const { length } = parsePrefix(destination);
  return `route ${length === 0 ? 'default' : destination}${gateway ? ` via ${gateway}` : ''} dev ${dev}`;
};

const sameRoute = (r: RouteEntry, want: { destination: Buffer; prefixLength: number; gateway?: Buffer; oif: number; metric?: number }): boolean =>
  r.prefixLength === want.prefixLength &&
  r.destination.equals(want.destination) &&
  r.oif === want.oif &&
  (want.gateway === undefined ? r.gateway === undefined : r.gateway?.equals(want.gateway) === true) &&
  (want.metric === undefined || r.metric === want.metric);

/** The container's link, addresses and routes. */
function checkContainer(record: ContainerRecord, container: NetKernel, deps: CheckDeps): Difference[] {
  const out: Difference[] = [];
  // A read-only view: nothing here writes the record.
  const ctx = { host: deps.host, container, ledger: new Ledger({ write: () => undefined }, record), peers: () => [], log: deps.log };
  const linkEffect = record.ledger.find((e): e is Of<'link'> => e.kind === 'link');
  const names = new Map(container.listLinks().map((l) => [l.index, l.name]));
  const dev = (index: number): string => names.get(index) ?? (index === record.interface.index ? record.interface.name : `#${index}`);
  let linkIndex: number | undefined;
  if (linkEffect) {
    const link = findMarkedLink(ctx, linkEffect);
    if (!link) {
      out.push({ kind: 'link', state: 'gone', text: `link ${linkEffect.name} (${linkEffect.alias}) is gone: its addresses and routes went with it` });
      return out;
    }
    linkIndex = link.index;
    if ((link.flags & IFF_UP) === 0) out.push({ kind: 'link', state: 'down', text: `link ${link.name} is down` });
  }
  // The effects were recorded with the link's index; should the marked link have another, follow it.
  const at = (index: number): number => (linkEffect && linkEffect.index === index && linkIndex !== undefined ? linkIndex : index);

  const addresses = container.listAddresses();
  for (const e of record.ledger.filter((x): x is Of<'address'> => x.kind === 'address')) {
    const want = parseIPv6(e.address);
    const index = at(e.index);
    const found = addresses.find((a) => a.index === index && a.prefixLength === e.prefixLength && a.address.equals(want));
    const what = `address ${e.address}/${e.prefixLength} on ${dev(index)}`;
    if (!found) out.push({ kind: 'address', state: 'missing', text: `${what} is missing` });
    else if (found.flags & IFA_F_DADFAILED) out.push({ kind: 'address', state: 'dadfailed', text: `${what} is dadfailed (the kernel saw a duplicate)` });
    // RFC 4429: an Optimistic address (tentative too, in the kernel's flags) is usable — the link-local is one while DAD runs.
    else if (found.flags & IFA_F_TENTATIVE && !(found.flags & IFA_F_OPTIMISTIC)) out.push({ kind: 'address', state: 'tentative', text: `${what} is tentative (not usable)` });
  }

  for (const e of record.ledger.filter((x): x is Of<'firewall'> => x.kind === 'firewall')) out.push(...checkFirewall(record, container, e));

  const routeEffects = record.ledger.filter((x): x is Of<'route'> => x.kind === 'route');
  if (routeEffects.length > 0) {
    const routes = container.listRoutes(RT_TABLE_MAIN);
    for (const e of routeEffects) {
      const { address, length } = parsePrefix(e.destination);
      const index = at(e.index);
      if (!routes.some((r) => sameRoute(r, { destination: address, prefixLength: length, gateway: parseIPv6(e.gateway), oif: index }))) {
        out.push({ kind: 'route', state: 'missing', text: `${routeText(e.destination, e.gateway, dev(index))} is missing` });
      }
    }
  }
  return out;
}

/**
 * The firewall table against the policy the ledger holds: there, its chains, its rules (as many as
 * the policy makes, the last carrying the policy's fingerprint) and a set per network. Members
 * are not compared: the agent keeps them, from DNS, and they change without the ledger.
 */
function checkFirewall(record: ContainerRecord, container: NetKernel, e: Of<'firewall'>): Difference[] {
  const what = `firewall table inet ${e.table}`;
  const state = container.readFirewall(e.table);
  if (!state) return [{ kind: 'firewall', state: 'missing', text: `${what} is missing: the container takes any inbound traffic` }];
  const policy = record.policy;
  const out: Difference[] = [];
  for (const chain of ['input', 'guard']) if (!state.chains.includes(chain)) out.push({ kind: 'firewall', state: 'missing', text: `${what}: chain ${chain} is missing` });
  const tag = record.firewall?.tag;
  if (tag && !state.rules.some((r) => r.comment === tag)) out.push({ kind: 'firewall', state: 'changed', text: `${what}: no rule carries the policy's fingerprint "${tag}" (replaced by another policy, or by hand)` });
  if (policy) {
    const want = ruleCount(policy);
    if (state.rules.length !== want) out.push({ kind: 'firewall', state: 'changed', text: `${what} has ${state.rules.length} rules where the policy (${describePolicy(policy)}) makes ${want}` });
    for (const n of policy.networks) if (!(`net_${n}` in state.sets)) out.push({ kind: 'firewall', state: 'missing', text: `${what}: set net_${n} (network ${n}'s members) is missing` });
  }
  return out;
}

/** What the host holds for the container: the l3 table, rules and proxy entries, host_link routes. */
function checkHost(record: ContainerRecord, host: NetKernel): Difference[] {
  const out: Difference[] = [];
  const hostEffects = record.ledger.filter((e) => e.kind === 'l3-table' || e.kind === 'l3-reach' || e.kind === 'host-route');
  if (hostEffects.length === 0) return out;
  const names = new Map(host.listLinks().map((l) => [l.index, l.name]));
  const dev = (index: number): string => names.get(index) ?? `#${index} (gone)`;

  for (const e of record.ledger.filter((x): x is Of<'l3-table'> => x.kind === 'l3-table')) {
    const ours = host.listRoutes(e.table).filter((r) => r.table === e.table && r.protocol === RTPROT_OSH && r.oif === e.parentIndex);
    if (ours.length === 0) out.push({ kind: 'l3-table', state: 'missing', text: `host table ${e.table} has no route out of ${dev(e.parentIndex)} (l3 reach)` });
  }

  const reach = record.ledger.filter((x): x is Of<'l3-reach'> => x.kind === 'l3-reach');
  if (reach.length > 0) {
    const rules = host.listRules();
    const proxies = host.listProxies();
    for (const e of reach) {
      const address = parseIPv6(e.address);
      if (!rules.some((r) => r.source.equals(address) && r.table === e.table && r.priority === e.table)) {
        out.push({ kind: 'l3-reach', state: 'missing', text: `host rule from ${e.address} lookup ${e.table} is missing` });
      }
      if (!proxies.some((p) => p.index === e.parentIndex && p.address.equals(address))) {
        out.push({ kind: 'l3-reach', state: 'missing', text: `host proxy entry for ${e.address} on ${dev(e.parentIndex)} is missing` });
      }
    }
  }

  const hostRoutes = record.ledger.filter((x): x is Of<'host-route'> => x.kind === 'host-route');
  if (hostRoutes.length > 0) {
    const main = host.listRoutes(RT_TABLE_MAIN);
    for (const e of hostRoutes) {
      if (!main.some((r) => sameRoute(r, hostRouteSpec(e)))) out.push({ kind: 'host-route', state: 'missing', text: `host route ${e.address}/128 dev ${dev(e.via)} is missing` });
    }
  }
  return out;
}

/** Each published record of the state, asked of the server; one line per server that does not answer. */
async function checkDns(record: ContainerRecord, deps: CheckDeps): Promise<Difference[]> {
  const state = record.dns;
  if (!state || !record.ledger.some((e) => e.kind === 'dns')) return [];
  const published = state.records.filter((r) => r.published);
  if (published.length === 0) return [];
  let server: ReturnType<typeof parseServer>;
  let key: TsigKey | undefined;
  try {
    server = parseServer(state.server);
    key = state.keyFile ? loadKeyFile(state.keyFile) : undefined;
  } catch (err) {
    return [{ kind: 'dns', state: 'failed', text: `DNS records of ${state.name} cannot be checked: ${oneLine(err)}` }];
  }
  const exists = deps.dnsExists ?? recordExists;
  const what = (r: DnsRecord): string => `DNS record ${r.name} ${r.type} ${r.data}`;
  const results = await Promise.all(
    published.map((r) =>
      exists({ server, name: r.name, type: r.type, data: r.data, key, timeoutMs: state.timeoutMs, retries: 1 }).then(
        (present) => ({ r, present, err: undefined }),
        (err: unknown) => ({ r, present: false, err }),
      ),
    ),
  );
  const out: Difference[] = [];
  let unanswered = false;
  for (const { r, present, err } of results) {
    if (err instanceof DnsQueryError && (err.rcode === 'TIMEOUT' || err.rcode === 'NETWORK')) {
      if (!unanswered) out.push({ kind: 'dns', state: 'unanswered', text: `DNS server ${formatServer(server)} did not answer (${err.rcode}${err.detail ? `: ${err.detail}` : ''}): ${state.name} not checked` });
      unanswered = true;
    } else if (err) {
      out.push({ kind: 'dns', state: 'failed', text: `${what(r)} could not be checked: ${oneLine(err)}` });
    } else if (!present) {
      out.push({ kind: 'dns', state: 'missing', text: `${what(r)} is missing at ${formatServer(server)}` });
    }
  }
  return out;
}

/**
 * A container's record by its id, or by a prefix of exactly one id (`status` shows 12
 * characters). InputError for an invalid, unknown or ambiguous id; `where` (the state dir) names
 * where it was looked for.
 */
export function findRecord(store: Pick<RecordStore, 'read' | 'list'>, id: string, where?: string): ContainerRecord {
  if (!/^[\w+.-]{1,1024}$/.test(id)) throw new InputError(`invalid container id ${JSON.stringify(id)}`);
  const exact = store.read(id);
  if (exact) return exact;
  const matches = store.list().filter((r) => r.id.startsWith(id));
  if (matches.length > 1) throw new InputError(`container id ${id} is ambiguous: ${matches.map((r) => r.id).join(', ')}`);
  const [only] = matches;
  if (!only) throw new InputError(`unknown container ${id}: no state${where ? ` in ${where}` : ''} (never attached by this hook, or detached since)`);
  return only;
}

/** The differences between the container's ledger and the live kernel and DNS state (none: they agree). */
export async function check(record: ContainerRecord, deps: CheckDeps): Promise<Difference[]> {
  const out: Difference[] = [];
  if (record.member) {
    // A pod member has nothing of its own: the pod's attachment is its owner's.
    const owner = deps.store?.read(record.member.owner);
    if (!owner) return [{ kind: 'phase', state: 'gone', text: `member of container ${record.member.owner}'s network namespace, whose attachment is gone` }];
    return check(owner, deps);
  }
  if (!Array.isArray(record.ledger)) return [{ kind: 'phase', state: 'failed', text: `container ${record.id} was attached by an older version (its record has no ledger): nothing to compare` }];
  const ledger = record.ledger;
  if (record.phase === 'attaching') out.push({ kind: 'phase', state: 'unfinished', text: 'attach has not finished (still at work, or the hook died: poststop undoes it)' });
  // detach empties the ledger as it undoes it (then drops the record): nothing is ours to compare.
  if (ledger.length === 0) return out.length ? out : [{ kind: 'phase', state: 'detached', text: `container ${record.id} is detached: its ledger is empty` }];
  const needsNetns = ledger.some((e) => e.kind === 'link' || e.kind === 'address' || e.kind === 'route' || e.kind === 'firewall');
  if (needsNetns) {
    const opened = openContainer(deps, record);
    if ('difference' in opened) out.push(opened.difference);
    else {
      try {
        out.push(...checkContainer(record, opened.kernel, deps));
      } finally {
        opened.kernel.close();
      }
    }
  }
  out.push(...checkHost(record, deps.host));
  out.push(...(await checkDns(record, deps)));
  return out;
}
