/**
 * Operator commands: `ra` (solicit and show the router's advertisement), `dad` (probe an address),
 * `status`, `check`, `docker-install` (register the runtime wrapper in Docker's daemon.json).
 */
import { replaceFile } from '../runtime/system/atomic-file';
import { describePolicy } from '../runtime/core/policy';
import { loadConfigFile } from '../runtime/system/config-file';
import { DEFAULT_RETRANS_MS } from '../runtime/core/dad';
import { InputError } from '../runtime/core/errors';
import { loadSecret } from '../runtime/system/host-secret';
import { stableAddress } from '../runtime/core/iid';
import { formatIPv6, parseIPv6, parsePrefix } from '../runtime/core/ipv6';
import { probeAddress, solicitRouter } from '../runtime/system/nd/solicit';
import { formatRaSummary, summarizeRa, type RaSummary } from '../runtime/wire/ndp/summary';
import { remaining, type Lifetime } from '../runtime/core/lifetime';
import type { AddressRecord, ContainerRecord } from '../runtime/core/record';
import { bootNow } from '../runtime/system/clock';
import { StateStore } from '../runtime/system/state-store';
import { Logger, escapeControls } from '../runtime/system/log';
import { check, findRecord, type Difference } from '../runtime/pipeline/check';
import { systemDeps } from '../runtime/pipeline/deps';
import { readRegularFile } from '../runtime/wire/oci/files';
import { addDockerRuntime } from '../runtime/wire/oci/daemon-json';

export interface CommandResult {
  exitCode: number;
  text: string;
  json: unknown;
}

function positiveInt(value: string | undefined, what: string, fallback: number): number {
  if (value === undefined) return fallback;
  if (!/^\d+$/.test(value) || Number(value) <= 0) throw new InputError(`${what} must be a positive integer, got ${JSON.stringify(value)}`);
  return Number(value);
}

export async function raCommand(opts: { interface: string; netns?: string; timeout?: string; name?: string; config?: string }): Promise<CommandResult> {
  const timeoutMs = positiveInt(opts.timeout, '--timeout', 3000);
  const found = await solicitRouter(opts.interface, opts.netns, timeoutMs);
  const summary = summarizeRa(found.router, found.advertisement);
  const json: RaSummary & { interface: string; elapsedMs: number; slaac?: { name: string; addresses: string[] } } = {
    interface: found.link.name,
    elapsedMs: Math.round(found.elapsedMs * 10) / 10,
    ...summary,
  };
  // A router's DNSSL labels are bytes of its choosing: shown with control characters escaped.
  const shown = { ...summary, dnssl: summary.dnssl.map((d) => ({ ...d, domains: d.domains.map(escapeControls) })) };
  let text = `${formatRaSummary(shown)}\n  received after    : ${json.elapsedMs} ms on ${found.link.name}`;
  if (opts.name !== undefined) {
    // The secret attach would use: config.toml's secret_file, else the host's own.
    const secret = loadSecret(loadConfigFile(opts.config));
    const addresses = summary.prefixes
      .filter((p) => p.autonomous && p.prefix.endsWith('/64'))
      .map((p) => {
        const { address, length } = parsePrefix(p.prefix);
        return formatIPv6(stableAddress({ prefix: address, prefixLength: length, name: opts.name ?? '', networkId: '', dadCounter: 0, secret }).address);
      });
    json.slaac = { name: opts.name, addresses };
    text += `\n  ${`SLAAC for ${JSON.stringify(opts.name)}`.padEnd(18)}: ${addresses.join(' ') || '(no autonomous /64 prefix)'}`;
  }
  return { exitCode: 0, text, json };
}

