/**
 * Logical networks' membership, kept current in every restricted container's firewall on this
 * host: the member sets (`net_<network>`) hold the addresses of every member — this host's own
 * containers (from their records) and, with [dns], every host's (the AAAA records at
 * `<network>.<networks_zone>` that each member's hook publishes and withdraws). No new control
 * plane: DNS is the directory, asked of the authoritative server once per TTL, so a member that
 * stops is out of every set within one TTL of its withdrawal (plus one query).
 *
 * One pass at a time; a pass writes only the containers whose sets would change (one nf_tables
 * transaction per network, replacing the set's elements atomically). A DNS failure keeps the last
 * answer (stale members beat cutting a network apart while the server is unreachable), said once.
 */
import { oneLine } from '../core/errors';
import type { DnsConfig } from '../core/config';
import type { ContainerRecord } from '../core/record';
import { lookupMembers } from '../ops/dns-records';
import { localMembers, membersFor, mergeMembers } from '../ops/firewall';
import { reopenNetns } from '../pipeline/detach';
import type { PipelineDeps } from '../pipeline/deps';
import type { Logger } from '../system/log';

export interface MembershipHost {
  deps: () => Pick<PipelineDeps, 'store' | 'openNetns'>;
  dns: () => DnsConfig | undefined;
  log: Logger;
  /** Look members up in DNS (tests replace it); default lookupMembers. */
  lookup?: (dns: DnsConfig, networks: string[]) => Promise<Map<string, Set<string>>>;
}

/** The DNS poll's bounds: not faster than 1 s, not slower than 5 min, whatever the TTL. */
const MIN_POLL_MS = 1000;
const MAX_POLL_MS = 300_000;

export class Membership {
  /** Container id → the sets last written (JSON), so that an unchanged pass writes nothing. */
  private readonly applied = new Map<string, string>();
  /** The last answer from DNS, per network (kept through a DNS failure). */
  private remote = new Map<string, Set<string>>();
  private dnsFailing = false;
  private running: Promise<void> | undefined;
  private again = false;
  private timer: NodeJS.Timeout | undefined;
  readonly counters = { passes: 0, writes: 0, failures: 0 };

  constructor(private readonly host: MembershipHost) {}

  /** The DNS poll interval: the member records' TTL (bounded), or none without [dns]. */
  pollMs(): number | undefined {
    const dns = this.host.dns();
    return dns ? Math.min(MAX_POLL_MS, Math.max(MIN_POLL_MS, dns.ttl * 1000)) : undefined;
  }

  /** Poll DNS once per TTL (again after a reload: the TTL may have changed). */
  arm(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    const every = this.pollMs();
    if (every !== undefined) {
      this.timer = setInterval(() => this.nudge(), every);
      this.timer.unref?.();
    }
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  /** Run a pass soon (a member came or went on this host); one more after the running one, at most. */
  nudge(): void {
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = this.pass().finally(() => {
      this.running = undefined;
      if (this.again) {
        this.again = false;
        this.nudge();
      }
    });
  }

  /** Until no pass runs (tests, stop). */
  async idle(): Promise<void> {
    while (this.running) await this.running;
  }

  /** One pass over the records: each restricted container's sets made what they should be. */
  async pass(): Promise<void> {
    this.counters.passes++;
    const deps = this.host.deps();
    let records: ContainerRecord[];
    try {
      records = deps.store.list();
    } catch (err) {
      this.host.log.warn(`members: cannot read the records: ${oneLine(err)}`);
      return;
    }
    const guarded = records.filter((r) => r.firewall && !r.member && r.phase === 'attached' && (r.policy?.networks.length ?? 0) > 0);
    for (const id of [...this.applied.keys()]) if (!guarded.some((r) => r.id === id)) this.applied.delete(id);
    if (guarded.length === 0) return;
    const networks = [...new Set(guarded.flatMap((r) => r.policy?.networks ?? []))].sort();
    const dns = this.host.dns();
    if (dns) {
      try {
        this.remote = await (this.host.lookup ?? lookupMembers)(dns, networks);
        if (this.dnsFailing) this.host.log.info('members: DNS answers again');
        this.dnsFailing = false;
      } catch (err) {
        if (!this.dnsFailing) this.host.log.warn(`members: ${oneLine(err)}; keeping the members last known until DNS answers`);
        this.dnsFailing = true;
      }
    } else this.remote = new Map();
    const known = mergeMembers(localMembers(records), this.remote);
    for (const r of guarded) this.write(r, membersFor(r, known), deps);
  }

  private write(record: ContainerRecord, want: Record<string, string[]>, deps: Pick<PipelineDeps, 'openNetns'>): void {
    const key = JSON.stringify(want);
    if (this.applied.get(record.id) === key) return;
    const table = record.firewall?.table ?? '';
    const k = reopenNetns(deps, record);
    if (!k) return; // its netns is gone: GC withdraws it
    try {
      for (const [network, addresses] of Object.entries(want)) k.setFirewallMembers(table, network, addresses);
      this.applied.set(record.id, key);
      this.counters.writes++;
      this.host.log.info(`${record.id.slice(0, 12)}: members ${Object.entries(want).map(([n, a]) => `${n}: ${a.length ? a.join(' ') : '(none)'}`).join('; ')}`);
    } catch (err) {
      this.counters.failures++;
      this.host.log.warn(`${record.id.slice(0, 12)}: members: ${oneLine(err)}`);
    } finally {
      k.close();
    }
  }
}
