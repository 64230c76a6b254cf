// The rootless harness (vm/lab/rootless.ts) itself: a real rootless podman, run by a test user,
// runs hooks from our --hooks-dir. The hooks here are a tiny shell script (not the product) that
// logs what a hook sees in rootless podman: its uid, the uid map of its user namespace, its
// netns, whether the container's netns opens, and the OCI state on stdin. Then a prestart hook
// that refuses: what podman reports, and that nothing is left. Everything is removed at the end
// (the user, its home and storage, the files).
import t from 'tap';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { run } from '../../vm/lab/run';
import { runtimeAvailable } from '../../vm/lab/containers';
import { type RootlessUser, ensureUser, hooksDirFor, removeUser, rootlessPodman, rootlessStorage, userRootfs } from '../../vm/lab/rootless';

const USER = 'oshrlh';
// World-searchable: the hooks run as the user on the host (root only inside its namespace).
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'osh-rlh-'));
fs.chmodSync(work, 0o755);
const hookScript = path.join(work, 'log-hook.sh');
const refuseScript = path.join(work, 'refuse-hook.sh');
const logFile = path.join(work, 'hook.log');
const HOOK_ENV = ['PATH=/usr/sbin:/usr/bin:/sbin:/bin'];

// One block per call: the stage, what the hook is, and its stdin. The container's netns is opened
// (fd 3 in a subshell) from the pid in the state, as a hook that moves a link there would need.
const LOG_HOOK = `#!/bin/sh
state=$(cat)
pid=$(printf '%s' "$state" | sed -n 's/.*"pid":\\([0-9][0-9]*\\).*/\\1/p')
ctr=none
if [ -n "$pid" ]; then
  if (exec 3</proc/"$pid"/ns/net) 2>/dev/null; then ctr="open $(readlink /proc/"$pid"/ns/net)"; else ctr=fail; fi
fi
{
  echo "stage=$2"
  echo "uid=$(id -u)"
  echo "uid_map=$(head -n 1 /proc/self/uid_map)"
  echo "netns=$(readlink /proc/self/ns/net)"
  echo "ctr_netns=$ctr"
  echo "state=$state"
} >> "$1"
`;
const REFUSE_HOOK = '#!/bin/sh\necho REFUSED-TEST >&2\nexit 1\n';

let user: RootlessUser;
let rootfs: string;
let skip: string | false = false;

t.before(async () => {
  if (process.getuid?.() !== 0) {
    skip = 'needs root';
    return;
  }
  if (!(await runtimeAvailable('podman')) || (await run('sh', ['-c', 'command -v runuser && command -v newuidmap'])).code !== 0) {
    skip = 'podman, runc, conmon, runuser or newuidmap (uidmap) is missing';
    return;
  }
  // A user left by an earlier, interrupted run would bring its old storage: start from none.
  await removeUser(USER);
  user = await ensureUser(USER);
  rootfs = await userRootfs(user, path.join(user.home, 'rootfs'));
  fs.writeFileSync(hookScript, LOG_HOOK, { mode: 0o755 });
  fs.writeFileSync(refuseScript, REFUSE_HOOK, { mode: 0o755 });
  fs.writeFileSync(logFile, '', { mode: 0o644 });
  fs.chownSync(logFile, user.uid, user.gid);
});

t.teardown(async () => {
  if (!skip) await removeUser(USER);
  fs.rmSync(work, { recursive: true, force: true });
});

interface Logged {
  stage: string;
  uid: string;
  uid_map: string;
  netns: string;
  ctr_netns: string;
  state: Record<string, unknown>;
}

function readLog(): Logged[] {
  return fs
    .readFileSync(logFile, 'utf8')
    .split(/^(?=stage=)/m)
    .filter((b) => b.trim() !== '')
    .map((b) => {
      const kv: Record<string, string> = {};
      for (const l of b.split('\n')) {
        const i = l.indexOf('=');
        if (i > 0) kv[l.slice(0, i)] = l.slice(i + 1);
      }
      return { stage: kv.stage ?? '', uid: kv.uid ?? '', uid_map: (kv.uid_map ?? '').trim().split(/\s+/).join(' '), netns: kv.netns ?? '', ctr_netns: kv.ctr_netns ?? '', state: JSON.parse(kv.state ?? '{}') as Record<string, unknown> };
    });
}

