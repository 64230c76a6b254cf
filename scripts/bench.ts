// Benchmark (not a test: nothing here asserts an absolute time). Drives the built executable
// dist/oci-slaac-hook.js exactly as a runtime does (OCI state on stdin, stage in argv) on fresh
// network namespaces in the netns lab, and measures it against peers run in the same process tree,
// interleaved within each iteration:
//   - the hook's wall time against `node -e 0` spawned the same way (optimistic and strict DAD;
//     and optimistic with a warm RA cache: the real agent (`oci-slaac-hook agent`) running on a
//     state dir of its own, whose hooks take its RA instead of soliciting, and hand it the DAD);
//   - time to a usable (bindable, not tentative) address: the hook (strict, optimistic) against
//     the CNI macvlan plugin with static IPAM and the kernel's own DAD.
// Prints medians, p90 and ratios (a table, or JSON with --json). Everything it makes (the lab,
// network namespaces, processes, a temporary directory) is removed at the end, on failure, on
// SIGINT/SIGTERM and when the overall time limit is hit.
//
// Bundled to dist/bench.js by scripts/bundle.js; `npm run bench` bundles and runs it.
// With --agent-scale N, only the agent at scale instead (scripts/bench-scale.ts): N containers on
// one parent, one RA, time until all are refreshed and the agent's peak RSS.
// With --startup, only the hook's own start-up, no lab (scripts/bench-startup.ts): a stage with
// nothing to do against node -e 0, phase by phase, and the built-in modules it loads.
// With --policy, only the inbound firewall's data-path cost instead (scripts/bench-policy.ts):
// throughput and connection rate router → container, restricted against open.
// With --scale, containers at scale instead (scripts/bench-fleet.ts, lab `scl`): time to a usable
// address (ours, CNI macvlan + kernel DAD, the kernel's own SLAAC), hook p50/p99 at N = 10, 100,
// 1000 with the agent, kernel objects, concurrent starts, iperf3 macvlan/host/NAT bridge; --chart
// FILE writes the SVG (scripts/bench-svg.ts), also from a saved --scale --json output (--from).
// OSH_BENCH_LAB names the lab (default oshbench; its netns are named after it), OSH_BENCH_PREFIX its
// /64 (default 2001:db8:1::/64); OSH_BENCH_AGENT_CLI another build of the executable for the agent
// at scale (a before/after comparison).
// usage: node dist/bench.js [--iterations N] [--json] [--warmup N] [--cni-gateway] [--max-seconds S] [--agent-scale N] [--shim] [--policy]
//        node dist/bench.js --scale [--scale-n 10,100,1000] [--concurrency 50] [--chart FILE] [--json] …
//        node dist/bench.js --from RESULT.json [--chart FILE]
// Exit: 0 every sample succeeded; 1 not built, not root, setup failed, time limit, or any sample
// failed (listed under the table); 2 bad usage; 130/143 interrupted (after cleaning up).
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import type { ContainerRecord } from '../runtime/core/record';
import { LAB_SH, type Lab, labUp } from '../vm/lab/lab';
import { agentScale, askAgent, deleteScaleNetns, printScale, type ScaleEnv } from './bench-scale';
import { printShim, shimBench } from './bench-shim';
import { policyBench, policyTeardown, printPolicy } from './bench-policy';
import { printStartup, startupBench } from './bench-startup';
import { FleetAborted, fleetBench, fleetChart, fleetOk, fleetPreflight, fleetTeardown, printFleet, type FleetOptions, type FleetReport } from './bench-fleet';
import { benchSvg } from './bench-svg';
import { REPO_ROOT, type RunResult, run as runProgram } from '../vm/lab/run';

const ROOT = REPO_ROOT;
const CLI = path.join(ROOT, 'dist', 'oci-slaac-hook.js');
const ADDON = path.join(ROOT, 'build', 'Release', 'osh_native.node');
const CNI_DIR = '/usr/lib/cni';
/** OSH_BENCH_LAB names the lab (default oshbench): two benches on one machine need two names. */
const LAB_NAME = process.env.OSH_BENCH_LAB ?? 'oshbench';
const PREFIX = process.env.OSH_BENCH_PREFIX ?? '2001:db8:1::/64';
/** The prefix's first 64 bits as text ("2001:db8:1:"), for the lab's and the peer's addresses. */
const PREFIX_BASE = PREFIX.replace(/::\/64$/, ':');
const SYS_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
const POLL_MS = 5;

// ------------------------------------------------------------------ arguments

interface Options {
  iterations: number;
  warmup: number;
  json: boolean;
  cniGateway: boolean;
  maxSeconds: number;
  agentScale: number;
  /** --shim: the runtime wrapper's bench (scripts/bench-shim.ts) instead. */
  shim: boolean;
  /** --policy: the inbound firewall's data-path bench (scripts/bench-policy.ts) instead. */
  policy: boolean;
  /** --startup: the hook's own start-up, no lab (scripts/bench-startup.ts) instead. */
  startup: boolean;
  agentRas: number;
  /** --scale: containers at scale (scripts/bench-fleet.ts) instead. */
  scale: boolean;
  scaleN: number[];
  concurrency: number;
  addressIterations: number;
  iperfSeconds: number;
  iperfRounds: number;
  /** --chart FILE: the SVG, from this --scale run or from --from RESULT.json. */
  chart: string | undefined;
  from: string | undefined;
}

const USAGE =
  'usage: node dist/bench.js [--iterations N] [--warmup N] [--json] [--cni-gateway] [--max-seconds S] [--agent-scale N] [--shim] [--policy] [--startup]\n' +
  '       node dist/bench.js --scale [--scale-n N,N,…] [--concurrency C] [--address-iterations K] [--iperf-seconds S] [--iperf-rounds R] [--chart FILE] [--json]\n' +
  '       node dist/bench.js --from RESULT.json [--chart FILE]';

