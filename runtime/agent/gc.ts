/**
 * Garbage collection: records whose container is gone without a poststop (the runtime crashed, a
 * hook was killed, a netns was deleted by hand) are detached — their ledger replayed: DNS
 * withdrawn, host-side objects removed, state dropped.
 *
 * A record is collected when its netns no longer opens or opens another netns (reopenNetns
 * compares nsfs identity and the netns cookie) **and** its container process (pid and start time)
 * is gone. A record still being attached by a live hook is left to that hook. A pod member record
 * has nothing of its own: it is only removed.
 *
 * At the agent's start, also the host-side objects marked as ours (protocol RTPROT_OSH: source
 * rules, proxy entries, routes — host routes to containers and the l3 tables' routes) that no
 * record's ledger owns: the kernel's objects are listed first, the records read after — a process
 * records an effect before it makes it, so whatever was listed is in a record read later if anyone
 * owns it (the parents' locks are held too). Links are never removed here: in the
 * host netns only the host-link companions (`oci-slaac-hook:host-link`) are ours, and they stay.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { formatIPv6 } from '../core/ipv6';
import { removeUnlessGone } from '../core/errors';
import type { ContainerRecord, Effect } from '../core/record';
import { HOST_LINK_METRIC } from '../ops/host-link';
import type { PipelineDeps, RecordStore } from '../pipeline/deps';
import { stateFileName } from '../system/state-store';
import { detach, legacyLedger, reopenNetns } from '../pipeline/detach';
import { RTPROT_OSH } from '../wire/rtnetlink/constants';

/**
 * Every record the store can read, and one line per file it cannot: one bad file (not JSON, not
 * ours) must not hide the others, as the store's own list() would (it throws on the first).
 */
export function listRecords(store: RecordStore): { records: ContainerRecord[]; problems: string[] } {
  try {
    return { records: store.list(), problems: [] };
  } catch (err) {
    const dir = (store as { dir?: unknown }).dir;
    if (typeof dir !== 'string') return { records: [], problems: [(err as Error).message] };
    const records: ContainerRecord[] = [];
    const problems: string[] = [];
    let names: string[] = [];
    try {
      names = fs.readdirSync(dir).filter((n) => n.endsWith('.json') && !n.startsWith('.'));
    } catch (e) {
      return { records: [], problems: [(e as Error).message] };
    }
    for (const n of names) {
      try {
        const st = fs.lstatSync(path.join(dir, n));
        if (!st.isFile() || st.size > 4 * 1024 * 1024) throw new Error(`state file ${path.join(dir, n)} is not a regular file of at most 4 MiB`);
        const id = (JSON.parse(fs.readFileSync(path.join(dir, n), 'utf8')) as { id?: unknown }).id;
        if (typeof id !== 'string') throw new Error(`state file ${path.join(dir, n)} has no id`);
        const r = store.read(id);
        if (r) records.push(r);
      } catch (e) {
        problems.push(e instanceof SyntaxError ? `state file ${path.join(dir, n)} is not valid JSON` : (e as Error).message);
      }
    }
    return { records, problems };
  }
}

/** A state file name that is `<id>.json` for an ordinary id (state-store.ts). */
const ORDINARY_FILE = /^[\w+][\w+.-]{0,199}\.json$/;

/**
 * Every record the store can read, one at a time: `each` is called per record and nothing is kept —
 * the agent of a host with a thousand containers never holds a thousand parsed records at once (its
 * peak RSS). Returns one line per file that cannot be read (one bad file hides no other). A store
 * with a directory (StateStore) is read file by file; another (tests) through list().
 */
