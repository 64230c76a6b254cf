// Test helper: start and stop real containers under runc, crun and podman
// with given OCI hooks, for the end-to-end tests.
//
// Isolation (nothing here touches containers it did not make):
// - runc/crun keep their state under /run/osh-test-<runtime> (`--root`), so
//   `list` there only ever shows this helper's containers; bundles live in
//   os.tmpdir()/osh-bundles/<id>.
// - podman uses a private storage root, runroot and tmpdir under
//   os.tmpdir()/osh-podman (overlay driver: bundles are
//   <root>/overlay-containers/<ctr id>/userdata, as in production). podman
//   still drives runc with runc's default state root (/run/runc): podman 4.3
//   does not forward --runtime-flag to its conmon exit command.
// - crun 1.8.1 refuses this host's hybrid cgroups: every crun call runs in a
//   private mount namespace with a pure cgroup2 mount at /sys/fs/cgroup and
//   `--cgroup-manager=disabled`, and the config has no process.rlimits.
//
// Every external command is bounded in time. Needs root.

import * as fs from 'node:fs';
import { promises as fsp } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { type RunResult, run } from './run';

// ---------------------------------------------------------------- public API

export interface HookCommand {
  path: string;
  args: string[];
  /** The hook's whole environment (runc/crun pass nothing else when set; set PATH yourself). */
  env?: string[];
  /** Seconds. */
  timeout?: number;
}

export interface ContainerHooks {
  createRuntime?: HookCommand[];
  prestart?: HookCommand[];
  poststop?: HookCommand[];
}

export interface ContainerSpec {
  /** Container id (runc/crun) or name (podman): [A-Za-z0-9][A-Za-z0-9_.-]*, unique per test run. */
  id: string;
  /** From makeRootfs(). */
  rootfs: string;
  /** The container's process, e.g. ['/bin/sh', '/probe.sh']. */
  args: string[];
  /** Extra process environment ("K=V"), over the defaults (PATH, TERM). */
  env?: string[];
  annotations?: Record<string, string>;
  /** Host directory bind-mounted read-write at /out inside the container. */
  outDir?: string;
  /**
   * runc/crun: written into config.json. podman: written as hooks.d 1.0.0
   * files (`when: always`) into a private directory passed as an extra
   * --hooks-dir.
   */
  hooks?: ContainerHooks;
  /** podman only: a hooks.d directory to pass as --hooks-dir. */
  hooksDir?: string;
  /** podman only: 'none' (default) or 'bridge' (podman's default CNI network; eth0 is podman's). */
  network?: 'none' | 'bridge';
  /** Bound on each runtime command of the start (create, start, run). Default 60000 ms. */
  timeoutMs?: number;
}

export type RuntimeName = 'runc' | 'crun' | 'podman';

export interface StartResult {
  /** 0 on success; the failing runtime command's exit code otherwise (128+9 if it timed out). */
  code: number;
  /** The runtime's stdout (podman: the container id). */
  stdout: string;
  /** The runtime's stderr (includes hook failures as the runtime reports them). */
  stderr: string;
  container?: RunningContainer;
}

export interface RunningContainer {
  runtime: RuntimeName;
  /** The id (runc/crun) or name (podman) from the spec. */
  id: string;
  /** Host pid of the container's process (0 if it had already exited). */
  pid: number;
  /** The OCI bundle directory (podman: its userdata directory). */
  bundle?: string;
  /** podman only: podman's own (64 hex) container id. */
  podmanId?: string;
  /** Kill (SIGKILL) and delete; idempotent; resolves after the poststop hooks have run. */
  stop(): Promise<void>;
}

/** State roots (`--root`) of runc and crun, private to this helper. */
export const STATE_ROOT: Readonly<Record<'runc' | 'crun', string>> = {
  runc: '/run/osh-test-runc',
  crun: '/run/osh-test-crun',
};

/** Parent of the runc/crun bundles (and of podman's per-container hooks.d). */
export const BUNDLES_DIR = path.join(os.tmpdir(), 'osh-bundles');

/** podman's private storage. */
export const PODMAN_DIR = path.join(os.tmpdir(), 'osh-podman');

