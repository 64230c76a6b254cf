// e2e: the container helper (vm/lab/containers.ts) against the real
// runtimes: runc, crun (private cgroup2 mount namespace) and podman (root,
// private storage). Needs root and the apt packages runc, crun, podman,
// busybox-static, containernetworking-plugins.
//
// A recording hook (a /bin/sh script) copies its stdin (the OCI state), argv
// and environment into files; the test checks what each runtime passed at each
// stage, that the container ran, that stop() runs the poststop hooks, and that
// a failing hook fails the start without leaving a container behind.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import t, { type Test } from 'tap';
import {
  type HookCommand,
  type RunningContainer,
  type RuntimeName,
  BUNDLES_DIR,
  listContainers,
  makeRootfs,
  runtimeAvailable,
  startContainer,
} from '../../vm/lab/containers';

const isRoot = process.getuid?.() === 0;
const TAG = `osh${process.pid}`;
const HOOK_ENV = ['PATH=/usr/sbin:/usr/bin:/sbin:/bin', 'OSH_MARK=recorded'];
const MY_ANNOTATION = 'org.example.osh-test';

interface HookRecord {
  label: string;
  argv: string[];
  env: string[];
  /** The parsed stdin. */
  state: Record<string, unknown>;
  stdin: string;
}

const RECORD_SH = `#!/bin/sh
# record.sh DIR LABEL [ARGS...]: keep stdin, argv and env of this hook run.
d=$1
f="$d/$2.$$"
cat > "$f.stdin"
for a in "$0" "$@"; do printf '%s\\n' "$a"; done > "$f.argv"
env > "$f.env"
: > "$f.done"
`;

const FAIL_SH = `#!/bin/sh
cat > /dev/null
echo "osh test hook failing on purpose" >&2
exit 1
`;

let work = '';
let rootfs = '';
let recordSh = '';
let failSh = '';

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** All runs of hook `label` recorded in `dir`. */
function records(dir: string, label: string): HookRecord[] {
  const out: HookRecord[] = [];
  for (const f of fs.readdirSync(dir)) {
    const m = /^(.+)\.(\d+)\.done$/.exec(f);
    if (!m || m[1] !== label) continue;
    const base = path.join(dir, `${label}.${m[2] ?? ''}`);
    const stdin = fs.readFileSync(`${base}.stdin`, 'utf8');
    const parsed: unknown = JSON.parse(stdin);
    out.push({
      label,
      argv: fs.readFileSync(`${base}.argv`, 'utf8').split('\n').filter((s) => s !== ''),
      env: fs.readFileSync(`${base}.env`, 'utf8').split('\n').filter((s) => s !== ''),
      state: isRecord(parsed) ? parsed : {},
      stdin,
    });
  }
  return out;
}

function recordHook(dir: string, label: string): HookCommand {
  return { path: recordSh, args: ['record.sh', dir, label], env: HOOK_ENV, timeout: 10 };
}

function hooksDJson(hook: HookCommand, stage: string): string {
  return JSON.stringify({ version: '1.0.0', hook, when: { always: true }, stages: [stage] });
}

/** Wait for a file the container writes whole (written elsewhere, then renamed into place). */
async function waitFor(file: string, ms = 5000): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (fs.existsSync(file)) return true;
    await new Promise((r) => setTimeout(r, 20));
  }
  return fs.existsSync(file);
}

/** Report a skip from inside a running test (tap has no "skip the rest of this test"). */
async function skipHere(t: Test, reason: string): Promise<void> {
  await t.test(reason, { skip: reason }, () => undefined);
}

function freshDir(name: string): string {
  const d = path.join(work, name);
  fs.mkdirSync(d, { recursive: true });
  return d;
}

const timings: string[] = [];
const stateSummary: string[] = [];

function keysOf(s: Record<string, unknown>): string {
  return Object.keys(s).join(',');
}

function summarize(rt: string, rec: HookRecord): string {
  const s = rec.state;
  return `${rt} ${rec.label}: keys {${keysOf(s)}} status=${String(s.status)} pid=${String(s.pid)} annotations=${JSON.stringify(s.annotations ?? null)}`;
}

