// Hostile Router Advertisements (issue 10), end to end: the hook binary attaches fake containers
// in a lab whose router is scripted (tests/e2e/ra-router.ts; radvd stopped) and answers each RS
// with exactly the RAs a test wants — fragmented, unusable, duplicated, full of multicast — and
// the container's netns is inspected afterwards. Also: the link-local address's NAs during the
// hook's own DAD of it carry no Override (RFC 4429 §3.3), and do after; and the timings of an
// attach against the lab's radvd.
//
// Lab rah (host netns rah-host, never the machine's root netns), prefixes 2001:db8:a1::/64 …
// 2001:db8:a9::/64. RAH_HOOK_CLI runs another build of the hook (e.g. one of an older commit, to
// show a test failing there); default: dist/oci-slaac-hook.js of `npm run build`. RAH_TIMING_RUNS:
// how many attaches the timings test makes (3).
import t, { type Test } from 'tap';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { linkLocalAddress } from '../../runtime/core/plan';
import { formatIPv6, parseIPv6, parseMac } from '../../runtime/core/ipv6';
import type { NdOption, RouterAdvertisement } from '../../runtime/core/nd-types';
import type { ContainerRecord } from '../../runtime/core/record';
import { fakeContainer, HOOK_CLI, type FakeContainer } from '../../vm/lab/fake-container';
import { labUp, type Lab } from '../../vm/lab/lab';
import { run } from '../../vm/lab/run';
import { pio, raWith } from '../unit/helpers';
import { ScriptedRouter, stopRadvd, type ScriptedRa } from './ra-router';

const HOST_NETNS = 'rah-host';
const CLI = process.env.RAH_HOOK_CLI ?? HOOK_CLI;
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'osh-rah-'));
const stateDir = path.join(work, 'state');
const libDir = path.join(work, 'lib');
const secret = Buffer.alloc(32, 0x5a);
fs.mkdirSync(libDir, { mode: 0o700 });
fs.writeFileSync(path.join(libDir, 'secret'), secret, { mode: 0o600 });
const HOOK_ENV: Record<string, string> = {
  OCI_SLAAC_HOOK_STATE_LIB: libDir,
  OCI_SLAAC_HOOK_SYSLOG: path.join(work, 'no-syslog.sock'),
  ...(process.env.OCI_SLAAC_HOOK_ADDON ? { OCI_SLAAC_HOOK_ADDON: process.env.OCI_SLAAC_HOOK_ADDON } : {}),
};

let lab: Lab;
let router: ScriptedRouter | undefined;
const timings: string[] = [];

function writeConfig(name: string, extra: string[] = []): string {
  const file = path.join(work, name);
  fs.writeFileSync(file, [`parent = ${JSON.stringify(lab.hostIf)}`, `state_dir = ${JSON.stringify(stateDir)}`, 'dad = "strict"', 'ra_timeout_ms = 3000', ...extra].join('\n') + '\n');
  return file;
}

t.before(async () => {
  lab = await labUp({ LAB_NAME: 'rah', LAB_HOST_NETNS: HOST_NETNS, LAB_PREFIX: '2001:db8:a9::/64', LAB_ROUTER_ADDR: '2001:db8:a9::1', LAB_PEER_ADDR: '2001:db8:a9::100', LAB_RETRANS_MS: '300', LAB_RDNSS: '2001:db8:a9::53', LAB_ROUTE: '' });
});
t.teardown(async () => {
  if (timings.length) t.comment(`timings:\n${timings.join('\n')}`);
  router?.close();
  await lab?.down();
  fs.rmSync(work, { recursive: true, force: true });
});