export async function dadCommand(opts: { address: string; interface: string; netns?: string; transmits?: string; retrans?: string }): Promise<CommandResult> {
  const target = parseIPv6(opts.address);
  const transmits = positiveInt(opts.transmits, '--transmits', 1);
  const retransMs = positiveInt(opts.retrans, '--retrans-ms', DEFAULT_RETRANS_MS);
  const r = await probeAddress(opts.interface, opts.netns, { target, transmits, retransMs });
  const elapsedMs = Math.round(r.elapsedMs);
  const json = { address: formatIPv6(target), interface: r.link.name, verdict: r.verdict, evidence: r.evidence ?? null, elapsedMs, probes: r.sent };
  const text = `${r.verdict} ${formatIPv6(target)} on ${r.link.name} after ${elapsedMs} ms (${r.sent} probe${r.sent === 1 ? '' : 's'})${r.evidence ? `: ${r.evidence}` : ''}`;
  return { exitCode: r.verdict === 'unique' ? 0 : 1, text, json };
}

/** A record's address with the deadlines refresh keeps (CLOCK_BOOTTIME ms; null = infinite), when it keeps them. */
type WithDeadlines = AddressRecord & { validUntil?: number | null; preferredUntil?: number | null };

/**
 * An address's remaining valid and preferred lifetimes (s, or 'infinite') at `now`: from its
 * deadlines when refresh keeps them, else from the RA's receipt (raAt) and the lifetimes it gave.
 */
export function addressLifetimes(a: WithDeadlines, raAt: number, now: number): { valid: Lifetime; preferred: Lifetime } {
  const left = (until: number | null): Lifetime => (until === null ? 'infinite' : Math.max(0, Math.round((until - now) / 1000)));
  const valid = a.validUntil !== undefined ? left(a.validUntil) : remaining(a.validLifetime, raAt, now);
  let preferred = a.preferredUntil !== undefined ? left(a.preferredUntil) : remaining(a.preferredLifetime, raAt, now);
  if (valid !== 'infinite' && (preferred === 'infinite' || preferred > valid)) preferred = valid;
  return { valid, preferred };
}

/** RFC 4862 §5.5.4: preferred, then deprecated (valid, not chosen for new connections), then expired. */
export function addressState(l: { valid: Lifetime; preferred: Lifetime }): 'preferred' | 'deprecated' | 'expired' {
  if (l.valid === 0) return 'expired';
  return l.preferred === 0 ? 'deprecated' : 'preferred';
}

/** When the container's last RA came (CLOCK_BOOTTIME ms): the latest of its routers' when refresh keeps them, else the attach's. */
function lastRaAt(r: ContainerRecord): number {
  const routers = (r as ContainerRecord & { routers?: { lastRaAt?: unknown }[] }).routers ?? [];
  return Math.max(r.raAt, ...routers.map((x) => (typeof x.lastRaAt === 'number' ? x.lastRaAt : 0)));
}

/** One row per attached container, from the state dir; `--json` gives the whole records. */
export function statusCommand(opts: { config?: string }): CommandResult {
  const cfg = loadConfigFile(opts.config);
  const records = new StateStore(cfg.state_dir).list();
  // Lifetimes count on CLOCK_BOOTTIME (from the RA's receipt, or refresh's deadlines); shown as seconds left.
  const now = bootNow();
  const shown = (l: Lifetime): string => (l === 'infinite' ? 'forever' : `${l}s`);
  const ago = (at: number): string => (at > 0 ? `${Math.max(0, Math.round((now - at) / 1000))}s ago` : '-');
  const rows = records.map((r) => {
    const lifetimes = r.addresses.map((a) => addressLifetimes(a, r.raAt, now));
    return {
      id: r.id,
      name: r.name,
      interface: r.phase === 'attaching' ? `${r.interface.name || '-'} (attaching)` : r.interface.name,
      // The link's kind and mode, and what the host holds for it: l3 reach, a host_link route.
      link: [`${r.interface.kind} ${r.interface.mode}`, r.l3 ? `proxy+table ${r.l3.table}` : '', r.hostLink ? `host via ${r.hostLink.name}` : ''].filter(Boolean).join(', '),
      addresses: r.addresses.map((a) => `${a.address}/${a.prefixLength}`),
      states: lifetimes.map((l, i) => `${addressState(l)}${r.addresses[i]?.dad === 'optimistic' ? ' (dad)' : ''}`),
      lifetimes: lifetimes.map((l) => `${shown(l.valid)}/${shown(l.preferred)}`),
      router: r.router.address,
      lastRa: r.member ? '-' : ago(lastRaAt(r)),
      dns: r.dns ? `${r.dns.name} (${r.dns.status})` : '-',
      policy: describePolicy(r.policy),
      since: r.since,
    };
  });
  const header = ['ID', 'NAME', 'IF', 'LINK', 'ADDRESS', 'STATE', 'VALID/PREFERRED', 'ROUTER', 'LAST-RA', 'DNS', 'POLICY', 'SINCE'];
  // Every cell one line: a name (an annotation's) with a newline or tab must not split or shift a row.
  const table = [
    header,
    ...rows.map((r) => [r.id.slice(0, 12), r.name, r.interface, r.link, r.addresses.join(','), r.states.join(','), r.lifetimes.join(','), r.router, r.lastRa, r.dns, r.policy, r.since].map((c) => escapeControls(String(c)))),
  ];
  const widths = header.map((_, i) => Math.max(...table.map((row) => (row[i] ?? '').length)));
  const text = table.map((row) => row.map((c, i) => (i === row.length - 1 ? c : c.padEnd(widths[i] ?? 0))).join('  ')).join('\n');
  return { exitCode: 0, text, json: records };
}

