/**
 * The container's firewall: a restricted container's inbound policy as an nf_tables table of ours
 * in its own netns (system/nftables.ts), made before any global address is installed — so the
 * container is never reachable beyond its policy, not even for a moment — and the members of its
 * logical networks as named sets, replaced in place as members come and go.
 */
import type { DnsConfig } from '../core/config';
import { oneLine } from '../core/errors';
import { enforced, policyTag, type Policy } from '../core/policy';
import type { ContainerRecord, Effect } from '../core/record';
import { inside, type OpContext } from './context';
import { lookupMembers } from './dns-records';

type FirewallEffect = Extract<Effect, { kind: 'firewall' }>;

/** One table per container netns; its name says whose it is (`nft list tables`). */
export const FIREWALL_TABLE = 'oci_slaac_hook';

/**
 * Make the table (recorded first, so that undo deletes it whatever happens next), its member sets
 * holding the host's own members of its networks (DNS's come after publication, addRemoteMembers;
 * the agent keeps them current). An open policy makes nothing.
 */
export function installFirewall(ctx: OpContext, ifname: string, policy: Policy): void {
  const { record } = ctx.ledger;
  record.policy = policy;
  if (!enforced(policy)) return;
  // The other records are read only for a restricted container in a network.
  const members = membersFor(record, policy.networks.length > 0 ? localMembers(ctx.peers()) : new Map());
  const tag = policyTag(policy);
  ctx.ledger.intend<FirewallEffect>({ kind: 'firewall', table: FIREWALL_TABLE });
  record.firewall = { table: FIREWALL_TABLE, tag };
  inside(ctx).installFirewall({ table: FIREWALL_TABLE, ifname, policy, members, tag });
}

/** Fill the member sets with DNS's members too (after publication); a DNS failure only delays them (logged: the agent adds them). */
export async function addRemoteMembers(ctx: OpContext, dns: DnsConfig): Promise<void> {
  const { record } = ctx.ledger;
  const table = record.firewall?.table;
  if (!table) return;
  try {
    const known = mergeMembers(localMembers(ctx.peers()), await lookupMembers(dns, record.policy?.networks ?? []));
    for (const [network, addresses] of Object.entries(membersFor(record, known))) inside(ctx).setFirewallMembers(table, network, addresses);
  } catch (err) {
    ctx.log.warn(`network members from DNS: ${oneLine(err)}; the agent adds them later`);
  }
}

/** Delete the table; one already gone (with its netns, or by hand) counts as undone. */
export function undoFirewall(ctx: OpContext, e: FirewallEffect): void {
  ctx.container?.deleteFirewall(e.table);
}

/** Each network's members as the table should hold them: every member's addresses but the container's own. */
export function membersFor(record: Pick<ContainerRecord, 'addresses' | 'policy'>, known: ReadonlyMap<string, ReadonlySet<string>>): Record<string, string[]> {
  const own = new Set(record.addresses.map((a) => a.address));
  const out: Record<string, string[]> = {};
  for (const n of record.policy?.networks ?? []) out[n] = [...(known.get(n) ?? [])].filter((a) => !own.has(a)).sort();
  return out;
}

/** The members of each network among local records (attached, owners of their netns): network → addresses. */
export function localMembers(records: readonly ContainerRecord[]): Map<string, Set<string>> {
  const out = new Map<string, Set<string>>();
  for (const r of records) {
    if (r.member || r.phase !== 'attached') continue;
    for (const n of r.policy?.networks ?? []) {
      const set = out.get(n) ?? new Set<string>();
      for (const a of r.addresses) set.add(a.address);
      out.set(n, set);
    }
  }
  return out;
}

/** Two member maps as one (network → every address either has). */
export function mergeMembers(a: ReadonlyMap<string, ReadonlySet<string>>, b: ReadonlyMap<string, ReadonlySet<string>>): Map<string, Set<string>> {
  const out = new Map<string, Set<string>>();
  for (const m of [a, b]) for (const [n, addrs] of m) out.set(n, new Set([...(out.get(n) ?? []), ...addrs]));
  return out;
}
