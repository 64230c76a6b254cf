// Containers at scale (`npm run bench -- --scale`, part of scripts/bench.ts), in a netns lab of its
// own (`scl`: LAN scl-lan, router scl-r with radvd, host scl-h whose NIC scl0 is the parent, peer
// scl-p; 2001:db8:cd::/64, RetransTimer 1000 ms), with no container runtime: each container is a
// fresh netns (scl-c1…scl-cN) and a bundle whose config.json names it, and the built hook
// (dist/oci-slaac-hook.js createRuntime, OCI state on stdin, under `ip netns exec scl-h`: the
// host's netns) is spawned for it exactly as a runtime spawns it. Measured:
//  1. time to a usable address, four subjects interleaved: the hook strict, the hook optimistic
//     (standalone, no agent: they solicit the RA), the CNI macvlan plugin with static IPAM and the
//     kernel's DAD (ADD → address no longer tentative), and the kernel's own SLAAC in a fresh
//     netns (a macvlan with accept_ra/autoconf on: link up → a global, non-tentative address);
//  2. for each N (default 10, 100, 1000), a fresh run: the agent started (as a host runs it, in
//     scl-h), N hooks started one after another (optimistic DAD, the agent holding the RA), each
//     timed (p50/p99), `node -e 0` spawned the same way every 10th start as the baseline; then
//     every netns read back (one global address each, all distinct), the kernel objects counted
//     (links, addresses, routes, neighbours in every container netns and the host's), the agent's
//     RSS and fds; then N poststops (timed) and everything deleted;
//  3. C concurrent starts (default 50): all spawned at once, all must succeed with distinct addresses;
//  4. the data plane with iperf3 to the peer: from the host (scl-h), from a container on our macvlan,
//     and from a container behind podman's NAT bridge — podman 4.3's CNI network as podman
//     configures it (bridge plugin with isGateway/ipMasq/hairpinMode and host-local IPAM, then the
//     firewall plugin; portmap and tuning are no-ops without port mappings), run in scl-h with an
//     IPv6 subnet (the lab has no IPv4): veth → bridge → forwarding → ip6tables MASQUERADE → scl0.
//     Throughput ratios against host → peer, rounds interleaved.
// Everything made (lab, up to N netns, agent, iperf3 server, work dir /tmp/scl-*) is removed at the
// end, on failure, and by fleetTeardown() (bench.ts's cleanup on SIGINT/SIGTERM/time limit).
import { spawn, type ChildProcess } from 'node:child_process';
import { setMaxListeners } from 'node:events';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { formatIPv6, isLinkLocal } from '../runtime/core/ipv6';
import { RtnlKernel } from '../runtime/system/kernel';
import { RTM_GETNEIGH, RTM_NEWNEIGH, IFA_F_DADFAILED, IFA_F_TENTATIVE, IFA_F_OPTIMISTIC } from '../runtime/wire/rtnetlink/constants';
import { labUp, LAB_SH, type Lab } from '../vm/lab/lab';
import { REPO_ROOT, run, type RunResult } from '../vm/lab/run';
import { askAgent } from './bench-scale';
import type { ChartData } from './bench-svg';

const CLI = path.join(REPO_ROOT, 'dist', 'oci-slaac-hook.js');
const CNI_DIR = '/usr/lib/cni';
const SYS_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
const HOST_NS = 'scl-h';
const PARENT = 'scl0';
const PREFIX_BASE = '2001:db8:cd:';
const PEER = '2001:db8:cd::100';
const NAT_SUBNET = 'fd00:cd:1::/64';
const NAT_GATEWAY = 'fd00:cd:1::1';
const IPERF_PORT = 5201;
const LAB_ENV: Record<string, string> = {
  LAB_NAME: 'scl',
  LAB_HOST_NETNS: HOST_NS,
  LAB_HOST_IF: PARENT,
  LAB_HOST_ADDR: `${PREFIX_BASE}:2/64`,
  LAB_ROUTER_NETNS: 'scl-r',
  LAB_PEER_NETNS: 'scl-p',
  LAB_PREFIX: `${PREFIX_BASE}:/64`,
  LAB_ROUTER_ADDR: `${PREFIX_BASE}:1`,
  LAB_PEER_ADDR: PEER,
  LAB_RDNSS: '',
  // The RA says 1500 (the veths' MTU): host, containers and the NAT bridge all send 1500-byte frames.
  LAB_MTU: '1500',
};

export interface FleetOptions {
  ns: number[];
  concurrency: number;
  /** Time-to-address rounds (each: the four subjects). */
  addressIterations: number;
  /** iperf3: seconds per sample and rounds (each: the three paths); 0 rounds = no data plane. */
  iperfSeconds: number;
  iperfRounds: number;
  note(line: string): void;
}

export interface Dist {
  n: number;
  ok: number;
  p50: number | null;
  p90: number | null;
  p99: number | null;
  min: number | null;
  max: number | null;
}

export interface ScaleRun {
  n: number;
  hook: Dist;
  failures: string[];
  node: Dist;
  poststop: Dist;
  poststopFailures: number;
  /** Containers read back with exactly one global address, and how many distinct addresses in all. */
  withAddress: number;
  distinctAddresses: number;
  /** Global addresses still tentative (not optimistic) or DAD-failed when read back. */
  notUsable: number;
  agent: { rssMiB: number | null; hwmMiB: number | null; fds: number | null; startMs: number | null };
  /** Totals over all N container netns, and in the host netns. */
  kernel: { links: number; addresses: number; routes: number; neighbours: number; host: { links: number; addresses: number; routes: number; neighbours: number; proxies: number }; netns: number };
  /** /proc/meminfo Slab growth with N containers up (machine-wide: others' work shows too). */
  slabDeltaMiB: number | null;
  startsSeconds: number;
  totalSeconds: number;
}

