/**
 * Publication: each container's addresses in DNS — an AAAA per address at <label>.<zone> and
 * a PTR per address in the reverse zone — by RFC 2136 dynamic update signed with TSIG, and their
 * withdrawal at stop. Only the exact records we added are ever deleted (class NONE with their
 * rdata): a record someone else made at the same name survives.
 */
import type { DnsConfig } from './config';
import { explicitLabel, isInZone, labelFromContainerName, normalizeZone, reverseName } from './dns/names';
import { loadKeyFile } from './dns/keyfile';
import { parseServer, sendUpdate, type UpdateOp } from './dns/update';
import { InputError, oneLine } from './errors';
import { parseIPv6 } from './ipv6';

export const DNS_NAME_ANNOTATION = 'oci-slaac-hook.dns_name';

export interface DnsRecord {
  zone: string;
  name: string;
  type: 'AAAA' | 'PTR';
  data: string;
  /** Added by us and not yet withdrawn. */
  published: boolean;
}

export interface DnsState {
  /** The container's label, and the fully qualified name (no trailing dot) it makes in the zone. */
  label: string;
  name: string;
  /** published: every record is in DNS; pending: publication failed and the container runs without; withdraw-failed: poststop could not delete them (retried by the next poststop). */
  status: 'published' | 'pending' | 'withdraw-failed';
  server: string;
  keyFile: string;
  ttl: number;
  records: DnsRecord[];
  error?: string;
}

/** The label: the dns_name annotation as given, else the container's name made into a label. */
export function dnsLabel(stableName: string, annotations: Record<string, string>): string {
  const explicit = annotations[DNS_NAME_ANNOTATION];
  return explicit !== undefined ? explicitLabel(explicit, `annotation ${DNS_NAME_ANNOTATION}`) : labelFromContainerName(stableName);
}

/** What to publish for these addresses (nothing is sent yet). */
export function planDns(cfg: DnsConfig, label: string, addresses: string[]): DnsState {
  const zone = normalizeZone(cfg.zone, 'dns.zone');
  const name = `${label}.${zone}`;
  const records: DnsRecord[] = addresses.map((a) => ({ zone, name, type: 'AAAA', data: a, published: false }));
  if (cfg.reverse_zone) {
    const reverse = normalizeZone(cfg.reverse_zone, 'dns.reverse_zone');
    for (const a of addresses) {
      const owner = reverseName(parseIPv6(a));
      if (!isInZone(owner, reverse)) throw new InputError(`address ${a} is not in dns.reverse_zone ${reverse}`);
      records.push({ zone: reverse, name: owner, type: 'PTR', data: name, published: false });
    }
  }
  return { label, name, status: 'pending', server: cfg.server, keyFile: cfg.key_file, ttl: cfg.ttl, records };
}

/** Send one update per zone. Records are marked published as their zone's update succeeds. */
async function update(state: DnsState, op: 'add' | 'delete', timeoutMs: number): Promise<void> {
  const server = parseServer(state.server);
  const key = state.keyFile ? loadKeyFile(state.keyFile) : undefined;
  const zones = [...new Set(state.records.map((r) => r.zone))];
  for (const zone of zones) {
    const mine = state.records.filter((r) => r.zone === zone && (op === 'add' ? !r.published : r.published));
    if (mine.length === 0) continue;
    const ops: UpdateOp[] = mine.map((r) => (op === 'add' ? { op, name: r.name, type: r.type, ttl: state.ttl, data: r.data } : { op, name: r.name, type: r.type, data: r.data }));
    await sendUpdate({ server, zone, ops, key, timeoutMs });
    for (const r of mine) r.published = op === 'add';
  }
}

/** Publish; on failure the state says which records made it (the caller decides what follows). */
export async function publish(state: DnsState, timeoutMs: number): Promise<DnsState> {
  const next: DnsState = { ...state, records: state.records.map((r) => ({ ...r })) };
  try {
    await update(next, 'add', timeoutMs);
    return { ...next, status: 'published', error: undefined };
  } catch (err) {
    return { ...next, status: 'pending', error: oneLine(err) };
  }
}

/** Delete exactly the records we published. Resolves with what is still published (none on success). */
export async function withdraw(state: DnsState, timeoutMs: number): Promise<DnsState> {
  const next: DnsState = { ...state, records: state.records.map((r) => ({ ...r })) };
  try {
    await update(next, 'delete', timeoutMs);
    return { ...next, status: 'pending', error: undefined };
  } catch (err) {
    return { ...next, status: 'withdraw-failed', error: oneLine(err) };
  }
}

export const stillPublished = (state: DnsState | undefined): boolean => state?.records.some((r) => r.published) ?? false;
