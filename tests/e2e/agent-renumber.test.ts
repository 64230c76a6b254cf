// Renumbering through the agent, end to end (issue 11's "must show"): the agent as a process
// (`oci-slaac-hook agent`) in the lab's host netns, a container attached by the hook CLI, the lab's
// radvd (an RA every 3–4 s) reconfigured by vm/lab/radvd.ts, and BIND serving two reverse zones
// (LAB_DNS_REVERSE_ZONES: one for the old prefix, one for the new) while config.toml lists three
// (`reverse_zones`, a /44 covering both first: BIND does not serve it, so a PTR sent there would be
// refused — each PTR must go to the most specific zone).
//  1. radvd: the old prefix preferred 0, a new prefix added; a lab peer holds the container's first
//     RFC 7217 candidate in the new prefix. Within one RA interval (+ DAD) the container has the
//     next candidate, DAD-proven, non-tentative, that the router reaches; BIND has its AAAA and its
//     PTR (in the new prefix's zone); the old address shows "deprecated" in `ip -6 addr`.
//  2. radvd: the old prefix removed. Within its remaining valid lifetime (≤ 24 s) the old address is
//     removed from the kernel and the record, and its AAAA and PTR are withdrawn.
//  3. poststop: no state, no DNS record, no link left; the agent exits 0 on SIGTERM.
// Lab rnz (2001:db8:a7::/64, then 2001:db8:a8::/64), host netns rnz-host.
import t from 'tap';
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { absoluteConfigPath } from '../../runtime/core/config-path';
import { delegateSocketPath } from '../../runtime/wire/delegate-protocol';
import { formatIPv6, parseIPv6 } from '../../runtime/core/ipv6';
import { addressCandidate } from '../../runtime/core/plan';
import type { ContainerRecord } from '../../runtime/core/record';
import { run } from '../../vm/lab/run';
import { labUp, type Lab } from '../../vm/lab/lab';
import { dig, reverseName } from '../../vm/lab/dns';
import { reconfigureRadvd, type RadvdSpec } from '../../vm/lab/radvd';
import { fakeContainer, HOOK_CLI, hostResidue, runHook, stateFiles, type FakeContainer } from '../../vm/lab/fake-container';

t.setTimeout(150_000);

const OLD = '2001:db8:a7::/64';
const NEW = '2001:db8:a8::/64';
const HOST_NETNS = 'rnz-host';
const NAME = 'rnz-c1';
const RA_INTERVAL = 4;
const RETRANS_MS = 300;
const OLD_VALID = 24;
const Z_OLD = '7.a.0.0.8.b.d.0.1.0.0.2.ip6.arpa'; // 2001:db8:a7::/48
const Z_NEW = '8.a.0.0.8.b.d.0.1.0.0.2.ip6.arpa'; // 2001:db8:a8::/48
const Z_BOTH = 'a.0.0.8.b.d.0.1.0.0.2.ip6.arpa'; // 2001:db8:a0::/44: listed, not served
const secret = Buffer.alloc(32, 0x72);

const work = fs.mkdtempSync(path.join(os.tmpdir(), 'osh-rnz-'));
const stateDir = path.join(work, 'state');
const libDir = path.join(work, 'lib');
fs.mkdirSync(libDir, { mode: 0o700 });
fs.writeFileSync(path.join(libDir, 'secret'), secret, { mode: 0o600 });
const configFile = path.join(work, 'config.toml');
const ENV = { OCI_SLAAC_HOOK_STATE_LIB: libDir, OCI_SLAAC_HOOK_SYSLOG: path.join(work, 'no-syslog.sock') };
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const began = Date.now();

let lab: Lab;
let fqdn = '';
let agent: ChildProcess | undefined;
let agentLog = '';
let container: FakeContainer | undefined;

const spec = (prefixes: RadvdSpec['prefixes']): RadvdSpec => ({ routerLifetime: 60, raInterval: RA_INTERVAL, raMinInterval: 3, mtu: 0, retransMs: RETRANS_MS, prefixes });

