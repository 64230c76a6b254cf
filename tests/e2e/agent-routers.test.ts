// Two routers on one link, advertising different prefixes (issue 11): the container, looked after
// by the agent, has an address in each; one router dies (SIGKILL: no farewell RA, its router
// lifetime of 20 s simply runs out): the default route through it (the preferred one) goes, the
// other router's takes over, and the container still reaches an address beyond the live router.
// Lab agr (2001:db8:f0c::/64, radvd of the lab) and a second router agr2 (2001:db8:f0d::/64) on
// the same bridge.
import t from 'tap';
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { REPO_ROOT, run } from '../../vm/lab/run';
import { labUp, type Lab } from '../../vm/lab/lab';
import { fakeContainer, HOOK_CLI, runHook } from '../../vm/lab/fake-container';

t.setTimeout(180_000);

const BEYOND = '2001:db8:f0e::1'; // on the first router's lo
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'osh-agr-'));
const stateDir = path.join(work, 'state');
const libDir = path.join(work, 'lib');
fs.mkdirSync(libDir, { mode: 0o700 });
fs.writeFileSync(path.join(libDir, 'secret'), Buffer.alloc(32, 0x52), { mode: 0o600 });
const configFile = path.join(work, 'config.toml');
const ENV = { OCI_SLAAC_HOOK_STATE_LIB: libDir, OCI_SLAAC_HOOK_SYSLOG: path.join(work, 'no-syslog.sock') };
const ROUTER2_ENV = {
  LAB_NAME: 'agr2',
  LAB_LAN_NETNS: 'agr-lan',
  LAB_ROUTER_LAN_END: 'lan-router2',
  LAB_PREFIX: '2001:db8:f0d::/64',
  LAB_ROUTER_ADDR: '2001:db8:f0d::1',
  LAB_ROUTER_MAC: '02:00:00:0f:0d:01',
  LAB_ROUTER_LIFETIME: '20',
  // Preferred over the lab's router (medium): the container's default route goes through it first.
  LAB_ROUTER_PREFERENCE: 'high',
  LAB_RA_INTERVAL: '4',
  LAB_RA_MIN_INTERVAL: '3',
  LAB_ROUTE: '',
  LAB_RDNSS: '',
  LAB_DNSSL: '',
};
const router2 = (verb: string) => run('sh', [path.join(REPO_ROOT, 'vm', 'roles', 'router.sh'), verb], { env: { ...process.env, ...ROUTER2_ENV }, timeoutMs: 30_000 });

let lab: Lab;
let agent: ChildProcess | undefined;
let agentLog = '';

t.before(async () => {
  lab = await labUp({ LAB_NAME: 'agr', LAB_PREFIX: '2001:db8:f0c::/64', LAB_ROUTER_ADDR: '2001:db8:f0c::1', LAB_PEER_ADDR: '2001:db8:f0c::100', LAB_RA_INTERVAL: '4', LAB_RA_MIN_INTERVAL: '3', LAB_RETRANS_MS: '200' });
  const up = await router2('up');
  if (up.code !== 0) throw new Error(`second router: ${up.stderr}`);
  const lo = await run('ip', ['-n', lab.routerNetns, 'addr', 'add', `${BEYOND}/128`, 'dev', 'lo']);
  if (lo.code !== 0) throw new Error(`router lo address: ${lo.stderr}`);
  fs.writeFileSync(configFile, `parent = ${JSON.stringify(lab.hostIf)}\nstate_dir = ${JSON.stringify(stateDir)}\n`);
});
t.teardown(async () => {
  agent?.kill('SIGTERM');
  await router2('down');
  await lab?.down();
  fs.rmSync(work, { recursive: true, force: true });
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

t.test('one of two routers dies: its default route goes, the other router takes over', async (t) => {
  agent = spawn('env', ['-u', 'NODE_OPTIONS', process.execPath, HOOK_CLI, 'agent', '--config', configFile], { env: { PATH: process.env.PATH ?? '', ...ENV }, stdio: ['ignore', 'ignore', 'pipe'] });
  agent.stderr?.setEncoding('utf8').on('data', (d: string) => (agentLog += d));
  t.teardown(() => t.comment(`agent log:\n${agentLog.trim().split('\n').slice(-25).join('\n')}`));
  for (let i = 0; i < 50 && !fs.existsSync(path.join(stateDir, 'agent.sock')); i++) await sleep(100);
  const c = await fakeContainer({ id: 'agr-c', netns: 'agr-c', dir: work, annotations: { 'oci-slaac-hook.name': 'agr-c' } });
  t.teardown(c.remove);
  const r = await runHook('createRuntime', c.state('creating'), { config: configFile, env: ENV });
  t.equal(r.code, 0, r.stderr.trim());
  // Both routers' RAs reach the agent within an interval or two: an address in each prefix.
  let addrs = '';
  for (let i = 0; i < 40 && !(addrs.includes('2001:db8:f0c:') && addrs.includes('2001:db8:f0d:')); i++) {
    await sleep(250);
    addrs = (await run('ip', ['-n', c.netns, '-6', 'addr', 'show', 'scope', 'global'])).stdout;
  }
  t.match(addrs, /2001:db8:f0c:/, "an address in the first router's prefix");
  t.match(addrs, /2001:db8:f0d:/, "and in the second's");
  const r2ll = (await run('ip', ['-n', 'agr2-router', '-6', 'addr', 'show', 'scope', 'link'])).stdout.match(/inet6 (fe80::[0-9a-f:]+)\//)?.[1] ?? '';
  const r1ll = (await run('ip', ['-n', lab.routerNetns, '-6', 'addr', 'show', 'scope', 'link'])).stdout.match(/inet6 (fe80::[0-9a-f:]+)\//)?.[1] ?? '';
  t.ok(r1ll && r2ll, `the routers' link-locals: ${r1ll}, ${r2ll}`);
  const before = (await run('ip', ['-n', c.netns, '-6', 'route', 'show', 'default'])).stdout;
  t.match(before, r2ll, `the default route goes through the preferred router first: ${before.trim()}`);
  const source = addrs.match(/inet6 (2001:db8:f0c:[0-9a-f:]+)\//)?.[1] ?? '';

  // The second router dies without a word.
  const pid = Number(fs.readFileSync(path.join('/run/oci-slaac-hook-lab', 'agr2', 'router', 'radvd.pid'), 'utf8').trim());
  process.kill(pid, 'SIGKILL');
  const killedAt = Date.now();
  let routes = '';
  for (;;) {
    await sleep(1000);
    routes = (await run('ip', ['-n', c.netns, '-6', 'route', 'show', 'default'])).stdout;
    if (!routes.includes(r2ll) || Date.now() - killedAt > 40_000) break;
  }
  const goneAfter = Math.round((Date.now() - killedAt) / 1000);
  t.notMatch(routes, r2ll, `no default route via the dead router (${goneAfter} s after it died; its lifetime was 20 s)`);
  t.ok(goneAfter <= 30, 'gone within its router lifetime and a little');
  t.match(routes, r1ll, 'the default route via the live router takes over');
  // From its address in the live router's prefix (that router routes nothing back to the other's).
  const ping = await run('ip', ['netns', 'exec', c.netns, 'ping', '-6', '-c', '1', '-W', '2', '-I', source, BEYOND]);
  t.equal(ping.code, 0, `the container reaches beyond the live router (from ${source})`);

  const stop = await runHook('poststop', c.state('stopped'), { config: configFile, env: ENV });
  t.equal(stop.code, 0, stop.stderr.trim());
});
