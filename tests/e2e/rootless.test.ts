// Rootless podman through the agent's broker (runtime/agent/broker.ts), with real rootless podman
// 4.3 (runc, cgroupfs, vfs) run by users this test makes (oshrl1, oshrl2), our hook from a
// --hooks-dir, radvd and BIND. The host is this machine's root netns (podman runs there), whose
// only part of the lab is its veth `rl-h0`; the agent runs there as root with [rootless] enable.
//
// - oshrl1's container's first process sees a non-tentative global address and binds it; the
//   router reaches it; it is published as <name>.oshrl1.<zone>; `podman rm -f` leaves no state, no
//   link, no DNS record.
// - With quota 1, oshrl1's second container is refused with a message that says quota.
// - Hostile: the hook run as oshrl1 (at its quota) for another user's container, a root
//   container, pid 1 and its own `unshare -Urn` netns; as oshrl2 (below its quota) for the same
//   and more (its own host-netns process, the host netns as a descriptor): every one refused, the
//   refusals of each user identical apart from the id, nothing changed anywhere.
// - A forged detach by oshrl2 for oshrl1's container: refused, the container keeps its address.
// - 1000 connections at once from oshrl2: the agent still answers root and the broker oshrl1, and
//   its memory and descriptors stay bounded.
import t from 'tap';
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { run } from '../../vm/lab/run';
import { labUp, type Lab } from '../../vm/lab/lab';
import { dig } from '../../vm/lab/dns';
import { makeRootfs, podmanGlobalArgs, runtimeAvailable } from '../../vm/lab/containers';
import { asUser, ensureUser, hooksDirFor, installHookForUser, removeUser, rootlessPodman, userRootfs, type RootlessUser } from '../../vm/lab/rootless';
import type { ContainerRecord } from '../../runtime/core/record';
import { refusal } from '../../runtime/wire/rootless-protocol';

const ROOT = path.join(__dirname, '..', '..');
const HOOK_CLI = path.join(ROOT, 'dist', 'oci-slaac-hook.js');
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'osh-rl-'));
fs.chmodSync(work, 0o755);
const stateDir = path.join(work, 'state');
const libDir = path.join(work, 'lib');
const configFile = path.join(work, 'config.toml');
const socketFile = path.join(stateDir, 'agent.sock');
const brokerSocket = path.join(stateDir, 'rootless.sock');
const client = path.join(work, 'client.py');
const flood = path.join(work, 'flood.py');
const NO_SYSLOG = path.join(work, 'no-syslog.sock');
const USERS = ['oshrl1', 'oshrl2'];
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

type DnsLab = Lab & { dnsAddr: string; dnsPort: number; dnsZone: string; dnsKeyFile: string };
let lab: DnsLab;
let skip: string | false = false;
let agent: ChildProcess | undefined;
let agentLog = '';
let alice: RootlessUser; // oshrl1
let bob: RootlessUser; // oshrl2
let hooksDir = '';
const rootContainersConf = path.join(work, 'containers.conf');
const rootPodman = (args: string[]) => run('podman', [...podmanGlobalArgs([]), ...args], { env: { ...process.env, CONTAINERS_CONF: rootContainersConf }, timeoutMs: 60_000 });

// A user-side client of rootless.sock (python3's socket module passes descriptors): one request,
// the netns at argv[3] (a path the user opens) sent along if given; prints the answer.
const CLIENT_PY = `import os, socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
s.settimeout(20)
s.connect(sys.argv[1])
fds = [os.open(sys.argv[3], os.O_RDONLY)] if len(sys.argv) > 3 else []
socket.send_fds(s, [sys.argv[2].encode()], fds)
print(s.recv(16384).decode())
`;
// A flood: N connections as fast as they go, held open for HOLD s (none sends anything).
const FLOOD_PY = `import socket, sys, time
n, hold = int(sys.argv[2]), float(sys.argv[3])
held, failed = [], 0
t0 = time.monotonic()
for i in range(n):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    s.setblocking(False)
    try:
        s.connect(sys.argv[1])
        held.append(s)
    except OSError:
        failed += 1
        s.close()
print("connected %d failed %d in %.0f ms" % (len(held), failed, (time.monotonic() - t0) * 1000), flush=True)
time.sleep(hold)
`;

