// Test helper: a private Docker daemon (Debian's docker.io 20.10) for the e2e tests of the OCI
// runtime wrapper — dockerd with its own containerd, images from `docker import` of a busybox
// rootfs, extra OCI runtimes registered in its daemon.json.
//
// Isolation (nothing here touches a Docker or containerd it did not start):
// - everything lives in os.tmpdir()/dk-<name>: --data-root, --exec-root, --pidfile, the API
//   socket (-H unix://...), daemon.json (--config-file), the trust key (daemon.json
//   "deprecated-key-path", else dockerd writes /etc/docker/key.json) and the client's config
//   (DOCKER_CONFIG); the client is always /usr/bin/docker with -H (never DOCKER_HOST, never a
//   context; /usr/local/bin/docker may be an unrelated newer CLI).
// - no --containerd: dockerd starts its own containerd (config, socket and state under
//   <exec-root>/containerd, content under <data-root>/containerd), which dies with it (Pdeathsig).
//   Its runc state root is <exec-root>/runtime-runc; shims' sockets are /run/containerd/s/<hash
//   of our containerd's address>, so no other containerd's.
// - no host networking changes: --bridge=none (no docker0), --iptables=false,
//   --ip6tables=false, --ip-forward=false, --ip-masq=false; live-restore off unless asked.
//   A user-defined network still makes a br-<id> bridge in the root netns: remove it (the
//   handle's destroy() removes every network it made).
// - containers' cgroups go under /dk-<name> ("cgroup-parent"), not Docker's usual /docker.
// - dockerd still creates /run/docker/plugins (hard-coded; empty) — nothing else outside.
//
// stop() SIGTERMs dockerd (which, with live-restore off, stops its containers through their
// runtime first), waits, then kills whatever of its own is left — its containerd and the shims
// bound to that containerd's socket — and lazily unmounts anything left under the data and exec
// roots; what it had to clean is returned, never hidden. Every external command is bounded in
// time. Needs root.

import * as fs from 'node:fs';
import { promises as fsp } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { type RunResult, failure, run } from './run';

export const DOCKER = '/usr/bin/docker';
export const DOCKERD = '/usr/sbin/dockerd';

export interface DockerdOptions {
  /** [a-z0-9][a-z0-9-]*: the directory is os.tmpdir()/dk-<name>. */
  name: string;
  /** Extra OCI runtimes: name → absolute path of the executable (daemon.json "runtimes"). */
  runtimes?: Record<string, string>;
  /** dockerd's environment, over a minimal base (PATH only); undefined removes a variable. */
  env?: Record<string, string | undefined>;
  /** daemon.json "live-restore" (default false). */
  liveRestore?: boolean;
  /** Bound on dockerd's start (until `docker info` answers). Default 60000 ms. */
  startTimeoutMs?: number;
}

export interface StopReport {
  /** How dockerd ended: 'SIGTERM' (exited after it), 'SIGKILL' (had to be killed), 'gone' (was not running). */
  how: 'SIGTERM' | 'SIGKILL' | 'gone';
  /** Processes still alive after dockerd exited, killed here: "PID argv...". */
  killed: string[];
  /** Mount points left under the data/exec roots, unmounted here. */
  unmounted: string[];
  ms: number;
}

export interface Dockerd {
  name: string;
  /** os.tmpdir()/dk-<name>. */
  dir: string;
  dataRoot: string;
  execRoot: string;
  /** The API socket's path (the client gets -H unix://<socket>). */
  socket: string;
  /** dockerd's containerd socket (for ctr --address). */
  containerdSocket: string;
  pidFile: string;
  daemonJson: string;
  logFile: string;
  /** dockerd's pid (changes on restart). */
  pid: number;
  /** ms from spawning dockerd until `docker info` answered, for the last (re)start. */
  startMs: number;
  /** /usr/bin/docker -H unix://<socket> ARGS; default time limit 60000 ms. */
  docker(args: readonly string[], timeoutMs?: number, input?: string | Buffer): Promise<RunResult>;
  /** Stop dockerd and clean what it left (see the header); idempotent. */
  stop(signal?: 'SIGTERM' | 'SIGKILL'): Promise<StopReport>;
  /** stop() then start again with the same directories and daemon.json. */
  restart(): Promise<StopReport>;
  /** dockerd's log (stdout and stderr), all runs. */
  log(): string;
  /** Remove every container and network, stop(), remove the directory. */
  destroy(): Promise<StopReport>;
}