export interface FleetReport {
  node: string;
  kernel: string;
  cpus: number;
  when: string;
  lab: { name: string; parent: string; prefix: string; retransTimerMs: number };
  driver: string;
  address: {
    iterations: number;
    series: Record<'hookStrict' | 'hookOptimistic' | 'cniKernelDad' | 'kernelSlaac', Dist & { failures: string[] }>;
    /** The hook's own timings from its state record (medians, ms): RA wait, DAD, its in-process total. */
    inHook: Record<'strict' | 'optimistic', { raMs: number | null; dadMs: number | null; totalMs: number | null }>;
  };
  scale: ScaleRun[];
  concurrent: { n: number; ok: number; distinct: number; wallMs: number; hook: Dist; failures: string[]; poststopOk: number } | null;
  dataPlane: {
    seconds: number;
    rounds: number;
    natBridge: string;
    gbps: Record<'host' | 'macvlan' | 'nat', number[]>;
    median: Record<'host' | 'macvlan' | 'nat', number | null>;
    ratio: { macvlanOverHost: number | null; natOverHost: number | null; macvlanOverNat: number | null };
    failures: string[];
  } | null;
  netnsLeft: string[];
  seconds: number;
}

// ------------------------------------------------------------------ processes and cleanup

const abort = new AbortController();
// Every running child listens on it: 50 concurrent hooks and more are expected.
setMaxListeners(0, abort.signal);
/** Thrown by a command started after the teardown began (the run is stopping). */
export class FleetAborted extends Error {}
/** Namespaces this bench made and has not deleted yet. */
const netnsMade = new Set<string>();
/** Long-running children (the agent, the iperf3 server): killed at teardown. */
const daemons = new Set<ChildProcess>();
let labStarting: Promise<Lab> | undefined;
let work: string | undefined;
let tearing: Promise<void> | undefined;

function sh(file: string, args: readonly string[], o: { input?: string; env?: Record<string, string>; timeoutMs?: number; force?: boolean } = {}): Promise<RunResult> {
  if (abort.signal.aborted && !o.force) return Promise.reject(new FleetAborted('aborting'));
  return run(file, args, { baseEnv: o.env ?? { PATH: SYS_PATH }, input: o.input ?? '', timeoutMs: o.timeoutMs ?? 30000, detached: true, ...(o.force ? {} : { signal: abort.signal }) });
}

const oneLine = (s: string): string => s.trim().split('\n').filter(Boolean).pop() ?? '';
const msOf = (r: RunResult): number => Number(r.exitNs - r.startNs) / 1e6;
const sleep = (n: number): Promise<void> => new Promise((r) => setTimeout(r, n));

async function must(what: string, file: string, args: readonly string[], o?: { input?: string; env?: Record<string, string>; timeoutMs?: number }): Promise<RunResult> {
  const r = await sh(file, args, o);
  if (r.code !== 0) throw new Error(`${what} failed (code ${r.code}${r.timedOut ? ', timed out' : ''}): ${oneLine(r.stderr || r.stdout)}`);
  return r;
}

/** `ip -force -batch -` over lines, 250 a process. */
async function ipBatch(lines: string[], force = false): Promise<void> {
  for (let i = 0; i < lines.length; i += 250) {
    const r = await sh('ip', ['-force', '-batch', '-'], { input: `${lines.slice(i, i + 250).join('\n')}\n`, timeoutMs: 120000, force });
    if (r.code !== 0 && !force) throw new Error(`ip -batch: ${oneLine(r.stderr)}`);
  }
}

async function netnsAddMany(names: string[]): Promise<void> {
  for (const n of names) netnsMade.add(n);
  await ipBatch(names.map((n) => `netns add ${n}`));
}

async function netnsDelMany(names: string[], force = false): Promise<void> {
  const mine = names.filter((n) => netnsMade.has(n));
  if (!mine.length) return;
  await ipBatch(mine.map((n) => `netns del ${n}`), true).catch(() => undefined);
  for (const n of mine) if (!fs.existsSync(`/run/netns/${n}`)) netnsMade.delete(n);
  if (!force) for (const n of mine) if (netnsMade.has(n)) throw new Error(`could not delete netns ${n}`);
}

function killDaemon(c: ChildProcess, sig: NodeJS.Signals = 'SIGKILL'): void {
  if (c.exitCode !== null || c.signalCode !== null || !c.pid) return;
  try {
    process.kill(-c.pid, sig); // its own process group (detached)
  } catch {
    try {
      c.kill(sig);
    } catch {
      // gone
    }
  }
}

/** Processes left by hooks of this run (their detached optimistic-DAD completion): argv names our work dir. */
function killStragglers(): void {
  if (!work) return;
  for (const d of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(d) || Number(d) === process.pid) continue;
    try {
      const argv = fs.readFileSync(`/proc/${d}/cmdline`, 'utf8').split('\0');
      if (argv.includes(CLI) && argv.some((a) => a.startsWith(`${work}/`))) process.kill(Number(d), 'SIGKILL');
    } catch {
      // gone
    }
  }
}

/** Everything this bench made, gone: children, namespaces, the lab, the work dir. Idempotent. */
export function fleetTeardown(): Promise<void> {
  if (tearing) return tearing;
  abort.abort();
  tearing = (async () => {
    for (const c of daemons) killDaemon(c);
    daemons.clear();
    killStragglers();
    await netnsDelMany([...netnsMade], true);
    if (labStarting) {
      const lab = await labStarting.catch(() => undefined);
      if (lab) await lab.down().catch(() => undefined);
      else await sh('sh', [LAB_SH, 'down'], { env: { PATH: SYS_PATH, ...LAB_ENV }, timeoutMs: 60000, force: true });
    }
    if (work) fs.rmSync(work, { recursive: true, force: true });
  })();
  return tearing;
}

/** Names under /run/netns that this bench's names could have (scl-*): what a teardown must leave none of. */
export function sclNetnsLeft(): string[] {
  return fs.existsSync('/run/netns') ? fs.readdirSync('/run/netns').filter((x) => x.startsWith('scl-')) : [];
}

// ------------------------------------------------------------------ statistics

function dist(xs: readonly number[]): Dist {
  const s = [...xs].filter(Number.isFinite).sort((a, b) => a - b);
  const q = (p: number): number | null => (s.length ? (s[Math.min(s.length - 1, Math.max(0, Math.ceil(p * s.length) - 1))] ?? null) : null);
  const mid = s.length >> 1;
  const p50 = !s.length ? null : s.length % 2 ? (s[mid] ?? null) : ((s[mid - 1] ?? 0) + (s[mid] ?? 0)) / 2;
  return { n: xs.length, ok: s.length, p50, p90: q(0.9), p99: q(0.99), min: s[0] ?? null, max: s[s.length - 1] ?? null };
}

