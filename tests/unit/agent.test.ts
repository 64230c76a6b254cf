// The agent (runtime/agent): its control socket (root only by SO_PEERCRED, mode 0600, a stale
// socket replaced, another agent's refused) and the daemon on fakes — GC at start, the registry,
// an RA heard → refreshContainer for each container of that parent, the one expiry timer, the RA
// cache, register of a container on a new parent, stop removing the socket.
import t from 'tap';
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { defaultConfig, type HookConfig } from '../../runtime/core/config';
import type { HeardRa } from '../../runtime/core/plan';
import type { ContainerRecord } from '../../runtime/core/record';
import { FakeClock } from '../../runtime/system/clock';
import { Agent, type RefreshEngine } from '../../runtime/agent/agent';
import { ParentListener } from '../../runtime/agent/listener';
import { ControlServer, parseRequest } from '../../runtime/agent/server';
import type { AgentAnswer } from '../../runtime/wire/agent-protocol';
import type { PipelineDeps } from '../../runtime/pipeline/deps';
import { FakeNet, MemoryLogger, MemoryStore, recordingLock } from './fake-kernel';
import { pairLink } from './nd-pair';
import { sampleRecord } from './helpers';

const tick = (ms = 20) => new Promise((r) => setTimeout(r, ms));

/** One request line to `file`, the answer line parsed; `asUid` runs the client under setpriv. */
function ask(file: string, request: object, asUid?: number): Promise<{ answer?: AgentAnswer; error?: string }> {
  const script = `const s=require('net').createConnection(${JSON.stringify(file)});let b='';s.on('data',d=>b+=d);s.on('end',()=>{process.stdout.write(b)});s.on('error',e=>{process.stdout.write('ERR '+e.code)});s.write(${JSON.stringify(JSON.stringify(request) + '\n')});`;
  // `env -u NODE_OPTIONS`: tap puts its --import into every spawned process's environment (see vm/lab/fake-container.ts runHook).
  const node = ['env', '-u', 'NODE_OPTIONS', process.execPath, '-e', script];
  const argv = asUid === undefined ? node : ['setpriv', `--reuid=${asUid}`, `--regid=${asUid}`, '--clear-groups', ...node];
  return new Promise((resolve) => {
    const env = { ...process.env };
    delete env.NODE_OPTIONS;
    const child = spawn(argv[0] as string, argv.slice(1), { env, stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.on('close', () => (out.startsWith('ERR ') ? resolve({ error: out.slice(4) }) : resolve({ answer: JSON.parse(out.trim()) as AgentAnswer })));
  });
}

function scratch(t: { teardown(fn: () => void): void }): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'agd-unit-'));
  fs.chmodSync(dir, 0o755); // nobody may reach the socket's directory (the socket itself decides)
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

t.test('requests: parsed strictly, one-line errors', async (t) => {
  t.same(parseRequest('{"op":"ra","parent":"eth0"}'), { op: 'ra', parent: 'eth0' });
  t.same(parseRequest('{"op":"ping","x":1}'), { op: 'ping' });
  t.throws(() => parseRequest('nope'), /not valid JSON/);
  t.throws(() => parseRequest('[1]'), /not a JSON object/);
  t.throws(() => parseRequest('{"op":"register"}'), /"id" must be a non-empty string/);
  t.throws(() => parseRequest('{"op":"reboot"}'), /unknown request op/);
});

