// Issue 14: who may reach a container. Two hosts of the lab (netns pol-ha and pol-hb, each with
// its own hook, agent, state and secret), a real radvd and BIND. A restricted container's
// nf_tables table (made by our code over NETLINK_NETFILTER) admits only its exposed ports, the
// members of its logical networks (published in DNS and followed by each host's agent), replies
// and the ICMPv6 IPv6 needs; a bad policy refuses the container with nothing left.
import t from 'tap';
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { labUp, type Lab } from '../../vm/lab/lab';
import { run } from '../../vm/lab/run';
import { dig } from '../../vm/lab/dns';
import { fakeContainer, HOOK_CLI, runHook, stateFiles, type FakeContainer } from '../../vm/lab/fake-container';
import type { ContainerRecord } from '../../runtime/core/record';

const PREFIX = '2001:db8:e4::/64';
const FAR_NET = '2001:db8:e5::';
const HOSTS = { a: 'pol-ha', b: 'pol-hb' } as const;
const FAR_NETNS = 'pol-far';
const TTL = 2;
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'osh-pol-'));
fs.chmodSync(work, 0o755);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
type DnsLab = Lab & { dnsAddr: string; dnsPort: number; dnsZone: string; dnsKeyFile: string; hostbNetns: string; hostbIf: string };
let lab: DnsLab;
const children: ChildProcess[] = [];
const containers: FakeContainer[] = [];

interface Host {
  name: 'a' | 'b';
  netns: string;
  config: string;
  stateDir: string;
  env: Record<string, string>;
  agentLog: () => string;
}
const hosts: Partial<Record<'a' | 'b', Host>> = {};

function hostSetup(name: 'a' | 'b', netns: string, parent: string): Host {
  const dir = path.join(work, `host-${name}`);
  const stateDir = path.join(dir, 'state');
  const lib = path.join(dir, 'lib');
  fs.mkdirSync(lib, { recursive: true, mode: 0o700 });
  fs.writeFileSync(path.join(lib, 'secret'), Buffer.alloc(32, name === 'a' ? 0x41 : 0x42), { mode: 0o600 });
  const config = path.join(dir, 'config.toml');
  fs.writeFileSync(
    config,
    [
      `parent = ${JSON.stringify(parent)}`,
      `state_dir = ${JSON.stringify(stateDir)}`,
      'gc_interval_ms = 500',
      '[dns]',
      `server = ${JSON.stringify(`[${lab.dnsAddr}]:${lab.dnsPort}`)}`,
      `zone = ${JSON.stringify(lab.dnsZone)}`,
      `key_file = ${JSON.stringify(lab.dnsKeyFile)}`,
      `ttl = ${TTL}`,
      'timeout_ms = 1000',
    ].join('\n') + '\n',
  );
  return { name, netns, config, stateDir, env: { OCI_SLAAC_HOOK_STATE_LIB: lib, OCI_SLAAC_HOOK_SYSLOG: path.join(dir, 'no-syslog.sock') }, agentLog: () => '' };
}

