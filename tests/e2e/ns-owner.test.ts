// namespaceOwner (runtime/system/ns-owner.ts) on real namespaces, as root: who has power over a
// netns is the uid owning the top user namespace below ours in its chain.
// - our own netns, and one root made with `unshare -n`: the host's user namespace, no owner;
// - a netns made by `runuser -u nobody -- unshare -Urn`: nobody's (65534), depth 1;
// - nested, `unshare -Ur unshare -Urn` as nobody: still nobody's, depth 2;
// - a regular file: no owner, its owning user namespace cannot be read.
import t, { type Test } from 'tap';
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { namespaceOwner, ownUserNamespace } from '../../runtime/system/ns-owner';
import { run } from '../../vm/lab/run';

const NOBODY = 65534;
const skip = process.getuid?.() !== 0 ? 'needs root' : !fs.existsSync('/usr/bin/unshare') ? 'needs unshare' : false;

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** The ppid and comm of a process, from /proc/<pid>/stat (undefined when gone). */
function stat(pid: number): { ppid: number; comm: string } | undefined {
  try {
    const text = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const close = text.lastIndexOf(')');
    return { comm: text.slice(text.indexOf('(') + 1, close), ppid: Number(text.slice(close + 2).split(' ')[1]) };
  } catch {
    return undefined;
  }
}

/** The descendants of `root` (children first found by scanning /proc). */
function descendants(root: number): number[] {
  const all = fs
    .readdirSync('/proc')
    .filter((d) => /^\d+$/.test(d))
    .map(Number);
  const found: number[] = [];
  let frontier = [root];
  while (frontier.length) {
    const next = all.filter((p) => frontier.includes(stat(p)?.ppid ?? -1));
    found.push(...next);
    frontier = next;
  }
  return found;
}

/**
 * Start `argv` in a process group of its own (SIGKILLed at teardown, and after 60 s at most) and
 * wait for the `sleep` it ends in; its pid.
 */
async function startSleeper(t: Test, argv: string[]): Promise<number> {
  const [cmd, ...args] = argv as [string, ...string[]];
  const child: ChildProcess = spawn(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'], detached: true });
  let stderr = '';
  child.stderr?.setEncoding('utf8').on('data', (s: string) => (stderr += s));
  let sleeper: number | undefined;
  const kill = (): void => {
    for (const pid of [sleeper, child.pid && -child.pid]) {
      if (!pid) continue;
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // gone already
      }
    }
  };
  const limit = setTimeout(kill, 60_000);
  limit.unref();
  t.teardown(() => {
    clearTimeout(limit);
    kill();
  });
  const end = Date.now() + 10_000;
  while (Date.now() < end) {
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`${argv.join(' ')} exited early: ${stderr.trim()}`);
    sleeper = child.pid === undefined ? undefined : [child.pid, ...descendants(child.pid)].find((p) => stat(p)?.comm === 'sleep');
    if (sleeper !== undefined) return sleeper;
    await sleep(20);
  }
  throw new Error(`no sleep under ${argv.join(' ')} within 10 s: ${stderr.trim()}`);
}

/** namespaceOwner of /proc/<pid>/ns/net, opened as root (the fd closed afterwards). */
function ownerOfPid(pid: number): ReturnType<typeof namespaceOwner> {
  const fd = fs.openSync(`/proc/${pid}/ns/net`, 'r');
  try {
    return namespaceOwner(fd);
  } finally {
    fs.closeSync(fd);
  }
}

t.test('our own netns: the host\'s user namespace, no owner', { skip }, async (t) => {
  const fd = fs.openSync('/proc/self/ns/net', 'r');
  t.teardown(() => fs.closeSync(fd));
  t.same(namespaceOwner(fd), { ok: false, why: "it belongs to the host's user namespace" }, 'no owner but root');
  t.same(namespaceOwner(fd, ownUserNamespace()), namespaceOwner(fd), 'the default `ours` is our user namespace');
});

t.test('a netns root made with `unshare -n`: no owner', { skip }, async (t) => {
  const pid = await startSleeper(t, ['unshare', '-n', 'sleep', '30']);
  t.not(fs.readlinkSync(`/proc/${pid}/ns/net`), fs.readlinkSync('/proc/self/ns/net'), 'a netns of its own');
  t.same(ownerOfPid(pid), { ok: false, why: "it belongs to the host's user namespace" }, 'owned by our user namespace: no owner');
});

t.test('a netns made by nobody with `unshare -Urn`: nobody\'s, depth 1', { skip }, async (t) => {
  const pid = await startSleeper(t, ['runuser', '-u', 'nobody', '--', 'unshare', '-Urn', 'sleep', '30']);
  t.equal(fs.statSync(`/proc/${pid}`).uid, NOBODY, 'the sleep runs as nobody');
  t.same(ownerOfPid(pid), { ok: true, uid: NOBODY, depth: 1 }, 'nobody has power over it');
});

t.test('nested user namespaces made by nobody: still nobody\'s, depth 2', { skip }, async (t) => {
  const pid = await startSleeper(t, ['runuser', '-u', 'nobody', '--', 'unshare', '-Ur', 'unshare', '-Urn', 'sleep', '30']);
  t.same(ownerOfPid(pid), { ok: true, uid: NOBODY, depth: 2 }, 'the top user namespace\'s owner decides');
});

t.test('not a namespace: no owner, and it says the owner cannot be read', { skip }, async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'osh-nso-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'plain');
  fs.writeFileSync(file, 'not a namespace\n');
  const fd = fs.openSync(file, 'r');
  t.teardown(() => fs.closeSync(fd));
  const got = namespaceOwner(fd);
  t.equal(got.ok, false, 'no owner');
  t.match(got, { why: /^its owning user namespace cannot be read \(.*ENOTTY.*\)$/ }, 'the ioctl is refused (ENOTTY)');
  const before = fs.readdirSync('/proc/self/fd').length;
  namespaceOwner(fd);
  t.equal(fs.readdirSync('/proc/self/fd').length, before, 'and no descriptor is left behind');
});

t.test('no descriptor is left behind for a real owner either', { skip }, async (t) => {
  const pid = await startSleeper(t, ['runuser', '-u', 'nobody', '--', 'unshare', '-Ur', 'unshare', '-Urn', 'sleep', '30']);
  const fd = fs.openSync(`/proc/${pid}/ns/net`, 'r');
  t.teardown(() => fs.closeSync(fd));
  const before = fs.readdirSync('/proc/self/fd').length;
  t.equal(namespaceOwner(fd).ok, true, 'an owner');
  t.equal(fs.readdirSync('/proc/self/fd').length, before, 'every namespace fd of the walk closed');
  const r = await run('pgrep', ['-u', String(NOBODY), '-f', '^sleep 30'], { timeoutMs: 10_000 });
  t.ok(r.stdout.split('\n').map(Number).includes(pid), 'pgrep finds the same sleep (the walk found the right process)');
});