t.test('rootless podman runs our hooks.d hooks at prestart and poststop, in the user namespace', async (t) => {
  if (skip) return t.pass(`skipped: ${skip}`);
  t.setTimeout(300_000);
  const hooksDir = await hooksDirFor(path.join(work, 'hooks.d'), {
    prestart: { path: hookScript, args: ['log-hook', logFile, 'prestart'], env: HOOK_ENV, timeout: 30 },
    poststop: { path: hookScript, args: ['log-hook', logFile, 'poststop'], env: HOOK_ENV, timeout: 30 },
  });
  const r = await rootlessPodman(user, ['run', '--rm', '--network', 'none', '--rootfs', rootfs, '/bin/sh', '-c', 'echo hi'], { hooksDir, timeoutMs: 180_000 });
  t.comment(`rootless podman run took ${Number((r.exitNs - r.startNs) / 1_000_000n)} ms`);
  t.equal(r.code, 0, `podman run: ${r.stderr.trim()}`);
  t.equal(r.stdout.trim(), 'hi');

  const log = readLog();
  t.comment(JSON.stringify(log, null, 1));
  t.same(log.map((l) => l.stage), ['prestart', 'poststop'], 'each stage ran once, in order');
  const hostNetns = fs.readlinkSync('/proc/self/ns/net');
  for (const l of log) {
    t.equal(l.uid, '0', `${l.stage}: root inside the namespace`);
    t.not(l.uid_map, '0 0 4294967295', `${l.stage}: not the initial user namespace`);
    t.equal(l.uid_map, `0 ${user.uid} 1`, `${l.stage}: its root is the user`);
    t.equal(l.netns, hostNetns, `${l.stage}: in the host netns`);
  }
  const [pre, post] = log;
  t.equal(pre?.state.status, 'creating');
  t.type(pre?.state.pid, 'number', 'prestart: the state has a pid');
  t.match(pre?.ctr_netns, /^open net:\[\d+\]$/, "prestart: the container's netns opens");
  t.not(pre?.ctr_netns, `open ${hostNetns}`, 'prestart: a netns of its own (--network none)');
  const bundle = path.join(rootlessStorage(user), 'vfs-containers', String(pre?.state.id), 'userdata');
  t.equal(pre?.state.bundle, bundle, 'the bundle is in the user\'s vfs storage');
  t.equal(post?.state.status, 'stopped');
  t.equal(post?.state.pid, undefined, 'poststop: no pid');
  t.equal(post?.state.id, pre?.state.id);
});

t.test('a prestart hook that exits 1: podman refuses, shows its stderr, leaves nothing', async (t) => {
  if (skip) return t.pass(`skipped: ${skip}`);
  t.setTimeout(300_000);
  fs.writeFileSync(logFile, '');
  const hooksDir = await hooksDirFor(path.join(work, 'hooks-refuse.d'), {
    prestart: { path: refuseScript, args: ['refuse-hook'], env: HOOK_ENV, timeout: 30 },
    poststop: { path: hookScript, args: ['log-hook', logFile, 'poststop'], env: HOOK_ENV, timeout: 30 },
  });
  const r = await rootlessPodman(user, ['run', '--rm', '--network', 'none', '--rootfs', rootfs, '/bin/sh', '-c', 'echo hi'], { hooksDir, timeoutMs: 180_000 });
  t.comment(`code ${r.code}; stderr: ${r.stderr.trim()}`);
  t.equal(r.code, 126, 'podman: the OCI runtime failed');
  t.equal(r.stdout, '', 'the container never ran');
  t.match(r.stderr, /error running hook #0: error running hook: exit status 1, stdout: , stderr: REFUSED-TEST/, "runc's error carries the hook's stderr");
  t.equal(fs.readFileSync(logFile, 'utf8'), '', 'no poststop for a container that was never created');
  const ps = await rootlessPodman(user, ['ps', '-a', '--format', '{{.ID}}']);
  t.equal(ps.code, 0, `podman ps: ${ps.stderr.trim()}`);
  t.equal(ps.stdout.trim(), '', 'no container left');
  const runcState = path.join(user.runtimeDir, 'runc');
  t.same(fs.existsSync(runcState) ? fs.readdirSync(runcState) : [], [], 'no runc state left');
});