t.before(async () => {
  lab = await labUp({
    LAB_NAME: 'rnz',
    LAB_HOST_NETNS: HOST_NETNS,
    LAB_PREFIX: OLD,
    LAB_ROUTER_ADDR: '2001:db8:a7::1',
    LAB_PEER_ADDR: '2001:db8:a7::100',
    LAB_ROUTER_LIFETIME: '60',
    LAB_VALID_LIFETIME: String(OLD_VALID),
    LAB_PREFERRED_LIFETIME: '20',
    LAB_RA_INTERVAL: String(RA_INTERVAL),
    LAB_RA_MIN_INTERVAL: '3',
    LAB_RETRANS_MS: String(RETRANS_MS),
    LAB_DNS: 'bind',
    LAB_DNS_ADDR: '2001:db8:a7::53',
    LAB_DNS_REVERSE_ZONES: `${Z_OLD} ${Z_NEW}`,
    LAB_HOST_ADDR: '2001:db8:a7::2/64',
  });
  if (!lab.dnsAddr || !lab.dnsZone || !lab.dnsKeyFile) throw new Error('the lab has no DNS server');
  fqdn = `${NAME}.${lab.dnsZone}`;
  fs.writeFileSync(
    configFile,
    [
      `parent = ${JSON.stringify(lab.hostIf)}`,
      `state_dir = ${JSON.stringify(stateDir)}`,
      'gc_interval_ms = 1000',
      '[dns]',
      `server = ${JSON.stringify(`[${lab.dnsAddr}]:${lab.dnsPort}`)}`,
      `zone = ${JSON.stringify(lab.dnsZone)}`,
      `reverse_zones = ${JSON.stringify([Z_BOTH, Z_OLD, Z_NEW])}`,
      `key_file = ${JSON.stringify(lab.dnsKeyFile)}`,
      'ttl = 60',
      'timeout_ms = 1000',
    ].join('\n') + '\n',
  );
  // The router on the new prefix too, so that it reaches the container's new address on-link.
  const r = await run('ip', ['-n', lab.routerNetns, 'addr', 'add', '2001:db8:a8::1/64', 'dev', lab.routerIf, 'nodad']);
  if (r.code !== 0) throw new Error(`router address in ${NEW}: ${r.stderr}`);
});
t.teardown(async () => {
  if (agent && agent.exitCode === null && agent.signalCode === null) agent.kill('SIGKILL');
  // A SIGKILLed agent leaves its delegate socket (the next agent of this config would replace it).
  fs.rmSync(delegateSocketPath(absoluteConfigPath(configFile)), { force: true });
  await container?.remove();
  await lab?.down();
  fs.rmSync(work, { recursive: true, force: true });
});

interface AddrInfo {
  local: string;
  prefixlen: number;
  valid_life_time: number;
  preferred_life_time: number;
  deprecated?: boolean;
  tentative?: boolean;
  dadfailed?: boolean;
}
async function addresses(ns: string): Promise<AddrInfo[]> {
  const r = await run('ip', ['-j', '-n', ns, '-6', 'addr', 'show', 'scope', 'global']);
  return (JSON.parse(r.stdout || '[]') as { addr_info?: AddrInfo[] }[]).flatMap((l) => l.addr_info ?? []);
}
const readState = (): ContainerRecord | undefined => {
  try {
    return JSON.parse(fs.readFileSync(path.join(stateDir, `${NAME}.json`), 'utf8')) as ContainerRecord;
  } catch {
    return undefined;
  }
};
const pingFromRouter = (to: string): Promise<number> => run('ip', ['netns', 'exec', lab.routerNetns, 'ping', '-6', '-c', '1', '-W', '2', to]).then((r) => r.code);

async function until(what: string, ms: number, ok: () => Promise<boolean> | boolean): Promise<number> {
  const t0 = Date.now();
  while (Date.now() - t0 < ms) {
    if (await ok()) return Date.now() - t0;
    await sleep(100);
  }
  throw new Error(`${what}: not within ${ms} ms; agent log:\n${agentLog.trim().split('\n').slice(-12).join('\n')}`);
}