t.before(async () => {
  if (!isRoot) return;
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'osh-ctest-'));
  rootfs = path.join(work, 'rootfs');
  recordSh = path.join(work, 'record.sh');
  failSh = path.join(work, 'fail.sh');
  fs.writeFileSync(recordSh, RECORD_SH, { mode: 0o755 });
  fs.writeFileSync(failSh, FAIL_SH, { mode: 0o755 });
  const t0 = Date.now();
  await makeRootfs(rootfs);
  timings.push(`makeRootfs first build ${Date.now() - t0} ms`);
});

t.teardown(() => {
  if (timings.length) console.error(`# timings:\n#   ${timings.join('\n#   ')}`);
  if (stateSummary.length) console.error(`# hook states:\n#   ${stateSummary.join('\n#   ')}`);
  if (work) fs.rmSync(work, { recursive: true, force: true });
});

t.test('makeRootfs builds a busybox rootfs once and is idempotent', { skip: !isRoot && 'needs root' }, async (t) => {
  const bb = fs.statSync(path.join(rootfs, 'bin', 'busybox'));
  t.ok(bb.isFile() && bb.size > 100_000, 'bin/busybox is a real file');
  t.equal(fs.readlinkSync(path.join(rootfs, 'bin', 'sh')), 'busybox', 'bin/sh -> busybox');
  t.equal(fs.readlinkSync(path.join(rootfs, 'bin', 'ip')), 'busybox', 'bin/ip -> busybox');
  for (const d of ['proc', 'sys', 'dev', 'tmp', 'out']) t.ok(fs.statSync(path.join(rootfs, d)).isDirectory(), `/${d}`);
  for (const f of ['passwd', 'group', 'hosts']) t.ok(fs.statSync(path.join(rootfs, 'etc', f)).isFile(), `/etc/${f}`);
  const t0 = Date.now();
  await makeRootfs(rootfs);
  await makeRootfs(`${rootfs}/`); // same directory, other spelling
  const cached = Date.now() - t0;
  timings.push(`makeRootfs again (cached) ${cached} ms`);
  t.ok(cached < 200, `cached call is fast (${cached} ms)`);
});

const RUNTIMES: RuntimeName[] = ['runc', 'crun', 'podman'];