function parseOptions(): Options {
  try {
    const { values } = parseArgs({
      options: {
        iterations: { type: 'string', short: 'n' },
        warmup: { type: 'string' },
        json: { type: 'boolean' },
        'cni-gateway': { type: 'boolean' },
        'max-seconds': { type: 'string' },
        'agent-scale': { type: 'string' },
        'agent-ras': { type: 'string' },
        shim: { type: 'boolean' },
        policy: { type: 'boolean' },
        startup: { type: 'boolean' },
        scale: { type: 'boolean' },
        'scale-n': { type: 'string' },
        concurrency: { type: 'string' },
        'address-iterations': { type: 'string' },
        'iperf-seconds': { type: 'string' },
        'iperf-rounds': { type: 'string' },
        chart: { type: 'string' },
        from: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
    });
    if (values.help) {
      process.stdout.write(`${USAGE}
  --iterations N   samples per series (default 10; rounds with --policy, default 5)
  --warmup N       discarded rounds before measuring (default 1)
  --json           print one JSON object instead of the table
  --cni-gateway    also measure the CNI plugin with "gateway" (the router's link-local) set:
                   the plugin then waits itself until every address of eth0 has settled
  --max-seconds S  overall time limit (default 120 + 45 per iteration; 300 + 0.2 per container
                   with --agent-scale)
  --agent-scale N  instead: the agent at scale — N containers on one parent, one RA, the time
                   until all are refreshed and the agent's peak RSS (1000: the issue's target)
  --agent-ras N    with --agent-scale: RAs after the agent's first, 4.5 s apart; the last is
                   measured in the kernel and read back (default 3)
  --shim           instead: the runtime wrapper — docker run with it against runc (a private
                   dockerd), and a pass-through command (state) through it against runc directly
  --startup        instead: the hook's own start-up, no lab (scripts/bench-startup.ts): a stage
                   with nothing to do and --version against node -e 0, where the time goes, and
                   the built-in modules each loads
  --policy         instead: the inbound firewall — TCP throughput and connection rate router →
                   container :8080, restricted (a realistic ruleset) against open, as ratios
  --scale          instead: containers at scale in lab scl (2001:db8:cd::/64): time to a usable
                   address (hook strict/optimistic, CNI macvlan + kernel DAD, kernel SLAAC), then
                   per N a fresh run with the agent: N hook starts (p50/p99), agent RSS, kernel
                   objects, N poststops; concurrent starts; iperf3 macvlan / host / NAT bridge
  --scale-n LIST   with --scale: the Ns, comma-separated (default 10,100,1000)
  --concurrency C  with --scale: hooks started at once (default 50; 0 = none)
  --address-iterations K  with --scale: time-to-address rounds (default 5)
  --iperf-seconds S, --iperf-rounds R  with --scale: iperf3 sample length (default 3) and
                   rounds (default 3; 0 = no data plane)
  --chart FILE     with --scale: write the SVG chart there
  --from FILE      instead of a run: a saved --scale --json output — its table, or with --chart
                   FILE only its chart
`);
      process.exit(0);
    }
    const int = (v: string | undefined, dflt: number, min: number, what: string): number => {
      if (v === undefined) return dflt;
      if (!/^\d+$/.test(v) || Number(v) < min) throw new Error(`${what} must be an integer >= ${min}, got ${JSON.stringify(v)}`);
      return Number(v);
    };
    const iterations = int(values.iterations, values.policy ? 5 : values.startup ? 30 : 10, 1, '--iterations');
    const agentScale = int(values['agent-scale'], 0, 1, '--agent-scale');
    const agentRas = int(values['agent-ras'], 3, 1, '--agent-ras');
    const scale = Boolean(values.scale);
    const scaleN = (values['scale-n'] ?? '10,100,1000').split(',').map((x) => int(x.trim(), 0, 1, '--scale-n'));
    if (scaleN.some((n) => n > 5000)) throw new Error('--scale-n: at most 5000 containers');
    const concurrency = int(values.concurrency, 50, 0, '--concurrency');
    if (concurrency > 1000) throw new Error('--concurrency: at most 1000');
    if (values.chart !== undefined && !scale && values.from === undefined) throw new Error('--chart needs --scale (a run) or --from RESULT.json (a saved --scale --json output)');
    const biggest = Math.max(0, ...(scale ? scaleN : [0]));
    return {
      iterations,
      warmup: int(values.warmup, 1, 0, '--warmup'),
      json: Boolean(values.json),
      cniGateway: Boolean(values['cni-gateway']),
      maxSeconds: int(values['max-seconds'], scale ? 600 + Math.ceil(scaleN.reduce((a, b) => a + b, 0) * 1.5) + biggest : agentScale ? 300 + Math.ceil(agentScale / 5) : values.policy ? 60 + 12 * iterations : 120 + 45 * iterations, 10, '--max-seconds'),
      agentScale,
      agentRas,
      shim: Boolean(values.shim),
      policy: Boolean(values.policy),
      startup: Boolean(values.startup),
      scale,
      scaleN,
      concurrency,
      addressIterations: int(values['address-iterations'], 5, 1, '--address-iterations'),
      iperfSeconds: int(values['iperf-seconds'], 3, 1, '--iperf-seconds'),
      iperfRounds: int(values['iperf-rounds'], 3, 0, '--iperf-rounds'),
      chart: values.chart,
      from: values.from,
    };
  } catch (err) {
    process.stderr.write(`bench: ${err instanceof Error ? err.message : String(err)}\n${USAGE}\n`);
    process.exit(2);
  }
}

const opts = parseOptions();

const note = (line: string): void => {
  process.stderr.write(`bench: ${line}\n`);
};

function preflight(): void {
  const missing: string[] = [];
  if (!fs.existsSync(CLI)) missing.push(path.relative(ROOT, CLI));
  if (!fs.existsSync(ADDON)) missing.push(path.relative(ROOT, ADDON));
  if (missing.length) {
    process.stderr.write(`bench: not built: ${missing.join(' and ')} missing. Run \`npm run build\` first.\n`);
    process.exit(1);
  }
  if (process.getuid && process.getuid() !== 0) {
    process.stderr.write('bench: must run as root (network namespaces, macvlan, the lab)\n');
    process.exit(1);
  }
  for (const p of opts.agentScale || opts.policy ? [] : [path.join(CNI_DIR, 'macvlan'), path.join(CNI_DIR, 'static')]) {
    if (!fs.existsSync(p)) {
      process.stderr.write(`bench: ${p} missing (the peer: apt-get install containernetworking-plugins)\n`);
      process.exit(1);
    }
  }
}

// ------------------------------------------------------------------ processes

/** Aborted when cleanup starts: every running child's process group is killed. */
const abort = new AbortController();
/** Children still running (each in a process group of its own). */
let running = 0;

class Aborted extends Error {}

interface BenchRunOptions {
  input?: string;
  /** The whole environment (default: PATH only). */
  env?: Record<string, string>;
  timeoutMs?: number;
  onLine?: (line: string) => void;
  /** Cleanup's own commands: they still start once the bench is aborting. */
  force?: boolean;
}

/**
 * The lab's run() with the bench's discipline: each child in a process group of its own (killed
 * whole on timeout and on abort), only the given environment, startNs/exitNs from
 * process.hrtime (CLOCK_MONOTONIC) just before spawn() and at exit. Never rejects except when the
 * bench is aborting; once it is, only cleanup's own commands (force) still start.
 */
function run(file: string, args: readonly string[], o: BenchRunOptions = {}): Promise<RunResult> {
  if (abort.signal.aborted && !o.force) return Promise.reject(new Aborted('aborting'));
  running++;
  return runProgram(file, args, {
    baseEnv: o.env ?? { PATH: SYS_PATH },
    input: o.input ?? '',
    timeoutMs: o.timeoutMs ?? 30000,
    detached: true,
    ...(o.onLine ? { onLine: o.onLine } : {}),
    ...(o.force ? {} : { signal: abort.signal }),
  }).finally(() => running--);
}

const ms = (a: bigint, b: bigint): number => Number(b - a) / 1e6;
const sleep = (n: number): Promise<void> => new Promise((r) => setTimeout(r, n));
const oneLine = (s: string): string => s.trim().split('\n').filter(Boolean).pop() ?? '';

async function must(what: string, file: string, args: readonly string[], o?: BenchRunOptions): Promise<RunResult> {
  const r = await run(file, args, o);
  if (r.code !== 0) throw new Error(`${what} failed (code ${r.code}${r.timedOut ? ', timed out' : ''}): ${oneLine(r.stderr || r.stdout)}`);
  return r;
}

// ------------------------------------------------------------------ the lab and namespaces

interface BenchLab {
  hostIf: string;
  /**
   * The agent's host: the lab's second host (LAB_HOSTB), a netns of its own with NIC `agentIf` on
   * the same LAN. An agent sweeps its host netns of objects no record of its own owns: it must
   * not run in the root netns, where others' containers may live.
   */
  agentNetns: string;
  agentIf: string;
  prefix: string;
  retransMs: number;
  routerLinkLocal: string | undefined;
}

// Only LAB_NAME: the lab's defaults (RetransTimer 1000 ms, 2001:db8:1::/64) are what the
// comparison with the kernel's DAD assumes; labUp() ignores LAB_* from the caller's environment.
const LAB_ENV: Record<string, string> = {
  LAB_NAME,
  LAB_HOSTB: '1',
  LAB_HOSTB_ADDR: '',
  ...(PREFIX !== '2001:db8:1::/64' ? { LAB_PREFIX: PREFIX, LAB_ROUTER_ADDR: `${PREFIX_BASE}:1`, LAB_PEER_ADDR: `${PREFIX_BASE}:100`, LAB_RDNSS: `${PREFIX_BASE}:53` } : {}),
  // At scale, one RA at the time the bench asks (an RS): radvd's own every 1350–1800 s.
  ...(opts.agentScale ? { LAB_RA_INTERVAL: '1800', LAB_RA_MIN_INTERVAL: '1350', LAB_ROUTER_LIFETIME: '1800' } : {}),
};
/** labUp() once called; it cannot be interrupted, so cleanup waits for it before taking the lab down. */
let labStarting: Promise<Lab> | undefined;

async function benchLab(): Promise<BenchLab> {
  labStarting = labUp(LAB_ENV);
  const lab = await labStarting;
  const ll = await must('router link-local', 'ip', ['-n', lab.routerNetns, '-6', '-o', 'addr', 'show', 'dev', lab.routerIf, 'scope', 'link'], { timeoutMs: 10000 });
  const routerLinkLocal = /inet6 (fe80::[0-9a-f:]+)\//.exec(ll.stdout)?.[1];
  if (!lab.hostbNetns || !lab.hostbIf) throw new Error('the lab has no second host (LAB_HOSTB)');
  return { hostIf: lab.hostIf, agentNetns: lab.hostbNetns, agentIf: lab.hostbIf, retransMs: lab.config.retransMs, prefix: lab.config.prefix, routerLinkLocal };
}

async function labDown(): Promise<void> {
  if (!labStarting) return;
  const lab = await labStarting.catch(() => undefined);
  if (lab) {
    await lab.down().catch((err: unknown) => note(`lab down failed: ${oneLine(err instanceof Error ? err.message : String(err))}`));
    return;
  }
  // labUp() failed: it took down a lab whose `up` failed, but not one whose `env` did.
  const r = await run('sh', [LAB_SH, 'down'], { env: { PATH: SYS_PATH, ...LAB_ENV }, timeoutMs: 60000, force: true });
  if (r.code !== 0) note(`lab down failed: ${oneLine(r.stderr)}`);
}

const netnsMade = new Set<string>();
let netnsSeq = 0;

async function netnsAdd(tag: string): Promise<string> {
  const name = `${LAB_NAME}-${process.pid}-${tag}${netnsSeq++}`;
  netnsMade.add(name);
  await must(`ip netns add ${name}`, 'ip', ['netns', 'add', name], { timeoutMs: 10000 });
  return name;
}

async function netnsDel(name: string, force = false): Promise<void> {
  if (!netnsMade.has(name)) return;
  const r = await run('ip', ['netns', 'del', name], { timeoutMs: 10000, force }).catch(() => ({ code: -1 }));
  if (r.code === 0 || !fs.existsSync(`/run/netns/${name}`)) netnsMade.delete(name);
}

// ------------------------------------------------------------------ bind checks

// Runs inside the container netns (`ip netns exec`): bind a UDP socket to ADDRESS, as the
// container's first process would; retry every INTERVAL ms until WAIT ms have passed (WAIT 0: one
// attempt). Prints READY at start, then "OK <CLOCK_MONOTONIC ns at the successful bind>" or
// "FAIL <errno>". bind() to a tentative (non-optimistic) address fails with EADDRNOTAVAIL.
const BIND_CHECK = `
const dgram = require('dgram');
const address = process.argv[1], waitMs = Number(process.argv[2]), intervalMs = Number(process.argv[3]);
const deadline = Date.now() + waitMs;
process.stdout.write('READY\\n');
(function attempt() {
  const s = dgram.createSocket({ type: 'udp6' });
  s.once('error', (e) => {
    try { s.close(); } catch {}
    if (Date.now() >= deadline) { process.stdout.write('FAIL ' + (e.code || e.message) + '\\n'); process.exitCode = 1; return; }
    setTimeout(attempt, intervalMs);
  });
  s.bind({ address, port: 0, exclusive: true }, () => {
    const t = process.hrtime.bigint();
    s.close();
    process.stdout.write('OK ' + t + '\\n');
  });
})();
`;

async function bindOnce(netns: string, address: string): Promise<string> {
  const r = await run('ip', ['netns', 'exec', netns, process.execPath, '-e', BIND_CHECK, address, '0', '0'], { timeoutMs: 10000 });
  const m = /^(OK|FAIL) ?(.*)$/m.exec(r.stdout);
  return m && m[1] === 'OK' ? 'bound' : (m && m[2]) || `bind check failed: ${oneLine(r.stderr) || `code ${r.code}`}`;
}

type BindVerdict = { ok: true; atNs: bigint } | { ok: false; reason: string };

/** Start a bind loop in the netns; resolves `ready` once it runs, `done` with its verdict. */
function bindWatcher(netns: string, address: string, waitMs: number): { ready: Promise<boolean>; done: Promise<BindVerdict> } {
  let onReady: (ok: boolean) => void = () => undefined;
  const ready = new Promise<boolean>((r) => (onReady = r));
  const done = run('ip', ['netns', 'exec', netns, process.execPath, '-e', BIND_CHECK, address, String(waitMs), String(POLL_MS)], {
    timeoutMs: waitMs + 10000,
    onLine: (l) => {
      if (l === 'READY') onReady(true);
    },
  }).then(
    (r): BindVerdict => {
      onReady(false);
      const m = /^OK (\d+)$/m.exec(r.stdout);
      if (m?.[1]) return { ok: true, atNs: BigInt(m[1]) };
      const f = /^FAIL (.*)$/m.exec(r.stdout);
      return { ok: false, reason: f ? `not bindable within ${waitMs} ms (${f[1]})` : `bind loop failed: ${oneLine(r.stderr) || `code ${r.code}`}` };
    },
    (err: unknown) => {
      onReady(false);
      throw err;
    },
  );
  return { ready, done };
}

async function tentative(netns: string, address: string): Promise<boolean> {
  const r = await run('ip', ['-n', netns, '-6', '-o', 'addr', 'show', 'tentative'], { timeoutMs: 10000 });
  return r.stdout.includes(` ${address}/`);
}

// ------------------------------------------------------------------ the three subjects

type Sample = { ok: true; ms: number } | { ok: false; reason: string };
type HookSample = { ok: true; ms: number; address: string; raMs: number; dadMs: number; inHookMs: number } | { ok: false; reason: string };
type Mode = 'strict' | 'optimistic' | 'cached';
interface CniSeries {
  add: Sample[];
  usable: Sample[];
  del: Sample[];
}
interface Samples {
  node: Sample[];
  nodeBy: Record<Mode, Sample[]>;
  hook: Record<Mode, HookSample[]>;
  optVerified: Sample[];
  poststop: Sample[];
  /** Poststop with the agent running (its series: the hook a thin client). */
  poststopAgent: Sample[];
  cni: CniSeries;
  cniGw: CniSeries;
}

let work: string | undefined; // temporary directory
/** State dirs made outside `work` (OSH_BENCH_STATE_IN): removed at cleanup. */
const stateDirsMade: string[] = [];
let hookEnv: Record<string, string> = { PATH: SYS_PATH };
let configFile = '';
/**
 * The warm-cache series and the agent at scale: a state dir of their own, the agent running on it.
 * OSH_BENCH_STATE_IN puts it in another directory (a tmpfs: the default state_dir /run/oci-slaac-hook
 * is on one on a usual host; every refresh writes a record).
 */
let agentConfigFile = '';
let agentState: string | undefined;
const agentStateDir = (): string => {
  if (agentState === undefined) throw new Error('no agent state dir');
  return agentState;
};

function workDir(): string {
  if (work === undefined) throw new Error('no work directory');
  return work;
}

function setupWork(): void {
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'osh-bench-'));
  const lib = path.join(work, 'lib');
  fs.mkdirSync(lib, { mode: 0o700 });
  fs.mkdirSync(path.join(work, 'state'));
  const stateIn = process.env.OSH_BENCH_STATE_IN;
  if (stateIn) {
    agentState = fs.mkdtempSync(path.join(stateIn, 'osh-bench-state-'));
    stateDirsMade.push(agentState);
  } else {
    agentState = path.join(work, 'state-agent');
    fs.mkdirSync(agentState);
  }
  // runc gives a hook only the env of its hook entry: PATH and what we set. The syslog path points
  // nowhere (no daemon), so the hook's logging costs the same on every machine and spams nothing.
  hookEnv = { PATH: SYS_PATH, OCI_SLAAC_HOOK_STATE_LIB: lib, OCI_SLAAC_HOOK_SYSLOG: path.join(work, 'no-syslog.sock') };
}