t.test('renumbering through the agent: a new prefix with a conflict, the old one deprecated then withdrawn, DNS following', async (t) => {
  agent = spawn('ip', ['netns', 'exec', HOST_NETNS, 'env', '-u', 'NODE_OPTIONS', process.execPath, HOOK_CLI, 'agent', '--config', configFile], {
    env: { PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin', ...ENV },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  agent.stderr?.setEncoding('utf8').on('data', (s: string) => (agentLog += s));
  const exited = new Promise<number | null>((resolve) => agent?.on('exit', (code) => resolve(code)));
  await until('the agent started', 5000, () => agentLog.includes('agent: started'));

  container = await fakeContainer({ id: NAME, netns: NAME, dir: work, annotations: { 'oci-slaac-hook.name': NAME } });
  const attached = await runHook('createRuntime', container.state('creating'), { config: configFile, env: ENV, hostNetns: HOST_NETNS });
  t.equal(attached.code, 0, `attached: ${attached.stderr.trim().split('\n').slice(-2).join(' | ')}`);
  const record = readState();
  const oldAddr = record?.addresses.find((a) => a.prefix === OLD)?.address ?? '';
  const candidate = (prefix: string) => addressCandidate({ name: NAME, secret, networkId: '', iid: '' }, parseIPv6(prefix.replace(/\/64$/, '')), 64);
  t.equal(oldAddr, formatIPv6(candidate(OLD)(0)), `the old address is the first candidate in ${OLD} (the test computes what the hook does)`);
  t.same(await dig(lab, fqdn, 'AAAA'), [oldAddr], 'DNS: the AAAA at attach');
  t.same(await dig(lab, reverseName(oldAddr), 'PTR'), [`${fqdn}.`], `DNS: the PTR at attach, in ${Z_OLD}`);
  t.equal(record?.dns?.records.find((r) => r.type === 'PTR')?.zone, Z_OLD, 'the most specific zone, not the /44 listed first');
  await until('the agent looks after it', 5000, () => agentLog.includes(`${NAME}: registered: on ${lab.hostIf}`));

  // 1. Renumbering: the old prefix preferred 0, a new prefix; the peer holds the first candidate there.
  const [first, second] = [formatIPv6(candidate(NEW)(0)), formatIPv6(candidate(NEW)(1))];
  const peer = await run('ip', ['-n', lab.peerNetns, 'addr', 'add', `${first}/64`, 'dev', lab.peerIf, 'nodad']);
  t.equal(peer.code, 0, `the peer holds ${first}`);
  const reconfiguredAt = Date.now();
  reconfigureRadvd(lab, spec([
    { prefix: OLD, valid: OLD_VALID, preferred: 0 },
    { prefix: NEW, valid: 120, preferred: 60 },
  ]));
  const took = await until('a usable address in the new prefix', 15_000, async () => {
    const a = (await addresses(NAME)).find((x) => x.local === second);
    return a !== undefined && !a.tentative && !a.dadfailed;
  });
  // One RA interval (radvd's next RA, at most RA_INTERVAL s after SIGHUP) plus two DADs (RetransTimer each) and a second to spare.
  t.ok(took <= RA_INTERVAL * 1000 + 2 * RETRANS_MS + 1000, `the next candidate ${second} usable ${took} ms after radvd was reconfigured`);
  const now = readState();
  t.match(now?.addresses.find((a) => a.prefix === NEW), { address: second, dadCounter: 1, dad: 'verified', state: 'preferred' }, 'DAD-proven, the second candidate (the first is the peer\'s)');
  t.notOk((await addresses(NAME)).some((a) => a.local === first), 'not the peer\'s');
  t.match(agentLog, new RegExp(`DAD: ${first} is in use`), 'the conflict logged by the agent');
  t.equal(await pingFromRouter(second), 0, 'the router reaches the new address');
  await until('DNS: the AAAA of the new address', 5000, async () => (await dig(lab, fqdn, 'AAAA')).includes(second));
  t.same((await dig(lab, fqdn, 'AAAA')).sort(), [oldAddr, second].sort(), 'DNS: both AAAA (the old address is still valid)');
  t.same(await dig(lab, reverseName(second), 'PTR'), [`${fqdn}.`], 'DNS: the PTR of the new address');
  t.equal(readState()?.dns?.records.find((r) => r.type === 'PTR' && r.name === reverseName(second))?.zone, Z_NEW, `in the second reverse zone, ${Z_NEW}`);
  t.same(await dig(lab, reverseName(oldAddr), 'PTR'), [`${fqdn}.`], 'the old PTR kept meanwhile');
  await until('the old address deprecated', 5000, async () => (await addresses(NAME)).find((a) => a.local === oldAddr)?.deprecated === true);
  const shown = (await run('ip', ['-n', NAME, '-6', 'addr', 'show', 'scope', 'global'])).stdout;
  t.match(shown, new RegExp(`inet6 ${oldAddr}/64 scope global [^\\n]*deprecated`), '`ip -6 addr`: the old address deprecated');
  t.notMatch(shown, new RegExp(`inet6 ${second}/64 [^\\n]*(deprecated|tentative)`), 'the new one preferred');
  t.comment(`renumbered ${took} ms after the reconfiguration`);

  // 2. The old prefix withdrawn: its address lives out what remains of its valid lifetime (≤ 24 s), then goes.
  const withdrawnAt = Date.now();
  reconfigureRadvd(lab, spec([{ prefix: NEW, valid: 120, preferred: 60 }]));
  const gone = await until('the old address removed', (OLD_VALID + 6) * 1000, async () => !(await addresses(NAME)).some((a) => a.local === oldAddr));
  t.pass(`the old address removed from the kernel ${gone} ms after the prefix was withdrawn`);
  await until('the old address out of the record', 3000, () => !(readState()?.addresses ?? []).some((a) => a.address === oldAddr));
  t.notOk(readState()?.ledger.some((e) => e.kind === 'address' && e.address === oldAddr), 'and out of the ledger');
  await until('DNS: the old AAAA withdrawn', 5000, async () => !(await dig(lab, fqdn, 'AAAA')).includes(oldAddr));
  t.same(await dig(lab, fqdn, 'AAAA'), [second], 'DNS: only the new AAAA');
  t.same(await dig(lab, reverseName(oldAddr), 'PTR'), [], 'DNS: the old PTR withdrawn');
  t.same(await dig(lab, reverseName(second), 'PTR'), [`${fqdn}.`], 'DNS: the new PTR kept');
  t.equal(await pingFromRouter(second), 0, 'the router still reaches the new address');
  t.match(agentLog, new RegExp(`${oldAddr} removed \\(valid lifetime ran out\\)`), 'the agent logged the removal');
  t.comment(`old prefix withdrawn: address removed after ${gone} ms (${Math.round((Date.now() - withdrawnAt) / 1000)} s with DNS)`);

  // 3. Poststop: nothing left.
  const stopped = await runHook('poststop', container.state('stopped'), { config: configFile, env: ENV, hostNetns: HOST_NETNS });
  t.equal(stopped.code, 0, `poststop: ${stopped.stderr.trim().split('\n').slice(-2).join(' | ')}`);
  t.same(stateFiles(stateDir).filter((f) => f !== 'agent.sock'), [], 'no state file');
  t.same(await dig(lab, fqdn, 'AAAA'), [], 'no AAAA');
  t.same(await dig(lab, reverseName(second), 'PTR'), [], 'no PTR');
  t.same((await container.links()).map((l) => l.split(':')[1]?.trim().split('@')[0]), ['lo'], 'no link but lo in the container');
  t.same((await hostResidue(HOST_NETNS, 4862)).routes, [], 'no proto-86 route in the host');
  t.notOk(/\berror\b/i.test(agentLog.replace(/DAD: [^\n]* is in use[^\n]*/g, '')), `no error in the agent's log:\n${agentLog.split('\n').filter((l) => /error/i.test(l)).join('\n')}`);

  agent.kill('SIGTERM');
  t.equal(await exited, 0, 'the agent exits 0 on SIGTERM');
  t.comment(`total ${Math.round((Date.now() - began) / 1000)} s (renumbering ${Math.round((Date.now() - reconfiguredAt) / 1000)} s); agent log:\n${agentLog.trim().split('\n').slice(-20).join('\n')}`);
});