/** Global podman options of this helper (private storage, runc, cgroupfs). */
export function podmanGlobalArgs(hooksDirs: readonly string[] = []): string[] {
  const args = [
    '--root', path.join(PODMAN_DIR, 'root'),
    '--runroot', path.join(PODMAN_DIR, 'runroot'),
    '--tmpdir', path.join(PODMAN_DIR, 'tmp'),
    '--storage-driver', 'overlay',
    '--runtime', 'runc',
    '--cgroup-manager', 'cgroupfs',
    '--events-backend', 'file',
  ];
  for (const d of hooksDirs) args.push('--hooks-dir', d);
  return args;
}

// ---------------------------------------------------------------- plumbing

const CMD_TIMEOUT_MS = 30_000;
const ID_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/;
const CGROUP2_SUPER_MAGIC = 0x63677270;

/** Run the runtime (as wrapped for its quirks) with the helper's state root. */
function runtimeCmd(runtime: 'runc' | 'crun', args: readonly string[]): [string, string[]] {
  if (runtime === 'runc') return ['runc', ['--root', STATE_ROOT.runc, ...args]];
  const crun = ['crun', '--cgroup-manager=disabled', '--root', STATE_ROOT.crun, ...args];
  if (pureCgroup2()) return [crun[0] ?? 'crun', crun.slice(1)];
  // A private mount namespace whose /sys/fs/cgroup is a pure cgroup2 mount.
  const wrap = 'umount -R /sys/fs/cgroup 2>/dev/null; mount -t cgroup2 none /sys/fs/cgroup || exit 125; exec "$@"';
  return ['unshare', ['--mount', '--propagation', 'private', 'sh', '-c', wrap, 'sh', ...crun]];
}

let cgroup2Cache: boolean | undefined;
function pureCgroup2(): boolean {
  if (cgroup2Cache === undefined) {
    try {
      cgroup2Cache = fs.statfsSync('/sys/fs/cgroup').type === CGROUP2_SUPER_MAGIC;
    } catch {
      cgroup2Cache = false;
    }
  }
  return cgroup2Cache;
}

function rt(runtime: 'runc' | 'crun', args: readonly string[], timeoutMs = CMD_TIMEOUT_MS): Promise<RunResult> {
  const [cmd, argv] = runtimeCmd(runtime, args);
  return run(cmd, argv, { timeoutMs });
}

function podman(args: readonly string[], timeoutMs = CMD_TIMEOUT_MS, hooksDirs: readonly string[] = []): Promise<RunResult> {
  return run('podman', [...podmanGlobalArgs(hooksDirs), ...args], { timeoutMs });
}

/**
 * Run a command whose children outlive it (a created container inherits the
 * runtime's stdio): its stdin is /dev/null and its stdout/stderr go to files,
 * so run() does not wait for the container; the files are read back.
 */
async function runDetachedStdio(cmd: string, args: readonly string[], outFile: string, errFile: string, timeoutMs: number): Promise<RunResult> {
  await fsp.writeFile(outFile, '');
  await fsp.writeFile(errFile, '');
  const script = 'o=$1 e=$2; shift 2; exec "$@" </dev/null >>"$o" 2>>"$e"';
  const r = await run('sh', ['-c', script, 'sh', outFile, errFile, cmd, ...args], { timeoutMs });
  const [stdout, stderr] = await Promise.all([readText(outFile), readText(errFile)]);
  return { ...r, stdout: stdout + r.stdout, stderr: stderr + r.stderr + (r.timedOut ? `\n(timed out after ${timeoutMs} ms)` : '') };
}

