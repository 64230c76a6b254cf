// `oci-slaac-hook ra` and `dad` in the netns lab, against radvd, rdisc6, the kernel and tshark.
import t from 'tap';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { RaSummary } from '../../runtime/wire/ndp/summary';
import { run } from '../../vm/lab/run';
import { labUp, type Lab } from '../../vm/lab/lab';
import { capture } from '../../vm/lab/capture';
import { tsharkIcmp6Summary, tsharkProblems } from '../../vm/lab/tshark';
import { rdisc6 } from '../../vm/lab/rdisc6';

const CLI = path.join(__dirname, '..', '..', 'dist', 'oci-slaac-hook.js');
const secretDir = fs.mkdtempSync(path.join(os.tmpdir(), 'osh-secret-'));
const cli = (args: string[], timeoutMs = 15000) =>
  run(process.execPath, [CLI, ...args], { env: { ...process.env, OCI_SLAAC_HOOK_STATE_LIB: secretDir }, timeoutMs });

// Deliberately not the lab's defaults, so nothing can pass by matching a constant.
const LAB_ENV = {
  LAB_NAME: 'osh-cmd',
  LAB_PREFIX: '2001:db8:42::/64',
  LAB_ROUTER_ADDR: '2001:db8:42::1',
  LAB_PEER_ADDR: '2001:db8:42::100',
  LAB_VALID_LIFETIME: '7300',
  LAB_PREFERRED_LIFETIME: '3600',
  LAB_MTU: '1380',
  LAB_RDNSS: '2001:db8:42::53',
  LAB_DNSSL: 'pods.example',
  LAB_ROUTE: '2001:db8:aa::/48',
  LAB_ROUTER_LIFETIME: '900',
  LAB_CUR_HOP_LIMIT: '57',
  LAB_REACHABLE_MS: '25000',
  LAB_RETRANS_MS: '700',
  LAB_MANAGED: 'on',
  LAB_OTHER: 'off',
  LAB_ROUTER_PREFERENCE: 'high',
};

type RaJson = RaSummary & { interface: string; slaac?: { name: string; addresses: string[] } };

let lab: Lab;
const pcap = path.join(os.tmpdir(), `osh-cmd-${process.pid}.pcap`);

t.before(async () => {
  lab = await labUp(LAB_ENV);
});
t.teardown(async () => {
  await lab?.down();
  fs.rmSync(secretDir, { recursive: true, force: true });
  fs.rmSync(pcap, { force: true });
});

t.test('ra prints exactly what radvd is configured to send, and agrees with rdisc6', async (t) => {
  const cap = await capture(lab, pcap);
  const r = await cli(['ra', '--interface', lab.hostIf, '--json']);
  await cap.stop();
  t.equal(r.code, 0, r.stderr);
  const ra = JSON.parse(r.stdout) as RaJson;
  const c = lab.config;

  t.match(ra.router, /^fe80:/, 'router is link-local');
  t.equal(ra.routerMac, c.routerMac, 'SLLA is the router NIC MAC');
  t.equal(ra.curHopLimit, 57);
  t.equal(ra.managed, true);
  t.equal(ra.other, false);
  t.equal(ra.preference, 'high');
  t.equal(ra.routerLifetime, 900);
  t.equal(ra.reachableTimeMs, 25000);
  t.equal(ra.retransTimerMs, 700);
  t.equal(ra.mtu, 1380);
  t.same(ra.prefixes, [{ prefix: '2001:db8:42::/64', onLink: true, autonomous: true, validLifetime: 7300, preferredLifetime: 3600 }]);
  t.same(ra.routes.map((x) => [x.prefix, x.preference, x.lifetime]), [['2001:db8:aa::/48', c.routePreference, c.routeLifetime]]);
  t.same(ra.rdnss.map((x) => [x.servers, x.lifetime]), [[['2001:db8:42::53'], c.rdnssLifetime]]);
  t.same(ra.dnssl.map((x) => [x.domains, x.lifetime]), [[['pods.example'], c.dnsslLifetime]]);

  // rdisc6 (ndisc6) is an independent ND client: field by field, the same answer.
  const other = await rdisc6(lab, 3000);
  t.same(other.unparsed, [], 'rdisc6 output fully understood');
  t.equal(other.from, ra.router);
  t.equal(other.sourceLinkLayer, ra.routerMac);
  t.equal(other.hopLimit, ra.curHopLimit);
  t.equal(other.managed, ra.managed);
  t.equal(other.other, ra.other);
  t.equal(other.homeAgent, ra.homeAgent);
  t.equal(other.ndProxy, ra.proxy);
  t.equal(other.routerPreference, ra.preference);
  t.equal(other.routerLifetime, ra.routerLifetime);
  t.equal(other.reachableTimeMs, ra.reachableTimeMs);
  t.equal(other.retransTimeMs, ra.retransTimerMs);
  t.equal(other.mtu, ra.mtu);
  t.same(
    other.prefixes.map((p) => [p.prefix, p.onLink, p.autonomous, p.validLifetime, p.preferredLifetime]),
    ra.prefixes.map((p) => [p.prefix, p.onLink, p.autonomous, p.validLifetime, p.preferredLifetime]),
  );
  t.same(other.routes.map((x) => [x.prefix, x.preference, x.lifetime]), ra.routes.map((x) => [x.prefix, x.preference, x.lifetime]));
  t.same(other.rdnss.map((x) => [x.servers, x.lifetime]), ra.rdnss.map((x) => [x.servers, x.lifetime]));
  t.same(other.dnssl.map((x) => [x.domains, x.lifetime]), ra.dnssl.map((x) => [x.domains, x.lifetime]));

  // Every RS we sent decodes cleanly in tshark: no malformed packet, no bad checksum.
  t.same(await tsharkProblems(pcap), [], 'tshark finds nothing wrong');
  const ours = (await tsharkIcmp6Summary(pcap)).filter((p) => p.type === 133 && p.ethSrc === c.hostMac && p.hopLimit === 255);
  t.ok(ours.length >= 1, `our RS is on the wire (${ours.length})`);
});