function writeConfig(): void {
  fs.writeFileSync(
    configFile,
    [
      `parent = ${JSON.stringify(lab.hostIf)}`,
      `state_dir = ${JSON.stringify(stateDir)}`,
      'dad = "strict"',
      'gc_interval_ms = 500',
      '[dns]',
      `server = ${JSON.stringify(`[${lab.dnsAddr}]:${lab.dnsPort}`)}`,
      `zone = ${JSON.stringify(lab.dnsZone)}`,
      `key_file = ${JSON.stringify(lab.dnsKeyFile)}`,
      'ttl = 60',
      'timeout_ms = 1000',
      '[rootless]',
      'enable = true',
      'quota = { oshrl1 = 1, oshrl2 = 1 }',
    ].join('\n') + '\n',
  );
  fs.chmodSync(configFile, 0o644); // the hook reads it as the user
}

async function startAgent(): Promise<void> {
  const child = spawn('env', ['-u', 'NODE_OPTIONS', process.execPath, HOOK_CLI, 'agent', '--config', configFile], {
    env: { PATH: process.env.PATH ?? '', OCI_SLAAC_HOOK_STATE_LIB: libDir, OCI_SLAAC_HOOK_SYSLOG: NO_SYSLOG },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  agent = child;
  child.stdout?.on('data', (d: Buffer) => (agentLog += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (agentLog += d.toString()));
  for (let i = 0; i < 200 && !agentLog.includes('agent: started'); i++) await sleep(50);
  if (!agentLog.includes('agent: started')) throw new Error(`the agent did not start: ${agentLog}`);
  if (!agentLog.includes('broker: listening')) throw new Error(`the broker did not start: ${agentLog}`);
}

/** The agent's ping over agent.sock (root): its answer and how long it took. */
function ping(): Promise<{ ms: number; answer: { ok: boolean; containers?: number; counters?: { broker?: Record<string, number> } } }> {
  const t0 = performance.now();
  return new Promise((resolve, reject) => {
    const s = net.createConnection(socketFile);
    let got = '';
    const timer = setTimeout(() => reject(new Error('no ping answer in 5 s')), 5000);
    s.on('connect', () => s.write('{"op":"ping"}\n'));
    s.on('data', (d) => (got += d.toString()));
    s.on('error', reject);
    s.on('close', () => {
      clearTimeout(timer);
      resolve({ ms: performance.now() - t0, answer: JSON.parse(got) as { ok: boolean } });
    });
  });
}

const records = (): ContainerRecord[] =>
  fs.existsSync(stateDir) ? fs.readdirSync(stateDir).filter((f) => f.endsWith('.json')).map((f) => JSON.parse(fs.readFileSync(path.join(stateDir, f), 'utf8')) as ContainerRecord) : [];
/** Links of ours on the host side (a macvlan left in the root netns by a failed move would show here). */
const macvlans = async () => (await run('ip', ['-o', '-d', 'link', 'show'])).stdout.split('\n').filter((l) => l.includes(`@${lab.hostIf}`)).length;
/** Everything a refused request must leave as it was: records, links on the host, the zone's AAAAs of both users. */
async function world(): Promise<string> {
  const links = (await run('ip', ['-o', 'link', 'show'])).stdout.split('\n').map((l) => l.replace(/^\d+: /, '').split(' ')[0]).sort();
  const dns = [await dig(lab, `rlweb.oshrl1.${lab.dnsZone}`, 'AAAA'), await dig(lab, `rlweb.oshrl2.${lab.dnsZone}`, 'AAAA')];
  return JSON.stringify({ records: records().map((r) => [r.id, r.phase, r.addresses.map((a) => a.address)]), links, dns });
}

/** The hook as `user` with this OCI state (a bundle of its own), as rootless podman would run it: exit code and stderr. */
async function hookAs(user: RootlessUser, stage: 'prestart' | 'poststop', state: Record<string, unknown>): Promise<{ code: number; stderr: string }> {
  const dir = fs.mkdtempSync(path.join(work, 'state-'));
  fs.chmodSync(dir, 0o755);
  const bundle = path.join(dir, 'bundle');
  fs.mkdirSync(bundle, { mode: 0o755 });
  fs.writeFileSync(path.join(bundle, 'config.json'), JSON.stringify({ ociVersion: '1.0.2', linux: { namespaces: [{ type: 'network' }] } }), { mode: 0o644 });
  const input = path.join(dir, 'state.json');
  fs.writeFileSync(input, JSON.stringify({ ociVersion: '1.0.2', bundle, annotations: {}, ...state }), { mode: 0o644 });
  const r = await asUser(user, 'sh', ['-c', `OCI_SLAAC_HOOK_SYSLOG=${NO_SYSLOG} exec node "$0" ${stage} --config "$1" < "$2"`, hookEntry, configFile, input], 30_000);
  return { code: r.code, stderr: r.stderr.trim() };
}
let hookEntry = '';

const userClient = (user: RootlessUser, request: object, netns?: string) => asUser(user, '/usr/bin/python3', [client, brokerSocket, JSON.stringify(request), ...(netns ? [netns] : [])], 30_000);

const rssKiB = (pid: number): number => Number(/VmRSS:\s+(\d+)/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0);
const fdCount = (pid: number): number => fs.readdirSync(`/proc/${pid}/fd`).length;
const fdTargets = (pid: number): string[] => fs.readdirSync(`/proc/${pid}/fd`).map((f) => { try { return `${f}:${fs.readlinkSync(`/proc/${pid}/fd/${f}`)}`; } catch { return f; } });

t.before(async () => {
  if (!(await runtimeAvailable('podman'))) {
    skip = 'podman is not installed';
    return;
  }
  for (const tool of ['newuidmap', 'python3', 'runuser']) {
    if ((await run('sh', ['-c', `command -v ${tool}`])).code !== 0) throw new Error(`${tool} is missing (vm/setup.sh installs it): rootless podman and this test need it`);
  }
  const up = await labUp({
    LAB_NAME: 'rl',
    LAB_PREFIX: '2001:db8:d6::/64',
    LAB_ROUTER_ADDR: '2001:db8:d6::1',
    LAB_PEER_ADDR: '2001:db8:d6::100',
    LAB_DNS: 'bind',
    LAB_DNS_ADDR: '2001:db8:d6::53',
    LAB_HOST_ADDR: '2001:db8:d6::2/64',
  });
  const { dnsAddr, dnsPort, dnsZone, dnsKeyFile } = up;
  if (!dnsAddr || !dnsPort || !dnsZone || !dnsKeyFile) throw new Error('the lab has no DNS server');
  lab = { ...up, dnsAddr, dnsPort, dnsZone, dnsKeyFile };
  alice = await ensureUser('oshrl1');
  bob = await ensureUser('oshrl2');
  const hook = await installHookForUser(ROOT, path.join(work, 'hook'));
  hookEntry = hook.entry;
  const stage = (s: string) => ({ path: process.execPath, args: ['node', hook.entry, s, '--config', configFile], env: ['PATH=/usr/sbin:/usr/bin:/sbin:/bin', `OCI_SLAAC_HOOK_SYSLOG=${NO_SYSLOG}`], timeout: 30 });
  hooksDir = await hooksDirFor(path.join(work, 'hooks.d'), { prestart: stage('prestart'), poststop: stage('poststop') });
  for (const [file, text] of [[client, CLIENT_PY], [flood, FLOOD_PY]] as const) fs.writeFileSync(file, text, { mode: 0o644 });
  fs.writeFileSync(rootContainersConf, '[containers]\ndefault_ulimits = ["nofile=1024:1024", "nproc=1024:1024"]\n');
  writeConfig();
  await startAgent();
});

t.teardown(async () => {
  if (!skip) {
    for (const u of [alice, bob]) if (u) await rootlessPodman(u, ['rm', '-f', '-a', '-t', '0'], { hooksDir });
    await rootPodman(['rm', '-f', '-t', '0', 'rl-root']);
  }
  agent?.kill('SIGTERM');
  await sleep(300);
  for (const u of USERS) await removeUser(u).catch(() => undefined);
  await lab?.down();
  fs.rmSync(work, { recursive: true, force: true });
});

// The container's first process: the address must be there, not tentative, before it runs.
const FIRST_PROCESS = `a=$(ip -6 -o addr show scope global | grep -v tentative | awk '{print $4}' | cut -d/ -f1 | head -n1)
[ -n "$a" ] || { echo NOADDR; ip -6 addr; exit 1; }
echo "ADDR $a"
mkdir -p /tmp/www && echo rootless-ok > /tmp/www/index.html
exec httpd -f -p "[$a]:8080" -h /tmp/www`;

let webId = '';
let webAddress = '';

t.test('a rootless container gets a public address through the broker, bound by its first process', async (t) => {
  if (skip) return t.pass(`skipped: ${skip}`);
  t.setTimeout(240_000);
  const rootfs = await userRootfs(alice, path.join(alice.home, 'rootfs'));
  const r = await rootlessPodman(alice, ['run', '-d', '--name', 'rlweb', '--network', 'none', '--rootfs', rootfs, '/bin/sh', '-c', FIRST_PROCESS], { hooksDir });
  t.equal(r.code, 0, `podman run (rootless): ${r.stderr.trim()}\n${agentLog.slice(-2000)}`);
  webId = r.stdout.trim().split('\n').pop() ?? '';
  const recs = records();
  t.equal(recs.length, 1, 'one record');
  const rec = recs[0];
  if (!rec) return;
  t.equal(rec.id, webId);
  t.same(rec.rootless, { uid: alice.uid, user: 'oshrl1' }, "the record is oshrl1's");
  t.equal(rec.name, 'rlweb.oshrl1', "keyed by the user's own name for it");
  webAddress = rec.addresses[0]?.address ?? '';
  t.match(webAddress, /^2001:db8:d6:/, 'an address from the RA prefix');
  t.equal(fs.statSync(path.join(stateDir, fs.readdirSync(stateDir).find((f) => f.endsWith('.json')) ?? '')).mode & 0o777, 0o600, 'records are 0600');
  t.equal(fs.statSync(stateDir).mode & 0o777, 0o711, 'the state dir is searchable, not listable');
  t.equal(fs.statSync(brokerSocket).mode & 0o777, 0o666, 'rootless.sock: any local user may connect');

  let logs = '';
  for (let i = 0; i < 20 && !logs.includes('ADDR'); i++) {
    logs = (await rootlessPodman(alice, ['logs', 'rlweb'])).stdout;
    if (!logs.includes('ADDR')) await sleep(200);
  }
  t.match(logs, `ADDR ${webAddress}`, `its first process saw the address, not tentative: ${logs}`);
  const ps = await rootlessPodman(alice, ['ps', '--format', '{{.Names}} {{.Status}}']);
  t.match(ps.stdout, /rlweb Up/, 'and bound it (httpd runs)');
  let body = '';
  for (let i = 0; i < 20 && !body.includes('rootless-ok'); i++) {
    body = (await run('ip', ['netns', 'exec', lab.routerNetns, 'curl', '-s', '-m', '2', `http://[${webAddress}]:8080/`])).stdout;
    if (!body.includes('rootless-ok')) await sleep(200);
  }
  t.match(body, 'rootless-ok', 'the router reaches it');
  t.same(await dig(lab, `rlweb.oshrl1.${lab.dnsZone}`, 'AAAA'), [webAddress], 'published as <name>.<user>.<zone>');
  t.equal((await ping()).answer.containers, 1, 'the agent looks after it (refreshed like any other)');
  const pid = (await rootlessPodman(alice, ['inspect', '--format', '{{.State.Pid}}', 'rlweb'])).stdout.trim();
  const links = await run('nsenter', ['-t', pid, '-n', 'ip', '-o', 'link', 'show', 'type', 'macvlan']);
  t.equal(links.stdout.trim().split('\n').filter(Boolean).length, 1, `one macvlan in its netns: ${links.stdout.trim()}`);
});

t.test('quota 1: the second concurrent container is refused, saying quota', async (t) => {
  if (skip || !webId) return t.pass('skipped');
  t.setTimeout(120_000);
  const before = await world();
  const rootfs = path.join(alice.home, 'rootfs');
  const r = await rootlessPodman(alice, ['run', '--rm', '--name', 'rlweb2', '--network', 'none', '--rootfs', rootfs, '/bin/true'], { hooksDir });
  t.not(r.code, 0, 'refused');
  t.match(r.stderr, /refused: quota \(oshrl1 may have 1 container attached at once, and has 1\)/, `says quota: ${r.stderr.trim()}`);
  t.equal(await world(), before, 'nothing changed');
});

t.test('hostile hooks: every netns not the user\'s (or beyond the quota) refused, identically, nothing changed', async (t) => {
  if (skip || !webId) return t.pass('skipped');
  t.setTimeout(240_000);
  // Another user's container (bob's, no hooks), a root container, pid 1, and netns each user makes.
  const bobRootfs = await userRootfs(bob, path.join(bob.home, 'rootfs'));
  const other = await rootlessPodman(bob, ['run', '-d', '--name', 'rlother', '--network', 'none', '--rootfs', bobRootfs, 'sleep', '600']);
  t.equal(other.code, 0, `bob's container: ${other.stderr.trim()}`);
  const bobPid = Number((await rootlessPodman(bob, ['inspect', '--format', '{{.State.Pid}}', 'rlother'])).stdout.trim());
  await makeRootfs(path.join(work, 'rootfs-root'));
  const rootC = await rootPodman(['run', '-d', '--name', 'rl-root', '--network', 'none', '--rootfs', path.join(work, 'rootfs-root'), 'sleep', '600']);
  t.equal(rootC.code, 0, `root's container: ${rootC.stderr.trim()}`);
  const rootPid = Number((await rootPodman(['inspect', '--format', '{{.State.Pid}}', 'rl-root'])).stdout.trim());
  const aliceWebPid = Number((await rootlessPodman(alice, ['inspect', '--format', '{{.State.Pid}}', 'rlweb'])).stdout.trim());
  const spawnAs = (u: RootlessUser, cmd: string) => spawn('runuser', ['-u', u.name, '--', 'sh', '-c', cmd], { stdio: 'ignore', detached: true });
  const aliceUnshare = spawnAs(alice, 'exec unshare -Urn sleep 600');
  const bobHostProcess = spawnAs(bob, 'exec sleep 600');
  t.teardown(() => {
    for (const c of [aliceUnshare, bobHostProcess]) c.kill('SIGKILL');
  });
  await sleep(500);
  const pidOf = async (u: RootlessUser, pattern: string) => Number((await run('pgrep', ['-u', String(u.uid), '-n', '-f', pattern])).stdout.trim());
  const aliceNetnsPid = await pidOf(alice, '^sleep 600');
  const bobHostPid = bobHostProcess.pid ?? 0;
  t.ok(bobPid > 0 && rootPid > 0 && aliceNetnsPid > 0 && bobHostPid > 0, `pids: bob's ${bobPid}, root's ${rootPid}, alice's unshare ${aliceNetnsPid}, bob's host process ${bobHostPid}`);

  const before = await world();
  const tryAll = async (u: RootlessUser, cases: [string, number][]) => {
    const texts: string[] = [];
    for (const [what, pid] of cases) {
      const id = `rl-evil-${u.name}-${what}`;
      const r = await hookAs(u, 'prestart', { id, status: 'creating', pid });
      t.equal(r.code, 1, `${u.name}, ${what} (pid ${pid}): refused (exit 1): ${r.stderr}`);
      texts.push(r.stderr.split(id).join('ID'));
    }
    return texts;
  };
  // alice is at her quota: whatever she sends, the answer is "quota" — the same for all four.
  const atQuota = await tryAll(alice, [['bobs-container', bobPid], ['root-container', rootPid], ['pid-1', 1], ['own-unshare-netns', aliceNetnsPid]]);
  t.equal(new Set(atQuota).size, 1, `alice's four refusals are one text: ${JSON.stringify(atQuota)}`);
  t.match(atQuota[0] ?? '', /quota/);
  // bob is below his: each refusal is the uniform one, never saying which case it was.
  const uniform = await tryAll(bob, [['alices-container', aliceWebPid], ['root-container', rootPid], ['pid-1', 1], ['own-host-process', bobHostPid]]);
  t.equal(new Set(uniform).size, 1, `bob's four refusals are one text: ${JSON.stringify(uniform)}`);
  t.match(uniform[0] ?? '', refusal('ID'), 'the uniform refusal');
  // The host's netns as a descriptor (any user can open their own), straight to the broker.
  const direct = await userClient(bob, { op: 'attach', id: 'rl-evil-direct', pid: bobHostPid, name: 'evil' }, '/proc/self/ns/net');
  t.same(JSON.parse(direct.stdout), { ok: false, error: refusal('rl-evil-direct') }, `the host netns by descriptor: refused (${direct.stderr.trim()})`);
  // alice's own container's netns with bob's request: not his.
  t.equal(await world(), before, 'nothing changed: records, links, DNS');
  t.match(agentLog, /refused: the network namespace is the host's/, 'the log says which (host)');
  t.match(agentLog, /refused: no network namespace descriptor came/, 'the log says which (not openable)');
});

t.test('a forged detach of another user\'s container is refused; the container keeps its address', async (t) => {
  if (skip || !webId) return t.pass('skipped');
  t.setTimeout(60_000);
  const before = await world();
  const forged = await userClient(bob, { op: 'detach', id: webId });
  t.same(JSON.parse(forged.stdout), { ok: false, error: refusal(webId) }, 'refused, uniformly');
  // The same through the hook's poststop, as bob: nothing withdrawn.
  const hook = await hookAs(bob, 'poststop', { id: webId, status: 'stopped' });
  t.equal(hook.code, 0, 'poststop of a container not his: nothing to withdraw');
  // And alice herself cannot detach it while it runs without its netns.
  const early = await userClient(alice, { op: 'detach', id: webId });
  t.same(JSON.parse(early.stdout), { ok: false, error: refusal(webId) }, "alice's detach of her running container without its netns: refused");
  t.equal(await world(), before, 'nothing changed');
  const body = (await run('ip', ['netns', 'exec', lab.routerNetns, 'curl', '-s', '-m', '2', `http://[${webAddress}]:8080/`])).stdout;
  t.match(body, 'rootless-ok', 'still reachable');
  t.match(agentLog, new RegExp(`detach of ${webId} for uid ${bob.uid} .*refused: container ${webId} is not uid ${bob.uid}'s`), 'the log says why');
});

t.test('1000 connections at once from one user: root and other users are still served; memory bounded', async (t) => {
  if (skip || !webId) return t.pass('skipped');
  t.setTimeout(120_000);
  const pid = agent?.pid ?? 0;
  await ping();
  const rss0 = rssKiB(pid);
  const fds0 = fdCount(pid);
  const targets0 = fdTargets(pid);
  const flooding = asUser(bob, '/usr/bin/python3', [flood, brokerSocket, '1000', '4'], 60_000);
  await sleep(1000); // the flood is on, its connections held
  const during = await ping();
  t.ok(during.ms < 1000, `root's ping answered in ${during.ms.toFixed(1)} ms during the flood`);
  const t0 = performance.now();
  const other = await userClient(alice, { op: 'detach', id: 'rl-nothing' });
  const otherMs = performance.now() - t0;
  t.same(JSON.parse(other.stdout), { ok: false, error: refusal('rl-nothing') }, `another user served during the flood (${otherMs.toFixed(0)} ms)`);
  const broker = during.answer.counters?.broker ?? {};
  t.ok((broker.connections ?? 99) <= 8 + 1, `open broker connections bounded (${broker.connections})`);
  const rss1 = rssKiB(pid);
  const f = await flooding;
  t.equal(f.code, 0, `flood: ${f.stdout.trim()} ${f.stderr.trim()}`);
  await sleep(2500); // held connections time out (2 s)
  const after = await ping();
  const b = after.answer.counters?.broker ?? {};
  t.comment(`flood: ${f.stdout.trim()}; broker accepted ${b.accepted}, shed ${b.shed}, timeouts ${b.timeouts}; RSS ${rss0} -> ${rss1} -> ${rssKiB(pid)} KiB; fds ${fds0} -> ${fdCount(pid)}`);
  const connected = Number(/connected (\d+)/.exec(f.stdout)?.[1] ?? 1000);
  t.ok((b.shed ?? 0) >= connected - 8, `connections over the per-user limit shed at accept (${b.shed} of ${connected}; the rest the kernel's backlog refused)`);
  t.ok(rssKiB(pid) - rss0 < 32 * 1024, 'RSS grew by less than 32 MiB');
  // +4 at most: the agent may meanwhile have opened the handle it holds for rlweb's netns (a netns
  // fd and its rtnetlink socket) and an RA socket — never one per connection.
  t.ok(fdCount(pid) <= fds0 + 4, `descriptors back to ${fdCount(pid)} (were ${fds0}): new ${fdTargets(pid).filter((x) => !targets0.includes(x)).join(' ')}`);
  t.equal(b.connections, 0, 'no connection left open');
});

t.test('podman rm -f: the broker withdraws everything', async (t) => {
  if (skip || !webId) return t.pass('skipped');
  t.setTimeout(120_000);
  const rm = await rootlessPodman(alice, ['rm', '-f', '-t', '0', 'rlweb'], { hooksDir });
  t.equal(rm.code, 0, `podman rm -f: ${rm.stderr.trim()}`);
  for (let i = 0; i < 50 && records().length > 0; i++) await sleep(100);
  t.same(records(), [], 'no state left');
  t.equal(await macvlans(), 0, 'no link of ours left on the host side');
  t.same(await dig(lab, `rlweb.oshrl1.${lab.dnsZone}`, 'AAAA'), [], 'no DNS record left');
  // Whichever comes first withdraws: the broker at poststop, or the agent's GC seeing the
  // container's process gone (the poststop then finds nothing of oshrl1's under that id).
  t.match(agentLog, new RegExp(`broker: ${webId.slice(0, 12)} of oshrl1: withdrawn|gc ${webId}: network namespace .* is gone .*: withdrawn`), 'withdrawn (by the broker at poststop, or by GC)');
});