async function readText(file: string): Promise<string> {
  try {
    return await fsp.readFile(file, 'utf8');
  } catch {
    return '';
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function errno(e: unknown): string | undefined {
  return isRecord(e) && typeof e.code === 'string' ? e.code : undefined;
}

// ---------------------------------------------------------------- rootfs

const ROOTFS_MARKER = '.osh-rootfs.json';
const ROOTFS_FORMAT = 1;
const rootfsBuilds = new Map<string, Promise<void>>();

/** Candidates for a statically linked busybox (Debian's busybox-static installs /bin/busybox). */
const BUSYBOX_PATHS = ['/bin/busybox', '/usr/bin/busybox'];

/** True if the ELF file has no PT_INTERP program header (i.e. needs no dynamic loader). */
async function isStaticElf(file: string): Promise<boolean> {
  const fh = await fsp.open(file, 'r');
  try {
    const hdr = Buffer.alloc(64);
    await fh.read(hdr, 0, 64, 0);
    if (hdr.readUInt32BE(0) !== 0x7f454c46 || hdr[4] !== 2 || hdr[5] !== 1) return false; // ELF64 LE only
    const phoff = Number(hdr.readBigUInt64LE(32));
    const phentsize = hdr.readUInt16LE(54);
    const phnum = hdr.readUInt16LE(56);
    const ph = Buffer.alloc(phentsize * phnum);
    await fh.read(ph, 0, ph.length, phoff);
    for (let i = 0; i < phnum; i++) if (ph.readUInt32LE(i * phentsize) === 3) return false; // PT_INTERP
    return true;
  } finally {
    await fh.close();
  }
}

async function findStaticBusybox(): Promise<string> {
  for (const p of BUSYBOX_PATHS) {
    try {
      if (await isStaticElf(p)) return p;
    } catch {
      // not there
    }
  }
  throw new Error(`no statically linked busybox in ${BUSYBOX_PATHS.join(', ')} (apt-get install busybox-static)`);
}

/**
 * A busybox-static rootfs in `dir`: /bin/busybox plus a symlink per applet,
 * /proc /sys /dev /tmp /out /etc (passwd, group, hosts) and the usual
 * directories. Idempotent and cached: built once per directory (a marker file
 * records the busybox it was built from), concurrent calls share one build.
 */
export function makeRootfs(dir: string): Promise<void> {
  const key = path.resolve(dir);
  let p = rootfsBuilds.get(key);
  if (!p) {
    p = buildRootfs(key);
    rootfsBuilds.set(key, p);
    p.catch(() => rootfsBuilds.delete(key));
  }
  return p;
}

async function buildRootfs(dir: string): Promise<void> {
  const busybox = await findStaticBusybox();
  const st = await fsp.stat(busybox);
  const stamp = JSON.stringify({ format: ROOTFS_FORMAT, busybox, size: st.size, mtimeMs: st.mtimeMs });
  const marker = path.join(dir, ROOTFS_MARKER);
  if ((await readText(marker)) === stamp) return;

  const list = await run(busybox, ['--list'], { timeoutMs: 10_000 });
  if (list.code !== 0) throw new Error(`${busybox} --list failed (code ${list.code}): ${list.stderr}`);
  const applets = list.stdout
    .split('\n')
    .map((s) => s.trim())
    .filter((s) => s !== '' && s !== 'busybox' && !s.includes('/'));

  for (const d of ['bin', 'sbin', 'usr/bin', 'usr/sbin', 'proc', 'sys', 'dev', 'tmp', 'out', 'etc', 'root', 'run', 'var/tmp']) {
    await fsp.mkdir(path.join(dir, d), { recursive: true });
  }
  await fsp.chmod(path.join(dir, 'tmp'), 0o1777);
  await fsp.chmod(path.join(dir, 'var/tmp'), 0o1777);

  // Copy then rename: never rewrite a busybox a running container may be executing.
  const target = path.join(dir, 'bin', 'busybox');
  const tmp = `${target}.${process.pid}.tmp`;
  await fsp.copyFile(busybox, tmp);
  await fsp.chmod(tmp, 0o755);
  await fsp.rename(tmp, target);

  for (const a of applets) {
    const link = path.join(dir, 'bin', a);
    try {
      await fsp.symlink('busybox', link);
    } catch (e) {
      if (errno(e) !== 'EEXIST') throw e;
      const cur = await fsp.readlink(link).catch(() => undefined);
      if (cur !== 'busybox') {
        await fsp.rm(link, { force: true });
        await fsp.symlink('busybox', link).catch((e2: unknown) => {
          if (errno(e2) !== 'EEXIST') throw e2;
        });
      }
    }
  }

  const files: Record<string, string> = {
    'etc/passwd': 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n',
    'etc/group': 'root:x:0:\nnogroup:x:65534:\n',
    'etc/hosts': '127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n',
  };
  for (const [rel, text] of Object.entries(files)) await fsp.writeFile(path.join(dir, rel), text);
  await fsp.writeFile(marker, stamp);
}

// ---------------------------------------------------------------- availability

const availability = new Map<RuntimeName, Promise<boolean>>();

/** Root, the runtime's binary answers `--version` (podman: and runc, conmon are there). Cached. */
export function runtimeAvailable(runtime: RuntimeName): Promise<boolean> {
  let p = availability.get(runtime);
  if (!p) {
    p = checkAvailable(runtime);
    availability.set(runtime, p);
  }
  return p;
}

async function checkAvailable(runtime: RuntimeName): Promise<boolean> {
  if (process.getuid?.() !== 0) return false;
  const ok = async (cmd: string, args: string[] = ['--version']): Promise<boolean> => (await run(cmd, args, { timeoutMs: 10_000 })).code === 0;
  switch (runtime) {
    case 'runc':
      return ok('runc');
    case 'crun':
      return (await ok('crun')) && (pureCgroup2() || (await ok('unshare')));
    case 'podman':
      return (await ok('podman')) && (await ok('runc')) && (await ok('conmon'));
  }
}

// ---------------------------------------------------------------- OCI config (minimal typing)

interface OciHook {
  path: string;
  args?: string[];
  env?: string[];
  timeout?: number;
}

interface OciMount {
  destination: string;
  type?: string;
  source?: string;
  options?: string[];
}

interface OciNamespace {
  type: string;
  path?: string;
}

interface OciProcess {
  terminal?: boolean;
  args?: string[];
  env?: string[];
  rlimits?: unknown[];
  [k: string]: unknown;
}

interface OciLinux {
  namespaces?: OciNamespace[];
  cgroupsPath?: string;
  [k: string]: unknown;
}

interface OciConfig {
  ociVersion: string;
  process: OciProcess;
  root: { path: string; readonly?: boolean };
  hostname?: string;
  mounts?: OciMount[];
  annotations?: Record<string, string>;
  hooks?: Record<string, OciHook[]>;
  linux?: OciLinux;
  [k: string]: unknown;
}

function asOciConfig(v: unknown, what: string): OciConfig {
  if (!isRecord(v) || typeof v.ociVersion !== 'string' || !isRecord(v.process) || !isRecord(v.root)) {
    throw new Error(`${what}: not an OCI runtime config`);
  }
  return v as OciConfig;
}

let baseSpecText: Promise<string> | undefined;

/** The text of `runc spec` (or `crun spec` without runc), generated once per process. */
function baseSpec(runtime: 'runc' | 'crun'): Promise<string> {
  if (!baseSpecText) {
    baseSpecText = (async () => {
      const dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'osh-spec-'));
      try {
        const gen = (await runtimeAvailable('runc')) ? 'runc' : runtime;
        const r = await run(gen, ['spec'], { cwd: dir, timeoutMs: 10_000 });
        if (r.code !== 0) throw new Error(`${gen} spec failed (code ${r.code}): ${r.stderr}`);
        return await fsp.readFile(path.join(dir, 'config.json'), 'utf8');
      } finally {
        await fsp.rm(dir, { recursive: true, force: true });
      }
    })();
    baseSpecText.catch(() => (baseSpecText = undefined));
  }
  return baseSpecText;
}

