// The hook with an agent (issue 11 items 6, 7, 9), against a stand-in agent in this test: a Unix
// socket server on <state_dir>/agent.sock speaking runtime/agent/protocol.ts, serving `ra` with an
// RA captured from the lab's radvd (an NdClient on the host NIC; re-encoded by the ND codec) and
// recording `register` and `complete-dad`.
//
// - a fresh cached RA: no RS on the link (tcpdump on the lab bridge), the RA step ~0 ms, and the
//   router reaches the container at once (ping from the router's netns right after the hook);
// - a stale one (receivedAt older than ra_cache_max_age_ms): the hook solicits, as without agent;
// - no agent: everything as before (one log line);
// - optimistic DAD with the agent: complete-dad sent, no background process (the addresses stay
//   optimistic: the stand-in does not finish DAD); without the agent the background finishes it;
// - resolv_conf = "ra": the container's rootfs /etc/resolv.conf has the RA's servers and search list;
// - wall time of the hook with a warm cache against `node -e 0` (a ratio, in a comment).
//
// The lab: LAB_NAME rac, host netns rac-host, prefix 2001:db8:a0::/64, RDNSS and DNSSL set.
import t from 'tap';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { agentSocketPath, type AgentRequest, type CachedRa } from '../../runtime/wire/agent-protocol';
import { formatIPv6, parseIPv6, parsePrefix } from '../../runtime/core/ipv6';
import { stableAddress } from '../../runtime/core/iid';
import { ICMP6_RA } from '../../runtime/core/nd-types';
import type { ContainerRecord } from '../../runtime/core/record';
import { bootNow } from '../../runtime/system/clock';
import { openInterface, usableLinkLocal } from '../../runtime/system/interface';
import { NdClient, firstAdvertisement } from '../../runtime/system/nd/client';
import { NdSocket } from '../../runtime/system/nd/socket';
import { encodeNd } from '../../runtime/wire/ndp/codec';
import { capture } from '../../vm/lab/capture';
import { fakeContainer, runHook, type FakeContainer } from '../../vm/lab/fake-container';
import { labUp, type Lab } from '../../vm/lab/lab';
import { run } from '../../vm/lab/run';
import { tsharkIcmp6Summary } from '../../vm/lab/tshark';

const PREFIX = '2001:db8:a0::/64';
const HOST_NETNS = 'rac-host';
const RDNSS = '2001:db8:a0::53';
const DNSSL = 'rac.example';
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'osh-rac-'));
const stateDir = path.join(work, 'state');
const libDir = path.join(work, 'lib');
const secret = Buffer.alloc(32, 0x7a);
fs.mkdirSync(stateDir);
fs.mkdirSync(libDir, { mode: 0o700 });
fs.writeFileSync(path.join(libDir, 'secret'), secret, { mode: 0o600 });
const configFile = path.join(work, 'config.toml');
const HOOK_ENV = { OCI_SLAAC_HOOK_STATE_LIB: libDir, OCI_SLAAC_HOOK_SYSLOG: path.join(work, 'no-syslog.sock') };
const MAX_AGE_MS = 60_000;

let lab: Lab;
/** The RA radvd sent, as the agent would cache it (receivedAt set per test). */
let captured: { router: string; icmp: string; receivedAt: number };
const notes: string[] = [];

