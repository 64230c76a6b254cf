// The ledger for ipvlan l3, in the CI VM (vm/ci-vm.sh; this machine's kernel has no ipvlan):
//  (a) the hook SIGKILLed at five points of a strict attach (OCI_SLAAC_HOOK_FAILPOINT link, rs,
//      dad, address, dns), then poststop: no host rule, proxy entry, proto-86 route or route in
//      table 4862 remains, no link, no state — after the test has seen what each kill left;
//  (b) 20 containers attached by 20 hook processes started at once and detached by 20 poststops,
//      each as soon as its container was reachable (ping from the router), so that detaches run
//      while later attaches are still at work (half the containers run longer DAD to make sure);
//      meanwhile the host is sampled (as each attach returns, after each ping, and every second):
//      whenever a container was attached, table 4862 had its routes and the container its rule
//      and proxy entry; at the end exactly nothing is left.
// The lab's host is a netns of its own (kilvm-host), so "nothing" is exact. No DNS here.
import t, { type Test } from 'tap';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { run } from '../../vm/lab/run';
import { labUp, type Lab } from '../../vm/lab/lab';
import { fakeContainer, hostResidue, runHook, stateFiles, type FakeContainer, type HookRun } from '../../vm/lab/fake-container';
import type { ContainerRecord } from '../../runtime/core/record';
import { formatIPv6 } from '../../runtime/core/ipv6';
import { RtnlKernel } from '../../runtime/system/kernel';

const PREFIX = '2001:db8:92::/64';
const ROUTER = '2001:db8:92::1';
const HOST_NETNS = 'kilvm-host';
const TABLE = 4862;
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'osh-ledger-'));
const stateDir = path.join(work, 'state');
const libDir = path.join(work, 'lib');
const configFile = path.join(work, 'config.toml');
const HOOK_ENV = { OCI_SLAAC_HOOK_STATE_LIB: libDir, OCI_SLAAC_HOOK_SYSLOG: path.join(work, 'no-syslog.sock') };
const HOOK_TIMEOUT_MS = 240_000; // TCG: a node start alone takes seconds when 20 start together

let lab: Lab;
t.before(async () => {
  const probe = await run('modprobe', ['ipvlan']);
  if (probe.code !== 0) throw new Error(`this kernel has no ipvlan (${probe.stderr.trim()}): run this suite with vm/ci-vm.sh test`);
  fs.mkdirSync(libDir, { recursive: true, mode: 0o700 });
  fs.writeFileSync(path.join(libDir, 'secret'), Buffer.alloc(32, 0x6c), { mode: 0o600 });
  lab = await labUp({ LAB_NAME: 'kilvm', LAB_HOST_NETNS: HOST_NETNS, LAB_PREFIX: PREFIX, LAB_ROUTER_ADDR: ROUTER, LAB_PEER_ADDR: '2001:db8:92::100', LAB_RETRANS_MS: '500' });
  fs.writeFileSync(
    configFile,
    [`parent = ${JSON.stringify(lab.hostIf)}`, 'mode = "ipvlan"', 'ipvlan_mode = "l3"', 'dad = "strict"', `state_dir = ${JSON.stringify(stateDir)}`, 'ra_timeout_ms = 30000', `l3_table = ${TABLE}`].join('\n') + '\n',
  );
});
t.teardown(async () => {
  await lab?.down();
  fs.rmSync(work, { recursive: true, force: true });
});

const hook = (stage: string, state: string, env: Record<string, string> = {}) => runHook(stage, state, { config: configFile, hostNetns: HOST_NETNS, env: { ...HOOK_ENV, ...env }, timeoutMs: HOOK_TIMEOUT_MS });

const readState = (id: string): ContainerRecord | undefined => {
  try {
    return JSON.parse(fs.readFileSync(path.join(stateDir, `${id}.json`), 'utf8')) as ContainerRecord;
  } catch {
    return undefined;
  }
};