function writeHookConfig(hostIf: string, agentIf: string): void {
  configFile = path.join(workDir(), 'config.toml');
  fs.writeFileSync(configFile, `parent = ${JSON.stringify(hostIf)}\nstate_dir = ${JSON.stringify(path.join(workDir(), 'state'))}\n`);
  agentConfigFile = path.join(workDir(), 'config-agent.toml');
  fs.writeFileSync(agentConfigFile, `parent = ${JSON.stringify(agentIf)}\nstate_dir = ${JSON.stringify(agentStateDir())}\n`);
}

function ociState(id: string, status: string, bundle: string): string {
  return JSON.stringify({ ociVersion: '1.0.2', id, status, bundle });
}

/** `node -e 0`, spawned exactly like the hook (same env, same stdio, state on stdin; `inNetns`: under `ip netns exec`, as the warm-cache hook). */
async function nodeBaseline(input: string, inNetns?: string): Promise<Sample> {
  const r = await run(...viaNetns(inNetns, process.execPath, ['-e', '0']), { input, env: hookEnv, timeoutMs: 20000 });
  if (r.code !== 0) return { ok: false, reason: `node -e 0 exited ${r.code}` };
  return { ok: true, ms: ms(r.startNs, r.exitNs) };
}

/** `file args` as run() takes them, under `ip netns exec NETNS` when one is given (execs in place). */
function viaNetns(netns: string | undefined, file: string, args: string[]): [string, string[]] {
  return netns ? ['ip', ['netns', 'exec', netns, file, ...args]] : [file, args];
}