t.before(async () => {
  lab = await labUp({
    LAB_NAME: 'rac',
    LAB_HOST_NETNS: HOST_NETNS,
    LAB_PREFIX: PREFIX,
    LAB_ROUTER_ADDR: '2001:db8:a0::1',
    LAB_PEER_ADDR: '2001:db8:a0::100',
    LAB_RETRANS_MS: '200',
    LAB_RDNSS: RDNSS,
    LAB_DNSSL: DNSSL,
  });
  fs.writeFileSync(configFile, [`parent = ${JSON.stringify(lab.hostIf)}`, `state_dir = ${JSON.stringify(stateDir)}`, 'dad = "strict"', 'ra_timeout_ms = 5000', `ra_cache_max_age_ms = ${MAX_AGE_MS}`].join('\n') + '\n');
  // What an agent hears: radvd's RA on the host NIC (solicited here), its bytes as the codec encodes the decoded RA.
  const iface = openInterface(lab.hostIf, `/run/netns/${HOST_NETNS}`);
  const sock = NdSocket.open({ netns: iface.netns, ifname: iface.link.name, ifindex: iface.link.index, types: [ICMP6_RA] });
  try {
    const found = await firstAdvertisement(new NdClient({ transport: sock, source: usableLinkLocal(iface.rtnl, iface.link.index), mac: iface.link.mac }), 5000);
    captured = { router: formatIPv6(found.router), receivedAt: found.receivedAt, icmp: encodeNd(found.advertisement, { source: found.router, destination: parseIPv6('ff02::1') }).toString('base64') };
  } finally {
    sock.close();
    iface.close();
  }
});
t.teardown(async () => {
  if (notes.length) t.comment(notes.join('\n'));
  await lab?.down();
  fs.rmSync(work, { recursive: true, force: true });
});