const medianOf = (xs: readonly number[]): number | null => dist(xs).p50;
const ratio = (a: number | null, b: number | null): number | null => (a === null || b === null || b === 0 ? null : a / b);

// ------------------------------------------------------------------ the hook, as a runtime runs it

let hookEnv: Record<string, string> = { PATH: SYS_PATH };

function workDir(): string {
  if (!work) throw new Error('no work dir');
  return work;
}

/** A config file and its state dir (a fresh one per phase). */
function hookConfig(tag: string, dad: 'strict' | 'optimistic'): { file: string; stateDir: string } {
  const stateDir = path.join(workDir(), `state-${tag}`);
  fs.mkdirSync(stateDir, { recursive: true });
  const file = path.join(workDir(), `config-${tag}.toml`);
  fs.writeFileSync(file, `parent = ${JSON.stringify(PARENT)}\nstate_dir = ${JSON.stringify(stateDir)}\ndad = ${JSON.stringify(dad)}\n`);
  return { file, stateDir };
}

/** The bundle of container `id` whose config.json names netns `netns`; returns its OCI state for `status`. */
function bundleFor(id: string, netns: string, annotations: Record<string, string> = {}): (status: string) => string {
  const bundle = path.join(workDir(), 'bundles', id);
  fs.mkdirSync(bundle, { recursive: true });
  fs.writeFileSync(path.join(bundle, 'config.json'), JSON.stringify({ ociVersion: '1.0.2', linux: { namespaces: [{ type: 'network', path: `/run/netns/${netns}` }] }, annotations }));
  return (status) => JSON.stringify({ ociVersion: '1.0.2', id, status, bundle });
}

/** `ip netns exec scl-h node dist/oci-slaac-hook.js STAGE --config FILE`, the state on stdin. */
function hook(stage: string, config: string, state: string): Promise<RunResult> {
  return sh('ip', ['netns', 'exec', HOST_NS, process.execPath, CLI, stage, '--config', config], { input: state, env: hookEnv, timeoutMs: 60000 });
}

/** `node -e 0` spawned the same way (same env, stdin, `ip netns exec`). */
function nodeBaseline(state: string): Promise<RunResult> {
  return sh('ip', ['netns', 'exec', HOST_NS, process.execPath, '-e', '0'], { input: state, env: hookEnv, timeoutMs: 60000 });
}

interface GlobalAddr {
  address: string;
  flags: number;
}

/** The global (non-link-local) IPv6 addresses of a netns, from the kernel. */
function globalAddresses(netns: string): GlobalAddr[] {
  const k = RtnlKernel.open(`/run/netns/${netns}`);
  try {
    return k
      .listAddresses()
      .filter((a) => a.scope === 0 && !isLinkLocal(a.address))
      .map((a) => ({ address: formatIPv6(a.address), flags: a.flags }));
  } finally {
    k.close();
  }
}

/** Bindable: not tentative (or tentative but optimistic, RFC 4429), DAD not failed. */
const usable = (a: GlobalAddr): boolean => !(a.flags & IFA_F_DADFAILED) && (!(a.flags & IFA_F_TENTATIVE) || Boolean(a.flags & IFA_F_OPTIMISTIC));
const settled = (a: GlobalAddr): boolean => !(a.flags & (IFA_F_DADFAILED | IFA_F_TENTATIVE));

/** Poll a netns (in-process rtnetlink, every 2 ms) until `pred` holds for one of its global addresses; the hrtime (ns) it was seen, or null at the deadline. */
async function waitAddress(netns: string, pred: (a: GlobalAddr) => boolean, timeoutMs: number): Promise<bigint | null> {
  const k = RtnlKernel.open(`/run/netns/${netns}`);
  try {
    const end = Date.now() + timeoutMs;
    for (;;) {
      const hit = k.listAddresses().some((a) => a.scope === 0 && !isLinkLocal(a.address) && pred({ address: '', flags: a.flags }));
      if (hit) return process.hrtime.bigint();
      if (Date.now() > end || abort.signal.aborted) return null;
      await sleep(2);
    }
  } finally {
    k.close();
  }
}

// ------------------------------------------------------------------ 1. time to a usable address

let seq = 0;

/** The hook's own timings (its state record) of the time-to-address samples, by mode. */
const inHook: Record<'strict' | 'optimistic', { raMs: number[]; dadMs: number[]; totalMs: number[] }> = { strict: { raMs: [], dadMs: [], totalMs: [] }, optimistic: { raMs: [], dadMs: [], totalMs: [] } };

async function hookSubject(mode: 'strict' | 'optimistic', cfg: { file: string; stateDir: string }): Promise<number | string> {
  const k = ++seq;
  const netns = `scl-t${k}`;
  const id = `scl-t${k}`;
  await netnsAddMany([netns]);
  try {
    const state = bundleFor(id, netns, { 'oci-slaac-hook.dad': mode });
    const r = await hook('createRuntime', cfg.file, state('creating'));
    if (r.code !== 0) return `exit ${r.code}: ${oneLine(r.stderr)}`;
    try {
      const t = (JSON.parse(fs.readFileSync(path.join(cfg.stateDir, `${id}.json`), 'utf8')) as { timings?: { raMs?: number; dadMs?: number; totalMs?: number } }).timings;
      if (t?.raMs !== undefined && t.dadMs !== undefined && t.totalMs !== undefined) {
        inHook[mode].raMs.push(t.raMs);
        inHook[mode].dadMs.push(t.dadMs);
        inHook[mode].totalMs.push(t.totalMs);
      }
    } catch {
      // no record: the verdict below says why
    }
    const addrs = globalAddresses(netns);
    const ok = addrs.filter(mode === 'strict' ? settled : usable);
    const verdict = ok.length ? msOf(r) : `no usable address after the hook (${addrs.map((a) => `${a.address} flags 0x${a.flags.toString(16)}`).join(', ') || 'none'})`;
    // Optimistic: its detached completion probes for a RetransTimer; do not overlap the next sample.
    if (mode === 'optimistic') await waitAddress(netns, settled, 5000);
    await sleep(100);
    await hook('poststop', cfg.file, state('stopped'));
    return verdict;
  } finally {
    await netnsDelMany([netns], true);
  }
}

