// Test helper: real rootless podman, run as an unprivileged user the test creates, with OCI hooks
// from a --hooks-dir. For the e2e tests of what a hook can (and cannot) do when the container
// manager is not root.
//
// What rootless podman 4.3.1 needed here (measured, see FIELD-NOTES "Rootless podman"):
// - a user with /etc/subuid and /etc/subgid ranges (Debian's useradd allocates 65536 of each
//   from login.defs; a user made without them gets one with usermod --add-subuids);
// - XDG_RUNTIME_DIR: /run/user/UID, owned by the user, mode 0700 (no systemd/logind here to make
//   it); podman keeps its runroot, runc's state and the pause process's pid file there;
// - `--runtime runc --cgroup-manager cgroupfs` (crun refuses the hybrid cgroups) and
//   `--network none` (slirp4netns fails: /dev/net/tun is 0600 here);
// - a rootfs owned by the user (`--rootfs DIR`: no registry is reachable).
// Not needed: default_ulimits. Rootless podman gives containers the caller's own limits, so the
// missing CAP_SYS_RESOURCE does not bite (`podman run` and `podman pod create` both worked
// without a containers.conf). The storage driver podman picks for a new user here is vfs; it is
// pinned (--storage-driver vfs) so bundles are always <home>/.local/share/containers/storage/
// vfs-containers/<id>/userdata.
//
// Every command runs in a clean environment (`env -i` after runuser: nothing of root's, no
// NODE_OPTIONS) with the user's home as its cwd, and is bounded in time; a timeout kills the
// whole process group. Needs root.
//
// podman leaves a pause process (`catatonit -P`) per user that holds the user namespace; it
// survives between runs by design and removeUser() kills it with the user's other processes.

import * as fs from 'node:fs';
import { promises as fsp } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { type HookCommand, makeRootfs } from './containers';
import { type RunResult, run } from './run';

export interface RootlessUser {
  name: string;
  uid: number;
  gid: number;
  home: string;
  /** XDG_RUNTIME_DIR: /run/user/UID (0700, the user's). */
  runtimeDir: string;
  /** The user's containers.conf (passed as CONTAINERS_CONF). */
  containersConf: string;
  /** The user's subordinate uid range (/etc/subuid), [start, start + count). */
  subuid: { start: number; count: number };
}

export interface RootlessPodmanOptions {
  /** Extra environment for podman, over the clean one (undefined removes a variable). */
  env?: Record<string, string | undefined>;
  /** Default 120000 ms. */
  timeoutMs?: number;
  /** A hooks.d directory (passed as --hooks-dir; it and its files must be readable by the user). */
  hooksDir?: string;
}

/** Global podman options of this helper (before the subcommand). */
export function rootlessGlobalArgs(hooksDir?: string): string[] {
  const args = ['--runtime', 'runc', '--cgroup-manager', 'cgroupfs', '--storage-driver', 'vfs', '--events-backend', 'file'];
  if (hooksDir !== undefined) args.push('--hooks-dir', path.resolve(hooksDir));
  return args;
}

/** Where podman keeps a container's bundle (and containers.json) for this user: vfs storage. */
export function rootlessStorage(user: RootlessUser): string {
  return path.join(user.home, '.local', 'share', 'containers', 'storage');
}

// ---------------------------------------------------------------- users

const CMD_TIMEOUT_MS = 30_000;
const SUB_COUNT = 65536;
/** login.defs SUB_UID_MIN on Debian. */
const SUB_MIN = 100_000;
/** Only users whose names start with this are ever made or removed here: never a real account. */
const NAME_RE = /^osh[a-z0-9_-]{1,28}$/;

const ensuring = new Map<string, Promise<RootlessUser>>();

/**
 * The test user `name` (osh...), made if missing: useradd -m, shell /bin/sh, a 65536 subuid and
 * subgid range, /run/user/UID and a containers.conf. Idempotent; concurrent calls share one.
 */
export function ensureUser(name: string): Promise<RootlessUser> {
  let p = ensuring.get(name);
  if (!p) {
    p = makeUser(name);
    ensuring.set(name, p);
    p.catch(() => ensuring.delete(name));
  }
  return p;
}

