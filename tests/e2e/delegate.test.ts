// The hook as a thin client (issue 16 item 5): with the real agent (`oci-slaac-hook agent`) running
// on the same config file, a root hook hands its whole stage to the agent over
// /run/oci-slaac-hook/delegate/<hash>.sock (wire/delegate-protocol.ts) and waits for the answer.
//
// - createRuntime and poststop through the agent: the address, the record, the agent looking after
//   it, the stage's log lines on the hook's stderr, the agent's counters; poststop leaves nothing;
// - the hook does the stage itself when the agent will not (another config file, an environment
//   that changes a stage, a pid namespace of its own, a config file changed since the agent read
//   it; after SIGHUP it is the agent's again) or cannot (SIGKILLed: a stale socket);
// - once the request is sent, no fallback: a stand-in that closes without an answer, or answers
//   with what is not one, fails the container in one line, nothing attached;
// - hostile or wrong input through the agent: one line, exit 1, nothing left — state that is not
//   JSON, a stage at the wrong status, a "container" whose netns is the hook's own;
// - the socket: mode 0600, root's.
//
// The lab: LAB_NAME dlg, host netns dlg-host, prefix 2001:db8:cf::/64.
import t, { type Test } from 'tap';
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { absoluteConfigPath } from '../../runtime/core/config-path';
import type { ContainerRecord } from '../../runtime/core/record';
import { SeqpacketServer } from '../../runtime/system/seqpacket';
import { delegateSocketPath } from '../../runtime/wire/delegate-protocol';
import type { AgentAnswer } from '../../runtime/wire/agent-protocol';
import { fakeContainer, HOOK_CLI, runHook, stateFiles, type FakeContainer } from '../../vm/lab/fake-container';
import { labUp, type Lab } from '../../vm/lab/lab';
import { run } from '../../vm/lab/run';

const PREFIX = '2001:db8:cf::/64';
const HOST_NETNS = 'dlg-host';
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'osh-dlg-'));
const stateDir = path.join(work, 'state');
const libDir = path.join(work, 'lib');
fs.mkdirSync(libDir, { mode: 0o700 });
fs.writeFileSync(path.join(libDir, 'secret'), Buffer.alloc(32, 0x64), { mode: 0o600 });
const configFile = path.join(work, 'config.toml');
const otherConfig = path.join(work, 'other.toml');
const ENV = { OCI_SLAAC_HOOK_STATE_LIB: libDir, OCI_SLAAC_HOOK_SYSLOG: path.join(work, 'no-syslog.sock') };
const socketFile = delegateSocketPath(absoluteConfigPath(configFile));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

let lab: Lab;
let agent: { child: ChildProcess; log: () => string; exited: Promise<void> } | undefined;

function configText(): string {
  return [`parent = ${JSON.stringify(lab.hostIf)}`, `state_dir = ${JSON.stringify(stateDir)}`, 'dad = "optimistic"', 'ra_timeout_ms = 5000', 'ra_cache_max_age_ms = 60000', 'gc_interval_ms = 500'].join('\n') + '\n';
}