for (const runtime of RUNTIMES) {
  t.test(`${runtime}: hooks, container process, stop, failing hook`, { skip: !isRoot && 'needs root' }, async (t: Test) => {
    if (!(await runtimeAvailable(runtime))) {
      await skipHere(t, `${runtime} not available`);
      return;
    }
    const id = `${TAG}-${runtime}`;
    const rec = freshDir(`rec-${runtime}`);
    const out = freshDir(`out-${runtime}`);
    const isPodman = runtime === 'podman';
    const startStage = isPodman ? 'prestart' : 'createRuntime';

    let hooksDir: string | undefined;
    let hooks: { createRuntime?: HookCommand[]; prestart?: HookCommand[]; poststop?: HookCommand[] } | undefined;
    if (isPodman) {
      hooksDir = freshDir(`hooks.d-${runtime}`);
      fs.writeFileSync(path.join(hooksDir, '10-record-prestart.json'), hooksDJson(recordHook(rec, 'prestart'), 'prestart'));
      fs.writeFileSync(path.join(hooksDir, '20-record-poststop.json'), hooksDJson(recordHook(rec, 'poststop'), 'poststop'));
    } else {
      hooks = {
        createRuntime: [recordHook(rec, 'createRuntime')],
        prestart: [recordHook(rec, 'prestart')],
        poststop: [recordHook(rec, 'poststop')],
      };
    }

    const t0 = Date.now();
    const r = await startContainer(runtime, {
      id,
      rootfs,
      args: ['/bin/sh', '-c', 'echo "hello $MARK" > /out/hello.tmp && mv /out/hello.tmp /out/hello; ip -o link > /out/links.tmp && mv /out/links.tmp /out/links; exec sleep 600'],
      env: ['MARK=from-env'],
      annotations: { [MY_ANNOTATION]: 'yes' },
      outDir: out,
      ...(hooks ? { hooks } : {}),
      ...(hooksDir ? { hooksDir } : {}),
    });
    const startMs = Date.now() - t0;
    t.equal(r.code, 0, `started (stderr: ${r.stderr.trim()})`);
    const c: RunningContainer | undefined = r.container;
    if (!c) return;
    t.teardown(() => c.stop());
    timings.push(`${runtime} start ${startMs} ms`);
    t.equal(c.runtime, runtime);
    t.equal(c.id, id);
    t.ok(c.pid > 0, `pid ${c.pid}`);
    t.ok(fs.existsSync(`/proc/${c.pid}`), 'the pid is alive');
    t.ok(c.bundle && fs.existsSync(path.join(c.bundle, 'config.json')), `bundle ${String(c.bundle)} has config.json`);

    t.ok(await waitFor(path.join(out, 'hello')), 'the container wrote /out/hello');
    t.equal(fs.readFileSync(path.join(out, 'hello'), 'utf8'), 'hello from-env\n', 'process env reached the container');
    t.ok(await waitFor(path.join(out, 'links')), 'the container wrote /out/links');
    const links = fs.readFileSync(path.join(out, 'links'), 'utf8');
    t.match(links, /\blo\b/, 'lo in the container');
    t.notMatch(links, /\beth0\b/, 'no eth0: a new, empty network namespace');
    // The container's netns is not ours.
    t.not(fs.statSync(`/proc/${c.pid}/ns/net`).ino, fs.statSync('/proc/self/ns/net').ino, 'own network namespace');

    const startRecs = records(rec, startStage);
    t.equal(startRecs.length, 1, `${startStage} hook ran once`);
    const s = startRecs[0];
    if (s) {
      stateSummary.push(summarize(runtime, s));
      const expectedId = isPodman ? c.podmanId : id;
      t.equal(s.state.id, expectedId, `state.id (${String(s.state.id)})`);
      t.equal(s.state.pid, c.pid, 'state.pid is the container pid');
      t.ok(s.state.status === 'creating' || s.state.status === 'created', `status ${String(s.state.status)}`);
      t.equal(s.state.bundle, c.bundle, 'state.bundle');
      const ann = s.state.annotations;
      t.ok(isRecord(ann) && ann[MY_ANNOTATION] === 'yes', 'our annotation is in the state');
      t.same(s.argv.slice(1), [rec, startStage], 'argv as given');
      t.ok(s.env.includes('OSH_MARK=recorded'), 'the hook env was honoured');
      t.notOk(s.env.some((e) => e.startsWith('HOME=')), `the hook got only its env: ${s.env.join(' ')}`);
    }
    if (!isPodman) {
      const p = records(rec, 'prestart')[0];
      if (p) stateSummary.push(summarize(runtime, p));
      t.ok(p, 'prestart hook ran too');
    }
    t.equal(records(rec, 'poststop').length, 0, 'no poststop yet');
    t.ok((await listContainers(runtime)).includes(id), 'listed');

    const t1 = Date.now();
    await c.stop();
    const stopMs = Date.now() - t1;
    timings.push(`${runtime} stop ${stopMs} ms`);
    const post = records(rec, 'poststop');
    t.equal(post.length, 1, 'poststop ran once by the time stop() resolved');
    const ps = post[0];
    if (ps) {
      stateSummary.push(summarize(runtime, ps));
      t.equal(ps.state.status, 'stopped', 'poststop status stopped');
      t.equal(ps.state.id, isPodman ? c.podmanId : id, 'poststop state.id');
    }
    t.notOk(fs.existsSync(`/proc/${c.pid}`) && !fs.readFileSync(`/proc/${c.pid}/stat`, 'utf8').includes(') Z '), 'the process is gone');
    t.notOk((await listContainers(runtime)).includes(id), 'no longer listed');
    if (!isPodman) t.notOk(fs.existsSync(path.join(BUNDLES_DIR, id)), 'bundle removed');
    await c.stop(); // idempotent
    t.equal(records(rec, 'poststop').length, 1, 'a second stop() changes nothing');

    // A hook that exits 1 fails the start and leaves nothing behind.
    const failId = `${TAG}-${runtime}-fail`;
    const failHook: HookCommand = { path: failSh, args: ['fail.sh'], env: HOOK_ENV };
    let failHooksDir: string | undefined;
    if (isPodman) {
      failHooksDir = freshDir(`hooks.d-fail-${runtime}`);
      fs.writeFileSync(path.join(failHooksDir, 'fail.json'), hooksDJson(failHook, 'prestart'));
    }
    const t2 = Date.now();
    const f = await startContainer(runtime, {
      id: failId,
      rootfs,
      args: ['/bin/sh', '-c', 'echo ran > /out/fail-ran; exec sleep 600'],
      outDir: out,
      ...(isPodman ? { hooksDir: failHooksDir } : { hooks: { createRuntime: [failHook] } }),
    });
    timings.push(`${runtime} failing start ${Date.now() - t2} ms`);
    if (f.container) t.teardown(() => f.container?.stop());
    t.not(f.code, 0, `failed start: code ${f.code}`);
    t.equal(f.container, undefined, 'no container returned');
    t.match(f.stderr, /failing on purpose|exit status 1|hook/i, `stderr tells: ${f.stderr.trim().split('\n').slice(-1)[0] ?? ''}`);
    t.notOk(fs.existsSync(path.join(out, 'fail-ran')), 'the container process never ran');
    t.notOk((await listContainers(runtime)).includes(failId), 'no container left behind');
    if (!isPodman) t.notOk(fs.existsSync(path.join(BUNDLES_DIR, failId)), 'no bundle left behind');
  });
}