async function makeUser(name: string): Promise<RootlessUser> {
  checkName(name);
  let pw = await getpwnam(name);
  const fresh = !pw;
  if (!pw) {
    const r = await run('useradd', ['-m', '-s', '/bin/sh', '-c', 'oci-slaac-hook rootless test user', name], { timeoutMs: CMD_TIMEOUT_MS });
    pw = await getpwnam(name);
    if (!pw) throw new Error(`useradd ${name} failed (code ${r.code}): ${r.stderr}`);
  }
  const { uid, gid, home } = pw;

  // Debian's useradd allocates the ranges itself (SUB_UID_COUNT in login.defs); a user made some
  // other way may have none, and rootless podman then runs with a single-uid map (or not at all).
  let subuid = await subRange('/etc/subuid', name, uid);
  const subgid = await subRange('/etc/subgid', name, uid);
  if (!subuid || !subgid) {
    const start = await freeSubStart();
    const range = `${start}-${start + SUB_COUNT - 1}`;
    const args = [...(subuid ? [] : ['--add-subuids', range]), ...(subgid ? [] : ['--add-subgids', range]), name];
    const r = await run('usermod', args, { timeoutMs: CMD_TIMEOUT_MS });
    if (r.code !== 0) throw new Error(`usermod ${args.join(' ')} failed (code ${r.code}): ${r.stderr}`);
    subuid = await subRange('/etc/subuid', name, uid);
    if (!subuid) throw new Error(`no /etc/subuid range for ${name} after usermod`);
  }

  // No logind here: make the runtime dir. A new user may reuse the uid of a removed one: never
  // let it inherit that one's podman runroot.
  const runtimeDir = `/run/user/${uid}`;
  if (fresh) await fsp.rm(runtimeDir, { recursive: true, force: true });
  await fsp.mkdir('/run/user', { recursive: true, mode: 0o755 });
  await fsp.mkdir(runtimeDir, { recursive: true, mode: 0o700 });
  await fsp.chown(runtimeDir, uid, gid);
  await fsp.chmod(runtimeDir, 0o700);

  // CONTAINERS_CONF makes podman read this file only: the host's /etc/containers/containers.conf
  // (or anything left in ~/.config) cannot change the tests' podman.
  const confDir = path.join(home, '.config', 'containers');
  await mkdirOwned(confDir, uid, gid, home);
  const containersConf = path.join(confDir, 'osh-containers.conf');
  await fsp.writeFile(containersConf, '# written by vm/lab/rootless.ts\n[engine]\nevents_logger = "file"\n');
  await fsp.chown(containersConf, uid, gid);

  return { name, uid, gid, home, runtimeDir, containersConf, subuid };
}

/**
 * Remove the test user: kill its processes (podman's pause process, conmon, containers: host uid
 * = the user's or in its subuid range), userdel -r, and remove its home (the vfs storage is
 * there), runtime dir and subordinate ranges. Missing user: nothing to do.
 */
export async function removeUser(name: string): Promise<void> {
  checkName(name);
  ensuring.delete(name);
  const pw = await getpwnam(name);
  if (!pw) return;
  const sub = await subRange('/etc/subuid', name, pw.uid);
  await killUserProcesses(pw.uid, sub);

  const r = await run('userdel', ['-r', name], { timeoutMs: CMD_TIMEOUT_MS });
  if (await getpwnam(name)) throw new Error(`userdel -r ${name} failed (code ${r.code}): ${r.stderr}`);
  // userdel -r leaves the home if it failed part-way ("not owned by"...): it is ours to remove.
  if (pw.home.startsWith('/home/') && path.basename(pw.home) === name) await fsp.rm(pw.home, { recursive: true, force: true });
  await fsp.rm(`/run/user/${pw.uid}`, { recursive: true, force: true });
  // Debian's userdel removes the subordinate ranges too; make sure (usermod cannot, the user is gone).
  for (const file of ['/etc/subuid', '/etc/subgid']) await dropSubEntries(file, name);
}

