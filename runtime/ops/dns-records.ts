/**
 * Publication: each container's addresses in DNS — an AAAA per address at <label>.<zone> and a
 * PTR per address in the most specific configured reverse zone covering it (none: no PTR) — by
 * RFC 2136 dynamic update signed with TSIG, one update per zone, and their withdrawal at stop.
 * Only the exact records we added are ever deleted (class NONE with their rdata): a record
 * someone else made at the same name survives.
 */
import { reverseZonesOf, type DnsConfig } from '../core/config';
import { explicitLabel, labelFromContainerName, normalizeZone, reverseName } from '../wire/dns/names';
import { loadKeyFile } from '../wire/dns/keyfile';
import { DnsUpdateError, parseServer, queryRecords, sendUpdate, type UpdateOp } from '../system/dns-client';
import { isSubdomain } from '../wire/dns/wire';
import { InputError, oneLine } from '../core/errors';
import { formatIPv6, parseIPv6 } from '../core/ipv6';
import type { DnsRecord, DnsState, Effect } from '../core/record';
import type { StableName } from '../system/container-name';
import type { OpContext } from './context';

type DnsEffect = Extract<Effect, { kind: 'dns' }>;

export type { DnsRecord, DnsState };

export const DNS_NAME_ANNOTATION = 'oci-slaac-hook.dns_name';

/**
 * The label: the dns_name annotation as given, else the one the stable name comes with (a
 * Kubernetes pod's `<pod>.<namespace>`), else the container's name made into a label.
 */
export function dnsLabel(name: StableName, annotations: Record<string, string>): string {
  const explicit = annotations[DNS_NAME_ANNOTATION];
  if (explicit !== undefined) return explicitLabel(explicit, `annotation ${DNS_NAME_ANNOTATION}`);
  if (name.labelError !== undefined) throw new InputError(name.labelError);
  return name.dnsLabel ?? labelFromContainerName(name.name);
}

/** What to publish for these addresses (nothing is sent yet), and the addresses no reverse zone covers (no PTR for them). */
export function planDns(cfg: DnsConfig, label: string, addresses: string[], networks: string[] = []): { plan: DnsState; uncovered: string[] } {
  const zone = normalizeZone(cfg.zone, 'dns.zone');
  const reverseZones = reverseZonesOf(cfg).map((z) => normalizeZone(z, 'dns.reverse_zones'));
  const plan: DnsState = { label, name: `${label}.${zone}`, status: 'pending', server: cfg.server, keyFile: cfg.key_file, ttl: cfg.ttl, timeoutMs: cfg.timeout_ms, zone, reverseZone: reverseZones[0] ?? '', reverseZones, records: [] };
  if (networks.length > 0) plan.memberships = networks.map((n) => membershipName(cfg, n));
  return withRecords(plan, addresses);
}

/**
 * Where a logical network's members are published: `<network>.<networks_zone>` (default
 * `networks.<zone>`: a container's own name is one label under the zone, so never one of these;
 * no underscore, which BIND's check-names refuses in an AAAA owner), updated in `zone` when the
 * networks zone lies inside it, else in the networks zone itself.
 */
export function membershipName(cfg: Pick<DnsConfig, 'zone' | 'networks_zone'>, network: string): { name: string; zone: string } {
  const zone = normalizeZone(cfg.zone, 'dns.zone');
  const networksZone = cfg.networks_zone ? normalizeZone(cfg.networks_zone, 'dns.networks_zone') : `networks.${zone}`;
  return { name: `${network}.${networksZone}`, zone: isSubdomain(networksZone, zone) ? zone : networksZone };
}

/** The reverse zones a state may put PTRs in: its list, or (an older record) its one zone. */
export const reverseZonesOfState = (state: Pick<DnsState, 'reverseZone' | 'reverseZones'>): string[] => state.reverseZones ?? (state.reverseZone ? [state.reverseZone] : []);

/** The most specific of `zones` holding `owner` (the longest: zones are nested or disjoint), or undefined. */
export function coveringZone(owner: string, zones: string[]): string | undefined {
  let best: string | undefined;
  for (const z of zones) if (isSubdomain(owner, z) && (best === undefined || z.length > best.length)) best = z;
  return best;
}

/** The plan's records for `addresses`: AAAA at its name, PTR in the most specific reverse zone covering it (none: no PTR, listed in `uncovered`). */
function withRecords(plan: DnsState, addresses: string[]): { plan: DnsState; uncovered: string[] } {
  const records: DnsRecord[] = addresses.map((a) => ({ zone: plan.zone, name: plan.name, type: 'AAAA', data: a, published: false }));
  // A member's addresses at each of its networks' names (an RRset of every member's, ours exact).
  for (const m of plan.memberships ?? []) for (const a of addresses) records.push({ zone: m.zone, name: m.name, type: 'AAAA', data: a, published: false });
  const zones = reverseZonesOfState(plan);
  const uncovered: string[] = [];
  if (zones.length > 0) {
    for (const a of addresses) {
      const owner = reverseName(parseIPv6(a));
      const zone = coveringZone(owner, zones);
      if (zone) records.push({ zone, name: owner, type: 'PTR', data: plan.name, published: false });
      else uncovered.push(a);
    }
  }
  return { plan: { ...plan, records }, uncovered };
}