t.test('podman bridge network: eth0, netns path in config.json, hooks from spec.hooks', { skip: !isRoot && 'needs root' }, async (t) => {
  if (!(await runtimeAvailable('podman'))) {
    await skipHere(t, 'podman not available');
    return;
  }
  const id = `${TAG}-podman-br`;
  const rec = freshDir('rec-bridge');
  const out = freshDir('out-bridge');
  const t0 = Date.now();
  const r = await startContainer('podman', {
    id,
    rootfs,
    network: 'bridge',
    args: ['/bin/sh', '-c', 'ip -o link > /out/links.tmp && mv /out/links.tmp /out/links; exec sleep 600'],
    outDir: out,
    // Not a hooks dir: the helper writes these as hooks.d files itself.
    hooks: { createRuntime: [recordHook(rec, 'createRuntime')], poststop: [recordHook(rec, 'poststop')] },
  });
  timings.push(`podman (bridge) start ${Date.now() - t0} ms`);
  t.equal(r.code, 0, `started (stderr: ${r.stderr.trim()})`);
  const c = r.container;
  if (!c?.bundle) return;
  t.teardown(() => c.stop());
  t.ok(await waitFor(path.join(out, 'links')), 'the container wrote /out/links');
  t.match(fs.readFileSync(path.join(out, 'links'), 'utf8'), /\beth0\b/, 'eth0 in the container');

  const cfg: unknown = JSON.parse(fs.readFileSync(path.join(c.bundle, 'config.json'), 'utf8'));
  const linux = isRecord(cfg) && isRecord(cfg.linux) ? cfg.linux : {};
  const nss = Array.isArray(linux.namespaces) ? linux.namespaces.filter(isRecord) : [];
  const net = nss.find((n) => n.type === 'network');
  const nsPath = typeof net?.path === 'string' ? net.path : '';
  stateSummary.push(`podman bridge: config.json network namespace path = ${nsPath}`);
  t.match(nsPath, /^\/run\/netns\//, `network namespace path ${nsPath}`);
  t.equal(fs.statSync(nsPath).ino, fs.statSync(`/proc/${c.pid}/ns/net`).ino, 'that netns is the container process netns');

  const cr = records(rec, 'createRuntime');
  t.equal(cr.length, 1, 'createRuntime hook (from spec.hooks) ran once');
  const s = cr[0];
  if (s) {
    stateSummary.push(summarize('podman(bridge)', s));
    t.equal(s.state.id, c.podmanId, 'state.id is podman\'s container id');
    t.equal(s.state.pid, c.pid, 'state.pid');
  }
  await c.stop();
  t.equal(records(rec, 'poststop').length, 1, 'poststop ran by the time stop() resolved');
  t.notOk((await listContainers('podman')).includes(id), 'gone');
});