t.test('ra in human form, and through --netns', async (t) => {
  const r = await cli(['ra', '--interface', lab.peerIf, '--netns', `/run/netns/${lab.peerNetns}`]);
  t.equal(r.code, 0, r.stderr);
  t.match(r.stdout, /^Router fe80:[0-9a-f:]+ \([0-9a-f:]{17}\)$/m);
  t.match(r.stdout, /prefix\s+: 2001:db8:42::\/64 \(on-link autonomous; valid 7300 s, preferred 3600 s\)/);
  t.match(r.stdout, /MTU\s+: 1380/);
});

t.test('the SLAAC address for a name is stable, in the prefix, and differs per name', async (t) => {
  const get = async (name: string): Promise<string> => {
    const r = await cli(['ra', '--interface', lab.hostIf, '--name', name, '--json']);
    t.equal(r.code, 0, r.stderr);
    const addrs = (JSON.parse(r.stdout) as RaJson).slaac?.addresses ?? [];
    t.equal(addrs.length, 1);
    return addrs[0] ?? '';
  };
  const a = await get('web1');
  t.match(a, /^2001:db8:42:0:[0-9a-f:]+$/);
  t.equal(await get('web1'), a, 'same name, same address');
  t.not(await get('web2'), a, 'another name, another address');
  t.equal(fs.statSync(path.join(secretDir, 'secret')).mode & 0o777, 0o600, 'host secret kept 0600');
});

t.test('dad: duplicate for an address a kernel holds on the link, unique for a free one', async (t) => {
  const cap = await capture(lab, pcap);
  const dup = await cli(['dad', lab.config.peerAddr, '--interface', lab.hostIf, '--json']);
  t.equal(dup.code, 1, 'exit 1 for duplicate');
  const dj = JSON.parse(dup.stdout) as { verdict: string; evidence: string; elapsedMs: number };
  t.equal(dj.verdict, 'duplicate');
  t.match(dj.evidence, new RegExp(`NA from .* at ${lab.config.peerMac}$`), 'the peer kernel defended it');
  t.ok(dj.elapsedMs < 500, `answered quickly (${dj.elapsedMs} ms)`);

  const free = await cli(['dad', '2001:db8:42::abcd', '--interface', lab.hostIf, '--retrans-ms', '300', '--transmits', '2']);
  t.equal(free.code, 0, free.stderr);
  t.match(free.stdout, /^unique 2001:db8:42::abcd on \S+ after (\d+) ms \(2 probes\)$/m);
  const ms = Number(/after (\d+) ms/.exec(free.stdout)?.[1]);
  t.ok(ms >= 600 && ms < 1500, `took 2 × RetransTimer (${ms} ms)`);
  await cap.stop();

  t.same(await tsharkProblems(pcap), [], 'tshark finds nothing wrong');
  const ns = (await tsharkIcmp6Summary(pcap)).filter((p) => p.type === 135 && p.src === '::');
  t.ok(ns.some((p) => p.target === '2001:db8:42::abcd' && p.dst === 'ff02::1:ff00:abcd'), 'DAD NS from :: to the solicited-node group');
  t.equal(ns.filter((p) => p.target === '2001:db8:42::abcd').length, 2, 'two probes');
  t.ok(ns.every((p) => p.options.includes(14) && p.hopLimit === 255), "every DAD NS carries a nonce, hop limit 255");
});

