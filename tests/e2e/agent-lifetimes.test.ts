// The agent keeps a container alive past its router's lifetimes (issue 11's first "must show").
// The lab's radvd advertises router lifetime 30 s and the prefix valid 120 s / preferred 60 s,
// every few seconds. Two containers on the same parent, side by side for 150 s:
// - `kept`, in the state dir an agent looks after: its default route stays, its address stays
//   preferred, and it reaches an address beyond the router (on the router's loopback, reached only
//   through the default route) at every sample;
// - `alone`, in a state dir no agent knows (the hook as it was, configured once): its default route
//   expires at 30 s and the address beyond the router is unreachable from then on — shown in the
//   same run.
// Lab agl (2001:db8:f0a::/64), netns agl-*.
import t from 'tap';
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { run } from '../../vm/lab/run';
import { labUp, type Lab } from '../../vm/lab/lab';
import { fakeContainer, HOOK_CLI, runHook, type FakeContainer } from '../../vm/lab/fake-container';

// 150 s of life and the lab around it: beyond tap's per-file default (package.json "tap".timeout).
t.setTimeout(300_000);

const PREFIX = '2001:db8:f0a::/64';
const BEYOND = '2001:db8:f0b::1'; // on the router's lo: not on-link, only via the default route
const LIVE_MS = 150_000;
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'osh-agl-'));
const libDir = path.join(work, 'lib');
fs.mkdirSync(libDir, { mode: 0o700 });
fs.writeFileSync(path.join(libDir, 'secret'), Buffer.alloc(32, 0x41), { mode: 0o600 });
const ENV = { OCI_SLAAC_HOOK_STATE_LIB: libDir, OCI_SLAAC_HOOK_SYSLOG: path.join(work, 'no-syslog.sock') };

let lab: Lab;
let agent: ChildProcess | undefined;
let agentLog = '';
const configOf = (name: string): string => path.join(work, `${name}.toml`);

t.before(async () => {
  lab = await labUp({
    LAB_NAME: 'agl',
    LAB_PREFIX: PREFIX,
    LAB_ROUTER_ADDR: '2001:db8:f0a::1',
    LAB_PEER_ADDR: '2001:db8:f0a::100',
    LAB_ROUTER_LIFETIME: '30',
    LAB_VALID_LIFETIME: '120',
    LAB_PREFERRED_LIFETIME: '60',
    LAB_RA_INTERVAL: '5',
    LAB_RA_MIN_INTERVAL: '3',
    LAB_RETRANS_MS: '200',
  });
  const lo = await run('ip', ['-n', lab.routerNetns, 'addr', 'add', `${BEYOND}/128`, 'dev', 'lo']);
  if (lo.code !== 0) throw new Error(`router lo address: ${lo.stderr}`);
  for (const name of ['kept', 'alone']) {
    fs.writeFileSync(configOf(name), `parent = ${JSON.stringify(lab.hostIf)}\nstate_dir = ${JSON.stringify(path.join(work, `state-${name}`))}\ngc_interval_ms = 1000\n`);
  }
});
t.teardown(async () => {
  agent?.kill('SIGTERM');
  await lab?.down();
  fs.rmSync(work, { recursive: true, force: true });
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const defaultRoute = async (c: FakeContainer) => (await run('ip', ['-n', c.netns, '-6', 'route', 'show', 'default'])).stdout.trim();
const globalAddr = async (c: FakeContainer) => (await run('ip', ['-n', c.netns, '-6', 'addr', 'show', 'scope', 'global'])).stdout;
const reaches = async (c: FakeContainer) => (await run('ip', ['netns', 'exec', c.netns, 'ping', '-6', '-c', '1', '-W', '2', BEYOND])).code === 0;

t.test('router lifetime 30 s, preferred 60 s, valid 120 s: 150 s with the agent, and without', async (t) => {
  agent = spawn('env', ['-u', 'NODE_OPTIONS', process.execPath, HOOK_CLI, 'agent', '--config', configOf('kept')], { env: { PATH: process.env.PATH ?? '', ...ENV }, stdio: ['ignore', 'ignore', 'pipe'] });
  agent.stderr?.setEncoding('utf8').on('data', (s: string) => (agentLog += s));
  for (let i = 0; i < 50 && !fs.existsSync(path.join(work, 'state-kept', 'agent.sock')); i++) await sleep(100);
  t.ok(fs.existsSync(path.join(work, 'state-kept', 'agent.sock')), 'the agent listens');

  const kept = await fakeContainer({ id: 'agl-kept', netns: 'agl-kept', dir: work, annotations: { 'oci-slaac-hook.name': 'agl-kept' } });
  const alone = await fakeContainer({ id: 'agl-alone', netns: 'agl-alone', dir: work, annotations: { 'oci-slaac-hook.name': 'agl-alone' } });
  t.teardown(async () => {
    await kept.remove();
    await alone.remove();
  });
  for (const [c, name] of [[kept, 'kept'], [alone, 'alone']] as const) {
    const r = await runHook('createRuntime', c.state('creating'), { config: configOf(name), env: ENV });
    t.equal(r.code, 0, `${name} attached: ${r.stderr.trim()}`);
  }
  const started = Date.now();
  const samples: string[] = [];
  let keptFailures = 0;
  let aloneLostAt: number | undefined;
  while (Date.now() - started < LIVE_MS) {
    await sleep(10_000);
    const s = Math.round((Date.now() - started) / 1000);
    const [kRoute, kAddr, kReach, aRoute, aReach] = await Promise.all([defaultRoute(kept), globalAddr(kept), reaches(kept), defaultRoute(alone), reaches(alone)]);
    const deprecated = /deprecated/.test(kAddr);
    if (!kRoute || deprecated || !kReach) keptFailures++;
    if (!aReach && aloneLostAt === undefined) aloneLostAt = s;
    samples.push(`${s} s: kept route ${kRoute ? 'yes' : 'NO'}, preferred ${deprecated ? 'NO' : 'yes'}, reaches ${kReach ? 'yes' : 'NO'} | alone route ${aRoute ? 'yes' : 'no'}, reaches ${aReach ? 'yes' : 'no'}`);
  }
  t.comment(samples.join('\n'));
  t.equal(keptFailures, 0, 'with the agent: default route, a preferred address and the address beyond the router at every sample');
  // The kernel stops using an expired route at once and deletes it at its next route GC (up to
  // net.ipv6.route.gc_interval, 30 s, later): reach is what goes at the router lifetime.
  t.ok(aloneLostAt !== undefined && aloneLostAt <= 45, `without it: the address beyond the router unreachable from ${aloneLostAt} s on (router lifetime 30 s)`);
  t.equal(await defaultRoute(alone), '', 'and its default route gone');
  t.notOk(await reaches(alone), 'still unreachable at the end');

  for (const [c, name] of [[kept, 'kept'], [alone, 'alone']] as const) {
    const r = await runHook('poststop', c.state('stopped'), { config: configOf(name), env: ENV });
    t.equal(r.code, 0, `${name} detached: ${r.stderr.trim()}`);
  }
  agent.kill('SIGTERM');
  const code = await new Promise<number | null>((res) => agent?.on('exit', (c) => res(c)));
  t.equal(code, 0, 'the agent exits 0 on SIGTERM');
  t.comment(`agent log:\n${agentLog.trim().split('\n').slice(-15).join('\n')}`);
});