export function eachRecord(store: RecordStore, each: (record: ContainerRecord) => void): string[] {
  const dir = (store as { dir?: unknown }).dir;
  if (typeof dir !== 'string') {
    const { records, problems } = listRecords(store);
    for (const r of records) each(r);
    return problems;
  }
  let names: string[];
  try {
    names = fs.readdirSync(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    return [(err as Error).message];
  }
  const problems: string[] = [];
  for (const n of names) {
    if (!n.endsWith('.json') || n.startsWith('.')) continue;
    let record: ContainerRecord | undefined;
    try {
      let id: string;
      if (ORDINARY_FILE.test(n)) id = n.slice(0, -'.json'.length);
      else if (n.startsWith('@')) {
        const st = fs.lstatSync(path.join(dir, n));
        if (!st.isFile() || st.size > 4 * 1024 * 1024) throw new Error(`state file ${path.join(dir, n)} is not a regular file of at most 4 MiB`);
        const named = (JSON.parse(fs.readFileSync(path.join(dir, n), 'utf8')) as { id?: unknown }).id;
        if (typeof named !== 'string') throw new Error(`state file ${path.join(dir, n)} has no id`);
        id = named;
      } else continue; // no record's file (list() skips it too)
      record = store.read(id);
      if (record && stateFileName(record.id) !== n) record = undefined;
    } catch (err) {
      problems.push(err instanceof SyntaxError ? `state file ${path.join(dir, n)} is not valid JSON` : (err as Error).message);
      continue;
    }
    if (record) each(record);
  }
  return problems;
}

export interface GcVerdict {
  collect: boolean;
  why: string;
}

/** Whether `record`'s container is gone (netns gone or another, process gone), and why. */
export function containerGone(record: ContainerRecord, deps: Pick<PipelineDeps, 'openNetns' | 'processAlive'>): GcVerdict {
  if (record.phase === 'attaching' && record.hook && deps.processAlive(record.hook)) return { collect: false, why: 'its hook is at work' };
  if (record.process && deps.processAlive(record.process)) return { collect: false, why: 'its process runs' };
  const k = reopenNetns(deps, record);
  if (k) {
    k.close();
    return { collect: false, why: 'its netns exists' };
  }
  return { collect: true, why: `network namespace ${record.netns.path} is gone${record.process ? ` and process ${record.process.pid} too` : ''}` };
}

export interface GcOutcome {
  id: string;
  /** One line for the log. */
  line: string;
  removed: boolean;
}

/** One pass over the store: collect every record whose container is gone. A failure for one never stops the others. */
export async function collectGarbage(deps: PipelineDeps, opts: { skip?: (id: string) => boolean; problems?: (lines: string[]) => void } = {}): Promise<GcOutcome[]> {
  const out: GcOutcome[] = [];
  // Read one by one; only the records to collect are kept (for after the pass).
  const due: { record: ContainerRecord; why: string }[] = [];
  const problems = eachRecord(deps.store, (record) => {
    if (opts.skip?.(record.id)) return;
    try {
      const v = containerGone(record, deps);
      if (v.collect) due.push({ record, why: v.why });
    } catch (err) {
      out.push({ id: record.id, line: `gc ${record.id}: ${(err as Error).message}`, removed: false });
    }
  });
  if (problems.length) opts.problems?.(problems);
  for (const { record, why } of due) {
    if (opts.skip?.(record.id)) continue; // a job started meanwhile: the next pass
    try {
      out.push(await collectOne(record, why, deps));
    } catch (err) {
      out.push({ id: record.id, line: `gc ${record.id}: ${(err as Error).message}`, removed: false });
    }
  }
  return out;
}

async function collectOne(record: ContainerRecord, why: string, deps: PipelineDeps): Promise<GcOutcome> {
  // Read again: poststop may have removed it (or a new attach replaced it) since the list.
  const now = deps.store.read(record.id);
  if (!now || now.since !== record.since || now.attachId !== record.attachId) return { id: record.id, line: `gc ${record.id}: detached meanwhile`, removed: false };
  if (now.member) {
    await deps.withContainerLock(now.id, (lock) => {
      if (deps.store.remove(now.id)) lock.forget();
    });
    return { id: now.id, line: `gc ${now.id}: pod member record removed (${why})`, removed: true };
  }
  const r = await detach(now, deps);
  const what = [...now.addresses.map((a) => a.address), ...(now.dns ? [now.dns.name] : [])];
  const failures = r.failures.length ? `; not undone: ${r.failures.join('; ')}` : '';
  return {
    id: now.id,
    line: `gc ${now.id}: ${why}: ${r.removed ? 'withdrawn' : 'partly withdrawn'} ${what.join(' ') || '(nothing published)'}${failures}`,
    removed: r.removed,
  };
}

/** The host-side effects every record owns (a record older than ledgers: from its fields). */
function ownedEffects(records: ContainerRecord[]): Effect[] {
  return records.flatMap((r) => (r.ledger ?? legacyLedger(r)));
}

/**
 * Remove host-side objects marked as ours that no record owns. Holds the locks of `parents` (every
 * parent that could have made them, sorted: hooks take one lock at a time) while it reads the
 * records and removes: nothing being attached meanwhile can be mistaken for an orphan.
 */
export function removeOrphans(deps: PipelineDeps, parents: string[]): string[] {
  const sorted = [...new Set(parents)].filter((p) => p !== '').sort();
  const hold = (i: number): string[] => (i < sorted.length ? deps.withLock(sorted[i] as string, () => hold(i + 1)) : sweep(deps));
  return hold(0);
}

function sweep(deps: PipelineDeps): string[] {
  const lines: string[] = [];
  const host = deps.host;
  // The kernel first, then the records: every effect is recorded before it is made (the ledger), so
  // an object listed here is owned by a record read after — whoever made it, under whichever lock.
  const rules = host.listRules();
  const proxies = host.listProxies();
  const routes = host.listRoutes();
  // Only the host-side effects of each record are kept, not the records.
  const effects: Effect[] = [];
  const problems = eachRecord(deps.store, (r) => {
    for (const e of ownedEffects([r])) if (e.kind === 'l3-reach' || e.kind === 'l3-table' || e.kind === 'host-route') effects.push(e);
  });
  // A record we cannot read may own anything: then nothing is an orphan.
  if (problems.length) return [`orphan sweep skipped: ${problems.length} state file(s) unreadable (${problems[0]})`];
  const reach = new Set(effects.flatMap((e) => (e.kind === 'l3-reach' ? [`${e.parentIndex} ${e.table} ${e.address}`] : [])));
  const reachAddr = new Set(effects.flatMap((e) => (e.kind === 'l3-reach' ? [`${e.table} ${e.address}`] : [])));
  const tables = new Set(effects.flatMap((e) => (e.kind === 'l3-table' ? [e.table] : [])));
  const hostRoutes = new Set(effects.flatMap((e) => (e.kind === 'host-route' ? [`${e.via} ${e.address}`] : [])));
  const note = (what: string, failure: string | undefined): void => void lines.push(failure ? `orphan ${what}: not removed: ${failure}` : `orphan ${what} removed (no record owns it)`);

  for (const rule of rules) {
    if (rule.protocol !== RTPROT_OSH) continue;
    const addr = formatIPv6(rule.source);
    if (reachAddr.has(`${rule.table} ${addr}`)) continue;
    note(`rule from ${addr} lookup ${rule.table}`, removeUnlessGone(() => host.deleteRule({ source: rule.source, table: rule.table, priority: rule.priority })));
  }
  for (const p of proxies) {
    if (p.protocol !== RTPROT_OSH) continue;
    const addr = formatIPv6(p.address);
    if ([...reach].some((k) => k.startsWith(`${p.index} `) && k.endsWith(` ${addr}`))) continue;
    note(`proxy ${addr} dev ${p.index}`, removeUnlessGone(() => host.deleteProxy(p.index, p.address)));
  }
  for (const r of routes) {
    if (r.protocol !== RTPROT_OSH) continue;
    const dst = `${formatIPv6(r.destination)}/${r.prefixLength}`;
    const isHostRoute = r.prefixLength === 128 && r.metric === HOST_LINK_METRIC && r.table === 254;
    if (isHostRoute) {
      if (hostRoutes.has(`${r.oif ?? 0} ${formatIPv6(r.destination)}`)) continue;
    } else if (r.table === 254 || tables.has(r.table)) continue; // only the l3 tables' routes are ours to judge outside main
    note(
      `route ${dst}${r.gateway ? ` via ${formatIPv6(r.gateway)}` : ''} table ${r.table}`,
      removeUnlessGone(() =>
        host.deleteRoute({ destination: r.destination, prefixLength: r.prefixLength, gateway: r.gateway, oif: r.oif ?? 0, table: r.table, metric: r.metric, protocol: RTPROT_OSH }),
      ),
    );
  }
  return lines;
}