async function startAgent(): Promise<void> {
  const child = spawn('ip', ['netns', 'exec', HOST_NETNS, 'env', '-u', 'NODE_OPTIONS', process.execPath, HOOK_CLI, 'agent', '--config', configFile], {
    env: { PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin', ...ENV },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let text = '';
  child.stderr?.setEncoding('utf8').on('data', (s: string) => (text += s));
  const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
  for (let i = 0; i < 100 && !text.includes('agent: started'); i++) await sleep(50);
  if (!text.includes('agent: started')) throw new Error(`the agent did not start: ${text}`);
  agent = { child, log: () => text, exited };
  // Its RA cache: the router heard (radvd answers the listener's solicitation).
  for (let i = 0; i < 100 && (await counters()).routers === 0; i++) await sleep(50);
}

async function stopAgent(signal: NodeJS.Signals): Promise<void> {
  if (!agent) return;
  agent.child.kill(signal);
  await agent.exited;
  agent = undefined;
}

/** The agent's counters (ping on its control socket). */
function counters(): Promise<{ containers: number; routers: number; delegate: { stages: number; failed: number; fallbacks: number; refused: number } }> {
  return new Promise((resolve, reject) => {
    const s = net.createConnection(path.join(stateDir, 'agent.sock'));
    let b = '';
    s.on('data', (d) => (b += d.toString()));
    s.on('end', () => {
      const a = JSON.parse(b) as AgentAnswer & { containers: number; counters: { listeners: Record<string, { routers: number }>; delegate: { stages: number; failed: number; fallbacks: number; refused: number } } };
      resolve({ containers: a.containers, routers: Object.values(a.counters.listeners).reduce((sum, l) => sum + l.routers, 0), delegate: a.counters.delegate });
    });
    s.on('error', reject);
    s.write(`${JSON.stringify({ op: 'ping' })}\n`);
  });
}

type HookOpts = { config?: string; env?: Record<string, string>; wrap?: string[] };
const hook = (stage: string, state: string, opts: HookOpts = {}) =>
  runHook(stage, state, { config: opts.config ?? configFile, hostNetns: HOST_NETNS, env: { ...ENV, ...opts.env }, timeoutMs: 30_000, ...(opts.wrap ? { wrap: opts.wrap } : {}) });
const readState = (id: string): ContainerRecord | undefined => {
  try {
    return JSON.parse(fs.readFileSync(path.join(stateDir, `${id}.json`), 'utf8')) as ContainerRecord;
  } catch {
    return undefined;
  }
};

/** What the state dir holds besides the agent's socket. */
const records = (): string[] => stateFiles(stateDir).filter((f) => f !== 'agent.sock');

let n = 0;
const made: FakeContainer[] = [];
async function container(): Promise<FakeContainer> {
  n++;
  const c = await fakeContainer({ id: `dlg${n}`, netns: `dlg-c${n}`, dir: work, annotations: { 'oci-slaac-hook.name': `dlg${n}` } });
  made.push(c);
  return c;
}

/** createRuntime, the address in the container's netns, poststop: nothing left. */
async function roundTrip(t: Test, c: FakeContainer, opts: HookOpts = {}): Promise<string> {
  const up = await hook('createRuntime', c.state('creating'), opts);
  t.equal(up.code, 0, `createRuntime: ${up.stderr.trim()}`);
  const address = readState(c.id)?.addresses[0]?.address ?? '';
  t.match(address, /^2001:db8:cf:0:/, 'an address from the RA');
  const shown = await run('ip', ['-n', c.netns, '-6', 'addr', 'show', 'dev', 'eth0']);
  t.ok(shown.stdout.includes(address), 'in the container netns');
  t.match(up.stderr, new RegExp(`oci-slaac-hook: ${c.id}: eth0 ${address.replace(/:/g, ':')}/64 via fe80::`), "the stage's line on the hook's stderr");
  const down = await hook('poststop', c.state('stopped'), opts);
  t.equal(down.code, 0, `poststop: ${down.stderr.trim()}`);
  t.equal(readState(c.id), undefined, 'record gone');
  return address;
}

t.before(async () => {
  lab = await labUp({ LAB_NAME: 'dlg', LAB_HOST_NETNS: HOST_NETNS, LAB_PREFIX: PREFIX, LAB_ROUTER_ADDR: '2001:db8:cf::1', LAB_PEER_ADDR: '2001:db8:cf::100', LAB_RETRANS_MS: '200' });
  fs.writeFileSync(configFile, configText());
  fs.writeFileSync(otherConfig, configText());
  await startAgent();
});
t.teardown(async () => {
  await stopAgent('SIGKILL');
  for (const c of made) await c.remove();
  await lab?.down();
  fs.rmSync(socketFile, { force: true });
  fs.rmSync(work, { recursive: true, force: true });
});

t.test('createRuntime and poststop run in the agent; the hook only asks', async (t) => {
  const st = fs.statSync(socketFile);
  t.equal(st.mode & 0o777, 0o600, 'socket mode 0600');
  t.equal(st.uid, 0, "root's");
  const before = await counters();
  const c = await container();
  const up = await hook('createRuntime', c.state('creating'));
  t.equal(up.code, 0, up.stderr.trim());
  const record = readState(c.id);
  t.ok(record && record.addresses.length === 1, 'a record with an address');
  t.match(up.stderr, /RA from the agent's cache/, "the agent's RA cache, no solicitation");
  t.ok(agent?.log().includes(`${c.id}: eth0 ${record?.addresses[0]?.address}/64`), "the stage's line in the agent's log too");
  const mid = await counters();
  t.equal(mid.delegate.stages, before.delegate.stages + 1, 'one stage run by the agent');
  t.equal(mid.containers, before.containers + 1, 'the agent looks after it');
  // Optimistic: the agent finishes DAD itself (no background process of the hook).
  for (let i = 0; i < 50 && !readState(c.id)?.addresses.every((a) => a.dad === 'verified'); i++) await sleep(50);
  t.ok(readState(c.id)?.addresses.every((a) => a.dad === 'verified'), 'DAD finished by the agent');
  const down = await hook('poststop', c.state('stopped'));
  t.equal(down.code, 0, down.stderr.trim());
  t.match(down.stderr, /withdrawn/, "poststop's line");
  const after = await counters();
  t.equal(after.delegate.stages, before.delegate.stages + 2, 'poststop run by the agent');
  t.equal(after.containers, before.containers, 'no longer looked after');
  t.same(records(), [], 'no record, no index entry left');
  t.same((await c.links()).filter((l) => !/ lo:/.test(l)), [], 'no link left in the container netns');
});

t.test('the hook runs the stage itself when the agent will not or cannot', async (t) => {
  const before = await counters();
  // Another config file (same content): no agent for it, nothing asked.
  await roundTrip(t, await container(), { config: otherConfig });
  t.same((await counters()).delegate, before.delegate, 'another config: the agent not asked');
  // An environment that changes a stage: the agent says so; the hook does it.
  await roundTrip(t, await container(), { env: { OCI_SLAAC_HOOK_ADDON: path.resolve('build/Release/osh_native.node') } });
  const envd = await counters();
  t.equal(envd.delegate.fallbacks, before.delegate.fallbacks + 2, 'another environment: fallback, twice');
  t.equal(envd.delegate.stages, before.delegate.stages, 'no stage run by the agent');
  // A hook in a pid namespace of its own: the state's pid would name another process in the agent.
  await roundTrip(t, await container(), { wrap: ['unshare', '--pid', '--fork', '--mount-proc'] });
  const pidns = await counters();
  t.equal(pidns.delegate.fallbacks, envd.delegate.fallbacks + 2, 'another pid namespace: fallback');
  t.match(agent?.log() ?? '', /the hook does not see what the agent sees \(process \d+ is in another pid namespace\)/, 'the agent says why');
  // The config file rewritten after the agent read it: the hook reads it as it is now.
  await sleep(20);
  fs.writeFileSync(configFile, configText());
  await roundTrip(t, await container());
  const changed = await counters();
  t.equal(changed.delegate.fallbacks, pidns.delegate.fallbacks + 2, 'config changed: fallback');
  t.match(agent?.log() ?? '', /changed since the agent read it/, 'the agent says why');
  // SIGHUP: the agent reads it again, and runs stages again.
  agent?.child.kill('SIGHUP');
  for (let i = 0; i < 40 && !(agent?.log() ?? '').includes('config reloaded'); i++) await sleep(50);
  await roundTrip(t, await container());
  t.equal((await counters()).delegate.stages, changed.delegate.stages + 2, 'after SIGHUP: the agent again');
  // SIGKILLed: its socket stays, nobody listens; the hook does the stage.
  await stopAgent('SIGKILL');
  t.ok(fs.existsSync(socketFile), 'a stale socket');
  await roundTrip(t, await container());
  await startAgent();
  t.same(records(), [], 'nothing left');
});

t.test('hostile or wrong input through the agent: one line, exit 1, nothing left', async (t) => {
  const before = await counters();
  const notJson = await hook('createRuntime', '{"ociVersion": "1.0.2", "id": ');
  t.equal(notJson.code, 1, 'state not JSON: exit 1');
  t.match(notJson.stderr, /^oci-slaac-hook: OCI state on stdin is not valid JSON \(at byte \d+\)\n$/, notJson.stderr);
  const c = await container();
  const running = await hook('createRuntime', c.state('creating').replace('"creating"', '"running"'));
  t.equal(running.code, 1, 'status running: exit 1');
  t.match(running.stderr, /createRuntime hook called with container status "running"/);
  // A bundle whose network namespace is the one the hook (and the agent) runs in.
  const hostile = path.join(work, 'bundles', 'dlg-hostile');
  fs.mkdirSync(hostile, { recursive: true });
  fs.writeFileSync(path.join(hostile, 'config.json'), JSON.stringify({ ociVersion: '1.0.2', linux: { namespaces: [{ type: 'network', path: `/run/netns/${HOST_NETNS}` }] }, annotations: {} }));
  const own = await hook('createRuntime', JSON.stringify({ ociVersion: '1.0.2', id: 'dlg-hostile', status: 'creating', bundle: hostile }));
  t.equal(own.code, 1, "the hook's own netns: exit 1");
  t.match(own.stderr, /the hook's \(pid \d+\)/, own.stderr);
  t.equal(own.stderr.trim().split('\n').length, 1, 'one line');
  const after = await counters();
  t.equal(after.delegate.failed, before.delegate.failed + 3, 'three refused by the agent');
  t.same(records(), [], 'nothing left');
  const hostLinks = await run('ip', ['-n', HOST_NETNS, '-o', 'link', 'show']);
  t.notMatch(hostLinks.stdout, /osh|macvlan/, 'no link made in the host netns');
});

t.test('once the request is sent there is no fallback: an agent that fails the hook fails the container', async (t) => {
  // A stand-in on the delegate socket of a config of its own: it takes the request, then closes
  // without an answer (an agent that died mid-stage), or answers with what is not an answer.
  const config = path.join(work, 'standin.toml');
  fs.writeFileSync(config, configText());
  const cases: [string, () => Promise<Buffer>, RegExp][] = [
    ['closed without an answer', () => Promise.reject(new Error('died mid-stage')), /^oci-slaac-hook: createRuntime: the agent \(\S+\) did not answer: the connection closed without an answer\n$/],
    ['not an answer', () => Promise.resolve(Buffer.from('{"ok": "yes"}')), /^oci-slaac-hook: createRuntime: the agent's answer has no "ok"\n$/],
  ];
  for (const [what, answer, re] of cases) {
    let asked = 0;
    const server = new SeqpacketServer({
      path: delegateSocketPath(absoluteConfigPath(config)),
      mode: 0o600,
      maxMessageBytes: 256 * 1024,
      maxFds: 0,
      maxPerUid: 4,
      maxConnections: 4,
      timeoutMs: 2000,
      handle: () => {
        asked++;
        return answer();
      },
      note: () => undefined,
    });
    server.listen();
    try {
      const c = await container();
      const r = await hook('createRuntime', c.state('creating'), { config });
      t.equal(asked, 1, `${what}: the stand-in got the request`);
      t.equal(r.code, 1, `${what}: exit 1, no fallback`);
      t.match(r.stderr, re, `${what}: one line`);
      t.equal(readState(c.id), undefined, `${what}: the hook did not attach it itself`);
      t.same((await c.links()).filter((l) => !/ lo:/.test(l)), [], `${what}: no link`);
    } finally {
      server.close();
    }
  }
});