/**
 * Each network's members as DNS has them: the AAAA records at `<network>.<networks_zone>`, asked
 * of the [dns] server itself (authoritative, signed with the key when there is one: no cache
 * between us and a member's withdrawal). Throws DnsQueryError when the server cannot answer.
 */
export async function lookupMembers(cfg: DnsConfig, networks: string[]): Promise<Map<string, Set<string>>> {
  const server = parseServer(cfg.server);
  const key = cfg.key_file ? loadKeyFile(cfg.key_file) : undefined;
  const answers = await Promise.all(
    networks.map(async (n) => {
      const r = await queryRecords({ server, name: membershipName(cfg, n).name, type: 'AAAA', key, timeoutMs: cfg.timeout_ms, retries: 1 });
      return [n, new Set(r.records.flatMap((rr) => (rr.rdata.type === 'AAAA' ? [formatIPv6(rr.rdata.address)] : [])))] as const;
    }),
  );
  return new Map(answers);
}

/** The one line for addresses no reverse zone covers. */
const uncoveredLine = (uncovered: string[], zones: string[]): string =>
  `no PTR for ${uncovered.join(', ')}: no reverse zone covers ${uncovered.length === 1 ? 'it' : 'them'} (${zones.length ? `reverse zones ${zones.join(', ')}` : 'none configured'})`;

/**
 * Add the records not yet published, or delete those that are (or may be): one update per zone,
 * each record marked as its zone's update succeeds. Never throws: a failure is in the result.
 * A zone the server refuses (an answer: REFUSED, NOTAUTH, NOTZONE, …) does not stop the others;
 * a server that does not answer (TIMEOUT, NETWORK) or a bad key/server does: the other zones
 * would only wait as long again.
 *
 * An add whose outcome is unknown (a timeout, a reply lost, a connection reset after the request
 * was written: the server may have applied it) leaves its records `uncertain`: possibly
 * published, so that withdrawal deletes them too (deleting an absent record is a no-op, RFC 2136
 * §3.4.2.4). Only a success clears that mark — a later refusal says nothing of an earlier
 * request that may have been applied.
 */
async function apply(state: DnsState, op: 'add' | 'delete', onSent?: () => void): Promise<DnsState> {
  const next: DnsState = { ...state, records: state.records.map((r) => ({ ...r })), error: undefined };
  const failed = (err: unknown): DnsState => ({ ...next, status: op === 'add' ? 'pending' : 'withdraw-failed', error: oneLine(err) });
  let refusal: unknown;
  try {
    const server = parseServer(state.server);
    const key = state.keyFile ? loadKeyFile(state.keyFile) : undefined;
    for (const zone of new Set(next.records.map((r) => r.zone))) {
      const mine = next.records.filter((r) => r.zone === zone && (op === 'delete' ? r.published || r.uncertain : !r.published));
      if (mine.length === 0) continue;
      const ops: UpdateOp[] = mine.map((r) => (op === 'add' ? { op, name: r.name, type: r.type, ttl: state.ttl, data: r.data } : { op, name: r.name, type: r.type, data: r.data }));
      try {
        await sendUpdate({ server, zone, ops, key, timeoutMs: state.timeoutMs, onSent });
      } catch (err) {
        if (op === 'add' && err instanceof DnsUpdateError && err.outcome === 'unknown') for (const r of mine) r.uncertain = true;
        if (!(err instanceof DnsUpdateError) || err.outcome === 'unknown' || err.rcode === 'TIMEOUT' || err.rcode === 'NETWORK') throw err;
        refusal ??= err;
        continue;
      }
      for (const r of mine) {
        r.published = op === 'add';
        delete r.uncertain;
      }
    }
  } catch (err) {
    return failed(err);
  }
  return refusal === undefined ? { ...next, status: op === 'add' ? 'published' : 'pending' } : failed(refusal);
}

/** Delete exactly the records we published (or may have). The result says what is still published (none on success). */
export const withdraw = (state: DnsState): Promise<DnsState> => apply(state, 'delete');

export const stillPublished = (state: DnsState | undefined): boolean => state?.records.some((r) => r.published || r.uncertain) ?? false;

/** Records about to be sent in an add, as the ledger keeps them meanwhile: a process killed after sending leaves them to undo. */
const intending = (state: DnsState): DnsState => ({ ...state, records: state.records.map((r) => (r.published ? r : { ...r, uncertain: true })) });