const ping = (address: string) => run('ip', ['netns', 'exec', lab.routerNetns, 'ping', '-6', '-c', '3', '-i', '0.3', '-W', '5', address], { timeoutMs: 30_000 });
const hostLinks = async (): Promise<string[]> => (await run('ip', ['-n', HOST_NETNS, '-o', '-d', 'link', 'show', 'type', 'ipvlan'])).stdout.split('\n').filter((l) => l.trim() !== '');
const onlyLo = (links: string[]) => links.filter((l) => !/^\d+: lo:/.test(l));

async function nothingLeft(t: Test, containers: FakeContainer[]): Promise<void> {
  t.same(await hostResidue(HOST_NETNS, TABLE), { rules: [], proxies: [], routes: [], table: [] }, `host: table ${TABLE} empty, no rule, no proxy entry, no proto 86 route`);
  t.same(await hostLinks(), [], 'host: no ipvlan link');
  const leftover: string[] = [];
  for (const c of containers) leftover.push(...onlyLo(await c.links()).map((l) => `${c.netns}: ${l}`));
  t.same(leftover, [], `no link in any of the ${containers.length} container netns (only lo)`);
  t.same(stateFiles(stateDir), [], 'no state file (nor temp file) left');
}

const POINTS = ['link', 'rs', 'dad', 'address', 'dns'] as const;
type Point = (typeof POINTS)[number];
/** The killed hook's ledger at each point (strict ipvlan l3, no [dns]: the dns point follows the routes). */
const LEDGER_AT: Record<Point, RegExp> = {
  link: /^link$/,
  rs: /^link address$/,
  dad: /^link address l3-table$/, // the RA's routes in the reach table, before DAD of the global address
  address: /^link address l3-table address l3-reach$/,
  dns: /^link address l3-table address l3-reach( route)+$/,
};

t.test('ipvlan l3: SIGKILL at five points of a strict attach, then poststop: nothing left on the host', async (t) => {
  const times: string[] = [];
  for (const point of POINTS) {
    await t.test(`killed at "${point}"`, async (t) => {
      const c = await fakeContainer({ id: `kvm-${point}`, netns: `kil-v-${point}`, dir: work, annotations: { 'oci-slaac-hook.name': `kil-${point}` } });
      t.teardown(c.remove);
      const r = await hook('createRuntime', c.state('creating'), { OCI_SLAAC_HOOK_FAILPOINT: point });
      t.equal(r.signal, 'SIGKILL', `died by SIGKILL (${r.stderr.trim() || 'no output'})`);
      t.equal(r.code, null, 'no exit code');
      t.notOk(r.timedOut, 'by itself, at the failpoint');
      const rec = readState(c.id);
      t.equal(rec?.phase, 'attaching', 'state: attaching');
      const kinds = (rec?.ledger ?? []).map((e) => e.kind).join(' ');
      t.match(kinds, LEDGER_AT[point], `ledger: ${kinds}`);
      const links = await c.links();
      t.ok(links.some((l) => /^\d+: eth0@/.test(l) && l.includes(`alias oci-slaac-hook:${c.id}`)), 'its eth0 is there, marked ours', { links });
      const side = await hostResidue(HOST_NETNS, TABLE);
      const reach = rec?.ledger.find((e) => e.kind === 'l3-reach');
      if (point === 'dad' || point === 'address' || point === 'dns') t.ok(side.table.some((l) => l.startsWith('default via fe80::')), `table ${TABLE} holds the RA's routes`, { table: side.table });
      else t.same(side.table, [], `table ${TABLE} not yet filled`);
      if (reach?.kind === 'l3-reach') {
        t.ok(side.rules.some((l) => l.includes(`from ${reach.address} lookup ${TABLE}`)), 'the rule for its address', { rules: side.rules });
        t.ok(side.proxies.some((l) => l.startsWith(`${reach.address} dev ${lab.hostIf} proxy`)), 'the proxy entry for its address', { proxies: side.proxies });
      } else {
        t.same([side.rules, side.proxies], [[], []], 'no rule or proxy entry yet');
      }

      const stop = await hook('poststop', c.state('stopped'));
      t.equal(stop.code, 0, `poststop exits 0 (${stop.stderr.trim()})`);
      t.notMatch(stop.stderr, /withdraw:|cleanup|failed|error/i, 'no failure reported');
      await nothingLeft(t, [c]);
      times.push(`${point}: killed after ${r.ms.toFixed(0)} ms [${kinds}], poststop ${stop.ms.toFixed(0)} ms`);
    });
  }
  t.comment(times.join('\n'));
});