t.test('dad: another node probing the same address at the same time is a duplicate', async (t) => {
  // The peer kernel starts its own DAD for the address while we probe it (3 × 1 s).
  const target = '2001:db8:42::beef';
  const probing = cli(['dad', target, '--interface', lab.hostIf, '--transmits', '3', '--json']);
  await new Promise((r) => setTimeout(r, 200));
  const add = await run('ip', ['-n', lab.peerNetns, 'addr', 'add', `${target}/64`, 'dev', lab.peerIf]);
  t.equal(add.code, 0, add.stderr);
  const r = await probing;
  await run('ip', ['-n', lab.peerNetns, 'addr', 'del', `${target}/64`, 'dev', lab.peerIf]);
  t.equal(r.code, 1, r.stderr);
  t.match(JSON.parse(r.stdout), { verdict: 'duplicate' });
});

t.test('errors are one line, with the right exit code', async (t) => {
  const cases: [string[], number, RegExp][] = [
    [['dad', 'not-an-address', '--interface', lab.hostIf], 2, /^oci-slaac-hook: invalid IPv6 address: "not-an-address"$/],
    [['dad', '2001:db8:42::1', '--interface', 'osh-nosuch0'], 2, /^oci-slaac-hook: no interface "osh-nosuch0" in this network namespace$/],
    [['ra', '--interface', lab.hostIf, '--netns', '/run/netns/osh-nosuch'], 2, /^oci-slaac-hook: network namespace \/run\/netns\/osh-nosuch: does not exist$/],
    [['ra', '--interface', lab.hostIf, '--timeout', 'soon'], 2, /^oci-slaac-hook: --timeout must be a positive integer, got "soon"$/],
    [['ra'], 2, /^oci-slaac-hook: ra: --interface is required$/m],
    [['frobnicate'], 2, /^oci-slaac-hook: unknown command "frobnicate"$/m],
    [['help', 'frobnicate'], 2, /^oci-slaac-hook: help: unknown command "frobnicate"$/m],
  ];
  for (const [args, code, message] of cases) {
    const r = await cli(args);
    t.equal(r.code, code, `${args.join(' ')} → exit ${code}`);
    t.match(r.stderr.split('\n')[0], message);
    t.equal(r.stdout, '');
  }
});

t.test('--version, help, help COMMAND', async (t) => {
  const pkg = JSON.parse(fs.readFileSync(path.join(__dirname, '..', '..', 'package.json'), 'utf8')) as { version: string };
  const v = await cli(['--version']);
  t.equal(v.code, 0);
  t.equal(v.stdout, `oci-slaac-hook ${pkg.version}\n`, "package.json's version, built into the bundle");
  const help = await cli(['help']);
  t.equal(help.code, 0);
  for (const c of ['ra', 'dad', 'status', 'check', 'doctor', 'docker-install', 'agent', 'createRuntime|prestart|poststop', 'help', '--version']) t.match(help.stdout, `\n  oci-slaac-hook ${c}`, `usage lists ${c}`);
  const check = await cli(['help', 'check']);
  t.equal(check.code, 0);
  t.match(check.stdout, /^usage: oci-slaac-hook check ID \[--config PATH\] \[--json\]\n\nCompare the live kernel and DNS/);
  t.match((await cli(['help', 'poststop'])).stdout, /^usage: oci-slaac-hook createRuntime\|prestart\|poststop/, 'a hook stage by its name');
});

t.test('ra: no router on the link → one line, exit 1, after the timeout', async (t) => {
  const ns = 'osh-cmd-norouter';
  await run('ip', ['netns', 'add', ns]);
  t.teardown(() => run('ip', ['netns', 'del', ns]).then(() => undefined));
  await run('ip', ['-n', ns, 'link', 'add', 'a0', 'type', 'veth', 'peer', 'name', 'a1']);
  await run('ip', ['-n', ns, 'link', 'set', 'a0', 'up']);
  await run('ip', ['-n', ns, 'link', 'set', 'a1', 'up']);
  const start = Date.now();
  const r = await cli(['ra', '--interface', 'a0', '--netns', `/run/netns/${ns}`, '--timeout', '1500']);
  const took = Date.now() - start;
  t.equal(r.code, 1);
  t.match(r.stderr, /^oci-slaac-hook: no router advertisement on a0 within 1500 ms \(\d solicitations sent\)\n$/);
  t.ok(took >= 1500 && took < 4000, `waited the timeout (${took} ms)`);
});