t.test('control socket: root served, others refused by SO_PEERCRED; mode 0600; stale replaced; a live agent refused', async (t) => {
  const dir = scratch(t);
  const file = path.join(dir, 'agent.sock');
  // A stale socket file: bound by a process that is gone.
  const py = spawnSync('/usr/bin/python3', ['-c', `import socket; s=socket.socket(socket.AF_UNIX); s.bind(${JSON.stringify(file)})`]);
  t.equal(py.status, 0, 'a stale socket file made');
  t.ok(fs.lstatSync(file).isSocket());
  const notes: string[] = [];
  const server = new ControlServer({ path: file, handle: async (r, peer) => ({ ok: true, containers: peer.uid, parents: [r.op] }), note: (l) => notes.push(l) });
  await server.listen();
  t.teardown(() => server.close());
  t.equal(fs.statSync(file).mode & 0o777, 0o600, 'mode 0600');

  const root = await ask(file, { op: 'ping' });
  t.same(root.answer, { ok: true, containers: 0, parents: ['ping'] }, 'root (uid 0) is served');
  const denied = await ask(file, { op: 'ping' }, 65534);
  t.equal(denied.error, 'EACCES', 'uid 65534 cannot even connect to a 0600 socket');
  fs.chmodSync(file, 0o666); // past the file mode: SO_PEERCRED decides
  const refused = await ask(file, { op: 'ping' }, 65534);
  t.same(refused.answer, { ok: false, error: 'permission denied: the agent serves root only' }, 'uid 65534 refused by peer credentials');
  t.match(notes.join('\n'), /refused a client with uid 65534/);
  t.equal(server.counters.refused, 1);
  const bad = await ask(file, { op: 'frobnicate' });
  t.match(bad.answer, { ok: false, error: /unknown request op/ });

  const second = new ControlServer({ path: file, handle: async () => ({ ok: true }), note: () => undefined });
  await t.rejects(second.listen(), /another agent is running/, 'a second agent refuses to start');
  await server.close();
  t.notOk(fs.existsSync(file), 'close removes the socket');

  fs.writeFileSync(file, 'not a socket');
  const third = new ControlServer({ path: file, handle: async () => ({ ok: true }), note: () => undefined });
  await t.rejects(third.listen(), /is not a socket: not touching it/);
  t.equal(fs.readFileSync(file, 'utf8'), 'not a socket', 'left alone');
});

/** A record with what the agent reads of it (its `since` orders records by id length). */
const record = (id: string, over: Partial<ContainerRecord> = {}): ContainerRecord => sampleRecord(id, { since: `2026-01-01T00:00:0${id.length}Z`, ...over });