/**
 * The CNI CHECK verb: the live kernel and DNS against the container's ledger (runtime/pipeline/
 * check.ts). Exit 0 and "ok" when they agree, 1 with one line per difference.
 */
export async function checkCommand(opts: { id: string; config?: string }): Promise<CommandResult> {
  const cfg = loadConfigFile(opts.config);
  const record = findRecord(new StateStore(cfg.state_dir), opts.id, cfg.state_dir);
  const log = new Logger(''); // check writes nothing, logs nothing: a Logger only because the ops' context has one
  const deps = systemDeps(cfg.state_dir, log);
  let differences: Difference[];
  try {
    differences = await check(record, deps);
  } finally {
    deps.host.close();
    log.close();
  }
  const ok = differences.length === 0;
  return { exitCode: ok ? 0 : 1, text: ok ? 'ok' : differences.map((d) => escapeControls(d.text)).join('\n'), json: { id: record.id, ok, differences } };
}

const DOCKER_DAEMON_JSON = '/etc/docker/daemon.json';
const DOCKER_RUNTIME_NAME = 'slaac';
const DOCKER_RUNTIME_PATH = '/usr/local/bin/oci-slaac-runtime';
const MAX_DAEMON_JSON_BYTES = 1024 * 1024;

/**
 * Register the runtime wrapper in Docker's daemon.json (runtime/wire/oci/daemon-json.ts); the file
 * is written only when something changes, atomically: dockerd reads it at start and on SIGHUP, and
 * must never see half of it.
 */
export function dockerInstallCommand(opts: { daemonJson?: string; name?: string; runtimePath?: string; makeDefault?: boolean }): CommandResult {
  const file = opts.daemonJson ?? DOCKER_DAEMON_JSON;
  const before = readRegularFile(file, { what: file, maxBytes: MAX_DAEMON_JSON_BYTES, missingOk: true });
  const r = addDockerRuntime(before, { name: opts.name ?? DOCKER_RUNTIME_NAME, path: opts.runtimePath ?? DOCKER_RUNTIME_PATH, makeDefault: opts.makeDefault ?? false });
  if (r.changed.length) replaceFile(file, r.text, { fsync: true });
  // dockerd's reload (SIGHUP) takes `runtimes` and `default-runtime` (moby daemon/reload_unix.go): no restart needed.
  const lines = r.changed.length
    ? [...r.changed.map((c) => `${file}: ${c}`), 'dockerd reloads runtimes on SIGHUP: systemctl reload docker (or kill -HUP the dockerd pid)']
    : [`${file}: nothing to change`];
  // One change one line: a file name with a newline must not split one.
  return { exitCode: 0, text: lines.map(escapeControls).join('\n'), json: { file, changed: r.changed, written: r.changed.length > 0 } };
}