async function cniSubject(): Promise<number | string> {
  const k = ++seq;
  const netns = `scl-m${k}`;
  await netnsAddMany([netns]);
  const address = `${PREFIX_BASE}:b:${k.toString(16)}`;
  const conf = JSON.stringify({ cniVersion: '0.4.0', name: 'scl-bench', type: 'macvlan', master: PARENT, mode: 'bridge', ipam: { type: 'static', addresses: [{ address: `${address}/64` }] } });
  const env = (cmd: string): Record<string, string> => ({ PATH: SYS_PATH, CNI_COMMAND: cmd, CNI_CONTAINERID: netns, CNI_NETNS: `/run/netns/${netns}`, CNI_IFNAME: 'eth0', CNI_PATH: CNI_DIR });
  try {
    // The plugin finds its master in its own netns: it runs in the host's, as the hook does.
    const seen = waitAddress(netns, settled, 15000);
    const r = await sh('ip', ['netns', 'exec', HOST_NS, path.join(CNI_DIR, 'macvlan')], { input: conf, env: env('ADD'), timeoutMs: 20000 });
    const at = await seen;
    await sh('ip', ['netns', 'exec', HOST_NS, path.join(CNI_DIR, 'macvlan')], { input: conf, env: env('DEL'), timeoutMs: 20000 });
    if (r.code !== 0) return `ADD exit ${r.code}: ${oneLine(r.stdout || r.stderr)}`;
    if (at === null) return `${address} still tentative after 15 s`;
    return Number((at > r.exitNs ? at : r.exitNs) - r.startNs) / 1e6;
  } finally {
    await netnsDelMany([netns], true);
  }
}

async function kernelSubject(): Promise<number | string> {
  const k = ++seq;
  const netns = `scl-k${k}`;
  await netnsAddMany([netns]);
  try {
    // A fresh netns has accept_ra=1, autoconf=1: the kernel solicits after its link-local's DAD,
    // forms an EUI-64 address from the RA's prefix and runs DAD on it (RFC 4862).
    await must('macvlan for kernel SLAAC', 'ip', ['-n', HOST_NS, 'link', 'add', 'link', PARENT, 'name', 'sclk0', 'netns', netns, 'type', 'macvlan', 'mode', 'bridge']);
    const kern = RtnlKernel.open(`/run/netns/${netns}`);
    try {
      const link = kern.findLink('sclk0');
      if (!link) return 'macvlan not found in its netns';
      const seen = waitAddress(netns, settled, 20000);
      const t0 = process.hrtime.bigint();
      kern.setLink(link.index, { up: true });
      const at = await seen;
      return at === null ? 'no global non-tentative address within 20 s' : Number(at - t0) / 1e6;
    } finally {
      kern.close();
    }
  } finally {
    await netnsDelMany([netns], true);
  }
}

async function addressPhase(o: FleetOptions): Promise<FleetReport['address']> {
  const cfg = hookConfig('address', 'strict');
  const samples: Record<keyof FleetReport['address']['series'], (number | string)[]> = { hookStrict: [], hookOptimistic: [], cniKernelDad: [], kernelSlaac: [] };
  const subjects: [keyof typeof samples, () => Promise<number | string>][] = [
    ['hookStrict', () => hookSubject('strict', cfg)],
    ['hookOptimistic', () => hookSubject('optimistic', cfg)],
    ['cniKernelDad', cniSubject],
    ['kernelSlaac', kernelSubject],
  ];
  for (let i = 0; i < o.addressIterations; i++) {
    // A different order each round: no subject always follows the same one.
    for (let j = 0; j < subjects.length; j++) {
      const s = subjects[(i + j) % subjects.length];
      if (!s) continue;
      samples[s[0]].push(await s[1]());
      await sleep(150);
    }
    o.note(`time to address: round ${i + 1}/${o.addressIterations}`);
  }
  const series = Object.fromEntries(
    Object.entries(samples).map(([k, v]) => [k, { ...dist(v.filter((x): x is number => typeof x === 'number')), n: v.length, failures: v.filter((x): x is string => typeof x === 'string') }]),
  ) as FleetReport['address']['series'];
  const med = (m: 'strict' | 'optimistic'): { raMs: number | null; dadMs: number | null; totalMs: number | null } => ({ raMs: medianOf(inHook[m].raMs), dadMs: medianOf(inHook[m].dadMs), totalMs: medianOf(inHook[m].totalMs) });
  return { iterations: o.addressIterations, series, inHook: { strict: med('strict'), optimistic: med('optimistic') } };
}

// ------------------------------------------------------------------ 2. and 3. the agent, N containers

function procStatus(pid: number): { rss: number | null; hwm: number | null; fds: number | null } {
  try {
    const s = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (k: string): number | null => {
      const m = new RegExp(`^${k}:\\s+(\\d+) kB`, 'm').exec(s);
      return m?.[1] ? Number(m[1]) / 1024 : null;
    };
    let fds: number | null = null;
    try {
      fds = fs.readdirSync(`/proc/${pid}/fd`).length;
    } catch {
      // gone
    }
    return { rss: kb('VmRSS'), hwm: kb('VmHWM'), fds };
  } catch {
    return { rss: null, hwm: null, fds: null };
  }
}

function slabMiB(): number | null {
  const m = /^Slab:\s+(\d+) kB/m.exec(fs.readFileSync('/proc/meminfo', 'utf8'));
  return m?.[1] ? Number(m[1]) / 1024 : null;
}

interface Agent {
  child: ChildProcess;
  pid: number;
  startMs: number;
  stop(): Promise<void>;
}

