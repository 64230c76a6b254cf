// The agent daemon (`oci-slaac-hook agent`, runtime/agent) in a netns lab whose host is a netns of
// its own (agd-host), with radvd and BIND: it listens on <state_dir>/agent.sock (0600, root only),
// watches the parent and hears the router; SIGHUP reloads config.toml (a parent added, one
// removed); garbage collection — a fake container attached by the hook, its netns deleted with no
// poststop: its state file, host route (host_link) and DNS records gone within 10 s; the agent
// SIGKILLed, a container dying meanwhile, and host-side objects marked ours that no record owns:
// all collected when it starts again (the stale socket replaced); SIGTERM exits 0 within 2 s and
// removes the socket.
import t from 'tap';
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { run } from '../../vm/lab/run';
import { labUp, type Lab } from '../../vm/lab/lab';
import { dig } from '../../vm/lab/dns';
import { fakeContainer, HOOK_CLI, hostResidue, runHook, stateFiles } from '../../vm/lab/fake-container';
import type { ContainerRecord } from '../../runtime/core/record';
import type { AgentAnswer } from '../../runtime/wire/agent-protocol';
import { absoluteConfigPath } from '../../runtime/core/config-path';
import { delegateSocketPath } from '../../runtime/wire/delegate-protocol';

const PREFIX = '2001:db8:f1::/64';
const HOST_NETNS = 'agd-host';
const TABLE = 4862;
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'osh-agd-'));
fs.chmodSync(work, 0o755);
const stateDir = path.join(work, 'state');
const libDir = path.join(work, 'lib');
fs.mkdirSync(libDir, { mode: 0o700 });
fs.writeFileSync(path.join(libDir, 'secret'), Buffer.alloc(32, 0x61), { mode: 0o600 });
const configFile = path.join(work, 'config.toml');
const socketFile = path.join(stateDir, 'agent.sock');
const ENV = { OCI_SLAAC_HOOK_STATE_LIB: libDir, OCI_SLAAC_HOOK_SYSLOG: path.join(work, 'no-syslog.sock') };
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

type DnsLab = Lab & { dnsAddr: string; dnsPort: number; dnsZone: string; dnsReverseZone: string; dnsKeyFile: string };
let lab: DnsLab;

function writeConfig(extra: string[] = [], parent = lab.hostIf): void {
  fs.writeFileSync(
    configFile,
    [
      `parent = ${JSON.stringify(parent)}`,
      `state_dir = ${JSON.stringify(stateDir)}`,
      'dad = "strict"',
      'host_link = true',
      'gc_interval_ms = 500',
      ...extra,
      '[annotation_allow]',
      `parent = [${JSON.stringify(lab.hostIf)}]`,
      '[dns]',
      `server = ${JSON.stringify(`[${lab.dnsAddr}]:${lab.dnsPort}`)}`,
      `zone = ${JSON.stringify(lab.dnsZone)}`,
      `reverse_zone = ${JSON.stringify(lab.dnsReverseZone)}`,
      `key_file = ${JSON.stringify(lab.dnsKeyFile)}`,
      'ttl = 60',
      'timeout_ms = 1000',
    ].join('\n') + '\n',
  );
}

interface Agent {
  child: ChildProcess;
  log: () => string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>;
}