/** Processes the hook left behind for this container: its detached optimistic-DAD completion. */
function backgroundPids(id: string): number[] {
  const out: number[] = [];
  for (const d of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    let argv: string[];
    try {
      argv = fs.readFileSync(`/proc/${d}/cmdline`, 'utf8').split('\0');
    } catch {
      continue;
    }
    if (argv.includes(CLI) && argv.includes('__complete-dad') && argv.includes(id) && argv.includes(configFile)) out.push(Number(d));
  }
  return out;
}
const backgroundIds = new Set<number>();

/** The hook's state record for the container (what the bench reads of it), if there is one. */
type BenchRecord = Pick<ContainerRecord, 'addresses' | 'timings'>;

function readRecord(id: string, stateDir = path.join(workDir(), 'state')): BenchRecord | undefined {
  try {
    return JSON.parse(fs.readFileSync(path.join(stateDir, `${id}.json`), 'utf8')) as BenchRecord;
  } catch {
    return undefined;
  }
}

/** The real agent for the warm-cache series (pid while it runs): started once, on its own state dir. */
const realAgent: { pid: number | undefined } = { pid: undefined };

/**
 * `oci-slaac-hook agent --config config-agent.toml`, as a host runs it; resolves once it holds a
 * router's RA for the parent (it solicits at start), i.e. once a hook's `ra` request gets one.
 */
async function startRealAgent(netns: string, parent: string): Promise<void> {
  // `ip netns exec` execs node in place: the pid is the agent's.
  const child = spawn('ip', ['netns', 'exec', netns, process.execPath, CLI, 'agent', '--config', agentConfigFile], { env: hookEnv, stdio: ['ignore', 'ignore', 'pipe'], detached: true });
  realAgent.pid = child.pid;
  let tail = '';
  child.stderr?.on('data', (d: Buffer) => {
    tail = (tail + d.toString('utf8')).slice(-2000);
  });
  child.on('exit', () => (realAgent.pid = undefined));
  const t0 = Date.now();
  for (;;) {
    if (child.exitCode !== null) throw new Error(`agent exited ${child.exitCode}: ${oneLine(tail)}`);
    const a = await askAgent(agentStateDir(), { op: 'ping' }).catch(() => undefined);
    const routers = (a?.counters as { listeners?: Record<string, { routers?: number }> } | undefined)?.listeners?.[parent]?.routers ?? 0;
    if (routers > 0) return;
    if (Date.now() - t0 > 20000) throw new Error(`agent has no RA for ${parent} after 20 s: ${oneLine(tail)}`);
    await sleep(50);
  }
}

function stopRealAgent(): void {
  if (realAgent.pid === undefined) return;
  try {
    process.kill(realAgent.pid, 'SIGTERM');
  } catch {
    // gone
  }
}