/** SIGKILL every process whose real uid is the user's or in its subuid range, until none is left (10 s). */
async function killUserProcesses(uid: number, sub: { start: number; count: number } | undefined): Promise<void> {
  const ours = (u: number): boolean => u === uid || (sub !== undefined && u >= sub.start && u < sub.start + sub.count);
  const deadline = Date.now() + 10_000;
  for (;;) {
    const pids: number[] = [];
    for (const ent of await fsp.readdir('/proc')) {
      if (!/^\d+$/.test(ent)) continue;
      const status = await fsp.readFile(`/proc/${ent}/status`, 'utf8').catch(() => '');
      const m = /^Uid:\s+(\d+)/m.exec(status);
      if (m && ours(Number(m[1])) && !/^State:\s+Z/m.test(status)) pids.push(Number(ent));
    }
    if (pids.length === 0) return;
    if (Date.now() > deadline) throw new Error(`processes of uid ${uid} survive SIGKILL: ${pids.join(' ')}`);
    for (const pid of pids) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // gone already
      }
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}

function checkName(name: string): void {
  if (!NAME_RE.test(name)) throw new Error(`test user name ${JSON.stringify(name)}: must match ${NAME_RE} (never a real account)`);
}

interface Passwd {
  uid: number;
  gid: number;
  home: string;
}

async function getpwnam(name: string): Promise<Passwd | undefined> {
  const r = await run('getent', ['passwd', name], { timeoutMs: 10_000 });
  if (r.code !== 0) return undefined;
  const f = r.stdout.trim().split(':');
  if (f.length < 7 || f[0] !== name) return undefined;
  return { uid: Number(f[2]), gid: Number(f[3]), home: f[5] ?? '' };
}

async function readLines(file: string): Promise<string[]> {
  try {
    return (await fsp.readFile(file, 'utf8')).split('\n').filter((l) => l.trim() !== '');
  } catch {
    return [];
  }
}

/** The user's first range in /etc/subuid or /etc/subgid (by name or uid). */
async function subRange(file: string, name: string, uid: number): Promise<{ start: number; count: number } | undefined> {
  for (const l of await readLines(file)) {
    const [who, start, count] = l.split(':');
    if ((who === name || who === String(uid)) && Number(count) > 0) return { start: Number(start), count: Number(count) };
  }
  return undefined;
}

/** The first id above every range of /etc/subuid and /etc/subgid (and SUB_UID_MIN). */
async function freeSubStart(): Promise<number> {
  let end = SUB_MIN;
  for (const file of ['/etc/subuid', '/etc/subgid']) {
    for (const l of await readLines(file)) {
      const [, start, count] = l.split(':');
      const e = Number(start) + Number(count);
      if (Number.isFinite(e) && e > end) end = e;
    }
  }
  return end;
}

async function dropSubEntries(file: string, name: string): Promise<void> {
  const lines = await readLines(file);
  const kept = lines.filter((l) => l.split(':')[0] !== name);
  if (kept.length === lines.length) return;
  const tmp = `${file}.osh-${process.pid}`;
  await fsp.writeFile(tmp, kept.map((l) => `${l}\n`).join(''), { mode: 0o644 });
  await fsp.rename(tmp, file);
}

/** mkdir -p, the created directories (below `top`) owned by the user. */
async function mkdirOwned(dir: string, uid: number, gid: number, top: string): Promise<void> {
  await fsp.mkdir(dir, { recursive: true });
  for (let d = dir; d.startsWith(`${top}/`); d = path.dirname(d)) await fsp.chown(d, uid, gid);
}

// ---------------------------------------------------------------- running podman

/**
 * `podman GLOBAL... ARGS` as the user, in a clean environment. stdout/stderr go through files
 * opened by root (a `run -d` container's conmon inherits them and would hold pipes open), read
 * back after podman exits. A timeout SIGKILLs runuser, podman and their group (not conmon, which
 * has a session of its own).
 */