t.test('the agent on fakes: GC at start, registry, RA → refresh, one expiry timer, RA cache, register, stop', async (t) => {
  const dir = scratch(t);
  const clock = new FakeClock(1_000_000);
  const fnet = new FakeNet();
  const host = fnet.addNetns('host', { id: '0:host:1', path: '/proc/self/ns/net', fd: -1 });
  host.seedLink({ name: 'eth0', index: 2 });
  host.seedLink({ name: 'eth1', index: 3 });
  fnet.addNetns('web', { id: '0:web:1', path: '/run/netns/web', fd: 10 });
  fnet.addNetns('db', { id: '0:db:1', path: '/run/netns/db', fd: 11 });
  const store = new MemoryStore();
  store.write(record('web'));
  store.write(record('db', { parent: 'eth0' }));
  store.write(record('dead', { process: { pid: 999999, start: '1' } })); // its netns is gone, its process too
  store.write(record('member', { member: { owner: 'web' }, netns: { path: '/run/netns/web', id: '0:web:1' } }));
  const log = new MemoryLogger();
  const calls: string[] = [];
  let deadlineOf = (id: string): number | null => (id === 'web' ? clock.now() + 5_000 : null);
  const engine: RefreshEngine = {
    refreshContainer: async (id: string, heard: HeardRa) => {
      calls.push(`refresh ${id} lifetime ${heard.advertisement.routerLifetime}`);
      return { changes: [`refreshed from ${heard.advertisement.routerLifetime}`], renewed: [`${id} lifetime renewed`], nextDeadline: deadlineOf(id), gone: false };
    },
    expireContainer: async (id: string, now: number) => {
      calls.push(`expire ${id} at ${now}`);
      deadlineOf = () => null;
      return { changes: ['default route expired'], nextDeadline: null, gone: false };
    },
    nextDeadline: (r: ContainerRecord) => deadlineOf(r.id),
  };
  const links = new Map<string, ReturnType<typeof pairLink>>();
  const config: HookConfig = { ...defaultConfig(), parent: 'eth0', state_dir: dir, gc_interval_ms: 100000, ra_cache_max_age_ms: 60_000 };
  const deps: PipelineDeps = {
    host,
    openNetns: (p) => fnet.open(p),
    nd: () => {
      throw new Error('no ND in this test');
    },
    store,
    withLock: recordingLock(fnet).withLock,
    withContainerLock: async (_id, fn) => fn({ forget: () => undefined }),
    clock: () => clock.now(),
    hostNamespaces: () => [],
    processRef: () => undefined,
    processAlive: (ref) => ref.pid !== 999999,
    log,
  };
  const agent = new Agent({
    log,
    clock,
    loadConfig: () => config,
    makeDeps: () => deps,
    refresh: engine,
    openListener: (parent, _deps, c) => {
      const link = pairLink(c);
      links.set(parent, link);
      return new ParentListener(parent, link.transport, c);
    },
  });
  await agent.start();
  t.teardown(async () => {
    await agent.stop();
    for (const l of links.values()) l.close();
  });
  t.notOk(store.read('dead'), 'the dead container collected at start');
  t.match(log.lines.join('\n'), /gc dead: network namespace \/run\/netns\/dead is gone and process 999999 too: withdrawn/);
  t.ok(store.read('member'), 'a member whose netns lives stays');
  t.same([...agent.containers.keys()].sort(), ['db', 'web'], 'registry: the attached containers, no member');
  t.same([...agent.listeners.keys()], ['eth0'], 'one listener, on eth0');

  const eth0 = links.get('eth0');
  if (!eth0) throw new Error('no eth0 link');
  await eth0.router.waitForRs(1);
  eth0.router.advertise({ ra: { routerLifetime: 30 } });
  await tick();
  await agent.idle();
  t.same(calls.sort(), ['refresh db lifetime 30', 'refresh web lifetime 30'], 'one RA: every container on the parent refreshed');
  t.match(log.lines.join('\n'), /web: refreshed from 30/);
  t.notMatch(log.lines.join('\n'), /lifetime renewed/, 'a renewal is no line of its own');
  t.match(log.lines.join('\n'), /agent: eth0: RA from fe80::1: refreshed 2 container\(s\) in [\d.]+ ms \(2 lifetime\(s\) renewed, 2 change\(s\); rss [\d.]+ MiB, heap [\d.]+\/[\d.]+ MiB, external [\d.]+ MiB\)/, 'one line for the RA');

  // The cache.
  const cached = await agent.handle({ op: 'ra', parent: 'eth0' });
  t.equal(cached.ok && cached.heard?.length, 1, 'the RA cache has the router');
  t.same(await agent.handle({ op: 'ra', parent: 'eth9' }), { ok: true, heard: [] }, 'an unwatched parent: nothing');
  clock.advance(30_000);
  await tick();
  await agent.idle();
  t.same(await agent.handle({ op: 'ra', parent: 'eth0' }), { ok: true, heard: [] }, 'router lifetime run out: nothing fresh');

  // The one expiry timer fired at web's deadline (5 s after the refresh).
  t.ok(calls.some((c) => c.startsWith('expire web')), 'expireContainer at the deadline');
  t.notOk(calls.some((c) => c.startsWith('expire db')), 'not for a container with no deadline');

  // register: a container on another parent (an annotation's choice) gets a listener.
  fnet.addNetns('api', { id: '0:api:1', path: '/run/netns/api', fd: 12 });
  store.write(record('api', { parent: 'eth1' }));
  const reg = await agent.handle({ op: 'register', id: 'api' });
  t.match(reg, { ok: true, containers: 3 });
  t.same([...agent.listeners.keys()].sort(), ['eth0', 'eth1'], 'a listener for eth1 started');
  t.match(await agent.handle({ op: 'register', id: 'nope' }), { ok: false, error: 'no record of container nope' });
  const ping = await agent.handle({ op: 'ping' });
  t.match(ping, { ok: true, containers: 3, parents: ['eth0', 'eth1'] });

  // A failure for one container stops no other.
  engine.refreshContainer = async (id: string) => {
    if (id === 'db') throw new Error('netlink said EIO');
    calls.push(`refresh ${id} again`);
    return { changes: [], nextDeadline: null, gone: false };
  };
  eth0.router.advertise({ ra: { routerLifetime: 31 } });
  await tick();
  await agent.idle();
  t.ok(calls.includes('refresh web again'), 'web refreshed although db failed');
  t.match(log.lines.join('\n'), /db: refresh from fe80::1: netlink said EIO/);
  t.match(log.lines.join('\n'), /refreshed 1 container\(s\) in [\d.]+ ms \(0 lifetime\(s\) renewed, 0 change\(s\), 1 failed; rss /);

  await agent.stop();
  t.notOk(fs.existsSync(path.join(dir, 'agent.sock')), 'stop removes the socket');
  t.equal(agent.listeners.size, 0);
});