/** One hook container: fresh netns + bundle, then (untimed) node -e 0, then the timed createRuntime. */
async function hookStep(mode: Mode, iter: number, out: Samples, agentNetns?: string): Promise<void> {
  const id = `bench-${mode[0] ?? 'x'}${iter}`;
  const netns = await netnsAdd(mode[0] ?? 'x');
  const bundle = path.join(workDir(), 'bundles', id);
  fs.mkdirSync(bundle, { recursive: true });
  const annotations = { 'oci-slaac-hook.name': id, 'oci-slaac-hook.dad': mode === 'strict' ? 'strict' : 'optimistic' };
  const cfg = mode === 'cached' ? agentConfigFile : configFile;
  // The warm-cache hook runs where its agent runs (the agent's host netns), its baseline too.
  const inNetns = mode === 'cached' ? agentNetns : undefined;
  fs.writeFileSync(path.join(bundle, 'config.json'), JSON.stringify({ ociVersion: '1.0.2', linux: { namespaces: [{ type: 'network', path: `/run/netns/${netns}` }] }, annotations }));
  const creating = ociState(id, 'creating', bundle);
  try {
    const base = await nodeBaseline(creating, inNetns);
    if (!inNetns) out.node.push(base);
    out.nodeBy[mode].push(base);

    const r = await run(...viaNetns(inNetns, process.execPath, [CLI, 'createRuntime', '--config', cfg]), { input: creating, env: hookEnv, timeoutMs: 30000 });
    const wall = ms(r.startNs, r.exitNs);
    const bg = mode !== 'strict' ? backgroundPids(id) : [];
    bg.forEach((p) => backgroundIds.add(p));
    const record = readRecord(id, mode === 'cached' ? agentStateDir() : undefined);
    const address = record?.addresses?.[0]?.address;
    let sample: HookSample;
    if (r.code !== 0) sample = { ok: false, reason: `createRuntime exited ${r.code}${r.timedOut ? ' (timed out)' : ''}: ${oneLine(r.stderr)}` };
    else if (!record || !address) sample = { ok: false, reason: 'no address in the hook state' };
    else {
      const bound = await bindOnce(netns, address);
      if (bound !== 'bound') sample = { ok: false, reason: `${address} not bindable after the hook returned (${bound})` };
      else if (mode === 'strict' && (await tentative(netns, address))) sample = { ok: false, reason: `${address} still tentative` };
      else sample = { ok: true, ms: wall, address, raMs: record.timings.raMs, dadMs: record.timings.dadMs, inHookMs: record.timings.totalMs };
    }
    out.hook[mode].push(sample);

    if (bg.length) {
      // Optimistic: the detached completion probes for ~RetransTimer. Wait for it (it must not
      // overlap the next measurement), and note when the address was verified.
      // The moment is when the state file says "verified" (polled every 5 ms); an exited process
      // may stay a zombie for a while until init reaps it, so 'Z' counts as gone.
      const deadline = Date.now() + 10000;
      const verified = (): boolean => {
        const rec = readRecord(id);
        return Boolean(rec && rec.addresses.length > 0 && rec.addresses.every((a) => a.dad === 'verified'));
      };
      let after: number | null = null;
      while (Date.now() < deadline) {
        if (after === null && verified()) after = ms(r.exitNs, process.hrtime.bigint());
        if (!bg.some(alive)) break;
        await sleep(5);
      }
      if (after === null && verified()) after = ms(r.exitNs, process.hrtime.bigint());
      for (const p of bg) {
        if (alive(p)) killBackground(p, id);
        backgroundIds.delete(p);
      }
      out.optVerified.push(after !== null ? { ok: true, ms: after } : { ok: false, reason: 'optimistic DAD not verified in the background' });
    }
    if (mode === 'cached') {
      // The agent completes the optimistic DAD (complete-dad): let it finish before poststop and
      // before the next measurement.
      const deadline = Date.now() + 5000;
      while (Date.now() < deadline && !readRecord(id, agentStateDir())?.addresses.every((a) => a.dad === 'verified')) await sleep(20);
    }
    // Poststop as runtimes call it: the container's netns is gone by then (podman: "stopped", no
    // pid, netns already gone — ../shared/FIELD-NOTES.md; runc: the netns died with the container),
    // and its link with it. Deleting a link that is still there costs the kernel 13–20 ms (RCU).
    await netnsDel(netns);
    const stop = await run(...viaNetns(inNetns, process.execPath, [CLI, 'poststop', '--config', cfg]), { input: ociState(id, 'stopped', bundle), env: hookEnv, timeoutMs: 30000 });
    (inNetns ? out.poststopAgent : out.poststop).push(stop.code === 0 ? { ok: true, ms: ms(stop.startNs, stop.exitNs) } : { ok: false, reason: `poststop exited ${stop.code}: ${oneLine(stop.stderr)}` });
  } finally {
    await netnsDel(netns);
  }
}

/** Running (not exited, not a zombie waiting to be reaped). */
function alive(pid: number): boolean {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return !/^\d+ \(.*\) [ZX]/s.test(stat);
  } catch {
    return false;
  }
}

function killBackground(pid: number, id?: string): void {
  // Only the process the hook started for this container, checked again right before the kill.
  try {
    const argv = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
    if (argv.includes('__complete-dad') && (id === undefined || argv.includes(id)) && argv.includes(configFile)) process.kill(pid, 'SIGKILL');
  } catch {
    // gone
  }
}

/** The peer: CNI macvlan + static IPAM on the same parent, the kernel's own DAD. */
async function cniStep(lab: BenchLab, iter: number, gateway: boolean, series: CniSeries): Promise<void> {
  const netns = await netnsAdd(gateway ? 'g' : 'c');
  const address = `${PREFIX_BASE}:${gateway ? 'c' : 'b'}:${(iter + 1).toString(16)}`;
  const ipam = { type: 'static', addresses: [{ address: `${address}/64`, ...(gateway ? { gateway: lab.routerLinkLocal } : {}) }] };
  const conf = JSON.stringify({ cniVersion: '0.4.0', name: 'bench', type: 'macvlan', master: lab.hostIf, mode: 'bridge', ipam });
  const cniEnv = (command: string): Record<string, string> => ({
    PATH: SYS_PATH,
    CNI_COMMAND: command,
    CNI_CONTAINERID: `bench-${gateway ? 'g' : 'c'}${iter}`,
    CNI_NETNS: `/run/netns/${netns}`,
    CNI_IFNAME: 'eth0',
    CNI_PATH: CNI_DIR,
  });
  let added = false;
  try {
    // The bind loop runs in the netns before the clock starts; it sees EADDRNOTAVAIL until
    // the address exists and has passed the kernel's DAD.
    const watch = bindWatcher(netns, address, 15000);
    if (!(await watch.ready)) {
      const v = await watch.done;
      throw new Error(`bind loop did not start: ${v.ok ? 'it exited' : v.reason}`);
    }
    const r = await run(path.join(CNI_DIR, 'macvlan'), [], { input: conf, env: cniEnv('ADD'), timeoutMs: 20000 });
    added = true;
    const v = await watch.done;
    let sample: Sample;
    if (r.code !== 0) sample = { ok: false, reason: `ADD exited ${r.code}: ${oneLine(r.stdout || r.stderr)}` };
    else if (!v.ok) sample = { ok: false, reason: v.reason };
    else if (await tentative(netns, address)) sample = { ok: false, reason: `${address} bindable but still tentative` };
    // Usable = the runtime could start the container (ADD returned) and its first process could
    // bind the address: without a gateway ADD returns at once and the bind comes ~1-2 s later;
    // with one, the plugin itself waits for every address of eth0 (also the kernel's own SLAAC one).
    else sample = { ok: true, ms: ms(r.startNs, v.atNs > r.exitNs ? v.atNs : r.exitNs) };
    series.usable.push(sample);
    series.add.push(r.code === 0 ? { ok: true, ms: ms(r.startNs, r.exitNs) } : { ok: false, reason: sample.ok ? `ADD exited ${r.code}` : sample.reason });
  } finally {
    if (added) {
      const d = await run(path.join(CNI_DIR, 'macvlan'), [], { input: conf, env: cniEnv('DEL'), timeoutMs: 20000 }).catch(() => undefined);
      series.del.push(d && d.code === 0 ? { ok: true, ms: ms(d.startNs, d.exitNs) } : { ok: false, reason: `DEL exited ${d ? d.code : -1}: ${d ? oneLine(d.stdout || d.stderr) : 'aborted'}` });
    }
    await netnsDel(netns);
  }
}