/** `ip netns exec agd-host env -u NODE_OPTIONS node dist/oci-slaac-hook.js agent --config X`, once it listens. */
async function startAgent(extraEnv: Record<string, string> = {}): Promise<Agent> {
  const child = spawn('ip', ['netns', 'exec', HOST_NETNS, 'env', '-u', 'NODE_OPTIONS', process.execPath, HOOK_CLI, 'agent', '--config', configFile], {
    env: { PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin', ...ENV, ...extraEnv },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let text = '';
  child.stderr?.setEncoding('utf8').on('data', (s: string) => (text += s));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>((resolve) => child.on('exit', (code, signal) => resolve({ code, signal, at: performance.now() })));
  for (let i = 0; i < 100 && !text.includes('agent: started'); i++) await sleep(50);
  if (!text.includes('agent: started')) throw new Error(`the agent did not start: ${text}`);
  return { child, log: () => text, exited };
}

/** One request to the agent as root (this process), the answer parsed. */
function ask(request: object): Promise<AgentAnswer> {
  return new Promise((resolve, reject) => {
    const s = net.createConnection(socketFile);
    let b = '';
    s.on('data', (d) => (b += d.toString()));
    s.on('end', () => {
      try {
        resolve(JSON.parse(b) as AgentAnswer);
      } catch (err) {
        reject(err);
      }
    });
    s.on('error', reject);
    s.write(`${JSON.stringify(request)}\n`);
  });
}

const readState = (id: string): ContainerRecord | undefined => {
  try {
    return JSON.parse(fs.readFileSync(path.join(stateDir, `${id}.json`), 'utf8')) as ContainerRecord;
  } catch {
    return undefined;
  }
};

async function waitFor(what: () => Promise<boolean> | boolean, ms: number): Promise<number | undefined> {
  const start = performance.now();
  while (performance.now() - start < ms) {
    if (await what()) return performance.now() - start;
    await sleep(100);
  }
  return undefined;
}

let agent: Agent | undefined;

t.before(async () => {
  const up = await labUp({
    LAB_NAME: 'agd',
    LAB_HOST_NETNS: HOST_NETNS,
    LAB_PREFIX: PREFIX,
    LAB_ROUTER_ADDR: '2001:db8:f1::1',
    LAB_PEER_ADDR: '2001:db8:f1::100',
    LAB_RETRANS_MS: '300',
    LAB_DNS: 'bind',
    LAB_DNS_ADDR: '2001:db8:f1::53',
    LAB_HOST_ADDR: '2001:db8:f1::2/64',
  });
  const { dnsAddr, dnsPort, dnsZone, dnsReverseZone, dnsKeyFile } = up;
  if (!dnsAddr || !dnsPort || !dnsZone || !dnsReverseZone || !dnsKeyFile) throw new Error('the lab has no DNS server');
  lab = { ...up, dnsAddr, dnsPort, dnsZone, dnsReverseZone, dnsKeyFile };
  writeConfig();
});
t.teardown(async () => {
  if (agent && agent.child.exitCode === null && agent.child.signalCode === null) {
    agent.child.kill('SIGKILL');
    await agent.exited;
  }
  // A SIGKILLed agent leaves its delegate socket (the next agent of this config would replace it).
  fs.rmSync(delegateSocketPath(absoluteConfigPath(configFile)), { force: true });
  await run('ip', ['-n', HOST_NETNS, 'link', 'del', 'agd-dum0']);
  await lab?.down();
  fs.rmSync(work, { recursive: true, force: true });
});

t.test('starts, listens root-only, hears the router, serves its RA cache; SIGHUP reloads', async (t) => {
  agent = await startAgent();
  const st = fs.lstatSync(socketFile);
  t.ok(st.isSocket(), 'agent.sock is a socket');
  t.equal(st.mode & 0o777, 0o600, 'mode 0600');
  const heard = await waitFor(async () => {
    const a = await ask({ op: 'ra', parent: lab.hostIf });
    return a.ok && (a.heard?.length ?? 0) > 0;
  }, 5000);
  t.ok(heard !== undefined, `the router's RA is in the cache (${heard?.toFixed(0)} ms)`);
  const ra = await ask({ op: 'ra', parent: lab.hostIf });
  t.match(ra, { ok: true, heard: [{ router: /^fe80::/ }] });
  t.same(await ask({ op: 'ra', parent: 'nosuch0' }), { ok: true, heard: [] }, 'an unwatched parent: nothing cached');
  t.match(await ask({ op: 'ping' }), { ok: true, containers: 0, parents: [lab.hostIf] });

  // A non-root client: the socket's mode keeps it out (SO_PEERCRED refuses it past the mode: unit test).
  const nobody = await run('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', 'env', '-u', 'NODE_OPTIONS', process.execPath, '-e', `const s=require('net').createConnection(${JSON.stringify(socketFile)});s.on('connect',()=>{console.log('connected');process.exit(0)});s.on('error',e=>{console.log(e.code);process.exit(1)})`]);
  t.equal(nobody.stdout.trim(), 'EACCES', 'uid 65534 cannot connect');

  // SIGHUP: another parent — added; the lab's NIC (no container on it) — removed; and back.
  // (no dummy driver in this kernel: a veth pair stands in for a second NIC)
  t.equal((await run('ip', ['-n', HOST_NETNS, 'link', 'add', 'agd-dum0', 'type', 'veth', 'peer', 'name', 'agd-dum1'])).code, 0, 'a second NIC');
  await run('ip', ['-n', HOST_NETNS, 'link', 'set', 'agd-dum0', 'up']);
  writeConfig(['ra_cache_max_age_ms = 30000'], 'agd-dum0');
  agent.child.kill('SIGHUP');
  t.ok(await waitFor(() => /parent added: watching agd-dum0/.test(agent?.log() ?? ''), 3000), 'SIGHUP: the new parent watched', { log: agent.log().split('\n').slice(-8) });
  t.match(agent.log(), /config reloaded: changed parent="agd-dum0", ra_cache_max_age_ms=30000/);
  t.match(agent.log(), new RegExp(`parent removed: ${lab.hostIf}`));
  // The NIC deleted and made again (another ifindex): the listener follows at the next GC tick.
  await run('ip', ['-n', HOST_NETNS, 'link', 'del', 'agd-dum0']);
  t.ok(await waitFor(() => /parent agd-dum0 is gone: listener stopped/.test(agent?.log() ?? ''), 3000), 'a parent NIC gone: its listener stopped');
  await run('ip', ['-n', HOST_NETNS, 'link', 'add', 'agd-dum0', 'type', 'veth', 'peer', 'name', 'agd-dum1']);
  await run('ip', ['-n', HOST_NETNS, 'link', 'set', 'agd-dum0', 'up']);
  t.ok(await waitFor(() => (agent?.log().match(/parent added: watching agd-dum0/g) ?? []).length === 2, 3000), 'made again: watched again');
  writeConfig();
  agent.child.kill('SIGHUP');
  t.ok(await waitFor(() => new RegExp(`parent added: watching ${lab.hostIf}[^]*$`).test(agent?.log().split('SIGHUP').pop() ?? ''), 3000), 'and back');
  t.match(await ask({ op: 'ping' }), { ok: true, parents: [lab.hostIf] });
});

t.test('GC: a container whose netns is deleted without poststop is collected within 10 s', async (t) => {
  const c = await fakeContainer({ id: 'agd-gc1', netns: 'agd-c-gc1', dir: work, annotations: { 'oci-slaac-hook.name': 'agd-gc1' } });
  t.teardown(c.remove);
  const r = await runHook('createRuntime', c.state('creating'), { config: configFile, hostNetns: HOST_NETNS, env: ENV, timeoutMs: 30_000 });
  t.equal(r.code, 0, `attached: ${r.stderr.trim()}`);
  const rec = readState(c.id);
  const address = rec?.addresses[0]?.address;
  if (!rec || !address) throw new Error('no record');
  t.ok((await hostResidue(HOST_NETNS, TABLE)).routes.some((l) => l.startsWith(`${address} dev osh-`)), 'the host route is there');
  t.same(await dig(lab, `agd-gc1.${lab.dnsZone}`, 'AAAA'), [address], 'the AAAA is published');
  t.ok(await waitFor(async () => ((await ask({ op: 'ping' })) as { containers?: number }).containers === 1, 3000), 'the agent looks after it');

  const deletedAt = performance.now();
  await c.remove();
  const gone = await waitFor(async () => {
    if (readState(c.id)) return false;
    if ((await hostResidue(HOST_NETNS, TABLE)).routes.length) return false;
    return (await dig(lab, `agd-gc1.${lab.dnsZone}`, 'AAAA')).length === 0;
  }, 10_000);
  t.ok(gone !== undefined, `state file, host route and DNS record gone within 10 s (${((performance.now() - deletedAt) / 1000).toFixed(2)} s)`);
  t.comment(`GC latency: ${((performance.now() - deletedAt) / 1000).toFixed(2)} s (gc_interval_ms 500)`);
  t.match(agent?.log() ?? '', /gc agd-gc1: network namespace \/run\/netns\/agd-c-gc1 is gone: withdrawn/);
  t.same(await hostResidue(HOST_NETNS, TABLE), { rules: [], proxies: [], routes: [], table: [] }, 'nothing left on the host');
});

t.test('SIGKILLed, then started again: what died meanwhile and orphans of ours collected at start', async (t) => {
  const a = agent;
  if (!a) throw new Error('no agent');
  a.child.kill('SIGKILL');
  await a.exited;
  t.ok(fs.existsSync(socketFile), 'the killed agent left its socket');

  const c = await fakeContainer({ id: 'agd-gc2', netns: 'agd-c-gc2', dir: work, annotations: { 'oci-slaac-hook.name': 'agd-gc2' } });
  t.teardown(c.remove);
  const r = await runHook('createRuntime', c.state('creating'), { config: configFile, hostNetns: HOST_NETNS, env: ENV, timeoutMs: 30_000 });
  t.equal(r.code, 0, `attached with no agent: ${r.stderr.trim()}`);
  await c.remove(); // dies with no poststop while no agent runs

  // Host-side objects marked ours that no record owns — and the operator's own, which stay.
  const companion = `osh-${lab.hostIf}`.slice(0, 15);
  const ipn = (...args: string[]) => run('ip', ['-n', HOST_NETNS, ...args]);
  t.equal((await ipn('-6', 'route', 'add', '2001:db8:f1::dead/128', 'dev', companion, 'metric', '4862', 'proto', '86')).code, 0, 'an orphan host route (proto 86)');
  t.equal((await ipn('-6', 'rule', 'add', 'from', '2001:db8:f1::beef', 'lookup', '4862', 'priority', '4862', 'protocol', '86')).code, 0, 'an orphan rule (protocol 86)');
  t.equal((await ipn('-6', 'route', 'add', '2001:db8:f9::/64', 'dev', lab.hostIf, 'table', '4862', 'proto', '86')).code, 0, 'an orphan l3-table route (proto 86)');
  t.equal((await ipn('-6', 'route', 'add', '2001:db8:f2::7/128', 'dev', companion, 'metric', '4862', 'proto', 'static')).code, 0, "the operator's route (proto static)");

  agent = await startAgent();
  const log = agent.log();
  t.notOk(readState(c.id), 'the container that died meanwhile: collected at start');
  t.match(log, /gc agd-gc2: network namespace \/run\/netns\/agd-c-gc2 is gone: withdrawn/);
  t.same(await dig(lab, `agd-gc2.${lab.dnsZone}`, 'AAAA'), [], 'its AAAA withdrawn');
  t.match(log, /orphan route 2001:db8:f1::dead\/128 table 254 removed/);
  t.match(log, /orphan rule from 2001:db8:f1::beef lookup 4862 removed/);
  t.match(log, /orphan route 2001:db8:f9::\/64 table 4862 removed/);
  const residue = await hostResidue(HOST_NETNS, TABLE);
  t.same(residue, { rules: [], proxies: [], routes: [], table: [] }, 'nothing of ours left on the host');
  t.match((await ipn('-6', 'route', 'show', '2001:db8:f2::7')).stdout, /2001:db8:f2::7 dev/, "the operator's route stays");
  await ipn('-6', 'route', 'del', '2001:db8:f2::7/128', 'dev', companion);
  t.match(await ask({ op: 'ping' }), { ok: true }, 'the stale socket was replaced: the new agent answers');
});

t.test('SIGKILLed mid-refresh, started again: nothing lost, nothing doubled, nothing left', async (t) => {
  const a = agent;
  if (!a) throw new Error('no agent');
  a.child.kill('SIGKILL');
  await a.exited;
  const c = await fakeContainer({ id: 'agd-k1', netns: 'agd-c-k1', dir: work, annotations: { 'oci-slaac-hook.name': 'agd-k1' } });
  t.teardown(c.remove);
  const hookRun = (stage: string, status: 'creating' | 'stopped') => runHook(stage, c.state(status), { config: configFile, hostNetns: HOST_NETNS, env: ENV, timeoutMs: 30_000 });
  t.equal((await hookRun('createRuntime', 'creating')).code, 0, 'attached');
  const before = readState(c.id);

  // The agent dies by SIGKILL right after a refresh's first save of the record (OCI_SLAAC_HOOK_FAILPOINT=agent-refresh).
  const doomed = await startAgent({ OCI_SLAAC_HOOK_FAILPOINT: 'agent-refresh' });
  const killed = await Promise.race([doomed.exited, sleep(10_000).then(() => undefined)]);
  t.equal(killed?.signal, 'SIGKILL', 'the agent died by SIGKILL in the middle of a refresh');
  const mid = readState(c.id);
  t.ok(mid, 'the record is whole (written atomically)');
  t.equal(mid?.phase, 'attached');

  agent = await startAgent();
  const refreshed = await waitFor(async () => {
    const p = (await ask({ op: 'ping' })) as { counters?: { refreshes?: number } };
    return (p.counters?.refreshes ?? 0) >= 1;
  }, 10_000);
  t.ok(refreshed !== undefined, 'the restarted agent refreshed the container');
  await sleep(500);
  const check = await run('ip', ['netns', 'exec', HOST_NETNS, 'env', '-u', 'NODE_OPTIONS', process.execPath, HOOK_CLI, 'check', c.id, '--config', configFile], { env: { PATH: process.env.PATH ?? '', ...ENV } });
  t.equal(check.code, 0, `check: the kernel and DNS match the ledger: ${check.stdout.trim()} ${check.stderr.trim()}`);
  const after = readState(c.id);
  t.same(after?.addresses.map((x) => x.address), before?.addresses.map((x) => x.address), 'the same addresses as attached: none lost, none added');
  const kernel = (await run('ip', ['-n', c.netns, '-6', '-o', 'addr', 'show', 'dev', 'eth0', 'scope', 'global'])).stdout.trim().split('\n').filter((l) => l);
  t.equal(kernel.length, before?.addresses.length, 'as many global addresses in the container as in the record');
  const aaaa = await dig(lab, `agd-k1.${lab.dnsZone}`, 'AAAA');
  t.same(aaaa, before?.addresses.map((x) => x.address), 'one AAAA per address');
  const ledgerKinds = (after?.ledger ?? []).map((e) => `${e.kind}${'address' in e ? ` ${e.address}` : ''}${'destination' in e ? ` ${e.destination}` : ''}`);
  t.equal(new Set(ledgerKinds).size, ledgerKinds.length, 'no effect twice in the ledger');

  t.equal((await hookRun('poststop', 'stopped')).code, 0, 'poststop');
  t.same(stateFiles(stateDir).filter((f) => f !== 'agent.sock'), [], 'no state file left');
  t.same(await hostResidue(HOST_NETNS, TABLE), { rules: [], proxies: [], routes: [], table: [] }, 'nothing left on the host');
  t.same(await dig(lab, `agd-k1.${lab.dnsZone}`, 'AAAA'), [], 'no AAAA left');
});

t.test('optimistic DAD finished by the agent (no background process); register on attach', async (t) => {
  const c = await fakeContainer({ id: 'agd-opt1', netns: 'agd-c-opt1', dir: work, annotations: { 'oci-slaac-hook.name': 'agd-opt1', 'oci-slaac-hook.dad': 'optimistic' } });
  t.teardown(c.remove);
  // The previous test's container, stopped by poststop, is forgotten at the next GC tick.
  t.ok(await waitFor(async () => ((await ask({ op: 'ping' })) as { containers?: number }).containers === 0, 3000), 'no container looked after');
  const before = ((await ask({ op: 'ping' })) as { counters?: { dad?: number } }).counters?.dad ?? 0;
  const r = await runHook('createRuntime', c.state('creating'), { config: configFile, hostNetns: HOST_NETNS, env: ENV, timeoutMs: 30_000 });
  t.equal(r.code, 0, `attached: ${r.stderr.trim()}`);
  const ps = await run('ps', ['-eo', 'args']);
  t.notMatch(ps.stdout, /__complete-dad agd-opt1/, 'no detached __complete-dad process');
  t.match(await ask({ op: 'ping' }), { ok: true, containers: 1 }, 'registered by the hook at once');
  const verified = await waitFor(() => {
    const rec = readState(c.id);
    return !!rec && rec.addresses.length > 0 && rec.addresses.every((a) => a.dad === 'verified') && rec.linkLocalDad === 'verified';
  }, 10_000);
  t.ok(verified !== undefined, `the agent finished DAD: every address verified (${verified?.toFixed(0)} ms)`);
  t.equal(((await ask({ op: 'ping' })) as { counters?: { dad?: number } }).counters?.dad, before + 1, 'one complete-dad job in the agent');
  t.equal((await runHook('poststop', c.state('stopped'), { config: configFile, hostNetns: HOST_NETNS, env: ENV, timeoutMs: 30_000 })).code, 0, 'poststop');
  t.ok(await waitFor(async () => ((await ask({ op: 'ping' })) as { containers?: number }).containers === 0, 3000), 'forgotten after poststop');
});

t.test('a second agent refuses to start; SIGTERM exits 0 within 2 s and removes the socket', async (t) => {
  const a = agent;
  if (!a) throw new Error('no agent');
  const second = await run('ip', ['netns', 'exec', HOST_NETNS, 'env', '-u', 'NODE_OPTIONS', process.execPath, HOOK_CLI, 'agent', '--config', configFile], { env: { PATH: process.env.PATH ?? '', ...ENV } });
  t.equal(second.code, 1, 'exit 1');
  t.match(second.stderr, /another agent is running/);
  t.equal(second.stderr.trim().split('\n').length, 1, 'one line');

  const sentAt = performance.now();
  a.child.kill('SIGTERM');
  const { code, at } = await a.exited;
  const ms = at - sentAt;
  t.equal(code, 0, 'exit 0');
  t.ok(ms < 2000, `exited ${ms.toFixed(0)} ms after SIGTERM`);
  t.comment(`SIGTERM to exit: ${ms.toFixed(0)} ms`);
  t.notOk(fs.existsSync(socketFile), 'the socket is removed');
  t.match(a.log(), /agent: stopped$/m);
});