function mergeEnv(base: readonly string[], extra: readonly string[]): string[] {
  const out = new Map<string, string>();
  for (const kv of [...base, ...extra]) {
    const i = kv.indexOf('=');
    out.set(i < 0 ? kv : kv.slice(0, i), kv);
  }
  return [...out.values()];
}

function toOciHook(h: HookCommand): OciHook {
  const o: OciHook = { path: h.path, args: [...h.args] };
  if (h.env !== undefined) o.env = [...h.env];
  if (h.timeout !== undefined) o.timeout = h.timeout;
  return o;
}

async function buildConfig(runtime: 'runc' | 'crun', spec: ContainerSpec): Promise<OciConfig> {
  const c = asOciConfig(JSON.parse(await baseSpec(runtime)), 'runc spec');
  c.root = { path: path.resolve(spec.rootfs), readonly: false };
  c.hostname = spec.id.slice(0, 63);
  c.process.terminal = false;
  c.process.args = [...spec.args];
  c.process.env = mergeEnv(c.process.env ?? [], spec.env ?? []);
  if (runtime === 'crun') delete c.process.rlimits;
  if (spec.annotations) c.annotations = { ...(c.annotations ?? {}), ...spec.annotations };
  if (spec.outDir !== undefined) {
    c.mounts = [...(c.mounts ?? []), { destination: '/out', type: 'bind', source: path.resolve(spec.outDir), options: ['rbind', 'rw'] }];
  }
  const linux: OciLinux = c.linux ?? {};
  const namespaces = (linux.namespaces ?? []).filter((ns) => ns.type !== 'network');
  namespaces.push({ type: 'network' }); // always a new, empty netns
  linux.namespaces = namespaces;
  linux.cgroupsPath = `/osh-test/${runtime}-${spec.id}`;
  c.linux = linux;
  const hooks: Record<string, OciHook[]> = {};
  for (const stage of ['createRuntime', 'prestart', 'poststop'] as const) {
    const list = spec.hooks?.[stage];
    if (list && list.length > 0) hooks[stage] = list.map(toOciHook);
  }
  if (Object.keys(hooks).length > 0) c.hooks = hooks;
  else delete c.hooks;
  return c;
}