export async function rootlessPodman(user: RootlessUser, args: readonly string[], opts: RootlessPodmanOptions = {}): Promise<RunResult> {
  const env: Record<string, string> = {
    HOME: user.home,
    USER: user.name,
    LOGNAME: user.name,
    PATH: '/usr/local/bin:/usr/bin:/bin:/usr/local/sbin:/usr/sbin:/sbin',
    XDG_RUNTIME_DIR: user.runtimeDir,
    CONTAINERS_CONF: user.containersConf,
  };
  for (const [k, v] of Object.entries(opts.env ?? {})) {
    if (v === undefined) delete env[k];
    else env[k] = v;
  }
  const timeoutMs = opts.timeoutMs ?? 120_000;
  const io = await fsp.mkdtemp(path.join(os.tmpdir(), 'osh-rl-io-'));
  const out = path.join(io, 'out');
  const err = path.join(io, 'err');
  try {
    const script = 'o=$1 e=$2; shift 2; exec "$@" </dev/null >"$o" 2>"$e"';
    const argv = ['runuser', '-u', user.name, '--', 'env', '-i', ...Object.entries(env).map(([k, v]) => `${k}=${v}`), 'podman', ...rootlessGlobalArgs(opts.hooksDir), ...args];
    const r = await run('sh', ['-c', script, 'sh', out, err, ...argv], { baseEnv: { PATH: env.PATH }, cwd: user.home, timeoutMs, detached: true });
    const [stdout, stderr] = await Promise.all([fsp.readFile(out, 'utf8').catch(() => ''), fsp.readFile(err, 'utf8').catch(() => '')]);
    return { ...r, stdout: stdout + r.stdout, stderr: stderr + r.stderr + (r.timedOut ? `\n(timed out after ${timeoutMs} ms)` : '') };
  } finally {
    await fsp.rm(io, { recursive: true, force: true });
  }
}

/** Run a command as the user (clean environment, bounded): e.g. to check what it can reach. */
export function asUser(user: RootlessUser, cmd: string, args: readonly string[] = [], timeoutMs = CMD_TIMEOUT_MS): Promise<RunResult> {
  return run('runuser', ['-u', user.name, '--', 'env', '-i', `HOME=${user.home}`, 'PATH=/usr/bin:/bin:/usr/sbin:/sbin', cmd, ...args], {
    baseEnv: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin' },
    cwd: user.home,
    timeoutMs,
  });
}

// ---------------------------------------------------------------- files the user needs

/**
 * A busybox rootfs (makeRootfs) in `dir`, owned by the user: rootless podman mounts it inside the
 * user's namespace, where root-owned files are nobody's. `dir` must be reachable by the user
 * (e.g. under its home); checked.
 */
export async function userRootfs(user: RootlessUser, dir: string): Promise<string> {
  const abs = path.resolve(dir);
  await makeRootfs(abs);
  const r = await run('chown', ['-R', `${user.uid}:${user.gid}`, abs], { timeoutMs: CMD_TIMEOUT_MS });
  if (r.code !== 0) throw new Error(`chown -R ${user.uid}:${user.gid} ${abs} failed (code ${r.code}): ${r.stderr}`);
  const check = await asUser(user, 'test', ['-x', path.join(abs, 'bin', 'busybox')]);
  if (check.code !== 0) throw new Error(`${user.name} cannot reach ${abs}/bin/busybox: put the rootfs where the user can (e.g. under ${user.home})`);
  return abs;
}

/** Throws unless every directory from / down to `dir` is searchable by others (o+x). */
export async function assertWorldReachable(dir: string): Promise<void> {
  for (let d = path.resolve(dir); ; d = path.dirname(d)) {
    const st = await fsp.stat(d);
    if ((st.mode & 0o001) === 0) throw new Error(`${d} is not searchable by other users (mode ${(st.mode & 0o7777).toString(8)}): ${dir} is out of the test user's reach`);
    if (d === path.dirname(d)) return;
  }
}

export interface InstalledHook {
  /** The copy's root: <root>/dist/oci-slaac-hook.js and <root>/build/Release/osh_native.node. */
  root: string;
  /** node runs this: <root>/dist/oci-slaac-hook.js. */
  entry: string;
  addon: string;
}

