// Test helper: the hook binary driven as a runtime drives it, against container stand-ins — a
// named netns (the container's network namespace, by path as podman passes it) and a bundle whose
// config.json names it — and what the host holds of the hook's making afterwards (source rules,
// proxy entries, our routes). Used by the ledger tests (tests/e2e/kill.test.ts, tests/vm/ledger.test.ts).
// Needs root.

import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { REPO_ROOT, run } from './run';

export const HOOK_CLI = path.join(REPO_ROOT, 'dist', 'oci-slaac-hook.js');
/** Our routes, rules and proxy entries carry this protocol number (RTPROT_OSH). */
export const PROTO_OSH = 86;

export interface HookRun {
  /** The exit code; null when a signal ended it. */
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** Wall time from spawn to exit. */
  ms: number;
  /** performance.now() at spawn and at exit. */
  startedAt: number;
  endedAt: number;
}

export interface HookOptions {
  config: string;
  /** Extra environment (e.g. OCI_SLAAC_HOOK_FAILPOINT, OCI_SLAAC_HOOK_STATE_LIB). */
  env?: Record<string, string>;
  /** Run it in this named netns (the lab's host netns); default: the current one. */
  hostNetns?: string;
  /** A command (and its arguments) the hook runs under, e.g. `unshare --pid --fork --mount-proc`. */
  wrap?: string[];
  /** SIGKILL after this long (the result then says SIGKILL too: look at timedOut). Default 60 s. */
  timeoutMs?: number;
}

/**
 * `node dist/oci-slaac-hook.js STAGE --config FILE` with the OCI state on stdin. The exit status
 * as the kernel gave it (code, or signal with code null), never a throw. The environment is PATH
 * and `env` only, as runc gives a hook only its `env` — and never tap's NODE_OPTIONS: tap's
 * @tapjs/processinfo puts its --import into the environment of every process a test spawns,
 * whatever env is given, and that import made each `node` start 7× dearer in the CI VM under TCG
 * (3.7 s of CPU instead of 0.5 s). `env -u NODE_OPTIONS` (which execs, as `ip netns exec` does:
 * the exit status stays the hook's own) takes it out again.
 */
export function runHook(stage: string, state: string, opts: HookOptions): Promise<HookRun & { timedOut: boolean }> {
  const node = [...(opts.wrap ?? []), 'env', '-u', 'NODE_OPTIONS', process.execPath, HOOK_CLI, stage, '--config', opts.config];
  const [file, ...args] = opts.hostNetns ? ['ip', 'netns', 'exec', opts.hostNetns, ...node] : node;
  return new Promise((resolve) => {
    const startedAt = performance.now();
    const env = { PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin', ...opts.env };
    const child = spawn(file as string, args, { env, stdio: ['pipe', 'pipe', 'pipe'], cwd: REPO_ROOT });
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, opts.timeoutMs ?? 60_000);
    child.stdout.setEncoding('utf8').on('data', (s: string) => (stdout += s));
    child.stderr.setEncoding('utf8').on('data', (s: string) => (stderr += s));
    child.stdin.on('error', () => undefined);
    child.stdin.end(state);
    child.on('error', (err) => {
      clearTimeout(timer);
      const endedAt = performance.now();
      resolve({ code: -1, signal: null, stdout, stderr: stderr + err.message, ms: endedAt - startedAt, startedAt, endedAt, timedOut });
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const endedAt = performance.now();
      resolve({ code, signal, stdout, stderr, ms: endedAt - startedAt, startedAt, endedAt, timedOut });
    });
  });
}

export interface FakeContainer {
  id: string;
  /** The container's netns (/run/netns/NAME). */
  netns: string;
  bundle: string;
  /** The OCI state a runtime would give (no pid: the netns is config.json's path). */
  state(status: 'creating' | 'created' | 'stopped'): string;
  /** `ip -n NETNS -o link show`: one line a link. */
  links(): Promise<string[]>;
  /** Delete the netns (idempotent). */
  remove(): Promise<void>;
}