/** `oci-slaac-hook agent --config FILE` in the host netns, as a host runs it; resolves once it holds the router's RA. */
async function startAgent(cfg: { file: string; stateDir: string }): Promise<Agent> {
  const t0 = performance.now();
  // `ip netns exec` execs node in place: the pid is the agent's.
  const child = spawn('ip', ['netns', 'exec', HOST_NS, process.execPath, CLI, 'agent', '--config', cfg.file], { env: hookEnv, stdio: ['ignore', 'ignore', 'pipe'], detached: true });
  daemons.add(child);
  let tail = '';
  child.stderr?.on('data', (d: Buffer) => (tail = (tail + d.toString('utf8')).slice(-2000)));
  const exited = new Promise<void>((r) => child.on('exit', () => r()));
  for (;;) {
    if (child.exitCode !== null) throw new Error(`agent exited ${child.exitCode}: ${oneLine(tail)}`);
    const a = await askAgent(cfg.stateDir, { op: 'ping' }).catch(() => undefined);
    const routers = (a?.counters as { listeners?: Record<string, { routers?: number }> } | undefined)?.listeners?.[PARENT]?.routers ?? 0;
    if (routers > 0) break;
    if (performance.now() - t0 > 30000) throw new Error(`agent has no RA for ${PARENT} after 30 s: ${oneLine(tail)}`);
    await sleep(50);
  }
  return {
    child,
    pid: child.pid ?? 0,
    startMs: performance.now() - t0,
    stop: async () => {
      killDaemon(child, 'SIGTERM');
      await Promise.race([exited, sleep(5000)]);
      killDaemon(child);
      daemons.delete(child);
    },
  };
}

interface Objects {
  links: number;
  addresses: number;
  routes: number;
  neighbours: number;
}

function countObjects(netnsPath: string): Objects & { proxies: number } {
  const k = RtnlKernel.open(netnsPath);
  try {
    const ndmsg = Buffer.alloc(12);
    ndmsg.writeUInt8(10, 0); // AF_INET6
    return {
      links: k.listLinks().length,
      addresses: k.listAddresses().length,
      routes: k.listRoutes().length,
      neighbours: k.sock.dump('list neighbours', RTM_GETNEIGH, ndmsg, RTM_NEWNEIGH).length,
      proxies: k.listProxies().length,
    };
  } finally {
    k.close();
  }
}

const names = (prefix: string, n: number): string[] => Array.from({ length: n }, (_, i) => `${prefix}${i + 1}`);

async function scaleRun(n: number, o: FleetOptions): Promise<ScaleRun> {
  const t0 = performance.now();
  const cfg = hookConfig(`n${n}`, 'optimistic');
  const slab0 = slabMiB();
  const agent = await startAgent(cfg);
  const nss = names('scl-c', n);
  try {
    await netnsAddMany(nss);
    const states = nss.map((ns) => bundleFor(ns, ns));
    const hookMs: number[] = [];
    const nodeMs: number[] = [];
    const failures: string[] = [];
    const tStarts = performance.now();
    for (let i = 0; i < n; i++) {
      const state = states[i]?.('creating') ?? '';
      if (i % 10 === 0) {
        const b = await nodeBaseline(state);
        if (b.code === 0) nodeMs.push(msOf(b));
      }
      const r = await hook('createRuntime', cfg.file, state);
      if (r.code === 0) hookMs.push(msOf(r));
      else failures.push(`${nss[i]}: exit ${r.code}: ${oneLine(r.stderr)}`);
      if ((i + 1) % 100 === 0 || i + 1 === n) o.note(`scale N=${n}: ${i + 1}/${n} started (${failures.length} failed), ${((performance.now() - tStarts) / 1000).toFixed(0)} s`);
    }
    const startsSeconds = (performance.now() - tStarts) / 1000;
    // The agent completes each optimistic DAD (one RetransTimer): let the last ones settle.
    await sleep(2000);
    let withAddress = 0;
    let notUsable = 0;
    const all = new Set<string>();
    const kernel = { links: 0, addresses: 0, routes: 0, neighbours: 0 };
    for (const ns of nss) {
      const g = globalAddresses(ns);
      if (g.length === 1) withAddress++;
      for (const a of g) {
        all.add(a.address);
        if (!settled(a)) notUsable++;
      }
      const c = countObjects(`/run/netns/${ns}`);
      kernel.links += c.links;
      kernel.addresses += c.addresses;
      kernel.routes += c.routes;
      kernel.neighbours += c.neighbours;
    }
    const host = countObjects(`/run/netns/${HOST_NS}`);
    const st = procStatus(agent.pid);
    const slab1 = slabMiB();
    o.note(`scale N=${n}: ${withAddress}/${n} with an address, ${all.size} distinct; agent RSS ${st.rss?.toFixed(1)} MiB, ${st.fds} fds; tearing down`);
    const postMs: number[] = [];
    let poststopFailures = 0;
    for (let i = 0; i < n; i++) {
      const r = await hook('poststop', cfg.file, states[i]?.('stopped') ?? '');
      if (r.code === 0) postMs.push(msOf(r));
      else poststopFailures++;
    }
    return {
      n,
      hook: dist(hookMs),
      failures: failures.slice(0, 10),
      node: dist(nodeMs),
      poststop: dist(postMs),
      poststopFailures,
      withAddress,
      distinctAddresses: all.size,
      notUsable,
      agent: { rssMiB: st.rss, hwmMiB: st.hwm, fds: st.fds, startMs: agent.startMs },
      kernel: { ...kernel, host, netns: fs.readdirSync('/run/netns').length },
      slabDeltaMiB: slab0 !== null && slab1 !== null ? slab1 - slab0 : null,
      startsSeconds,
      totalSeconds: (performance.now() - t0) / 1000,
    };
  } finally {
    await agent.stop();
    await netnsDelMany(nss, true);
  }
}