const NAME_RE = /^[a-z0-9][a-z0-9-]{0,30}$/;
const BASE_PATH = '/usr/sbin:/usr/bin:/sbin:/bin';
/** Bound on dockerd's whole life (run() needs one): a test never keeps it longer. */
const DOCKERD_LIFETIME_MS = 60 * 60_000;

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

function alive(pid: number): boolean {
  if (!(pid > 1)) return false;
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  // A zombie is not alive for our purposes.
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

function cmdline(pid: number): string[] {
  try {
    return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter((s) => s !== '');
  } catch {
    return [];
  }
}

/** Processes whose argv mentions `needle` (exact argument or a substring of one). */
function processesMentioning(needle: string): number[] {
  const out: number[] = [];
  for (const e of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    const pid = Number(e);
    if (pid === process.pid) continue;
    if (cmdline(pid).some((a) => a.includes(needle))) out.push(pid);
  }
  return out;
}

/** Mount points at or under any of `roots` in our mount namespace, deepest first. */
function mountsUnder(roots: readonly string[]): string[] {
  let text = '';
  try {
    text = fs.readFileSync('/proc/self/mountinfo', 'utf8');
  } catch {
    return [];
  }
  const unescape = (s: string): string => s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
  const points = text
    .split('\n')
    .map((l) => unescape(l.split(' ')[4] ?? ''))
    .filter((p) => p !== '' && roots.some((r) => p === r || p.startsWith(`${r}/`)));
  return [...new Set(points)].sort((a, b) => b.length - a.length);
}

async function killAndWait(pids: readonly number[], timeoutMs: number): Promise<void> {
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone
    }
  }
  const deadline = Date.now() + timeoutMs;
  while (pids.some(alive) && Date.now() < deadline) await sleep(20);
}

