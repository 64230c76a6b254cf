// In-process kernel tests: attach, check and detach called directly (runtime/pipeline, with
// systemDeps) in this process, on fresh netns made here, against the lab's real radvd — no CLI,
// no OCI state. After attach the address is there and check says ok; a difference made through
// NetKernel is named; detach removes the link and the record; check after it says so.
//
// Lab chkp (2001:db8:c4e::/64), netns chkp-*: names of their own, beside other labs.
import t from 'tap';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { defaultConfig, type HookConfig } from '../../runtime/core/config';
import { InputError } from '../../runtime/core/errors';
import { parseIPv6 } from '../../runtime/core/ipv6';
import type { ContainerRecord } from '../../runtime/core/record';
import { IFA_F_DADFAILED, IFA_F_NODAD, IFA_F_TENTATIVE } from '../../runtime/wire/rtnetlink/constants';
import { RtnlKernel } from '../../runtime/system/kernel';
import { Logger, type Level } from '../../runtime/system/log';
import { hostRouteSpec, companionName } from '../../runtime/ops/host-link';
import { attach } from '../../runtime/pipeline/attach';
import { check, findRecord } from '../../runtime/pipeline/check';
import { systemDeps, type PipelineDeps } from '../../runtime/pipeline/deps';
import { detach } from '../../runtime/pipeline/detach';
import { run } from '../../vm/lab/run';
import { labUp, type Lab } from '../../vm/lab/lab';

const work = fs.mkdtempSync(path.join(os.tmpdir(), 'osh-chkp-'));
const stateDir = path.join(work, 'state');
const secret = Buffer.alloc(32, 0x6b);

/** The pipeline's log lines, kept here instead of stderr and syslog. */
class TestLogger extends Logger {
  readonly lines: string[] = [];
  constructor() {
    super('', path.join(work, 'no-syslog'));
  }
  override log(level: Level, message: string): void {
    this.lines.push(`${level}: ${message}`);
  }
}

let lab: Lab;
let deps: PipelineDeps;
const log = new TestLogger();

t.before(async () => {
  lab = await labUp({ LAB_NAME: 'chkp', LAB_PREFIX: '2001:db8:c4e::/64', LAB_ROUTER_ADDR: '2001:db8:c4e::1', LAB_PEER_ADDR: '2001:db8:c4e::100', LAB_RETRANS_MS: '300' });
  deps = systemDeps(stateDir, log);
});
t.teardown(async () => {
  deps?.host.close();
  await lab?.down();
  fs.rmSync(work, { recursive: true, force: true });
});

const config = (over: Partial<HookConfig> = {}): HookConfig => ({ ...defaultConfig(), parent: lab.hostIf, state_dir: stateDir, ra_timeout_ms: 3000, ...over });

/** A fresh netns, as the lab tools make them; removed at the end of the test. */
async function freshNetns(t: { teardown(fn: () => unknown): void }, name: string): Promise<string> {
  const r = await run('ip', ['netns', 'add', name]);
  if (r.code !== 0) throw new Error(`ip netns add ${name}: ${r.stderr}`);
  t.teardown(() => run('ip', ['netns', 'del', name]).then(() => undefined));
  return `/run/netns/${name}`;
}

const attachIn = (id: string, netnsPath: string, cfg = config()): Promise<ContainerRecord> =>
  attach({ id, name: { name: id, source: 'id' }, netnsPath, config: cfg, annotations: {}, secret }, deps);