/**
 * Publish a newly attached container under `label()` (relative to the zone; its errors are a
 * failure like the server's). The plan is recorded in the ledger before the update is
 * sent, so that a process killed meanwhile leaves records that undo deletes. With dns.required a
 * failure (an unusable name, or the server's refusal, or an update whose outcome is unknown)
 * throws — the pipeline then undoes everything, these records included; without, the container
 * starts and its record is pending (and withdrawn at stop if the update may have been applied).
 */
export async function publish(ctx: OpContext, cfg: DnsConfig, label: () => string, addresses: string[], networks: string[] = []): Promise<void> {
  const { ledger, log } = ctx;
  let plan: DnsState;
  try {
    const planned = planDns(cfg, label(), addresses, networks);
    plan = planned.plan;
    if (planned.uncovered.length > 0) log.warn(`DNS: ${uncoveredLine(planned.uncovered, reverseZonesOfState(plan))}`);
  } catch (err) {
    if (cfg.required) throw err;
    log.warn(`DNS: ${oneLine(err)}; the container starts unpublished`);
    return;
  }
  ledger.record.dns = intending(plan);
  ledger.intend<DnsEffect>({ kind: 'dns', name: plan.name });
  // The kill tests' point between the update leaving and its answer (a failpoint that throws, as in
  // the unit tests, fails the attach once the update is done: undo then withdraws it).
  let failed: unknown;
  const onSent = (): void => {
    try {
      ctx.failpoint?.('dns-sent');
    } catch (err) {
      failed ??= err;
    }
  };
  const published = await apply(plan, 'add', onSent);
  ledger.record.dns = published;
  ledger.save();
  if (failed !== undefined) throw failed;
  if (published.status === 'published') {
    log.info(`DNS: published ${published.name} (${published.records.map((r) => r.type).join(', ')})`);
  } else if (cfg.required) {
    throw new Error(published.error ?? 'DNS update failed');
  } else if (stillPublished(published)) {
    log.warn(`DNS: ${published.error ?? 'update failed'}; the outcome is unknown (the server may have applied it): the container starts, its record is pending and withdrawn at stop`);
  } else {
    log.warn(`DNS: ${published.error ?? 'update failed'}; the container starts, its record is pending`);
  }
}

/**
 * Delete the records published and those whose add may have been applied (uncertain): deleting
 * an absent record is a no-op (RFC 2136 §3.4.2.4). Throws when the server could not be told; the
 * record then says withdraw-failed and the effect stays.
 */
export async function undoDns(ctx: OpContext, _e: DnsEffect): Promise<void> {
  const state = ctx.ledger.record.dns;
  if (!state) return;
  const out = await withdraw(state);
  ctx.ledger.record.dns = out;
  if (stillPublished(out)) throw new Error(out.error ?? 'DNS withdrawal failed');
}

const recordKey = (r: DnsRecord): string => `${r.zone} ${r.name} ${r.type} ${r.data}`;

/**
 * After addresses changed (optimistic DAD replaced one, renumbering added one, one expired): the
 * records of addresses that went are withdrawn, those of new addresses published, the others left
 * as they are (an address that stays keeps its AAAA and PTR throughout). Each PTR goes to the most
 * specific of the state's reverse zones covering it (an older record's one zone); an address none
 * covers gets no PTR, said once through `note` when it is new. `save` is given the records about to
 * be added, marked uncertain, before the update is sent — as publish records its plan — so that a
 * process killed meanwhile leaves them for undo. Records in several zones: one update per zone.
 */
export async function republish(state: DnsState, addresses: string[], save: (intent: DnsState) => void, note?: (line: string) => void): Promise<DnsState> {
  const { plan, uncovered } = withRecords(state, addresses);
  const wanted = new Set(plan.records.map(recordKey));
  const had = new Map(state.records.map((r) => [recordKey(r), r]));
  const stale = state.records.filter((r) => !wanted.has(recordKey(r)));
  // What stays keeps its marks (published, uncertain); what is new is to be added.
  const next = plan.records.map((r) => ({ ...(had.get(recordKey(r)) ?? r) }));
  if (stale.length === 0 && next.every((r) => r.published)) return state;
  const fresh = uncovered.filter((a) => !state.records.some((r) => r.type === 'AAAA' && r.data === a));
  if (fresh.length > 0) note?.(uncoveredLine(fresh, reverseZonesOfState(state)));
  if (stale.some((r) => r.published || r.uncertain)) {
    const out = await withdraw({ ...state, records: stale });
    if (stillPublished(out)) {
      // Nothing added while the old records are still there: the state keeps every record, status withdraw-failed.
      const left = out.records.filter((r) => r.published || r.uncertain);
      return { ...state, records: [...state.records.filter((r) => wanted.has(recordKey(r))), ...left], status: 'withdraw-failed', error: out.error };
    }
  }
  const target: DnsState = { ...plan, records: next };
  if (next.every((r) => r.published)) return { ...target, status: 'published', error: undefined };
  save(intending(target));
  return apply(target, 'add');
}