/** Start a private dockerd (see the header). A leftover directory of a dead earlier run is cleaned first. */
export async function startDockerd(opts: DockerdOptions): Promise<Dockerd> {
  if (process.getuid?.() !== 0) throw new Error('startDockerd needs root');
  if (!NAME_RE.test(opts.name)) throw new Error(`bad dockerd name '${opts.name}'`);
  const dir = path.join(os.tmpdir(), `dk-${opts.name}`);
  const dataRoot = path.join(dir, 'data');
  const execRoot = path.join(dir, 'exec');
  const pidFile = path.join(dir, 'dockerd.pid');
  const socket = path.join(dir, 'docker.sock');
  const daemonJson = path.join(dir, 'daemon.json');
  const logFile = path.join(dir, 'dockerd.log');
  const clientConfig = path.join(dir, 'client');
  const containerdSocket = path.join(execRoot, 'containerd', 'containerd.sock');

  // A leftover of an earlier run: refuse a live daemon, clean a dead one's remains.
  if (fs.existsSync(dir)) {
    const prev = Number((await fsp.readFile(pidFile, 'utf8').catch(() => '')).trim());
    if (alive(prev) && cmdline(prev).includes(DOCKERD)) throw new Error(`dockerd ${opts.name} is already running (pid ${prev}, ${dir})`);
    await cleanLeftovers(containerdSocket, [dataRoot, execRoot]);
    await fsp.rm(dir, { recursive: true, force: true });
  }
  await fsp.mkdir(clientConfig, { recursive: true, mode: 0o700 });
  await fsp.mkdir(dataRoot, { mode: 0o710 });
  await fsp.mkdir(execRoot, { mode: 0o700 });

  const runtimes: Record<string, { path: string }> = {};
  for (const [n, p] of Object.entries(opts.runtimes ?? {})) {
    if (!path.isAbsolute(p)) throw new Error(`runtime ${n}: '${p}' is not an absolute path`);
    runtimes[n] = { path: p };
  }
  const config = {
    'live-restore': opts.liveRestore ?? false,
    'deprecated-key-path': path.join(dir, 'key.json'),
    'cgroup-parent': `/dk-${opts.name}`,
    runtimes,
  };
  await fsp.writeFile(daemonJson, `${JSON.stringify(config, null, 2)}\n`);

  const args = [
    '--data-root', dataRoot,
    '--exec-root', execRoot,
    '--pidfile', pidFile,
    '-H', `unix://${socket}`,
    '--config-file', daemonJson,
    '--bridge=none',
    '--iptables=false',
    '--ip6tables=false',
    '--ip-forward=false',
    '--ip-masq=false',
  ];
  const env: Record<string, string | undefined> = { PATH: BASE_PATH, ...opts.env };
  const clientEnv = { PATH: BASE_PATH, HOME: dir, DOCKER_CONFIG: clientConfig };

  let log = '';
  let exited: Promise<RunResult> | undefined;
  let abort: AbortController | undefined;

  const docker = (a: readonly string[], timeoutMs = 60_000, input?: string | Buffer): Promise<RunResult> =>
    run(DOCKER, ['-H', `unix://${socket}`, ...a], { baseEnv: clientEnv, timeoutMs, ...(input === undefined ? {} : { input }) });

  const handle: Dockerd = {
    name: opts.name,
    dir,
    dataRoot,
    execRoot,
    socket,
    containerdSocket,
    pidFile,
    daemonJson,
    logFile,
    pid: 0,
    startMs: 0,
    docker,
    stop,
    async restart(): Promise<StopReport> {
      const r = await stop();
      await start();
      return r;
    },
    log: () => {
      try {
        return fs.readFileSync(logFile, 'utf8');
      } catch {
        return log;
      }
    },
    async destroy(): Promise<StopReport> {
      if (exited) {
        const ids = (await docker(['ps', '-aq'], 30_000)).stdout.split('\n').filter((s) => s.trim() !== '');
        if (ids.length > 0) await docker(['rm', '-f', ...ids], 120_000);
        const nets = (await docker(['network', 'ls', '-q', '--filter', 'type=custom'], 30_000)).stdout.split('\n').filter((s) => s.trim() !== '');
        if (nets.length > 0) await docker(['network', 'rm', ...nets], 60_000);
      }
      const r = await stop();
      await fsp.rm(dir, { recursive: true, force: true });
      return r;
    },
  };

  async function start(): Promise<void> {
    const t0 = Date.now();
    const limit = opts.startTimeoutMs ?? 60_000;
    abort = new AbortController();
    // dockerd's output goes to the log file through sh, so it is kept across restarts and
    // readable while it runs.
    exited = run('sh', ['-c', 'log=$1; shift; exec "$@" >>"$log" 2>&1', 'sh', logFile, DOCKERD, ...args], {
      baseEnv: env,
      timeoutMs: DOCKERD_LIFETIME_MS,
      detached: true,
      signal: abort.signal,
    });
    let gone = false;
    void exited.then(() => (gone = true));
    for (;;) {
      if (gone) {
        const r = await exited;
        exited = undefined;
        throw new Error(`dockerd exited during start (code ${r.code}): ${r.stderr}\n--- log\n${handle.log().slice(-4000)}`);
      }
      if (Date.now() - t0 > limit) {
        await stop('SIGKILL');
        throw new Error(`dockerd did not answer within ${limit} ms\n--- log\n${handle.log().slice(-4000)}`);
      }
      if (fs.existsSync(socket)) {
        const info = await docker(['info', '--format', '{{.ServerVersion}}'], 5_000);
        if (info.code === 0) break;
      }
      await sleep(100);
    }
    handle.pid = Number((await fsp.readFile(pidFile, 'utf8').catch(() => '0')).trim());
    handle.startMs = Date.now() - t0;
  }

  async function stop(signal: 'SIGTERM' | 'SIGKILL' = 'SIGTERM'): Promise<StopReport> {
    const t0 = Date.now();
    let how: StopReport['how'] = 'gone';
    if (exited) {
      const pid = handle.pid > 1 ? handle.pid : Number((await fsp.readFile(pidFile, 'utf8').catch(() => '0')).trim());
      if (alive(pid)) {
        how = signal;
        try {
          process.kill(pid, signal);
        } catch {
          // gone meanwhile
        }
      }
      // dockerd stops its containers (10 s grace each, in parallel), then containerd.
      const done = await Promise.race([exited.then(() => true), sleep(45_000).then(() => false)]);
      if (!done) {
        how = 'SIGKILL';
        abort?.abort();
        await exited;
      }
      exited = undefined;
    }
    const report = await cleanLeftovers(containerdSocket, [dataRoot, execRoot]);
    handle.pid = 0;
    return { how, ...report, ms: Date.now() - t0 };
  }

  await start();
  return handle;
}

