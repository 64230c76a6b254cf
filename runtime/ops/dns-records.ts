/**
 * Publication: each container's addresses in DNS — an AAAA per address at <label>.<zone> and
 * a PTR per address in the reverse zone — by RFC 2136 dynamic update signed with TSIG, and their
 * withdrawal at stop. Only the exact records we added are ever deleted (class NONE with their
 * rdata): a record someone else made at the same name survives.
 */
import type { DnsConfig } from '../core/config';
import { explicitLabel, labelFromContainerName, normalizeZone, reverseName } from '../wire/dns/names';
import { loadKeyFile } from '../wire/dns/keyfile';
import { DnsUpdateError, parseServer, sendUpdate, type UpdateOp } from '../system/dns-client';
import { isSubdomain } from '../wire/dns/wire';
import { InputError, oneLine } from '../core/errors';
import { parseIPv6 } from '../core/ipv6';
import type { DnsRecord, DnsState, Effect } from '../core/record';
import type { OpContext } from './context';

type DnsEffect = Extract<Effect, { kind: 'dns' }>;

export type { DnsRecord, DnsState };

export const DNS_NAME_ANNOTATION = 'oci-slaac-hook.dns_name';

/** The label: the dns_name annotation as given, else the container's name made into a label. */
export function dnsLabel(stableName: string, annotations: Record<string, string>): string {
  const explicit = annotations[DNS_NAME_ANNOTATION];
  return explicit !== undefined ? explicitLabel(explicit, `annotation ${DNS_NAME_ANNOTATION}`) : labelFromContainerName(stableName);
}

/** What to publish for these addresses (nothing is sent yet). */
export function planDns(cfg: DnsConfig, label: string, addresses: string[]): DnsState {
  const zone = normalizeZone(cfg.zone, 'dns.zone');
  const reverseZone = cfg.reverse_zone ? normalizeZone(cfg.reverse_zone, 'dns.reverse_zone') : '';
  const plan: DnsState = { label, name: `${label}.${zone}`, status: 'pending', server: cfg.server, keyFile: cfg.key_file, ttl: cfg.ttl, timeoutMs: cfg.timeout_ms, zone, reverseZone, records: [] };
  return withRecords(plan, addresses);
}

/** The plan's records for `addresses`: AAAA at its name, PTR in its reverse zone (if any). */
function withRecords(plan: DnsState, addresses: string[]): DnsState {
  const records: DnsRecord[] = addresses.map((a) => ({ zone: plan.zone, name: plan.name, type: 'AAAA', data: a, published: false }));
  if (plan.reverseZone) {
    for (const a of addresses) {
      const owner = reverseName(parseIPv6(a));
      if (!isSubdomain(owner, plan.reverseZone)) throw new InputError(`address ${a} is not in dns.reverse_zone ${plan.reverseZone}`);
      records.push({ zone: plan.reverseZone, name: owner, type: 'PTR', data: plan.name, published: false });
    }
  }
  return { ...plan, records };
}

/**
 * Add the records not yet published, or delete those that are (or may be): one update per zone,
 * each record marked as its zone's update succeeds. Never throws: a failure is in the result.
 *
 * An add whose outcome is unknown (a timeout, a reply lost, a connection reset after the request
 * was written: the server may have applied it) leaves its records `uncertain`: possibly
 * published, so that withdrawal deletes them too (deleting an absent record is a no-op, RFC 2136
 * §3.4.2.4). Only a success clears that mark — a later refusal says nothing of an earlier
 * request that may have been applied.
 */
async function apply(state: DnsState, op: 'add' | 'delete', onSent?: () => void): Promise<DnsState> {
  const next: DnsState = { ...state, records: state.records.map((r) => ({ ...r })), error: undefined };
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
        throw err;
      }
      for (const r of mine) {
        r.published = op === 'add';
        delete r.uncertain;
      }
    }
    return { ...next, status: op === 'add' ? 'published' : 'pending' };
  } catch (err) {
    return { ...next, status: op === 'add' ? 'pending' : 'withdraw-failed', error: oneLine(err) };
  }
}

/** Delete exactly the records we published (or may have). The result says what is still published (none on success). */
export const withdraw = (state: DnsState): Promise<DnsState> => apply(state, 'delete');

export const stillPublished = (state: DnsState | undefined): boolean => state?.records.some((r) => r.published || r.uncertain) ?? false;

/** Records about to be sent in an add, as the ledger keeps them meanwhile: a process killed after sending leaves them to undo. */
const intending = (state: DnsState): DnsState => ({ ...state, records: state.records.map((r) => (r.published ? r : { ...r, uncertain: true })) });

/**
 * Publish a newly attached container. The plan is recorded in the ledger before the update is
 * sent, so that a process killed meanwhile leaves records that undo deletes. With dns.required a
 * failure (an unusable name, or the server's refusal, or an update whose outcome is unknown)
 * throws — the pipeline then undoes everything, these records included; without, the container
 * starts and its record is pending (and withdrawn at stop if the update may have been applied).
 */
export async function publish(ctx: OpContext, cfg: DnsConfig, stableName: string, annotations: Record<string, string>, addresses: string[]): Promise<void> {
  const { ledger, log } = ctx;
  let plan: DnsState;
  try {
    plan = planDns(cfg, dnsLabel(stableName, annotations), addresses);
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

/**
 * After addresses changed (optimistic DAD replaced one): withdraw the old records, publish the new.
 * `save` is given the records about to be added, marked uncertain, before the update is sent — as
 * publish records its plan — so that a process killed meanwhile leaves them for undo.
 */
export async function republish(state: DnsState, addresses: string[], save: (intent: DnsState) => void): Promise<DnsState> {
  const current = state.records.filter((r) => r.type === 'AAAA').map((r) => r.data);
  if (current.length === addresses.length && current.every((a) => addresses.includes(a))) return state;
  const old = await withdraw(state);
  if (stillPublished(old)) return old;
  const plan = withRecords(old, addresses);
  save(intending(plan));
  return apply(plan, 'add');
}