async function startAgent(h: Host): Promise<void> {
  const child = spawn('ip', ['netns', 'exec', h.netns, 'env', '-u', 'NODE_OPTIONS', process.execPath, HOOK_CLI, 'agent', '--config', h.config], {
    env: { PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin', ...h.env },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  children.push(child);
  let text = '';
  child.stderr?.setEncoding('utf8').on('data', (s: string) => (text += s));
  h.agentLog = () => text;
  for (let i = 0; i < 200 && !text.includes('agent: started'); i++) await sleep(50);
  if (!text.includes('agent: started')) throw new Error(`agent ${h.name} did not start: ${text}`);
}

/** A long-running node program in a netns (a listener), killed at teardown. */
function serve(netns: string, ports: number[]): Promise<void> {
  const code = `const n=require('net');let up=0;for(const p of ${JSON.stringify(ports)})n.createServer(s=>{s.on('error',()=>{});s.end('ok '+p+'\\n')}).listen(p,'::',()=>{if(++up===${ports.length})console.log('listening')})`;
  const child = spawn('ip', ['netns', 'exec', netns, 'env', '-u', 'NODE_OPTIONS', process.execPath, '-e', code], { stdio: ['ignore', 'pipe', 'inherit'] });
  children.push(child);
  return new Promise((resolve, reject) => {
    child.stdout?.setEncoding('utf8').on('data', (s: string) => s.includes('listening') && resolve());
    child.on('exit', (c) => reject(new Error(`listener in ${netns} exited ${c}`)));
  });
}

/** Connect from `netns` to [addr]:port: 'ok PORT' (its answer), 'timeout', or the error code. */
async function connect(netns: string, addr: string, port: number, timeoutMs = 800): Promise<string> {
  const code = `const s=require('net').connect({host:${JSON.stringify(addr)},port:${port}});let b='';s.setTimeout(${timeoutMs},()=>{console.log('timeout');process.exit(0)});s.on('data',d=>b+=d);s.on('end',()=>{console.log(b.trim());process.exit(0)});s.on('error',e=>{console.log(e.code);process.exit(0)})`;
  const r = await run('ip', ['netns', 'exec', netns, 'env', '-u', 'NODE_OPTIONS', process.execPath, '-e', code], { timeoutMs: 10_000 });
  return r.stdout.trim();
}

async function startContainer(h: Host, id: string, annotations: Record<string, string>): Promise<{ c: FakeContainer; record: ContainerRecord; address: string }> {
  const c = await fakeContainer({ id, netns: `pol-${id}`, dir: path.join(work, `host-${h.name}`), annotations: { 'oci-slaac-hook.name': id, ...annotations } });
  containers.push(c);
  const r = await runHook('createRuntime', c.state('creating'), { config: h.config, env: h.env, hostNetns: h.netns, timeoutMs: 30_000 });
  if (r.code !== 0) throw new Error(`createRuntime ${id}: ${r.stderr}`);
  const record = readRecord(h, id);
  if (!record) throw new Error(`no record for ${id}`);
  return { c, record, address: record.addresses[0]?.address ?? '' };
}

const stopContainer = (h: Host, c: FakeContainer) => runHook('poststop', c.state('stopped'), { config: h.config, env: h.env, hostNetns: h.netns, timeoutMs: 30_000 });

function readRecord(h: Host, id: string): ContainerRecord | undefined {
  try {
    return JSON.parse(fs.readFileSync(path.join(h.stateDir, `${id}.json`), 'utf8')) as ContainerRecord;
  } catch {
    return undefined;
  }
}

/** The elements of a member set, as `nft` lists them inside the container's netns. */
async function members(netns: string, network: string): Promise<string[]> {
  const r = await run('ip', ['netns', 'exec', netns, 'nft', '-j', 'list', 'set', 'inet', 'oci_slaac_hook', `net_${network}`]);
  if (r.code !== 0) return [];
  const set = (JSON.parse(r.stdout) as { nftables: { set?: { elem?: string[] } }[] }).nftables.find((x) => x.set)?.set;
  return set?.elem ?? [];
}

async function until(what: () => Promise<boolean>, ms: number): Promise<number | undefined> {
  const start = performance.now();
  while (performance.now() - start < ms) {
    if (await what()) return Math.round(performance.now() - start);
    await sleep(100);
  }
  return undefined;
}

t.before(async () => {
  const up = await labUp({
    LAB_NAME: 'pol',
    LAB_HOST_NETNS: HOSTS.a,
    LAB_PREFIX: PREFIX,
    LAB_ROUTER_ADDR: '2001:db8:e4::1',
    LAB_PEER_ADDR: '2001:db8:e4::100',
    LAB_RETRANS_MS: '300',
    LAB_DNS: 'bind',
    LAB_DNS_ADDR: '2001:db8:e4::53',
    LAB_HOST_ADDR: '2001:db8:e4::2/64',
    LAB_HOSTB: '1',
    LAB_HOSTB_NETNS: HOSTS.b,
    LAB_HOSTB_ADDR: '2001:db8:e4::3/64',
  });
  const { dnsAddr, dnsPort, dnsZone, dnsKeyFile, hostbNetns, hostbIf } = up;
  if (!dnsAddr || !dnsPort || !dnsZone || !dnsKeyFile || !hostbNetns || !hostbIf) throw new Error('the lab has no DNS server or no host B');
  lab = { ...up, dnsAddr, dnsPort, dnsZone, dnsKeyFile, hostbNetns, hostbIf };
  // "Beyond the router": a network behind it whose link has the IPv6 minimum MTU.
  await run('ip', ['netns', 'add', FAR_NETNS]);
  for (const cmd of [
    ['link', 'add', 'polfar0', 'netns', lab.routerNetns, 'mtu', '1280', 'type', 'veth', 'peer', 'name', 'polfar1', 'netns', FAR_NETNS, 'mtu', '1280'],
    ['-n', lab.routerNetns, 'addr', 'add', `${FAR_NET}1/64`, 'dev', 'polfar0', 'nodad'],
    ['-n', lab.routerNetns, 'link', 'set', 'polfar0', 'up'],
    ['-n', FAR_NETNS, 'addr', 'add', `${FAR_NET}2/64`, 'dev', 'polfar1', 'nodad'],
    ['-n', FAR_NETNS, 'link', 'set', 'polfar1', 'up'],
    ['-n', FAR_NETNS, 'link', 'set', 'lo', 'up'],
    ['-n', FAR_NETNS, '-6', 'route', 'add', 'default', 'via', `${FAR_NET}1`],
  ]) {
    const r = await run('ip', cmd);
    if (r.code !== 0) throw new Error(`ip ${cmd.join(' ')}: ${r.stderr}`);
  }
  hosts.a = hostSetup('a', HOSTS.a, lab.hostIf);
  hosts.b = hostSetup('b', lab.hostbNetns, lab.hostbIf);
  await startAgent(hosts.a);
  await startAgent(hosts.b);
  await serve(lab.routerNetns, [9000]);
  await serve(FAR_NETNS, [9000]);
});

t.teardown(async () => {
  for (const c of children) c.kill('SIGTERM');
  await sleep(300);
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
  for (const c of containers) await c.remove();
  await run('ip', ['netns', 'del', FAR_NETNS]);
  await lab?.down();
  fs.rmSync(work, { recursive: true, force: true });
});

const A = () => hosts.a as Host;
const web0Mtu = (r: ContainerRecord): number => r.mtu ?? 1500;
const B = () => hosts.b as Host;

t.test('restricted, exposing tcp:8080: the router reaches 8080, not 8081; the container reaches out, replies flow', async (t) => {
  t.setTimeout(90_000);
  const web = await startContainer(A(), 'web', { 'oci-slaac-hook.policy': 'restricted', 'oci-slaac-hook.expose': 'tcp:8080' });
  await serve(web.c.netns, [8080, 8081]);
  t.match(web.record, { policy: { mode: 'restricted', expose: [{ proto: 'tcp', from: 8080, to: 8080 }] }, firewall: { table: 'oci_slaac_hook' } });
  const listed = await run('ip', ['netns', 'exec', web.c.netns, 'nft', 'list', 'table', 'inet', 'oci_slaac_hook']);
  t.match(listed.stdout, /hook input priority filter; policy accept;/, 'nft lists our table: the input hook');
  t.match(listed.stdout, /iifname "eth0" jump guard/, 'guarding our interface only');
  t.match(listed.stdout, /tcp dport 8080 accept|th dport 8080 accept/, 'the exposed port');
  t.equal(await connect(lab.routerNetns, web.address, 8080), 'ok 8080', 'router → 8080: open');
  t.equal(await connect(lab.routerNetns, web.address, 8081), 'timeout', 'router → 8081: dropped');
  t.equal(await connect(lab.peerNetns, web.address, 8081), 'timeout', 'peer → 8081: dropped');
  t.equal(await connect(web.c.netns, lab.config.routerAddr, 9000), 'ok 9000', 'container → router: its replies flow back');
  t.equal(await connect(web.c.netns, `${FAR_NET}2`, 9000), 'ok 9000', 'container → beyond the router');
  const ping = await run('ip', ['netns', 'exec', lab.routerNetns, 'ping', '-6', '-c', '1', '-W', '2', web.address]);
  t.equal(ping.code, 0, 'echo is admitted by default');

  await t.test('status shows the policy; check verifies the table, and sees it changed by hand', async (t) => {
    const cli = (...args: string[]) => run('ip', ['netns', 'exec', A().netns, 'env', '-u', 'NODE_OPTIONS', process.execPath, HOOK_CLI, ...args, '--config', A().config], { env: { PATH: process.env.PATH ?? '', ...A().env } });
    const status = await cli('status');
    t.match(status.stdout, /web\s.*restricted; expose tcp:8080; echo/, 'status: policy and exposed ports');
    const ok = await cli('check', 'web');
    t.equal(ok.stdout.trim(), 'ok', `check: ${ok.stdout}${ok.stderr}`);
    await run('ip', ['netns', 'exec', web.c.netns, 'nft', 'insert', 'rule', 'inet', 'oci_slaac_hook', 'guard', 'tcp', 'dport', '8081', 'accept']);
    const changed = await cli('check', 'web');
    t.equal(changed.code, 1, 'check fails');
    t.match(changed.stdout, /firewall table inet oci_slaac_hook has 9 rules where the policy \(restricted; expose tcp:8080; echo\) makes 8/, changed.stdout);
    await run('ip', ['netns', 'exec', web.c.netns, 'nft', 'delete', 'table', 'inet', 'oci_slaac_hook']);
    const gone = await cli('check', 'web');
    t.match(gone.stdout, /firewall table inet oci_slaac_hook is missing/, gone.stdout);
  });
  const stopped = await stopContainer(A(), web.c);
  t.equal(stopped.code, 0, stopped.stderr);
});

t.test('ND and PMTU through a restricted container (echo off): a neighbour resolves it; a smaller MTU on the path is learned', async (t) => {
  t.setTimeout(60_000);
  const quiet = await startContainer(A(), 'quiet', { 'oci-slaac-hook.policy': 'restricted', 'oci-slaac-hook.echo': 'false' });
  await run('ip', ['-n', lab.routerNetns, '-6', 'neigh', 'flush', 'dev', lab.routerIf]);
  const ping = await run('ip', ['netns', 'exec', lab.routerNetns, 'ping', '-6', '-c', '1', '-W', '1', quiet.address]);
  t.not(ping.code, 0, 'echo off: no answer');
  const neigh = await run('ip', ['-n', lab.routerNetns, '-6', 'neigh', 'show', quiet.address]);
  t.match(neigh.stdout, /lladdr [0-9a-f:]+ (REACHABLE|STALE|DELAY|PROBE)/, `the router resolved it: ${neigh.stdout.trim()}`);
  // A 1348-byte packet (within the link's MTU, the RA's) to the far network: the router answers
  // Packet Too Big (its link there has 1280).
  t.equal(web0Mtu(quiet.record), lab.config.mtu || 1500, 'the link MTU is the RA\'s');
  await run('ip', ['netns', 'exec', quiet.c.netns, 'ping', '-6', '-c', '2', '-i', '0.3', '-W', '1', '-s', '1300', '-M', 'do', `${FAR_NET}2`]);
  const route = await run('ip', ['-n', quiet.c.netns, '-6', 'route', 'get', `${FAR_NET}2`]);
  t.match(route.stdout, /mtu 1280/, `the path MTU is learned: ${route.stdout.trim()}`);
  const after = await run('ip', ['netns', 'exec', quiet.c.netns, 'ping', '-6', '-c', '1', '-W', '2', '-s', '1200', `${FAR_NET}2`]);
  t.equal(after.code, 0, 'and traffic within it flows');
  t.equal((await stopContainer(A(), quiet.c)).code, 0);
});

t.test('network blue across two hosts: members reach each other, others do not; a member that stops is dropped after convergence', async (t) => {
  t.setTimeout(120_000);
  const restricted = { 'oci-slaac-hook.policy': 'restricted', 'oci-slaac-hook.networks': 'blue' };
  const a1 = await startContainer(A(), 'blue-a', restricted);
  const t0 = performance.now();
  const b1 = await startContainer(B(), 'blue-b', restricted);
  const startedMs = Math.round(performance.now() - t0);
  const other = await startContainer(A(), 'other-a', {});
  const otherB = await startContainer(B(), 'other-b', { 'oci-slaac-hook.policy': 'restricted' });
  for (const x of [a1, b1]) await serve(x.c.netns, [8081]);
  const blueName = `blue.networks.${lab.dnsZone}`;
  t.same((await dig(lab, blueName, 'AAAA')).sort(), [a1.address, b1.address].sort(), `${blueName} holds both members`);
  t.same(await members(b1.c.netns, 'blue'), [a1.address], "B's member learned A's address at its start (DNS)");
  const joinMs = await until(async () => (await members(a1.c.netns, 'blue')).includes(b1.address), 10_000);
  t.ok(joinMs !== undefined, `A's agent added B's address ${joinMs} ms after B's hook returned (TTL ${TTL} s; B's start took ${startedMs} ms)`);
  t.equal(await connect(a1.c.netns, b1.address, 8081), 'ok 8081', 'A → B, unexposed port: a member');
  t.equal(await connect(b1.c.netns, a1.address, 8081), 'ok 8081', 'B → A, unexposed port: a member');
  t.equal(await connect(other.c.netns, a1.address, 8081), 'timeout', 'not in blue, same host as A: dropped');
  t.equal(await connect(other.c.netns, b1.address, 8081), 'timeout', 'not in blue, other host: dropped');
  t.equal(await connect(otherB.c.netns, a1.address, 8081), 'timeout', 'not in blue, on B: dropped');

  const stopAt = performance.now();
  const stopped = await stopContainer(B(), b1.c);
  t.equal(stopped.code, 0, stopped.stderr);
  t.same(await dig(lab, blueName, 'AAAA'), [a1.address], "B's member record is withdrawn at stop");
  const leaveMs = await until(async () => !(await members(a1.c.netns, 'blue')).includes(b1.address), (TTL + 5) * 1000);
  t.ok(leaveMs !== undefined && leaveMs <= (TTL + 2) * 1000, `A no longer admits B's address ${leaveMs} ms after B's poststop began (bound: TTL ${TTL} s + a query)`);
  t.comment(`convergence: join ${joinMs} ms, leave ${Math.round(performance.now() - stopAt)} ms (set changed at ${leaveMs} ms), TTL ${TTL} s`);

  // A member whose poststop never comes: B's agent collects it, and its member record goes too.
  const lost = await startContainer(B(), 'lost-b', restricted);
  t.ok((await dig(lab, blueName, 'AAAA')).includes(lost.address), 'a second member on B');
  t.ok((await until(async () => (await members(a1.c.netns, 'blue')).includes(lost.address), (TTL + 3) * 1000)) !== undefined, "A admits it");
  await lost.c.remove();
  const collected = await until(async () => !(await dig(lab, blueName, 'AAAA')).includes(lost.address), 15_000);
  t.ok(collected !== undefined, `its netns deleted without poststop: B's agent withdrew its member record (${collected} ms)`);
  t.ok((await until(async () => !(await members(a1.c.netns, 'blue')).includes(lost.address), (TTL + 3) * 1000)) !== undefined, 'and A no longer admits it');
  for (const [h, x] of [[A(), a1], [A(), other], [B(), otherB]] as const) t.equal((await stopContainer(h, x.c)).code, 0);
  t.same(await dig(lab, blueName, 'AAAA'), [], 'no member record is left');
});

t.test('a bad policy annotation refuses the container: one line naming the value, nothing left', async (t) => {
  t.setTimeout(60_000);
  const cases: [Record<string, string>, RegExp][] = [
    [{ 'oci-slaac-hook.policy': 'restricted', 'oci-slaac-hook.expose': 'tcp:99999' }, /annotation oci-slaac-hook\.expose: "tcp:99999": port 99999 is not in 1\.\.65535/],
    [{ 'oci-slaac-hook.policy': 'restricted', 'oci-slaac-hook.allow_from': '2001:db8::1/48' }, /annotation oci-slaac-hook\.allow_from: "2001:db8::1\/48" has bits set past \/48/],
    [{ 'oci-slaac-hook.policy': 'restricted', 'oci-slaac-hook.allow_from': 'not-a-prefix' }, /annotation oci-slaac-hook\.allow_from: "not-a-prefix" is not an IPv6 prefix/],
    [{ 'oci-slaac-hook.policy': 'locked' }, /annotation oci-slaac-hook\.policy: must be open or restricted, got "locked"/],
  ];
  for (const [i, [annotations, why]] of cases.entries()) {
    const c = await fakeContainer({ id: `bad${i}`, netns: `pol-bad${i}`, dir: path.join(work, 'host-a'), annotations });
    containers.push(c);
    const r = await runHook('createRuntime', c.state('creating'), { config: A().config, env: A().env, hostNetns: A().netns });
    t.not(r.code, 0, `${JSON.stringify(annotations)}: refused`);
    const lines = r.stderr.trim().split('\n');
    t.equal(lines.length, 1, `one line: ${r.stderr.trim()}`);
    t.match(lines[0], why);
    t.same((await c.links()).map((l) => l.split(':')[1]?.trim()), ['lo'], 'no link made');
    const tables = await run('ip', ['netns', 'exec', c.netns, 'nft', 'list', 'tables']);
    t.equal(tables.stdout.trim(), '', 'no table made');
    t.notOk(stateFiles(A().stateDir).some((f) => f.startsWith(`bad${i}`)), 'no record');
    t.same(await dig(lab, `bad${i}.${lab.dnsZone}`, 'AAAA'), [], 'no DNS record');
  }
});