async function concurrentRun(c: number, o: FleetOptions): Promise<NonNullable<FleetReport['concurrent']>> {
  const cfg = hookConfig(`c${c}`, 'optimistic');
  const agent = await startAgent(cfg);
  const nss = names('scl-c', c);
  try {
    await netnsAddMany(nss);
    const states = nss.map((ns) => bundleFor(ns, ns));
    const t = performance.now();
    const rs = await Promise.all(states.map((s) => hook('createRuntime', cfg.file, s('creating'))));
    const wallMs = performance.now() - t;
    const failures = rs.flatMap((r, i) => (r.code === 0 ? [] : [`${nss[i]}: exit ${r.code}: ${oneLine(r.stderr)}`]));
    const addrs = nss.map((ns) => globalAddresses(ns).filter(usable).map((a) => a.address));
    const ok = rs.filter((r, i) => r.code === 0 && addrs[i]?.length === 1).length;
    const distinct = new Set(addrs.flat()).size;
    o.note(`concurrent: ${ok}/${c} started with an address, ${distinct} distinct, all ${c} in ${wallMs.toFixed(0)} ms`);
    await sleep(1500);
    const post = await Promise.all(states.map((s) => hook('poststop', cfg.file, s('stopped'))));
    return { n: c, ok, distinct, wallMs, hook: dist(rs.filter((r) => r.code === 0).map(msOf)), failures: failures.slice(0, 10), poststopOk: post.filter((r) => r.code === 0).length };
  } finally {
    await agent.stop();
    await netnsDelMany(nss, true);
  }
}

// ------------------------------------------------------------------ 4. the data plane

async function iperf(netns: string, seconds: number): Promise<number> {
  const r = await sh('ip', ['netns', 'exec', netns, 'iperf3', '-c', PEER, '-p', String(IPERF_PORT), '-t', String(seconds), '-J'], { timeoutMs: (seconds + 20) * 1000 });
  let gbps: number | undefined;
  try {
    const j = JSON.parse(r.stdout) as { end?: { sum_received?: { bits_per_second?: number } }; error?: string };
    if (j.error) throw new Error(j.error);
    gbps = (j.end?.sum_received?.bits_per_second ?? NaN) / 1e9;
  } catch (err) {
    throw new Error(`iperf3 from ${netns}: ${err instanceof Error ? err.message : String(err)} ${oneLine(r.stderr)}`);
  }
  if (!Number.isFinite(gbps)) throw new Error(`iperf3 from ${netns}: no result`);
  return gbps;
}

async function dataPlane(o: FleetOptions): Promise<NonNullable<FleetReport['dataPlane']>> {
  const failures: string[] = [];
  // Our container: the hook, strict (its address verified before it returns).
  const cfg = hookConfig('dataplane', 'strict');
  const ours = 'scl-d';
  await netnsAddMany([ours]);
  const state = bundleFor(ours, ours);
  await must('hook createRuntime (data plane container)', 'ip', ['netns', 'exec', HOST_NS, process.execPath, CLI, 'createRuntime', '--config', cfg.file], { input: state('creating'), env: hookEnv, timeoutMs: 60000 });
  // podman's NAT bridge: its CNI plugins, as podman 4.3 chains them, in the host netns.
  const nat = 'scl-n';
  await netnsAddMany([nat]);
  const ipamDir = path.join(workDir(), 'ipam');
  const bridge = { cniVersion: '0.4.0', name: 'scl-nat', type: 'bridge', bridge: 'scl-br0', isGateway: true, ipMasq: true, hairpinMode: true, ipam: { type: 'host-local', dataDir: ipamDir, routes: [{ dst: '::/0' }], ranges: [[{ subnet: NAT_SUBNET, gateway: NAT_GATEWAY }]] } };
  const cniEnv = (cmd: string): Record<string, string> => ({ PATH: SYS_PATH, CNI_COMMAND: cmd, CNI_CONTAINERID: 'scl-nat', CNI_NETNS: `/run/netns/${nat}`, CNI_IFNAME: 'eth0', CNI_PATH: CNI_DIR });
  const added = await must('CNI bridge ADD (NAT)', 'ip', ['netns', 'exec', HOST_NS, path.join(CNI_DIR, 'bridge')], { input: JSON.stringify(bridge), env: cniEnv('ADD') });
  const firewall = { cniVersion: '0.4.0', name: 'scl-nat', type: 'firewall', backend: 'iptables', prevResult: JSON.parse(added.stdout) as unknown };
  await must('CNI firewall ADD (NAT)', 'ip', ['netns', 'exec', HOST_NS, path.join(CNI_DIR, 'firewall')], { input: JSON.stringify(firewall), env: cniEnv('ADD') });
  // Both ends of the NAT bridge's subnet run the kernel's DAD first.
  if ((await waitAddress(nat, settled, 10000)) === null) throw new Error('NAT container address still tentative after 10 s');
  for (const end = Date.now() + 10000; ; await sleep(50)) {
    const br = await sh('ip', ['-n', HOST_NS, '-6', '-o', 'addr', 'show', 'dev', 'scl-br0', 'tentative']);
    if (!br.stdout.includes(NAT_GATEWAY)) break;
    if (Date.now() > end) throw new Error('NAT bridge gateway address still tentative after 10 s');
  }
  if ((await waitAddress(ours, settled, 5000)) === null) throw new Error('our container has no settled address');

  const server = spawn('ip', ['netns', 'exec', 'scl-p', 'iperf3', '-s', '-B', PEER, '-p', String(IPERF_PORT)], { env: { PATH: SYS_PATH }, stdio: 'ignore', detached: true });
  daemons.add(server);
  const gbps: Record<'host' | 'macvlan' | 'nat', number[]> = { host: [], macvlan: [], nat: [] };
  try {
    await sleep(500);
    const paths: ['host' | 'macvlan' | 'nat', string][] = [
      ['host', HOST_NS],
      ['macvlan', ours],
      ['nat', nat],
    ];
    // One short warm-up each (ND, conntrack), then the rounds, the order rotating.
    for (const [, ns] of paths) await iperf(ns, 1).catch((err: unknown) => failures.push(`warm-up: ${(err as Error).message}`));
    for (let i = 0; i < o.iperfRounds; i++) {
      for (let j = 0; j < paths.length; j++) {
        const p = paths[(i + j) % paths.length];
        if (!p) continue;
        try {
          gbps[p[0]].push(await iperf(p[1], o.iperfSeconds));
        } catch (err) {
          failures.push((err as Error).message);
        }
      }
      o.note(`data plane: round ${i + 1}/${o.iperfRounds}`);
    }
  } finally {
    killDaemon(server, 'SIGTERM');
    daemons.delete(server);
    await sh('ip', ['netns', 'exec', HOST_NS, path.join(CNI_DIR, 'firewall')], { input: JSON.stringify(firewall), env: cniEnv('DEL') });
    await sh('ip', ['netns', 'exec', HOST_NS, path.join(CNI_DIR, 'bridge')], { input: JSON.stringify(bridge), env: cniEnv('DEL') });
    await hook('poststop', cfg.file, state('stopped'));
    await netnsDelMany([ours, nat], true);
  }
  const median = { host: medianOf(gbps.host), macvlan: medianOf(gbps.macvlan), nat: medianOf(gbps.nat) };
  return {
    seconds: o.iperfSeconds,
    rounds: o.iperfRounds,
    natBridge: "podman 4.3's CNI bridge network (bridge isGateway/ipMasq/hairpinMode + host-local, firewall plugin; IPv6 subnet fd00:cd:1::/64) run in the lab host's netns",
    gbps,
    median,
    ratio: { macvlanOverHost: ratio(median.macvlan, median.host), natOverHost: ratio(median.nat, median.host), macvlanOverNat: ratio(median.macvlan, median.nat) },
    failures,
  };
}