// ------------------------------------------------------------------ statistics

interface Stats {
  n: number;
  ok: number;
  median: number | null;
  p90: number | null;
  min: number | null;
  max: number | null;
  failures: string[];
}

function stats(samples: readonly Sample[]): Stats {
  const ok = samples
    .flatMap((s) => (s.ok ? [s.ms] : []))
    .sort((a, b) => a - b);
  const failures = samples.flatMap((s) => (s.ok ? [] : [s.reason]));
  const pick = (q: number): number | null => (ok.length ? (ok[Math.max(0, Math.ceil(q * ok.length) - 1)] ?? null) : null);
  return { n: samples.length, ok: ok.length, median: median(ok), p90: pick(0.9), min: ok[0] ?? null, max: ok[ok.length - 1] ?? null, failures };
}

function median(sorted: readonly number[]): number | null {
  if (!sorted.length) return null;
  const m = sorted.length >> 1;
  return sorted.length % 2 ? (sorted[m] ?? null) : ((sorted[m - 1] ?? 0) + (sorted[m] ?? 0)) / 2;
}

const ratio = (a: number | null, b: number | null): number | null => (a === null || b === null || b === 0 ? null : a / b);
const pairedRatio = (as: readonly Sample[], bs: readonly Sample[]): number | null => {
  const r: number[] = [];
  for (let i = 0; i < Math.min(as.length, bs.length); i++) {
    const a = as[i];
    const b = bs[i];
    if (a?.ok && b?.ok && b.ms > 0) r.push(a.ms / b.ms);
  }
  return median(r.sort((x, y) => x - y));
};
const fieldStats = (samples: readonly HookSample[], field: 'raMs' | 'dadMs' | 'inHookMs'): Stats =>
  stats(samples.flatMap((s): Sample[] => (s.ok ? [{ ok: true, ms: s[field] }] : [])));

// ------------------------------------------------------------------ cleanup

let cleaning: Promise<void> | undefined;
function cleanup(): Promise<void> {
  if (cleaning) return cleaning;
  abort.abort(); // kills every running child's process group
  cleaning = (async () => {
    for (const p of backgroundIds) if (alive(p)) killBackground(p);
    stopRealAgent();
    if (scaleAgent.pid !== undefined) {
      try {
        process.kill(scaleAgent.pid, 'SIGKILL');
      } catch {
        // gone
      }
    }
    if (scaleEnv) await deleteScaleNetns(scaleEnv);
    if (opts.scale) await fleetTeardown();
    await policyTeardown();
    const t = Date.now();
    while (running && Date.now() - t < 3000) await sleep(20);
    for (const name of [...netnsMade]) await netnsDel(name, true);
    await labDown();
    if (work) fs.rmSync(work, { recursive: true, force: true });
    for (const d of stateDirsMade) fs.rmSync(d, { recursive: true, force: true });
    for (const name of netnsMade) note(`could not delete netns ${name}`);
  })();
  return cleaning;
}

function onSignal(sig: NodeJS.Signals): void {
  if (cleaning) {
    note(`${sig}: cleaning up, please wait`);
    return;
  }
  note(`${sig}: stopping and cleaning up`);
  void cleanup().finally(() => process.exit(sig === 'SIGINT' ? 130 : 143));
}

// ------------------------------------------------------------------ main

const PERMUTATIONS: readonly (readonly [number, number, number])[] = [
  [0, 1, 2],
  [1, 2, 0],
  [2, 0, 1],
  [0, 2, 1],
  [2, 1, 0],
  [1, 0, 2],
];

/** The agent at scale (--agent-scale N): its own lab settings, only this scenario. */
const scaleAgent: { pid: number | undefined } = { pid: undefined };
let scaleEnv: ScaleEnv | undefined;

async function mainScale(): Promise<void> {
  const watchdog = setTimeout(() => {
    note(`time limit of ${opts.maxSeconds} s reached: stopping and cleaning up`);
    void cleanup().finally(() => process.exit(1));
  }, opts.maxSeconds * 1000);
  setupWork();
  note(`lab ${LAB_NAME} up…`);
  const lab = await benchLab();
  writeHookConfig(lab.hostIf, lab.agentIf);
  const l = await labStarting;
  scaleEnv = {
    n: opts.agentScale,
    ras: opts.agentRas,
    labName: LAB_NAME,
    hostNetns: lab.agentNetns,
    parent: lab.agentIf,
    validLifetime: l?.config.validLifetime ?? 0,
    routerLifetime: l?.config.routerLifetime ?? 0,
    work: workDir(),
    stateDir: agentStateDir(),
    configFile: agentConfigFile,
    cli: process.env.OSH_BENCH_AGENT_CLI ?? CLI,
    hookEnv,
    note,
    run: (file, args, o) => run(file, args, o),
    netnsMade,
    agentPid: scaleAgent,
  };
  const r = await agentScale(scaleEnv);
  clearTimeout(watchdog);
  note('agent scale: tearing down…');
  await cleanup();
  const left = fs.readdirSync('/run/netns').filter((x) => x.startsWith(`${LAB_NAME}-`));
  if (opts.json) process.stdout.write(`${JSON.stringify({ node: process.version, kernel: os.release(), cpus: os.cpus().length, lab: LAB_NAME, ...r, netnsLeft: left.length }, null, 2)}\n`);
  else process.stdout.write(`oci-slaac-hook bench, node ${process.version}, kernel ${os.release()}, ${os.cpus().length} CPUs\n${printScale(r)}\n  teardown: ${left.length ? `${left.length} netns left!` : 'every netns deleted'}\n`);
  process.exitCode = r.verified.addresses === r.containers && r.verified.defaultRoutes === r.containers && !left.length ? 0 : 1;
}

async function mainShim(): Promise<void> {
  const watchdog = setTimeout(() => {
    note(`time limit of ${opts.maxSeconds} s reached`);
    process.exit(1);
  }, opts.maxSeconds * 1000);
  const r = await shimBench({ iterations: opts.iterations, note });
  clearTimeout(watchdog);
  if (opts.json) process.stdout.write(`${JSON.stringify({ node: process.version, kernel: os.release(), cpus: os.cpus().length, ...r }, null, 2)}\n`);
  else process.stdout.write(`oci-slaac-hook bench, node ${process.version}, kernel ${os.release()}, ${os.cpus().length} CPUs\n${printShim(r)}\n`);
}

async function mainPolicy(): Promise<void> {
  const watchdog = setTimeout(() => {
    note(`time limit of ${opts.maxSeconds} s reached: stopping and cleaning up`);
    void cleanup().finally(() => process.exit(1));
  }, opts.maxSeconds * 1000);
  const r = await policyBench({ rounds: opts.iterations, warmup: opts.warmup, note: opts.json ? () => undefined : note });
  clearTimeout(watchdog);
  const left = fs.existsSync('/run/netns') ? fs.readdirSync('/run/netns').filter((x) => x.startsWith('bpo-')) : [];
  if (opts.json) process.stdout.write(`${JSON.stringify({ node: process.version, kernel: os.release(), cpus: os.cpus().length, ...r, netnsLeft: left.length }, null, 2)}\n`);
  else process.stdout.write(`oci-slaac-hook bench, node ${process.version}, kernel ${os.release()}, ${os.cpus().length} CPUs\n${printPolicy(r)}\n  teardown: ${left.length ? `${left.length} netns left!` : 'every netns deleted'}\n`);
  process.exitCode = r.restricted.enforced && !left.length ? 0 : 1;
}