// ---------------------------------------------------------------- bundles

interface BundleOwner {
  runtime: RuntimeName;
  pid: number;
}

/**
 * Make a fresh os.tmpdir()/osh-bundles/<id>. A leftover one is reused only if
 * its container no longer exists (a crashed earlier run); a live one throws.
 */
async function freshBundleDir(runtime: RuntimeName, id: string): Promise<string> {
  const dir = path.join(BUNDLES_DIR, id);
  await fsp.mkdir(BUNDLES_DIR, { recursive: true, mode: 0o700 });
  try {
    await fsp.mkdir(dir, { mode: 0o700 });
  } catch (e) {
    if (errno(e) !== 'EEXIST') throw e;
    const prev = await readOwner(dir);
    if (prev && (await containerExists(prev.runtime, id))) {
      throw new Error(`container ${id} already exists under ${prev.runtime} (bundle ${dir}); use unique ids and stop() containers`);
    }
    await fsp.rm(dir, { recursive: true, force: true });
    await fsp.mkdir(dir, { mode: 0o700 });
  }
  const owner: BundleOwner = { runtime, pid: process.pid };
  await fsp.writeFile(path.join(dir, 'osh-owner.json'), JSON.stringify(owner));
  return dir;
}

async function readOwner(dir: string): Promise<BundleOwner | undefined> {
  try {
    const v: unknown = JSON.parse(await fsp.readFile(path.join(dir, 'osh-owner.json'), 'utf8'));
    if (isRecord(v) && (v.runtime === 'runc' || v.runtime === 'crun' || v.runtime === 'podman')) {
      return { runtime: v.runtime, pid: typeof v.pid === 'number' ? v.pid : 0 };
    }
  } catch {
    // none
  }
  return undefined;
}

// ---------------------------------------------------------------- queries

/** Ids (runc/crun) or names (podman) of this helper's containers that exist now (any status). */
export async function listContainers(runtime: RuntimeName): Promise<string[]> {
  let r: RunResult;
  if (runtime === 'podman') {
    r = await podman(['ps', '-a', '--format', '{{.Names}}']);
  } else {
    await fsp.mkdir(STATE_ROOT[runtime], { recursive: true, mode: 0o700 });
    r = await rt(runtime, ['list', '-q']);
  }
  if (r.code !== 0) throw new Error(`${runtime} list failed (code ${r.code}): ${r.stderr}`);
  return r.stdout
    .split('\n')
    .map((s) => s.trim())
    .filter((s) => s !== '');
}

export async function containerExists(runtime: RuntimeName, id: string): Promise<boolean> {
  return (await listContainers(runtime)).includes(id);
}

/** `state` of a runc/crun container, undefined if it does not exist. */
async function ociState(runtime: 'runc' | 'crun', id: string): Promise<Record<string, unknown> | undefined> {
  const r = await rt(runtime, ['state', id], 10_000);
  if (r.code !== 0) return undefined;
  try {
    const v: unknown = JSON.parse(r.stdout);
    return isRecord(v) ? v : undefined;
  } catch {
    return undefined;
  }
}

// ---------------------------------------------------------------- start