/** The stand-in agent: answers `ra` with `heard()` (for any parent), everything else with ok; records every request. */
async function standInAgent(heard: () => CachedRa[]): Promise<{ seen: AgentRequest[]; close: () => Promise<void> }> {
  const seen: AgentRequest[] = [];
  const server = net.createServer({ allowHalfOpen: true }, (sock) => {
    let buf = '';
    sock.on('error', () => undefined);
    sock.on('data', (d) => {
      buf += d.toString('utf8');
      const nl = buf.indexOf('\n');
      if (nl < 0) return;
      const req = JSON.parse(buf.slice(0, nl)) as AgentRequest;
      seen.push(req);
      sock.end(`${JSON.stringify(req.op === 'ra' ? { ok: true, heard: heard() } : { ok: true })}\n`);
    });
  });
  await new Promise<void>((resolve) => server.listen(agentSocketPath(stateDir), resolve));
  return { seen, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}

const hook = (stage: string, state: string) => runHook(stage, state, { config: configFile, hostNetns: HOST_NETNS, env: HOOK_ENV, timeoutMs: 30_000 });
const readState = (id: string): ContainerRecord | undefined => {
  try {
    return JSON.parse(fs.readFileSync(path.join(stateDir, `${id}.json`), 'utf8')) as ContainerRecord;
  } catch {
    return undefined;
  }
};
const addressOf = (name: string): string => formatIPv6(stableAddress({ prefix: parsePrefix(PREFIX).address, prefixLength: 64, name, networkId: '', dadCounter: 0, secret }).address);

let n = 0;
async function container(annotations: Record<string, string> = {}): Promise<FakeContainer> {
  n++;
  return fakeContainer({ id: `rac${n}`, netns: `rac-c${n}`, dir: work, annotations: { 'oci-slaac-hook.name': `rac${n}`, ...annotations } });
}

/** Attach with a capture on the lab bridge; the RSs the container sent (type 133 from its MAC). */
async function attachCaptured(c: FakeContainer): Promise<{ r: Awaited<ReturnType<typeof hook>>; rs: number; record: ContainerRecord | undefined }> {
  const pcap = path.join(work, `${c.id}.pcap`);
  const cap = await capture(lab, pcap);
  const r = await hook('createRuntime', c.state('creating'));
  await new Promise((resolve) => setTimeout(resolve, 200));
  await cap.stop();
  const record = readState(c.id);
  const mac = record?.interface.mac ?? '';
  const rs = (await tsharkIcmp6Summary(pcap)).filter((p) => p.type === 133 && p.ethSrc === mac).length;
  return { r, rs, record };
}

async function detach(c: FakeContainer): Promise<void> {
  const r = await hook('poststop', c.state('stopped'));
  if (r.code !== 0) throw new Error(`poststop ${c.id}: ${r.stderr}`);
  await c.remove();
}

t.test('a fresh cached RA: no RS, RA step ~0 ms, the router reaches the container at once, registered', async (t) => {
  const agent = await standInAgent(() => [{ ...captured, receivedAt: bootNow() - 1000 }]);
  t.teardown(agent.close);
  const c = await container();
  const { r, rs, record } = await attachCaptured(c);
  t.equal(r.code, 0, r.stderr);
  t.match(r.stderr, /RA from the agent's cache \(1 RA, \d+ ms old\): no solicitation/);
  t.equal(rs, 0, 'no router solicitation from the container on the link');
  const address = addressOf(c.id);
  t.equal(record?.addresses[0]?.address, address, 'the address from the cached RA');
  t.equal(record?.router.address, captured.router);
  t.ok((record?.timings.raMs ?? 99) < 10, `RA step ${record?.timings.raMs} ms (the agent's answer; no RS round trip)`);
  notes.push(`cached RA: RA step ${record?.timings.raMs} ms, total ${record?.timings.totalMs} ms (strict DAD, RetransTimer 200 ms), hook wall ${Math.round(r.ms)} ms`);
  // No RS went out: whatever the router's neighbour cache holds for the container (the unsolicited
  // NA of step 9 updates only an existing entry), its first ping resolves it.
  const neigh = await run('ip', ['-n', lab.routerNetns, '-6', 'neigh', 'show', address]);
  notes.push(`router's neighbour entry for the container before its first ping: ${neigh.stdout.trim() || '(none)'}`);
  const t0 = performance.now();
  const ping = await run('ip', ['netns', 'exec', lab.routerNetns, 'ping', '-6', '-c', '1', '-W', '2', address]);
  t.equal(ping.code, 0, `the router reaches the container at once (first ping, ${Math.round(performance.now() - t0)} ms): ${ping.stdout}${ping.stderr}`);
  const out = await run('ip', ['netns', 'exec', c.netns, 'ping', '-6', '-c', '1', '-W', '2', lab.config.peerAddr]);
  t.equal(out.code, 0, 'the container reaches the peer');
  const routes = await run('ip', ['-n', c.netns, '-6', 'route', 'show', 'default']);
  t.match(routes.stdout, new RegExp(`default via ${captured.router} dev eth0 .*expires \\d+sec`), 'default route via the cached router');
  t.same(
    agent.seen.map((q) => q.op),
    ['ra', 'register'],
    'asked for the RA cache, then registered',
  );
  t.same(agent.seen[0], { op: 'ra', parent: lab.hostIf });
  t.same(agent.seen[1], { op: 'register', id: c.id });
  await detach(c);
});

t.test('a stale cached RA: the hook solicits', async (t) => {
  const agent = await standInAgent(() => [{ ...captured, receivedAt: bootNow() - 2 * MAX_AGE_MS }]);
  t.teardown(agent.close);
  const c = await container();
  const { r, rs, record } = await attachCaptured(c);
  t.equal(r.code, 0, r.stderr);
  t.match(r.stderr, /agent's RA cache not used \(RA from fe80::\S+ \d+ ms old \(ra_cache_max_age_ms 60000\)\): soliciting/);
  t.ok(rs >= 1, `the container solicited (${rs} RS)`);
  t.equal(record?.addresses[0]?.address, addressOf(c.id));
  notes.push(`stale cache: RA step ${record?.timings.raMs} ms (solicited)`);
  await detach(c);
});

t.test('no agent: as before, one log line', async (t) => {
  const c = await container();
  const { r, rs } = await attachCaptured(c);
  t.equal(r.code, 0, r.stderr);
  t.equal(r.stderr.split('\n').filter(Boolean).length, 1, `one log line: ${r.stderr.trim()}`);
  t.ok(rs >= 1, 'solicited');
  await detach(c);
});

t.test('optimistic DAD: complete-dad to the agent, no background process; without an agent the background finishes', async (t) => {
  const agent = await standInAgent(() => [{ ...captured, receivedAt: bootNow() - 500 }]);
  const c = await container({ 'oci-slaac-hook.dad': 'optimistic' });
  const r = await hook('createRuntime', c.state('creating'));
  t.equal(r.code, 0, r.stderr);
  t.same(
    agent.seen.map((q) => q.op),
    ['ra', 'register', 'complete-dad'],
  );
  // Optimistic: no NA at all from the hook; the router still reaches the container at once.
  const ping = await run('ip', ['netns', 'exec', lab.routerNetns, 'ping', '-6', '-c', '1', '-W', '2', addressOf(c.id)]);
  t.equal(ping.code, 0, 'optimistic, cached RA: the router reaches the container at once');
  await new Promise((resolve) => setTimeout(resolve, 1500)); // a background DAD would be done by now (RetransTimer 200 ms)
  t.equal(readState(c.id)?.addresses[0]?.dad, 'optimistic', 'nobody but the (stand-in) agent was to finish DAD: no background process ran');
  await agent.close();
  await detach(c);

  const c2 = await container({ 'oci-slaac-hook.dad': 'optimistic' });
  const r2 = await hook('createRuntime', c2.state('creating'));
  t.equal(r2.code, 0, r2.stderr);
  let dad = readState(c2.id)?.addresses[0]?.dad;
  for (let i = 0; i < 50 && dad !== 'verified'; i++) {
    await new Promise((resolve) => setTimeout(resolve, 100));
    dad = readState(c2.id)?.addresses[0]?.dad;
  }
  t.equal(dad, 'verified', 'no agent: the background process finished DAD');
  await detach(c2);
});

t.test('resolv_conf = "ra": the rootfs /etc/resolv.conf gets the RA servers and search list', async (t) => {
  const agent = await standInAgent(() => [{ ...captured, receivedAt: bootNow() - 500 }]);
  t.teardown(agent.close);
  const c = await container({ 'oci-slaac-hook.resolv_conf': 'ra' });
  const etc = path.join(c.bundle, 'rootfs', 'etc');
  fs.mkdirSync(etc, { recursive: true });
  fs.writeFileSync(path.join(etc, 'resolv.conf'), 'nameserver 192.0.2.1\n');
  const config = JSON.parse(fs.readFileSync(path.join(c.bundle, 'config.json'), 'utf8')) as Record<string, unknown>;
  fs.writeFileSync(path.join(c.bundle, 'config.json'), JSON.stringify({ ...config, root: { path: 'rootfs' } }));
  const r = await hook('createRuntime', c.state('creating'));
  t.equal(r.code, 0, r.stderr);
  const text = fs.readFileSync(path.join(etc, 'resolv.conf'), 'utf8');
  t.match(text, new RegExp(`^nameserver ${RDNSS}$`, 'm'), "the RA's RDNSS");
  t.match(text, new RegExp(`^search ${DNSSL.replace('.', '\\.')}$`, 'm'), "the RA's DNSSL");
  t.notMatch(text, /192\.0\.2\.1/, 'the old server gone');
  t.equal(readState(c.id)?.resolvConf, fs.realpathSync(path.join(etc, 'resolv.conf')), 'the record names the file');
  t.same(fs.readdirSync(etc), ['resolv.conf'], 'no temp file left');
  await detach(c);

  // A symbolic link out of the rootfs: refused before anything is made.
  const c2 = await container({ 'oci-slaac-hook.resolv_conf': 'ra' });
  const etc2 = path.join(c2.bundle, 'rootfs', 'etc');
  fs.mkdirSync(etc2, { recursive: true });
  const outside = path.join(work, 'precious');
  fs.writeFileSync(outside, 'precious\n');
  fs.symlinkSync(outside, path.join(etc2, 'resolv.conf'));
  const r2 = await hook('createRuntime', c2.state('creating'));
  t.equal(r2.code, 1, 'refused');
  t.match(r2.stderr.trim(), /^oci-slaac-hook: rac\d+: resolv.conf \S+ is a symbolic link, not a regular file: refused$/, 'one line');
  t.equal(fs.readFileSync(outside, 'utf8'), 'precious\n', 'the file outside untouched');
  t.equal(readState(c2.id), undefined, 'no state');
  t.same((await c2.links()).filter((l) => !/^\d+: lo:/.test(l)), [], 'no link made');
  await c2.remove();
});

t.test('resolv_conf = "ra" in a pod: a member joining the owner\'s netns gets its own file written', async (t) => {
  const withRootfs = (c: FakeContainer, networkPath?: string): string => {
    const etc = path.join(c.bundle, 'rootfs', 'etc');
    fs.mkdirSync(etc, { recursive: true });
    fs.writeFileSync(path.join(etc, 'resolv.conf'), 'nameserver 192.0.2.1\n');
    const config = JSON.parse(fs.readFileSync(path.join(c.bundle, 'config.json'), 'utf8')) as Record<string, unknown>;
    const linux = networkPath ? { namespaces: [{ type: 'pid' }, { type: 'network', path: networkPath }] } : config.linux;
    fs.writeFileSync(path.join(c.bundle, 'config.json'), JSON.stringify({ ...config, linux, root: { path: 'rootfs' } }));
    return path.join(etc, 'resolv.conf');
  };
  const owner = await container({ 'oci-slaac-hook.resolv_conf': 'ra' });
  const ownerFile = withRootfs(owner);
  t.equal((await hook('createRuntime', owner.state('creating'))).code, 0);
  const member = await container({ 'oci-slaac-hook.resolv_conf': 'ra' });
  const memberFile = withRootfs(member, `/run/netns/${owner.netns}`);
  const r = await hook('createRuntime', member.state('creating'));
  t.equal(r.code, 0, r.stderr);
  t.match(r.stderr, /joined the network namespace of container/);
  t.match(fs.readFileSync(memberFile, 'utf8'), new RegExp(`^nameserver ${RDNSS}$`, 'm'), "the member's own file has the RA's server");
  t.equal(readState(member.id)?.resolvConf, fs.realpathSync(memberFile), "the member's record names its own file");
  t.equal(readState(owner.id)?.resolvConf, fs.realpathSync(ownerFile), "the owner's, its own");
  t.equal((await hook('poststop', member.state('stopped'))).code, 0);
  await member.remove();
  await detach(owner);
});

t.test('hook wall time with a warm cache against node -e 0', async (t) => {
  const agent = await standInAgent(() => [{ ...captured, receivedAt: bootNow() - 500 }]);
  t.teardown(agent.close);
  const RUNS = Number(process.env.RAC_TIMING_RUNS ?? 5);
  const hookMs: number[] = [];
  const raMs: number[] = [];
  const nodeMs: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    const c = await container({ 'oci-slaac-hook.dad': 'optimistic' });
    const r = await hook('createRuntime', c.state('creating'));
    t.equal(r.code, 0, r.stderr);
    hookMs.push(r.ms);
    raMs.push(readState(c.id)?.timings.raMs ?? NaN);
    await detach(c);
    const t0 = performance.now();
    await run('ip', ['netns', 'exec', HOST_NETNS, 'env', '-u', 'NODE_OPTIONS', process.execPath, '-e', '0']);
    nodeMs.push(performance.now() - t0);
  }
  const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN;
  const ratio = median(hookMs) / median(nodeMs);
  notes.push(`warm cache, optimistic, ${RUNS} runs: hook ${Math.round(median(hookMs))} ms, node -e 0 ${Math.round(median(nodeMs))} ms, ratio ${ratio.toFixed(2)}; RA step median ${median(raMs)} ms`);
  t.ok(median(raMs) < 10, `RA step ${median(raMs)} ms`);
  t.ok(ratio < 10, `ratio ${ratio.toFixed(2)}`);
});