/** The hook's own start-up (--startup): scripts/bench-startup.ts, no lab. */
async function mainStartup(): Promise<void> {
  const r = await startupBench({ iterations: opts.iterations, note });
  if (opts.json) process.stdout.write(`${JSON.stringify({ node: process.version, kernel: os.release(), cpus: os.cpus().length, ...r }, null, 2)}\n`);
  else process.stdout.write(`${printStartup(r)}\n`);
}

/** Containers at scale (--scale): scripts/bench-fleet.ts in lab scl; --chart writes the SVG. */
async function mainFleet(): Promise<void> {
  const fo: FleetOptions = { ns: opts.scaleN, concurrency: opts.concurrency, addressIterations: opts.addressIterations, iperfSeconds: opts.iperfSeconds, iperfRounds: opts.iperfRounds, note };
  const missing = fleetPreflight(fo);
  if (missing) {
    process.stderr.write(`bench: ${missing}\n`);
    process.exit(1);
  }
  const watchdog = setTimeout(() => {
    note(`time limit of ${opts.maxSeconds} s reached: stopping and cleaning up`);
    void cleanup().finally(() => process.exit(1));
  }, opts.maxSeconds * 1000);
  const r = await fleetBench(fo);
  clearTimeout(watchdog);
  if (opts.chart) writeChart(opts.chart, r);
  if (opts.json) process.stdout.write(`${JSON.stringify(r, null, 2)}\n`);
  else process.stdout.write(`${printFleet(r)}\n`);
  process.exitCode = fleetOk(r) ? 0 : 1;
}

function writeChart(file: string, r: FleetReport): void {
  fs.mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
  fs.writeFileSync(file, benchSvg(fleetChart(r)));
  note(`chart written to ${file}`);
}

async function main(): Promise<void> {
  if (opts.from && !opts.scale) {
    let r: FleetReport;
    try {
      r = JSON.parse(fs.readFileSync(opts.from, 'utf8')) as FleetReport;
      if (!r.address?.series || !Array.isArray(r.scale)) throw new Error('not a --scale --json output');
    } catch (err) {
      process.stderr.write(`bench: --from ${opts.from}: ${err instanceof Error ? err.message : String(err)}\n`);
      process.exit(1);
    }
    if (opts.chart) writeChart(opts.chart, r);
    else process.stdout.write(opts.json ? `${JSON.stringify(r, null, 2)}\n` : `${printFleet(r)}\n`);
    return;
  }
  preflight();
  process.on('SIGINT', () => onSignal('SIGINT'));
  process.on('SIGTERM', () => onSignal('SIGTERM'));
  process.on('SIGHUP', () => onSignal('SIGHUP'));
  if (opts.agentScale) return mainScale();
  if (opts.shim) return mainShim();
  if (opts.policy) return mainPolicy();
  if (opts.startup) return mainStartup();
  if (opts.scale) return mainFleet();
  const watchdog = setTimeout(() => {
    note(`time limit of ${opts.maxSeconds} s reached: stopping and cleaning up`);
    void cleanup().finally(() => process.exit(1));
  }, opts.maxSeconds * 1000);

  setupWork();
  if (!opts.json) note(`lab ${LAB_NAME} up…`);
  const lab = await benchLab();
  if (lab.prefix !== PREFIX) throw new Error(`lab prefix is ${lab.prefix}, expected ${PREFIX}`);
  if (opts.cniGateway && !lab.routerLinkLocal) throw new Error("cannot read the router's link-local address");
  writeHookConfig(lab.hostIf, lab.agentIf);
  if (!opts.json) note('agent (warm RA cache series) starting…');
  await startRealAgent(lab.agentNetns, lab.agentIf);

  const fresh = (): Samples => ({
    node: [],
    nodeBy: { strict: [], optimistic: [], cached: [] },
    hook: { strict: [], optimistic: [], cached: [] },
    optVerified: [],
    poststop: [],
    poststopAgent: [],
    cni: { add: [], usable: [], del: [] },
    cniGw: { add: [], usable: [], del: [] },
  });
  const steps = (out: Samples, i: number): (() => Promise<void>)[] => [
    () => hookStep('strict', i, out),
    () => hookStep('optimistic', i, out),
    () => cniStep(lab, i, false, out.cni),
    ...(opts.cniGateway ? [() => cniStep(lab, i, true, out.cniGw)] : []),
    () => hookStep('cached', i, out, lab.agentNetns),
  ];
  const rounds = async (count: number, out: Samples, label: string, base: number): Promise<void> => {
    for (let i = 0; i < count; i++) {
      const perm = PERMUTATIONS[i % PERMUTATIONS.length] ?? [0, 1, 2];
      const all = steps(out, base + i);
      const order = [...perm.map((k) => all[k]), ...all.slice(3)];
      for (const step of order) {
        if (step) await step();
        await sleep(200); // let the kernel finish tearing down the last namespace
      }
      if (!opts.json) note(`${label} ${i + 1}/${count}`);
    }
  };
  await rounds(opts.warmup, fresh(), 'warm-up', 1000);
  const out = fresh();
  await rounds(opts.iterations, out, 'iteration', 0);
  clearTimeout(watchdog);

  const result = report(out, lab);
  await cleanup();
  if (opts.json) process.stdout.write(JSON.stringify(result, null, 2) + '\n');
  else printTable(result);
  const failed = Object.values(result.series).some((s) => s.failures.length);
  process.exitCode = failed ? 1 : 0;
}

interface Report {
  iterations: number;
  warmup: number;
  node: string;
  kernel: string;
  cpus: number;
  lab: { name: string; parent: string; prefix: string; retransTimerMs: number };
  peer: { plugin: string; containernetworkingPlugins: string; gateway: string | null | undefined };
  unit: 'ms';
  series: Record<string, Stats>;
  ratios: Record<string, number | null>;
}