function validate(runtime: RuntimeName, spec: ContainerSpec): void {
  if (!ID_RE.test(spec.id)) throw new Error(`bad container id '${spec.id}'`);
  if (spec.args.length === 0) throw new Error('spec.args is empty');
  if (runtime !== 'podman') {
    if (spec.hooksDir !== undefined) throw new Error('spec.hooksDir is podman-only (use spec.hooks)');
    if (spec.network !== undefined && spec.network !== 'none') throw new Error(`network '${spec.network}' is podman-only`);
  }
}

/**
 * Start a container detached. Resolves once the runtime's commands returned.
 * A failed start returns the failing command's code and the runtime's stderr
 * and leaves no container behind.
 */
export async function startContainer(runtime: RuntimeName, spec: ContainerSpec): Promise<StartResult> {
  validate(runtime, spec);
  return runtime === 'podman' ? startPodman(spec) : startOci(runtime, spec);
}

async function startOci(runtime: 'runc' | 'crun', spec: ContainerSpec): Promise<StartResult> {
  const timeoutMs = spec.timeoutMs ?? 60_000;
  await fsp.mkdir(STATE_ROOT[runtime], { recursive: true, mode: 0o700 });
  if (await ociState(runtime, spec.id)) {
    throw new Error(`${runtime} container ${spec.id} already exists in ${STATE_ROOT[runtime]}`);
  }
  const bundle = await freshBundleDir(runtime, spec.id);
  const config = await buildConfig(runtime, spec);
  await fsp.writeFile(path.join(bundle, 'config.json'), JSON.stringify(config, null, 2));
  const pidFile = path.join(bundle, 'container.pid');

  const [cmd, argv] = runtimeCmd(runtime, ['create', '--bundle', bundle, '--pid-file', pidFile, spec.id]);
  // The container's stdio: these two files (it inherits the runtime's).
  const created = await runDetachedStdio(cmd, argv, path.join(bundle, 'stdout.log'), path.join(bundle, 'stderr.log'), timeoutMs);
  let stdout = created.stdout;
  let stderr = created.stderr;
  const fail = async (r: RunResult): Promise<StartResult> => {
    await destroyOci(runtime, spec.id, bundle);
    return { code: r.code === 0 ? 1 : r.code, stdout, stderr };
  };
  if (created.code !== 0) return fail(created);

  const started = await rt(runtime, ['start', spec.id], timeoutMs);
  stdout += started.stdout;
  stderr += started.stderr;
  if (started.code !== 0) return fail(started);

  const pidText = (await readText(pidFile)).trim();
  let pid = /^\d+$/.test(pidText) ? Number(pidText) : NaN;
  if (!Number.isFinite(pid)) {
    const st = await ociState(runtime, spec.id);
    pid = typeof st?.pid === 'number' ? st.pid : 0;
  }
  let stopping: Promise<void> | undefined;
  const container: RunningContainer = {
    runtime,
    id: spec.id,
    pid,
    bundle,
    stop(): Promise<void> {
      stopping ??= destroyOci(runtime, spec.id, bundle);
      return stopping;
    },
  };
  return { code: 0, stdout, stderr, container };
}

/**
 * SIGKILL, wait until stopped, `delete` (which runs the poststop hooks), then
 * remove the bundle. Tolerates a container that is already gone.
 */
async function destroyOci(runtime: 'runc' | 'crun', id: string, bundle: string): Promise<void> {
  const errors: string[] = [];
  let st = await ociState(runtime, id);
  if (st) {
    if (st.status !== 'stopped') {
      await rt(runtime, ['kill', id, 'KILL'], 10_000);
      const deadline = Date.now() + 10_000;
      while (st && st.status !== 'stopped' && Date.now() < deadline) {
        await sleep(20);
        st = await ociState(runtime, id);
      }
    }
    if (st) {
      const del = await rt(runtime, ['delete', id], 60_000);
      if (del.code !== 0 && (await ociState(runtime, id))) {
        const force = await rt(runtime, ['delete', '--force', id], 60_000);
        if (force.code !== 0) errors.push(`${runtime} delete --force ${id}: ${force.stderr}`);
      }
    }
  }
  await fsp.rm(bundle, { recursive: true, force: true });
  if (errors.length > 0) throw new Error(errors.join('\n'));
}