/**
 * Copy the built hook (dist/oci-slaac-hook*.js + its code cache, build/Release/osh_native.node)
 * from the checkout `rootDir` into `destDir`, world-readable (dirs 0755, files 0644; the entry
 * 0755), in the layout the bundle expects: it loads <dist>/../build/Release/osh_native.node
 * (runtime/system/native.ts). Needed because the checkout may be where the test user cannot
 * read (e.g. under /root); the hook runs as root *inside the user's namespace*, i.e. as the
 * user on the host, so root-owned files must be readable by others. `destDir` and its parents
 * must be searchable by others (checked). Run `npm run build` first: nothing is built here.
 * `rootDir` is the checkout (REPO_ROOT from ./run).
 */
export async function installHookForUser(rootDir: string, destDir: string): Promise<InstalledHook> {
  const dist = path.join(rootDir, 'dist');
  const addonSrc = path.join(rootDir, 'build', 'Release', 'osh_native.node');
  const files = (await fsp.readdir(dist).catch(() => [] as string[])).filter((f) => f.startsWith('oci-slaac-hook'));
  if (!files.includes('oci-slaac-hook.js') || !files.includes('oci-slaac-hook.main.js') || !fs.existsSync(addonSrc)) {
    throw new Error(`${rootDir}: dist/oci-slaac-hook.js, dist/oci-slaac-hook.main.js or build/Release/osh_native.node is missing (npm run build)`);
  }
  const root = path.resolve(destDir);
  const destDist = path.join(root, 'dist');
  const destRel = path.join(root, 'build', 'Release');
  for (const d of [root, destDist, path.join(root, 'build'), destRel]) {
    await fsp.mkdir(d, { recursive: true });
    await fsp.chmod(d, 0o755);
  }
  for (const f of files) {
    const to = path.join(destDist, f);
    await fsp.copyFile(path.join(dist, f), to);
    await fsp.chmod(to, f === 'oci-slaac-hook.js' ? 0o755 : 0o644);
  }
  const addon = path.join(destRel, 'osh_native.node');
  await fsp.copyFile(addonSrc, addon);
  await fsp.chmod(addon, 0o644);
  await assertWorldReachable(root);
  return { root, entry: path.join(destDist, 'oci-slaac-hook.js'), addon };
}

export type HookStage = 'createRuntime' | 'createContainer' | 'startContainer' | 'prestart' | 'poststart' | 'poststop';

/**
 * Write hooks.d 1.0.0 files (`when: always`) into `dir` (made 0755, files 0644; it must be
 * reachable by the user: checked) for podman's --hooks-dir. Files are named NNN-<stage>.json:
 * podman runs a stage's hooks in file-name order, which is the order given. Existing *.json
 * files in `dir` are removed first. Returns `dir`.
 */
export async function hooksDirFor(dir: string, hooks: Partial<Record<HookStage, HookCommand | HookCommand[]>>): Promise<string> {
  const abs = path.resolve(dir);
  await fsp.mkdir(abs, { recursive: true });
  await fsp.chmod(abs, 0o755);
  for (const f of await fsp.readdir(abs)) if (f.endsWith('.json')) await fsp.rm(path.join(abs, f), { force: true });
  let n = 0;
  for (const [stage, v] of Object.entries(hooks)) {
    for (const h of v === undefined ? [] : Array.isArray(v) ? v : [v]) {
      const hook: Record<string, unknown> = { path: h.path, args: [...h.args] };
      if (h.env !== undefined) hook.env = [...h.env];
      if (h.timeout !== undefined) hook.timeout = h.timeout;
      const file = path.join(abs, `${String(n++).padStart(3, '0')}-${stage}.json`);
      await fsp.writeFile(file, `${JSON.stringify({ version: '1.0.0', hook, when: { always: true }, stages: [stage] }, null, 2)}\n`);
      await fsp.chmod(file, 0o644);
    }
  }
  await assertWorldReachable(abs);
  return abs;
}