t.test('attach, check, detach in this process', async (t) => {
  const nsPath = await freshNetns(t, 'chkp-c1');
  const record = await attachIn('ip1', nsPath);
  t.equal(record.phase, 'attached');
  const address = record.addresses[0]?.address ?? '';
  t.match(address, /^2001:db8:c4e:0:/, `an address from the lab's prefix: ${address}`);

  // The kernel, seen through a handle of our own.
  const k = RtnlKernel.open(nsPath);
  t.teardown(() => k.close());
  const link = k.findLink('eth0');
  t.equal(link?.alias, 'oci-slaac-hook:ip1', 'eth0, marked as ours');
  const live = k.listAddresses(link?.index).find((a) => a.address.equals(parseIPv6(address)));
  t.ok(live, 'the address is on eth0');
  t.equal((live?.flags ?? 0) & (IFA_F_TENTATIVE | IFA_F_DADFAILED), 0, 'neither tentative nor dadfailed');
  t.match((await run('ip', ['-n', 'chkp-c1', '-6', 'route', 'show', 'default'])).stdout, new RegExp(`^default via ${record.router.address} dev eth0`), 'the default route via the router');

  t.same(await check(record, deps), [], 'check: ok');
  const stored = findRecord(deps.store, 'ip1');
  t.same(await check(stored, deps), [], 'check of the stored record: ok');

  // A difference made through NetKernel, and undone.
  k.deleteAddress({ index: link?.index ?? 0, address: parseIPv6(address), prefixLength: 64 });
  t.match(await check(record, deps), [{ kind: 'address', state: 'missing', text: `address ${address}/64 on eth0 is missing` }]);
  k.addAddress({ index: link?.index ?? 0, address: parseIPv6(address), prefixLength: 64, flags: IFA_F_NODAD });
  t.same(await check(record, deps), [], 'put back: ok');

  const before = structuredClone(record);
  const result = await detach(record, deps);
  t.same(result, { link: 'deleted', failures: [], removed: true }, 'detach: link deleted, record removed');
  t.equal(k.findLink('eth0'), undefined, 'the link is gone');
  t.notMatch((await run('ip', ['-n', 'chkp-c1', 'link', 'show'])).stdout, /eth0/);
  t.equal(deps.store.read('ip1'), undefined, 'the record is gone');
  t.throws(() => findRecord(deps.store, 'ip1', stateDir), new InputError(`unknown container ip1: no state in ${stateDir} (never attached by this hook, or detached since)`), 'unknown id: says so');
  t.same(await check(record, deps), [{ kind: 'phase', state: 'detached', text: 'container ip1 is detached: its ledger is empty' }], 'check of the detached record: says so');
  t.same(await check(before, deps), [{ kind: 'link', state: 'gone', text: 'link eth0 (oci-slaac-hook:ip1) is gone: its addresses and routes went with it' }], 'the record as it was before detach: its link is gone');
  t.same(await detach(before, deps), { link: 'gone', failures: [], removed: true }, 'a second detach: nothing left to do');
});

t.test('the netns deleted without detach: check says so, once', async (t) => {
  const nsPath = await freshNetns(t, 'chkp-c2');
  const record = await attachIn('ip2', nsPath);
  t.same(await check(record, deps), []);
  await run('ip', ['netns', 'del', 'chkp-c2']);
  const diffs = await check(record, deps);
  t.match(diffs, [{ kind: 'netns', state: 'gone', text: /^network namespace \/run\/netns\/chkp-c2 is gone \(does not exist\): its link, addresses and routes went with it$/ }]);
  t.equal(diffs.length, 1, 'one difference, not one per address and route');
  t.same(await detach(record, deps), { link: 'gone', failures: [], removed: true });
});

t.test('host_link (macvlan bridge): check covers the host route', async (t) => {
  const companion = companionName(lab.hostIf);
  t.teardown(() => run('ip', ['link', 'del', companion]).then(() => undefined));
  const nsPath = await freshNetns(t, 'chkp-c3');
  const record = await attachIn('ip3', nsPath, config({ host_link: true }));
  const address = record.addresses[0]?.address ?? '';
  const effect = record.ledger.find((e) => e.kind === 'host-route');
  if (effect?.kind !== 'host-route') throw new Error('no host route in the ledger');
  t.same(await check(record, deps), [], 'ok, the host route included');
  t.equal((await run('ping', ['-6', '-c', '1', '-W', '2', address])).code, 0, 'the host reaches its container');
  deps.host.deleteRoute(hostRouteSpec(effect));
  t.same(await check(record, deps), [{ kind: 'host-route', state: 'missing', text: `host route ${address}/128 dev ${companion} is missing` }], 'the deleted host route named');
  t.same(await detach(record, deps), { link: 'deleted', failures: [], removed: true });
});