/** A netns and a bundle naming it; `annotations` go into config.json. */
export async function fakeContainer(opts: { id: string; netns: string; dir: string; annotations?: Record<string, string> }): Promise<FakeContainer> {
  const { id, netns } = opts;
  const add = await run('ip', ['netns', 'add', netns]);
  if (add.code !== 0) throw new Error(`ip netns add ${netns}: ${add.stderr.trim()}`);
  const bundle = path.join(opts.dir, 'bundles', id);
  fs.mkdirSync(bundle, { recursive: true });
  const config = { ociVersion: '1.0.2', linux: { namespaces: [{ type: 'pid' }, { type: 'network', path: `/run/netns/${netns}` }] }, annotations: opts.annotations ?? {} };
  fs.writeFileSync(path.join(bundle, 'config.json'), JSON.stringify(config));
  return {
    id,
    netns,
    bundle,
    state: (status) => JSON.stringify({ ociVersion: '1.0.2', id, status, bundle }),
    links: async () => {
      const r = await run('ip', ['-n', netns, '-o', 'link', 'show']);
      if (r.code !== 0) throw new Error(`ip -n ${netns} link: ${r.stderr.trim()}`);
      return r.stdout.split('\n').filter((l) => l.trim() !== '');
    },
    remove: async () => {
      if (fs.existsSync(`/run/netns/${netns}`)) await run('ip', ['netns', 'del', netns]);
    },
  };
}

export interface HostResidue {
  /** `ip -6 rule show` lines that are not the kernel's defaults (local, main). */
  rules: string[];
  /** `ip -6 neigh show proxy`. */
  proxies: string[];
  /** `ip -6 route show table all proto 86`. */
  routes: string[];
  /** `ip -6 route show table TABLE`. */
  table: string[];
}

const lines = (s: string): string[] => s.split('\n').filter((l) => l.trim() !== '');

/** What the host holds that the hook could have made: rules, proxy entries, proto-86 routes, TABLE. */
export async function hostResidue(hostNetns: string | undefined, table: number): Promise<HostResidue> {
  const ip = (args: string[]) => run('ip', [...(hostNetns ? ['-n', hostNetns] : []), ...args]).then((r) => {
    if (r.code !== 0) throw new Error(`ip ${args.join(' ')}: ${r.stderr.trim()}`);
    return lines(r.stdout);
  });
  const [rules, proxies, routes, tableRoutes] = await Promise.all([
    ip(['-6', 'rule', 'show']),
    ip(['-6', 'neigh', 'show', 'proxy']),
    ip(['-6', 'route', 'show', 'table', 'all', 'proto', String(PROTO_OSH)]),
    // A table that was never used does not exist: ip says so (exit 2 on some versions) — treat as empty.
    run('ip', [...(hostNetns ? ['-n', hostNetns] : []), '-6', 'route', 'show', 'table', String(table)]).then((r) => (r.code === 0 ? lines(r.stdout) : [])),
  ]);
  return { rules: rules.filter((l) => !/^0:\s+from all lookup local$/.test(l.trim()) && !/^32766:\s+from all lookup main$/.test(l.trim())), proxies, routes, table: tableRoutes };
}

/**
 * The state directory's files other than the per-parent lock files (locks/…): records and temp
 * files, and the index's entries (index/…, state-store.ts) but not its marker — so "nothing left"
 * also means no entry left behind.
 */
export function stateFiles(stateDir: string): string[] {
  if (!fs.existsSync(stateDir)) return [];
  const index = path.join(stateDir, 'index');
  const entries = fs.existsSync(index) ? fs.readdirSync(index).filter((f) => f !== '.complete').map((f) => `index/${f}`) : [];
  return [...fs.readdirSync(stateDir).filter((f) => f !== 'locks' && f !== 'index'), ...entries];
}