/** The hook, as a runtime runs it, in the lab's host netns (tap's NODE_OPTIONS taken out). */
async function hook(stage: string, c: FakeContainer, config: string): Promise<{ code: number; stderr: string }> {
  const status = stage === 'poststop' ? 'stopped' : 'creating';
  const r = await run('ip', ['netns', 'exec', HOST_NETNS, 'env', '-u', 'NODE_OPTIONS', process.execPath, CLI, stage, '--config', config], { baseEnv: { PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin', ...HOOK_ENV }, input: c.state(status), timeoutMs: 30_000 });
  return { code: r.code, stderr: r.stderr };
}

const readState = (id: string): ContainerRecord | undefined => {
  try {
    return JSON.parse(fs.readFileSync(path.join(stateDir, `${id}.json`), 'utf8')) as ContainerRecord;
  } catch {
    return undefined;
  }
};

/** Global addresses (text, without /len) and IPv6 routes in the container's netns. */
async function inside(c: FakeContainer): Promise<{ globals: string[]; routes: string[] }> {
  const addr = await run('ip', ['-n', c.netns, '-6', '-o', 'addr', 'show', 'scope', 'global']);
  const routes = await run('ip', ['-n', c.netns, '-6', 'route', 'show', 'table', 'all']);
  return {
    globals: addr.stdout.split('\n').flatMap((l) => /inet6 (\S+)\//.exec(l)?.[1] ?? []),
    routes: routes.stdout.split('\n').filter((l) => l.trim() !== ''),
  };
}

let n = 0;
/** A fake container attached against `script`; poststop and netns removal at teardown. */
async function attachWith(t: Test, script: ScriptedRa[], opts: { config?: string; annotations?: Record<string, string> } = {}) {
  if (!router) throw new Error('no scripted router');
  router.script = script;
  const config = opts.config ?? writeConfig('config.toml');
  const id = `rah-${++n}`;
  const c = await fakeContainer({ id, netns: `rah-c${n}`, dir: work, annotations: opts.annotations });
  t.teardown(async () => {
    await hook('poststop', c, config);
    await c.remove();
  });
  const r = await hook('createRuntime', c, config);
  return { c, r, state: readState(id), seen: await inside(c) };
}

const RETRANS = 200; // RetransTimer in the scripted RAs: DAD of 200 ms
const ra = (options: NdOption[], over: Partial<RouterAdvertisement> = {}): RouterAdvertisement => raWith(options, { retransTimer: RETRANS, ...over });
const inPrefix = (globals: string[], p: string): string[] => globals.filter((a) => a.startsWith(p));

// The lab's radvd first: an ordinary attach, for the timings (raMs, totalMs).
t.test('timings of an attach against radvd (unicast RA to the link-local)', async (t) => {
  const config = writeConfig('config-radvd.toml');
  const runs = Number(process.env.RAH_TIMING_RUNS ?? 3); // more for a measurement
  for (let i = 0; i < runs; i++) {
    const id = `rah-radvd-${i}`;
    const c = await fakeContainer({ id, netns: `rah-r${i}`, dir: work });
    const r = await hook('createRuntime', c, config);
    t.equal(r.code, 0, r.stderr.trim());
    const s = readState(id);
    timings.push(`radvd attach ${i}: raMs ${s?.timings.raMs} dadMs ${s?.timings.dadMs} totalMs ${s?.timings.totalMs}`);
    t.ok((s?.timings.raMs ?? Infinity) < 500, `RA in ${s?.timings.raMs} ms`);
    await hook('poststop', c, config);
    await c.remove();
  }
  await stopRadvd(lab);
  router = await ScriptedRouter.open(lab);
});

t.test('RFC 6980: a fragmented RA is dropped; the unfragmented one 300 ms later is used', async (t) => {
  // 2 × 2040 bytes of an experimental option (RFC 4727: type 253): 4.2 kB, 3 fragments at MTU 1500.
  const padding: NdOption[] = [253, 254].map((code) => ({ type: 'unknown', code, data: Buffer.alloc(2038) }));
  const big = ra([pio('2001:db8:a1::'), ...padding]);
  const { c, r, seen } = await attachWith(t, [{ ra: big }, { delayMs: 300, ra: ra([pio('2001:db8:a2::')]) }]);
  t.equal(r.code, 0, r.stderr.trim());
  t.same(inPrefix(seen.globals, '2001:db8:a1:'), [], 'no address from the fragmented RA');
  t.equal(inPrefix(seen.globals, '2001:db8:a2:').length, 1, 'the address from the unfragmented RA');
  const snmp = await run('cat', ['/proc/net/snmp6'], { netns: c.netns });
  const reasm = Number(/Ip6ReasmOKs\s+(\d+)/.exec(snmp.stdout)?.[1] ?? 0);
  t.ok(reasm >= 1, `the container's kernel did reassemble it (Ip6ReasmOKs ${reasm})`);
});

t.test('an RA without a usable prefix, then a usable one 300 ms later from another router: both merged', async (t) => {
  const r2 = await router!.addLinkLocal(lab, 'fe80::a4');
  const { r, seen, state } = await attachWith(t, [
    { ra: ra([pio('2001:db8:a3::', { autonomous: false }), { type: 'rdnss', lifetime: 600, servers: [parseIPv6('2001:db8:a3::53')] }]) },
    { delayMs: 300, source: r2, ra: ra([pio('2001:db8:a4::')], { routerLifetime: 0 }) },
  ]);
  t.equal(r.code, 0, `attached (${r.stderr.trim()})`);
  t.equal(inPrefix(seen.globals, '2001:db8:a4:').length, 1, 'the address from the second router');
  t.same(inPrefix(seen.globals, '2001:db8:a3:'), [], 'none from the first (A clear)');
  t.ok(seen.routes.some((l) => l.startsWith(`default via ${formatIPv6(router!.linkLocal)} `)), 'the default route via the first router (the only one with a router lifetime)');
  t.same(state?.rdnss, ['2001:db8:a3::53'], "the first router's DNS server");
});

t.test('no usable RA within ra_timeout_ms: refused, one line naming why each RA was unusable', async (t) => {
  const r2 = await router!.addLinkLocal(lab, 'fe80::a4');
  const { r, c } = await attachWith(t, [{ ra: ra([]) }, { delayMs: 100, source: r2, ra: ra([pio('ff02::')]) }], { annotations: { 'oci-slaac-hook.ra_timeout_ms': '1500' } });
  t.equal(r.code, 1);
  const lines = r.stderr.trim().split('\n').filter((l) => !/cleanup/.test(l));
  const last = lines[lines.length - 1] ?? '';
  t.match(
    last,
    new RegExp(`no router advertisement with a prefix usable for SLAAC on eth0 within 1500 ms \\(\\d+ solicitations sent\\); heard ${formatIPv6(router!.linkLocal)}( \\(\\d+ RAs\\))?: no Prefix Information option; fe80::a4( \\(\\d+ RAs\\))?: no prefix usable for SLAAC \\(ff02::/64 ff00::/8 is multicast`),
    last,
  );
  t.same((await c.links()).filter((l) => !/^\d+: lo:/.test(l)), [], 'nothing left in the container');
});

t.test('a prefix listed twice in one RA: one address (was EEXIST)', async (t) => {
  const { r, seen } = await attachWith(t, [{ ra: ra([pio('2001:db8:a5::'), pio('2001:db8:a5::'), { type: 'rdnss', lifetime: 600, servers: [parseIPv6('2001:db8:a5::53'), parseIPv6('2001:db8:a5::53')] }]) }]);
  t.equal(r.code, 0, r.stderr.trim());
  t.equal(inPrefix(seen.globals, '2001:db8:a5:').length, 1);
});

t.test('multicast routes, the ::/64 prefix, multicast and link-local DNS servers: ignored, with the reason logged', async (t) => {
  const { r, seen, state } = await attachWith(t, [
    {
      ra: ra([
        pio('2001:db8:a6::'),
        pio('::'),
        { type: 'route-information', prefix: parseIPv6('ff00::'), prefixLength: 8, preference: 'high', lifetime: 600 },
        { type: 'route-information', prefix: parseIPv6('2001:db8:a7::'), prefixLength: 64, preference: 'medium', lifetime: 600 },
        { type: 'rdnss', lifetime: 600, servers: ['ff02::fb', 'fe80::53', '2001:db8:a6::53'].map((s) => parseIPv6(s)) },
      ]),
    },
  ]);
  t.equal(r.code, 0, r.stderr.trim());
  t.same(seen.globals.filter((a) => !a.startsWith('2001:db8:a6:')), [], `only the 2001:db8:a6::/64 address (${seen.globals.join(' ')})`);
  t.notOk(seen.routes.some((l) => /^(multicast )?ff00::\/8 via/.test(l)), 'no route for ff00::/8 via the router');
  t.ok(seen.routes.some((l) => l.startsWith('2001:db8:a7::/64 via')), 'the unicast Route Information is there');
  t.same(state?.rdnss, ['2001:db8:a6::53'], 'unicast DNS servers only');
  t.match(r.stderr, /RA prefix ::\/64 not used: ::\/8 is reserved by the IETF/);
  t.match(r.stderr, /RA route ff00::\/8 from fe80::\S+ not used: ff00::\/8 is multicast/);
  t.match(r.stderr, /RA DNS server ff02::fb from fe80::\S+ not used: ff00::\/8 is multicast/);
});

t.test('max_prefixes = 3: nine prefixes give three addresses, and one line for the rest', async (t) => {
  const config = writeConfig('config-max.toml', ['max_prefixes = 3']);
  const nine = Array.from({ length: 9 }, (_, i) => pio(`2001:db8:a${i + 1}::`));
  const { r, seen } = await attachWith(t, [{ ra: ra(nine) }], { config });
  t.equal(r.code, 0, r.stderr.trim());
  t.same(seen.globals.map((a) => a.slice(0, 13)).sort(), ['2001:db8:a1:0', '2001:db8:a2:0', '2001:db8:a3:0']);
  t.match(r.stderr, /6 prefixes beyond max_prefixes = 3 not used: 2001:db8:a4::\/64, 2001:db8:a5::\/64, 2001:db8:a6::\/64, …/);
});

t.test('RFC 4429 §3.3: during its DAD the link-local answers NS without Override; with it after', async (t) => {
  const rt = router!;
  const name = `rah-${n + 1}`; // the stable name is the id (no annotation, no podman)
  const ll = linkLocalAddress({ name, secret, networkId: '' });
  const mac = parseMac(lab.config.routerMac);
  const during: Promise<{ override: boolean }[]>[] = [];
  const before = rt.solicitations.length;
  // On the first RS (sent from the link-local as soon as it is there), solicit it: our DAD of it
  // runs 1000 ms; the RA's RetransTimer (1000 ms) keeps the global DAD, and the attach, longer.
  const poll = setInterval(() => {
    if (rt.solicitations.length > before && during.length === 0) during.push(rt.solicit(ll, mac, 300));
  }, 5);
  const { r, c } = await attachWith(t, [{ delayMs: 100, ra: ra([pio('2001:db8:a8::')], { retransTimer: 1000 }) }]);
  clearInterval(poll);
  t.equal(r.code, 0, r.stderr.trim());
  const nas = await during[0];
  t.ok(nas && nas.length >= 1, `an NA for ${formatIPv6(ll)} during DAD`);
  t.same(nas?.map((na) => na.override), nas?.map(() => false), 'Override clear while DAD runs');
  // The kernel's DAD of it, as long as ours, may end some ms after the hook's exit (timer granularity).
  const t0 = performance.now();
  while ((await run('ip', ['-n', c.netns, '-6', 'addr', 'show', 'dev', 'eth0'])).stdout.includes('optimistic') && performance.now() - t0 < 1000) await new Promise((res) => setTimeout(res, 5));
  const lag = performance.now() - t0;
  t.ok(lag < 200, `final ${Math.round(lag)} ms after the hook's exit`);
  timings.push(`link-local final ${Math.round(lag)} ms after the hook's exit`);
  const after = await rt.solicit(ll, mac, 300);
  t.ok(after.length >= 1, 'an NA after the attach');
  t.same(after.map((na) => na.override), after.map(() => true), 'Override set once DAD is done');
});