// ------------------------------------------------------------------ the whole run

/** What must be there before the lab comes up: one line naming what is missing, else undefined. */
export function fleetPreflight(o: FleetOptions): string | undefined {
  for (const p of [CLI, path.join(REPO_ROOT, 'build', 'Release', 'osh_native.node')]) if (!fs.existsSync(p)) return `not built: ${path.relative(REPO_ROOT, p)} missing (npm run build)`;
  for (const p of ['macvlan', 'static', 'bridge', 'host-local', 'firewall']) if (!fs.existsSync(path.join(CNI_DIR, p))) return `${CNI_DIR}/${p} missing (apt-get install containernetworking-plugins)`;
  if (o.iperfRounds > 0 && !process.env.PATH?.split(':').some((d) => fs.existsSync(path.join(d, 'iperf3'))) && !fs.existsSync('/usr/bin/iperf3')) return 'iperf3 missing (apt-get install iperf3, or --iperf-rounds 0)';
  const left = sclNetnsLeft();
  if (left.length) return `network namespaces of another scl lab exist (${left.slice(0, 3).join(', ')}${left.length > 3 ? ', …' : ''}): another --scale run, or one killed hard (delete them with ip netns del)`;
  return undefined;
}

export async function fleetBench(o: FleetOptions): Promise<FleetReport> {
  const t0 = performance.now();
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'scl-'));
  const lib = path.join(work, 'lib');
  fs.mkdirSync(lib, { mode: 0o700 });
  // runc gives a hook only its entry's env: PATH and what we set. Syslog goes nowhere.
  hookEnv = { PATH: SYS_PATH, OCI_SLAAC_HOOK_STATE_LIB: lib, OCI_SLAAC_HOOK_SYSLOG: path.join(work, 'no-syslog.sock') };
  o.note('lab scl up…');
  labStarting = labUp(LAB_ENV);
  const lab = await labStarting;
  const address = await addressPhase(o);
  const scale: ScaleRun[] = [];
  for (const n of o.ns) scale.push(await scaleRun(n, o));
  const concurrent = o.concurrency > 0 ? await concurrentRun(o.concurrency, o) : null;
  const dp = o.iperfRounds > 0 ? await dataPlane(o) : null;
  await fleetTeardown();
  return {
    node: process.version,
    kernel: os.release(),
    cpus: os.cpus().length,
    when: new Date().toISOString(),
    lab: { name: 'scl', parent: `${PARENT} in netns ${HOST_NS}`, prefix: lab.config.prefix, retransTimerMs: lab.config.retransMs },
    driver: 'the built hook bundle (dist/oci-slaac-hook.js createRuntime/poststop, OCI state on stdin) spawned per container under ip netns exec, one after another',
    address,
    scale,
    concurrent,
    dataPlane: dp,
    netnsLeft: sclNetnsLeft(),
    seconds: (performance.now() - t0) / 1000,
  };
}

// ------------------------------------------------------------------ output

const f = (v: number | null | undefined, d = 1): string => (v === null || v === undefined ? '—' : v >= 100 && d === 1 ? v.toFixed(0) : v.toFixed(d));

