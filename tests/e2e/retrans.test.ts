// The link's RetransTimer from the RA paces the link-local's DAD too (issue 16, item 5): the
// link-local's probe goes out before the RA, at the default 1000 ms, but once the RA says 250 ms
// the wait ends 250 ms after the NS — so a strict attach on such a link takes about 250 ms, not a
// full second. In-process (runtime/pipeline, systemDeps), ten attaches in a row on fresh netns of
// lab `rtm` (2001:db8:c7::/64, radvd AdvRetransTimer 250), each under 400 ms; and a duplicate of
// the link-local is still caught, and named as such.
import t from 'tap';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { defaultConfig, type HookConfig } from '../../runtime/core/config';
import type { ContainerRecord } from '../../runtime/core/record';
import { linkLocalAddress } from '../../runtime/core/plan';
import { formatIPv6 } from '../../runtime/core/ipv6';
import { attach } from '../../runtime/pipeline/attach';
import { systemDeps, type PipelineDeps } from '../../runtime/pipeline/deps';
import { detach } from '../../runtime/pipeline/detach';
import { run } from '../../vm/lab/run';
import { labUp, type Lab } from '../../vm/lab/lab';
import { MemoryLogger } from '../unit/fake-kernel';

t.setTimeout(120_000);

const work = fs.mkdtempSync(path.join(os.tmpdir(), 'osh-rtm-'));
const stateDir = path.join(work, 'state');
const secret = Buffer.alloc(32, 0x72);
const N = 10;

let lab: Lab;
let deps: PipelineDeps;
const log = new MemoryLogger();

t.before(async () => {
  lab = await labUp({ LAB_NAME: 'rtm', LAB_PREFIX: '2001:db8:c7::/64', LAB_ROUTER_ADDR: '2001:db8:c7::1', LAB_PEER_ADDR: '2001:db8:c7::100', LAB_RETRANS_MS: '250' });
  deps = systemDeps(stateDir, log);
});
t.teardown(async () => {
  deps?.host.close();
  for (let i = 0; i < N; i++) await run('ip', ['netns', 'del', `rtm-c${i}`]);
  await run('ip', ['netns', 'del', 'rtm-dup']);
  await lab?.down();
  fs.rmSync(work, { recursive: true, force: true });
});

const config = (): HookConfig => ({ ...defaultConfig(), parent: lab.hostIf, state_dir: stateDir, ra_timeout_ms: 3000, dad: 'strict' });

async function netns(name: string): Promise<string> {
  await run('ip', ['netns', 'del', name]);
  const r = await run('ip', ['netns', 'add', name]);
  if (r.code !== 0) throw new Error(`ip netns add ${name}: ${r.stderr}`);
  return `/run/netns/${name}`;
}

t.test(`RetransTimer 250 ms: ${N} strict attaches in a row, each under 400 ms`, async (t) => {
  const totals: number[] = [];
  for (let i = 0; i < N; i++) {
    const id = `rtm-${i}`;
    const record: ContainerRecord = await attach({ id, name: { name: id, source: 'id' }, netnsPath: await netns(`rtm-c${i}`), config: config(), annotations: {}, secret }, deps);
    t.equal(record.retransMs, 250, `${id}: the RA's RetransTimer`);
    t.equal(record.addresses[0]?.dad, 'verified', `${id}: strict, DAD said unique`);
    totals.push(record.timings.totalMs);
    const undone = await detach(record, deps);
    t.ok(undone.removed, `${id}: detached`);
  }
  t.comment(`attach totals (ms): ${totals.join(' ')}`);
  t.ok(
    totals.every((ms) => ms < 400),
    `every strict attach under 400 ms (max ${Math.max(...totals)} ms; 1000 ms and more when the link-local waited a full second)`,
  );
});

t.test('a duplicate of the link-local is still caught, and named', async (t) => {
  // The router's netns holds the link-local the name `rtm-dup` derives: our probe must see its defence.
  const linkLocal = formatIPv6(linkLocalAddress({ name: 'rtm-dup', secret, networkId: '' }));
  const add = await run('ip', ['-n', lab.routerNetns, 'addr', 'add', `${linkLocal}/64`, 'dev', lab.routerIf, 'nodad']);
  t.equal(add.code, 0, `${linkLocal} held by the router: ${add.stderr}`);
  t.teardown(() => run('ip', ['-n', lab.routerNetns, 'addr', 'del', `${linkLocal}/64`, 'dev', lab.routerIf]).then(() => undefined));
  const t0 = performance.now();
  await t.rejects(
    attach({ id: 'rtm-dup', name: { name: 'rtm-dup', source: 'id' }, netnsPath: await netns('rtm-dup'), config: config(), annotations: {}, secret }, deps),
    new RegExp(`link-local address ${linkLocal} is in use on the link \\((NA from|the kernel's DAD failed)`),
    'refused: the link-local is in use',
  );
  // The kernel's DAD of the link-local finds it too and takes it away: the RS from it fails, the
  // retransmission from `::` (1 s on) brings the RA, and the attach stops there, the cause named.
  t.ok(performance.now() - t0 < 2000, `within ${Math.round(performance.now() - t0)} ms (one RS retransmission)`);
  t.same((await run('ip', ['-n', 'rtm-dup', '-o', 'link', 'show'])).stdout.split('\n').filter(Boolean).length, 1, 'nothing left in its netns but lo');
});