function report(out: Samples, lab: BenchLab): Report {
  const strict = out.hook.strict;
  const opt = out.hook.optimistic;
  const series: Record<string, Stats> = {
    node: stats(out.node),
    hookOptimistic: stats(opt),
    hookStrict: stats(strict),
    hookCached: stats(out.hook.cached),
    nodeInAgentNetns: stats(out.nodeBy.cached),
    hookCachedRa: fieldStats(out.hook.cached, 'raMs'),
    hookCachedInAgent: fieldStats(out.hook.cached, 'inHookMs'),
    hookPoststopAgent: stats(out.poststopAgent),
    hookOptimisticInProcess: fieldStats(opt, 'inHookMs'),
    hookStrictInProcess: fieldStats(strict, 'inHookMs'),
    hookOptimisticRa: fieldStats(opt, 'raMs'),
    hookStrictRa: fieldStats(strict, 'raMs'),
    hookStrictDad: fieldStats(strict, 'dadMs'),
    optimisticVerifiedAfter: stats(out.optVerified),
    hookPoststop: stats(out.poststop),
    cniAdd: stats(out.cni.add),
    cniUsable: stats(out.cni.usable),
    cniDel: stats(out.cni.del),
  };
  if (opts.cniGateway) {
    series.cniGwAdd = stats(out.cniGw.add);
    series.cniGwUsable = stats(out.cniGw.usable);
    series.cniGwDel = stats(out.cniGw.del);
  }
  const r = (a: string, b: string): number | null => ratio(series[a]?.median ?? null, series[b]?.median ?? null);
  const ratios: Record<string, number | null> = {
    hookOptimisticOverNode: r('hookOptimistic', 'node'),
    hookStrictOverNode: r('hookStrict', 'node'),
    hookCachedOverNode: r('hookCached', 'nodeInAgentNetns'),
    hookPoststopOverNode: r('hookPoststop', 'node'),
    hookPoststopAgentOverNode: r('hookPoststopAgent', 'nodeInAgentNetns'),
    pairedHookCachedOverNode: pairedRatio(out.hook.cached, out.nodeBy.cached),
    usableStrictOverCni: r('hookStrict', 'cniUsable'),
    usableOptimisticOverCni: r('hookOptimistic', 'cniUsable'),
    // Median of per-run ratios: each hook run over the node -e 0 spawned right before it.
    pairedHookOptimisticOverNode: pairedRatio(opt, out.nodeBy.optimistic),
    pairedHookStrictOverNode: pairedRatio(strict, out.nodeBy.strict),
  };
  if (opts.cniGateway) {
    ratios.usableStrictOverCniGateway = r('hookStrict', 'cniGwUsable');
    ratios.usableOptimisticOverCniGateway = r('hookOptimistic', 'cniGwUsable');
  }
  let cniVersion = 'unknown';
  try {
    const dpkg = fs.readFileSync('/var/lib/dpkg/status', 'utf8');
    const m = /Package: containernetworking-plugins\n(?:.+\n)*?Version: (.+)/.exec(dpkg);
    if (m?.[1]) cniVersion = m[1];
  } catch {
    // not Debian
  }
  return {
    iterations: opts.iterations,
    warmup: opts.warmup,
    node: process.version,
    kernel: os.release(),
    cpus: os.cpus().length,
    lab: { name: LAB_NAME, parent: lab.hostIf, prefix: lab.prefix, retransTimerMs: lab.retransMs },
    peer: { plugin: 'macvlan (bridge) + static IPAM', containernetworkingPlugins: cniVersion, gateway: opts.cniGateway ? lab.routerLinkLocal : null },
    unit: 'ms',
    series,
    ratios,
  };
}

function printTable(res: Report): void {
  const f = (v: number | null | undefined): string => (v === null || v === undefined ? '—' : v >= 100 ? v.toFixed(0) : v.toFixed(1));
  const x = (v: number | null | undefined): string => (v === null || v === undefined ? '—' : `${v.toFixed(2)}×`);
  const lines: string[] = [];
  lines.push(`oci-slaac-hook bench: ${res.iterations} iterations (+${res.warmup} warm-up), node ${res.node}, kernel ${res.kernel}, ${res.cpus} CPUs`);
  lines.push(`lab ${res.lab.name}: parent ${res.lab.parent}, ${res.lab.prefix}, RetransTimer ${res.lab.retransTimerMs} ms; peer: CNI ${res.peer.plugin} ${res.peer.containernetworkingPlugins}`);
  lines.push('');
  const rows: [string, string][] = [
    ['node -e 0 (spawned like the hook)', 'node'],
    ['hook createRuntime, optimistic DAD', 'hookOptimistic'],
    ['  in-process total (state timings)', 'hookOptimisticInProcess'],
    ['  of which RA wait', 'hookOptimisticRa'],
    ['  background DAD verified after exit', 'optimisticVerifiedAfter'],
    ['hook createRuntime, strict DAD', 'hookStrict'],
    ['  in-process total (state timings)', 'hookStrictInProcess'],
    ['  of which RA wait', 'hookStrictRa'],
    ['  of which DAD', 'hookStrictDad'],
    ['node -e 0 under ip netns exec (agent host)', 'nodeInAgentNetns'],
    ['hook createRuntime, agent (thin client)', 'hookCached'],
    ['  attach in the agent (state timings)', 'hookCachedInAgent'],
    ['  of which RA (the agent\'s cache)', 'hookCachedRa'],
    ['hook poststop, agent (thin client)', 'hookPoststopAgent'],
    ['hook poststop (netns gone, as in runtimes)', 'hookPoststop'],
    ['CNI macvlan+static ADD (returns)', 'cniAdd'],
    ['CNI ADD → kernel DAD done, bindable', 'cniUsable'],
    ['CNI DEL', 'cniDel'],
  ];
  if (res.series.cniGwAdd) {
    rows.push(['CNI ADD with gateway (plugin settles)', 'cniGwAdd'], ['  … returned and bindable', 'cniGwUsable']);
  }
  lines.push(`${'ms'.padEnd(44)}${'median'.padStart(9)}${'p90'.padStart(9)}${'min'.padStart(9)}${'max'.padStart(9)}${'ok/n'.padStart(9)}`);
  for (const [label, key] of rows) {
    const s = res.series[key];
    if (!s) continue;
    lines.push(`${label.padEnd(44)}${f(s.median).padStart(9)}${f(s.p90).padStart(9)}${f(s.min).padStart(9)}${f(s.max).padStart(9)}${`${s.ok}/${s.n}`.padStart(9)}`);
  }
  lines.push('');
  lines.push('ratios (median / median, same run):');
  lines.push(`  hook optimistic / node -e 0                      ${x(res.ratios.hookOptimisticOverNode)}`);
  lines.push(`  hook strict     / node -e 0                      ${x(res.ratios.hookStrictOverNode)}`);
  lines.push(`  hook warm cache / node -e 0 (both in its netns)  ${x(res.ratios.hookCachedOverNode)}`);
  lines.push(`  hook poststop   / node -e 0                      ${x(res.ratios.hookPoststopOverNode)}`);
  lines.push(`  hook poststop with the agent / node -e 0 (netns) ${x(res.ratios.hookPoststopAgentOverNode)}`);
  lines.push(`  (paired, median of per-run ratios: optimistic ${x(res.ratios.pairedHookOptimisticOverNode)}, strict ${x(res.ratios.pairedHookStrictOverNode)}, warm cache ${x(res.ratios.pairedHookCachedOverNode)})`);
  lines.push(`  time to usable: hook strict     / CNI+kernel DAD ${x(res.ratios.usableStrictOverCni)}`);
  lines.push(`  time to usable: hook optimistic / CNI+kernel DAD ${x(res.ratios.usableOptimisticOverCni)}`);
  if (res.ratios.usableStrictOverCniGateway !== undefined) {
    lines.push(`  time to usable: hook strict     / CNI w/ gateway ${x(res.ratios.usableStrictOverCniGateway)}`);
    lines.push(`  time to usable: hook optimistic / CNI w/ gateway ${x(res.ratios.usableOptimisticOverCniGateway)}`);
  }
  const failures = Object.entries(res.series).flatMap(([k, s]) => s.failures.map((why) => `  ${k}: ${why}`));
  if (failures.length) {
    lines.push('');
    lines.push(`failures (${failures.length}):`);
    lines.push(...failures);
  }
  process.stdout.write(lines.join('\n') + '\n');
}

main().catch(async (err: unknown) => {
  if (!(err instanceof Aborted) && !(err instanceof FleetAborted)) note(`error: ${err instanceof Error ? err.message : String(err)}`);
  await cleanup();
  process.exit(1);
});