export function printFleet(r: FleetReport): string {
  const L: string[] = [];
  L.push(`oci-slaac-hook bench --scale: node ${r.node}, kernel ${r.kernel}, ${r.cpus} CPUs, ${r.when}, ${f(r.seconds, 0)} s`);
  L.push(`lab ${r.lab.name}: parent ${r.lab.parent}, ${r.lab.prefix}, RetransTimer ${r.lab.retransTimerMs} ms; driver: ${r.driver}`);
  L.push('');
  L.push(`time to a usable address (ms, ${r.address.iterations} rounds)      median      p90      min      max   ok/n`);
  const rows: [string, keyof FleetReport['address']['series']][] = [
    ['hook strict (standalone; returns verified)', 'hookStrict'],
    ['hook optimistic (standalone; RFC 4429)', 'hookOptimistic'],
    ['CNI macvlan+static ADD → kernel DAD done', 'cniKernelDad'],
    ["kernel's own SLAAC, link up → global address", 'kernelSlaac'],
  ];
  for (const [label, k] of rows) {
    const s = r.address.series[k];
    L.push(`  ${label.padEnd(50)}${f(s.p50).padStart(8)}${f(s.p90).padStart(9)}${f(s.min).padStart(9)}${f(s.max).padStart(9)}${`${s.ok}/${s.n}`.padStart(7)}`);
    if (s.failures.length) L.push(`    failures: ${s.failures.join('; ')}`);
  }
  const ih = r.address.inHook;
  if (ih) L.push(`  in the hook (its record, medians): strict RA ${f(ih.strict.raMs)}, DAD ${f(ih.strict.dadMs)}, total ${f(ih.strict.totalMs)}; optimistic RA ${f(ih.optimistic.raMs)}, total ${f(ih.optimistic.totalMs)}`);
  L.push('');
  L.push('scale: one parent, the agent running, optimistic DAD; hook createRuntime per container, sequential');
  L.push(`  ${'N'.padStart(5)}${'ok'.padStart(7)}${'p50'.padStart(8)}${'p90'.padStart(8)}${'p99'.padStart(8)}${'max'.padStart(8)}${'node'.padStart(8)}${'p50/node'.padStart(10)}${'stop p50'.padStart(10)}${'p99'.padStart(7)}${'addr'.padStart(7)}${'distinct'.padStart(9)}${'agentRSS'.padStart(10)}${'HWM'.padStart(7)}${'fds'.padStart(6)}${'starts'.padStart(8)}`);
  for (const s of r.scale) {
    const rat = ratio(s.hook.p50, s.node.p50);
    L.push(
      `  ${String(s.n).padStart(5)}${`${s.hook.ok}`.padStart(7)}${f(s.hook.p50).padStart(8)}${f(s.hook.p90).padStart(8)}${f(s.hook.p99).padStart(8)}${f(s.hook.max).padStart(8)}${f(s.node.p50).padStart(8)}${(rat === null ? '—' : `${rat.toFixed(2)}×`).padStart(10)}${f(s.poststop.p50).padStart(10)}${f(s.poststop.p99).padStart(7)}${String(s.withAddress).padStart(7)}${String(s.distinctAddresses).padStart(9)}${`${f(s.agent.rssMiB)}M`.padStart(10)}${`${f(s.agent.hwmMiB)}M`.padStart(7)}${String(s.agent.fds ?? '—').padStart(6)}${`${f(s.startsSeconds, 0)}s`.padStart(8)}`,
    );
  }
  L.push('  kernel objects with N up (container netns summed | host netns scl-h):');
  for (const s of r.scale) {
    const k = s.kernel;
    L.push(`  ${String(s.n).padStart(5)}: links ${k.links}, IPv6 addresses ${k.addresses}, IPv6 routes ${k.routes}, neighbours ${k.neighbours} | host: links ${k.host.links}, addresses ${k.host.addresses}, routes ${k.host.routes}, neighbours ${k.host.neighbours}, proxies ${k.host.proxies}; netns on the machine ${k.netns}; Slab Δ ${f(s.slabDeltaMiB)} MiB (machine-wide)`);
    if (s.failures.length || s.poststopFailures || s.notUsable) L.push(`         failures: ${s.failures.length} starts, ${s.poststopFailures} poststops, ${s.notUsable} addresses not settled${s.failures.length ? ` — ${s.failures[0]}` : ''}`);
  }
  if (r.concurrent) {
    const c = r.concurrent;
    L.push('');
    L.push(`concurrent starts: ${c.n} hooks spawned at once: ${c.ok}/${c.n} succeeded with an address, ${c.distinct} distinct addresses — ${c.ok === c.n && c.distinct === c.n ? 'OK' : 'FAILED'}; all done in ${f(c.wallMs, 0)} ms, each p50 ${f(c.hook.p50)} p99 ${f(c.hook.p99)} ms; poststop ${c.poststopOk}/${c.n}`);
    if (c.failures.length) L.push(`  ${c.failures.join('\n  ')}`);
  }
  if (r.dataPlane) {
    const d = r.dataPlane;
    const x = (v: number | null): string => (v === null ? '—' : `${v.toFixed(2)}×`);
    L.push('');
    L.push(`data plane: iperf3 TCP to the peer, ${d.rounds} rounds of ${d.seconds} s (Gbit/s, median)`);
    L.push(`  host (scl-h) → peer                          ${f(d.median.host, 2)}`);
    L.push(`  container on our macvlan → peer              ${f(d.median.macvlan, 2)}   ${x(d.ratio.macvlanOverHost)} host`);
    L.push(`  container behind podman's NAT bridge → peer  ${f(d.median.nat, 2)}   ${x(d.ratio.natOverHost)} host   (macvlan / NAT ${x(d.ratio.macvlanOverNat)})`);
    L.push(`  NAT bridge: ${d.natBridge}`);
    if (d.failures.length) L.push(`  failures: ${d.failures.join('; ')}`);
  }
  L.push('');
  L.push(`teardown: ${r.netnsLeft.length ? `${r.netnsLeft.length} scl-* netns left!` : 'no scl-* netns left'}`);
  return L.join('\n');
}

/** Did every start succeed (distinct addresses) and the teardown leave nothing? */
export function fleetOk(r: FleetReport): boolean {
  const scaleOk = r.scale.every((s) => s.hook.ok === s.n && s.withAddress === s.n && s.distinctAddresses === s.n && s.poststopFailures === 0);
  const concOk = !r.concurrent || (r.concurrent.ok === r.concurrent.n && r.concurrent.distinct === r.concurrent.n);
  return scaleOk && concOk && r.netnsLeft.length === 0;
}

/** The chart's data from a report. */
export function fleetChart(r: FleetReport): ChartData {
  const s = r.address.series;
  const agentP50 = r.scale.find((x) => x.n === Math.min(...r.scale.map((y) => y.n)));
  const node = r.scale.map((x) => x.node.p50).filter((v): v is number => v !== null);
  return {
    title: 'oci-slaac-hook: time to a usable IPv6 address, and the hook at scale',
    subtitle: `Measured ${r.when.slice(0, 10)} on a ${r.cpus}-CPU machine (kernel ${r.kernel}, node ${r.node}), netns lab, RA RetransTimer ${r.lab.retransTimerMs} ms: npm run bench -- --scale`,
    bars: [
      { label: 'ours, strict DAD', ms: s.hookStrict.p50, p90: s.hookStrict.p90 },
      { label: 'ours, optimistic DAD', ms: s.hookOptimistic.p50, p90: s.hookOptimistic.p90 },
      ...(agentP50 ? [{ label: `ours, optimistic, agent (N=${agentP50.n})`, ms: agentP50.hook.p50, p90: agentP50.hook.p90 }] : []),
      { label: 'CNI macvlan + kernel DAD', ms: s.cniKernelDad.p50, p90: s.cniKernelDad.p90 },
      { label: "kernel's own SLAAC (macvlan)", ms: s.kernelSlaac.p50, p90: s.kernelSlaac.p90 },
    ],
    scale: r.scale.map((x) => ({ n: x.n, p50: x.hook.p50, p99: x.hook.p99 })),
    baselineMs: medianOf(node),
    baselineLabel: '`node -e 0`, same spawn',
  };
}