/** Kill what is left bound to this containerd socket (containerd itself, shims), unmount what is left under roots. */
async function cleanLeftovers(containerdSocket: string, roots: readonly string[]): Promise<{ killed: string[]; unmounted: string[] }> {
  const killed: string[] = [];
  // containerd takes --config <exec-root>/containerd/containerd.toml; its shims -address <socket>.
  const needles = [containerdSocket, path.join(path.dirname(containerdSocket), 'containerd.toml')];
  // Give containerd a moment to go by itself (it gets SIGKILL from Pdeathsig when dockerd dies).
  const deadline = Date.now() + 3_000;
  let pids = [...new Set(needles.flatMap(processesMentioning))];
  while (pids.some(alive) && Date.now() < deadline) {
    await sleep(50);
    pids = pids.filter(alive);
  }
  pids = pids.filter(alive);
  for (const pid of pids) killed.push(`${pid} ${cmdline(pid).join(' ')}`);
  await killAndWait(pids, 5_000);
  const unmounted: string[] = [];
  for (const m of mountsUnder(roots)) {
    const r = await run('umount', ['-l', m], { timeoutMs: 10_000 });
    if (r.code === 0) unmounted.push(m);
  }
  return { killed, unmounted };
}

/**
 * `docker import` of a rootfs directory (e.g. makeRootfs() of vm/lab/containers.ts) as `tag`:
 * `tar -C rootfs -c .` to a file beside dockerd's data, then `docker import FILE tag`.
 * Returns the image id.
 */
export async function dockerImport(d: Dockerd, rootfsDir: string, tag: string): Promise<string> {
  const tarFile = path.join(d.dir, `import-${process.pid}-${Date.now()}.tar`);
  try {
    const tar = await run('tar', ['-C', rootfsDir, '-cf', tarFile, '.'], { timeoutMs: 60_000 });
    if (tar.code !== 0) throw failure(`tar -C ${rootfsDir}`, tar);
    const imp = await d.docker(['import', tarFile, tag], 120_000);
    if (imp.code !== 0) throw failure(`docker import ${tag}`, imp);
    return imp.stdout.trim();
  } finally {
    await fsp.rm(tarFile, { force: true });
  }
}

/** Debian's docker.io is installed (dockerd, the client, containerd, runc, ctr) and we are root. */
export async function dockerAvailable(): Promise<boolean> {
  if (process.getuid?.() !== 0) return false;
  for (const f of [DOCKER, DOCKERD, '/usr/bin/containerd', '/usr/bin/ctr', '/usr/bin/containerd-shim-runc-v2']) {
    try {
      fs.accessSync(f, fs.constants.X_OK);
    } catch {
      return false;
    }
  }
  return (await run(DOCKERD, ['--version'], { timeoutMs: 10_000 })).code === 0;
}