// ---------------------------------------------------------------- podman

const PODMAN_STAGES = ['createRuntime', 'prestart', 'poststop'] as const;

async function writePodmanHooks(dir: string, hooks: ContainerHooks): Promise<number> {
  let n = 0;
  for (const stage of PODMAN_STAGES) {
    for (const h of hooks[stage] ?? []) {
      const doc = { version: '1.0.0', hook: toOciHook(h), when: { always: true }, stages: [stage] };
      // hooks.d files run in name order: keep the order given.
      await fsp.writeFile(path.join(dir, `${String(n).padStart(3, '0')}-${stage}.json`), JSON.stringify(doc));
      n++;
    }
  }
  return n;
}

async function startPodman(spec: ContainerSpec): Promise<StartResult> {
  const timeoutMs = spec.timeoutMs ?? 60_000;
  for (const d of ['root', 'runroot', 'tmp']) await fsp.mkdir(path.join(PODMAN_DIR, d), { recursive: true, mode: 0o700 });
  if (await containerExists('podman', spec.id)) throw new Error(`podman container ${spec.id} already exists in ${PODMAN_DIR}`);
  const work = await freshBundleDir('podman', spec.id);

  const hooksDirs: string[] = [];
  if (spec.hooksDir !== undefined) hooksDirs.push(path.resolve(spec.hooksDir));
  if (spec.hooks) {
    const d = path.join(work, 'hooks.d');
    await fsp.mkdir(d);
    if ((await writePodmanHooks(d, spec.hooks)) > 0) hooksDirs.push(d);
  }

  const args = [
    'run', '-d',
    '--name', spec.id,
    '--network', spec.network ?? 'none',
    '--ulimit', 'nofile=1024:1024',
    '--ulimit', 'nproc=1024:1024',
  ];
  for (const [k, v] of Object.entries(spec.annotations ?? {})) args.push('--annotation', `${k}=${v}`);
  for (const e of spec.env ?? []) args.push('--env', e);
  if (spec.outDir !== undefined) args.push('--volume', `${path.resolve(spec.outDir)}:/out:rw`);
  args.push('--rootfs', path.resolve(spec.rootfs), ...spec.args);

  const r = await runDetachedStdio('podman', [...podmanGlobalArgs(hooksDirs), ...args], path.join(work, 'podman.out'), path.join(work, 'podman.err'), timeoutMs);
  if (r.code !== 0) {
    await destroyPodman(spec.id, work);
    return { code: r.code, stdout: r.stdout, stderr: r.stderr };
  }

  const insp = await podman(['inspect', '--format', '{{.State.Pid}} {{.Id}} {{.OCIConfigPath}}', spec.id], timeoutMs);
  const m = /^(\d+) ([0-9a-f]{64}) (\S+)\s*$/.exec(insp.stdout);
  if (insp.code !== 0 || !m) {
    await destroyPodman(spec.id, work);
    return { code: insp.code === 0 ? 1 : insp.code, stdout: r.stdout, stderr: `${r.stderr}podman inspect ${spec.id}: ${insp.stderr}${insp.stdout}` };
  }
  let stopping: Promise<void> | undefined;
  const container: RunningContainer = {
    runtime: 'podman',
    id: spec.id,
    pid: Number(m[1]),
    bundle: path.dirname(m[3] ?? ''),
    podmanId: m[2] ?? '',
    stop(): Promise<void> {
      stopping ??= destroyPodman(spec.id, work);
      return stopping;
    },
  };
  return { code: 0, stdout: r.stdout, stderr: r.stderr, container };
}

/**
 * `podman rm -f -t 0`: podman deletes the container from runc and runs the
 * poststop hooks (saved at creation) before it returns; if the container had
 * already exited, conmon's `podman container cleanup` has run them.
 */
async function destroyPodman(name: string, work: string): Promise<void> {
  const r = await podman(['rm', '--force', '--time', '0', name], 60_000);
  await fsp.rm(work, { recursive: true, force: true });
  if (r.code !== 0 && !/no such container/i.test(r.stderr) && (await containerExists('podman', name))) {
    throw new Error(`podman rm -f ${name} failed (code ${r.code}): ${r.stderr}`);
  }
}