interface Sample {
  at: number;
  /** Table 4862's routes ("::/0 via fe80::1", "2001:db8:92::/64"), the addresses with a rule into it, and those proxied on the parent. */
  table: string[];
  rules: Set<string>;
  proxies: Set<string>;
}

t.test('ipvlan l3: 20 containers attached by 20 hooks at once, each reachable, detached by 20 concurrent poststops while others still attach: nothing left', async (t) => {
  const N = 20;
  const containers: FakeContainer[] = [];
  for (let i = 0; i < N; i++) {
    // Odd ones spend 3 s longer in DAD (4 transmits: 4 s for the link-local, 2 s for the global
    // address, against 1 s): their attaches run on while the even ones are pinged and detached.
    const annotations: Record<string, string> = { 'oci-slaac-hook.name': `kil-${i}`, ...(i % 2 ? { 'oci-slaac-hook.dad_transmits': '4' } : {}) };
    containers.push(await fakeContainer({ id: `kvm-c${i}`, netns: `kil-n${i}`, dir: work, annotations }));
  }
  t.teardown(() => Promise.all(containers.map((c) => c.remove())).then(() => undefined));

  // The host, sampled in-process over rtnetlink (an `ip` process per sample costs a second under
  // TCG and slows the hooks down): when an attach has returned, after its ping, and once a second.
  const host = RtnlKernel.open(`/run/netns/${HOST_NETNS}`);
  t.teardown(() => host.close());
  const parentIndex = host.findLink(lab.hostIf)?.index;
  const samples: Sample[] = [];
  const sample = (): void => {
    samples.push({
      at: performance.now(),
      table: host.listRoutes(TABLE).filter((r) => r.table === TABLE).map((r) => `${formatIPv6(r.destination)}/${r.prefixLength}${r.gateway ? ` via ${formatIPv6(r.gateway)}` : ''}`),
      rules: new Set(host.listRules().filter((r) => r.table === TABLE).map((r) => formatIPv6(r.source))),
      proxies: new Set(host.listProxies().filter((p) => p.index === parentIndex).map((p) => formatIPv6(p.address))),
    });
  };
  const sampler = setInterval(sample, 1000);

  interface Life {
    attach?: HookRun;
    address?: string;
    liveFrom?: number;
    liveTo?: number;
    ping?: number | null;
    detach?: HookRun;
  }
  const lives: Life[] = containers.map(() => ({}));
  const t0 = performance.now();
  await Promise.all(
    containers.map(async (c, i) => {
      const life = lives[i] as Life;
      life.attach = await hook('createRuntime', c.state('creating'));
      if (life.attach.code !== 0) return;
      life.liveFrom = performance.now();
      life.address = readState(c.id)?.addresses[0]?.address;
      sample();
      if (life.address) life.ping = (await ping(life.address)).code;
      sample();
      life.liveTo = performance.now();
      life.detach = await hook('poststop', c.state('stopped'));
    }),
  );
  const wall = performance.now() - t0;
  clearInterval(sampler);

  const failedAttaches = lives.flatMap((l, i) => (l.attach?.code === 0 ? [] : [`${containers[i]?.id}: ${l.attach?.code ?? '?'}/${l.attach?.signal ?? ''} ${l.attach?.stderr.trim() ?? ''}`]));
  t.same(failedAttaches, [], `all ${N} attaches exit 0`);
  const unreachable = lives.flatMap((l, i) => (l.ping === 0 ? [] : [`${containers[i]?.id} ${l.address ?? '(no address)'}`]));
  t.same(unreachable, [], `the router pinged each of the ${N} live containers`);
  const failedDetaches = lives.flatMap((l, i) => (l.detach?.code === 0 && !/withdraw:|failed|error/i.test(l.detach.stderr) ? [] : [`${containers[i]?.id}: ${l.detach?.code ?? '?'} ${l.detach?.stderr.trim() ?? ''}`]));
  t.same(failedDetaches, [], `all ${N} poststops exit 0 and report no failure`);
  t.equal(new Set(lives.map((l) => l.address)).size, N, `${N} distinct addresses`);

  // How the attaches and detaches overlapped.
  const attachEnds = lives.map((l) => l.attach?.endedAt ?? Infinity);
  const lastAttachEnd = Math.max(...attachEnds);
  const detachStarts = lives.map((l) => l.detach?.startedAt ?? Infinity);
  const detachesDuringAttaches = detachStarts.filter((s) => s < lastAttachEnd).length;
  t.ok(detachesDuringAttaches > 0, `${detachesDuringAttaches} poststops started while attaches were still running`);
  const concurrency = (pick: (l: Life) => HookRun | undefined, at: number) => lives.filter((l) => (pick(l)?.startedAt ?? Infinity) <= at && at < (pick(l)?.endedAt ?? -Infinity)).length;
  const edges = lives.flatMap((l) => [l.attach?.startedAt, l.detach?.startedAt]).filter((x): x is number => x !== undefined);
  const maxAttach = Math.max(...edges.map((e) => concurrency((l) => l.attach, e)));
  const maxDetach = Math.max(...edges.map((e) => concurrency((l) => l.detach, e)));
  const maxMixed = Math.max(...edges.map((e) => Math.min(concurrency((l) => l.attach, e), concurrency((l) => l.detach, e))));
  t.equal(maxAttach, N, `${N} attach hooks ran at once`);
  t.ok(maxMixed > 0, `attach and poststop hooks ran at the same time (up to ${maxMixed} of each at one moment)`);

  // Whenever a container was attached at a sample, the host had its routes, rule and proxy entry.
  let covered = 0;
  let maxLive = 0;
  const violations: string[] = [];
  for (const s of samples) {
    const live = lives.filter((l) => l.liveFrom !== undefined && l.liveTo !== undefined && l.liveFrom <= s.at && s.at <= l.liveTo);
    if (live.length === 0) continue;
    covered++;
    maxLive = Math.max(maxLive, live.length);
    if (!s.table.some((r) => r.startsWith('::/0 via fe80::')) || !s.table.includes('2001:db8:92::/64')) violations.push(`${live.length} attached, table ${TABLE}: ${JSON.stringify(s.table)}`);
    for (const l of live) {
      if (!l.address || !s.rules.has(l.address)) violations.push(`${l.address ?? '?'}: no rule`);
      if (!l.address || !s.proxies.has(l.address)) violations.push(`${l.address ?? '?'}: no proxy entry`);
    }
  }
  t.ok(covered > 0, `${covered} of ${samples.length} host samples were taken while containers were attached (up to ${maxLive} at once)`);
  t.same(violations, [], `in each of them table ${TABLE} had the RA's routes and every attached container its rule and proxy entry`);

  await nothingLeft(t, containers);
  const ms = (xs: number[]) => {
    const v = [...xs].sort((a, b) => a - b);
    return `min ${v[0]?.toFixed(0)} / median ${v[Math.floor(v.length / 2)]?.toFixed(0)} / max ${v[v.length - 1]?.toFixed(0)} ms`;
  };
  t.comment(
    [
      `${N} containers in ${(wall / 1000).toFixed(1)} s`,
      `attach: ${ms(lives.map((l) => l.attach?.ms ?? NaN))}`,
      `poststop: ${ms(lives.map((l) => l.detach?.ms ?? NaN))}`,
      `the attach pipeline's own total (after node's start): ${ms(lives.map((l) => Number(/total ([\d.]+) ms/.exec(l.attach?.stderr ?? '')?.[1] ?? NaN)))}`,
      `max concurrent: ${maxAttach} attaches, ${maxDetach} poststops; ${detachesDuringAttaches} poststops began before the last attach ended`,
      `host samples: ${samples.length} (${covered} with containers attached, up to ${maxLive} at once)`,
    ].join('\n'),
  );
});
