// The agent's garbage collection (runtime/agent/gc.ts) on the fake kernel: which records are
// collected (netns gone or another, and process gone; a live hook's attach left alone), and the
// orphan sweep — proto-86 rules, proxy entries, host routes and l3-table routes no record owns
// removed; those a record owns, and anything of another protocol, kept.
import t from 'tap';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { StateStore } from '../../runtime/system/state-store';
import { parseIPv6 } from '../../runtime/core/ipv6';
import type { ContainerRecord, Effect } from '../../runtime/core/record';
import { collectGarbage, containerGone, removeOrphans } from '../../runtime/agent/gc';
import type { PipelineDeps } from '../../runtime/pipeline/deps';
import { RTPROT_OSH } from '../../runtime/wire/rtnetlink/constants';
import { FakeNet, MemoryLogger, MemoryStore, recordingLock } from './fake-kernel';
import { sampleRecord } from './helpers';

const record = (id: string, over: Partial<ContainerRecord> = {}): ContainerRecord => sampleRecord(id, over);

function setup() {
  const net = new FakeNet();
  const host = net.addNetns('host', { id: '0:host:1', path: '/proc/self/ns/net', fd: -1 });
  host.seedLink({ name: 'eth0', index: 2 });
  host.seedLink({ name: 'osh-eth0', index: 3, parentIndex: 2, kind: 'macvlan', alias: 'oci-slaac-hook:host-link' });
  const store = new MemoryStore();
  const dead = new Set<number>();
  const deps: PipelineDeps = {
    host,
    openNetns: (p) => net.open(p),
    nd: () => {
      throw new Error('no ND here');
    },
    store,
    withLock: recordingLock(net).withLock,
    withContainerLock: async (_id, fn) => fn({ forget: () => undefined }),
    clock: () => 0,
    hostNamespaces: () => [],
    processRef: () => undefined,
    processAlive: (ref) => !dead.has(ref.pid),
    log: new MemoryLogger(),
  };
  return { net, host, store, dead, deps };
}

t.test('which records are collected', async (t) => {
  const { net, store, dead, deps } = setup();
  net.addNetns('alive', { id: '0:alive:1', path: '/run/netns/alive', fd: 5 });
  net.addNetns('reused', { id: '0:reused:2', path: '/run/netns/reused', fd: 6 }); // same path, another netns now
  dead.add(100);
  t.same(containerGone(record('alive'), deps).collect, false, 'netns exists');
  t.same(containerGone(record('gone', { process: { pid: 101, start: '1' } }), deps), { collect: false, why: 'its process runs' }, 'process alive: kept');
  t.same(containerGone(record('gone', { process: { pid: 100, start: '1' } }), deps).collect, true, 'netns gone and process gone');
  t.same(containerGone(record('reused', { netns: { path: '/run/netns/reused', id: '0:reused:1' } }), deps).collect, true, 'the path opens another netns (cookie differs)');
  t.same(containerGone(record('busy', { phase: 'attaching', hook: { pid: 102, start: '1' } }), deps), { collect: false, why: 'its hook is at work' });
  dead.add(102);
  t.same(containerGone(record('busy', { phase: 'attaching', hook: { pid: 102, start: '1' } }), deps).collect, true, "a dead hook's attach in a gone netns");

  store.write(record('alive'));
  store.write(record('gone', { process: { pid: 100, start: '1' } }));
  store.write(record('member', { member: { owner: 'x' } }));
  store.write(record('skipped'));
  const out = await collectGarbage(deps, { skip: (id) => id === 'skipped' });
  t.same(out.map((o) => [o.id, o.removed]).sort(), [['gone', true], ['member', true]]);
  t.same(store.list().map((r) => r.id).sort(), ['alive', 'skipped']);
});

t.test('orphans: only proto 86 objects no record owns are removed', async (t) => {
  const { host, store, deps } = setup();
  const owned: Effect[] = [
    { kind: 'l3-table', parentIndex: 2, table: 4862 },
    { kind: 'l3-reach', parentIndex: 2, table: 4862, address: '2001:db8:1::a' },
    { kind: 'host-route', via: 3, linkLocal: 'fe80::99', address: '2001:db8:1::a' },
  ];
  store.write(record('owner', { ledger: owned }));
  const A = (s: string) => parseIPv6(s);
  // Owned by "owner".
  host.addRule({ source: A('2001:db8:1::a'), table: 4862, priority: 4862, protocol: RTPROT_OSH });
  host.addProxy(2, A('2001:db8:1::a'), RTPROT_OSH);
  host.addRoute({ destination: A('2001:db8:1::a'), prefixLength: 128, oif: 3, metric: 4862, protocol: RTPROT_OSH });
  host.addRoute({ destination: A('2001:db8:1::'), prefixLength: 64, oif: 2, table: 4862, protocol: RTPROT_OSH });
  // Orphans.
  host.addRule({ source: A('2001:db8:1::b'), table: 4862, priority: 4862, protocol: RTPROT_OSH });
  host.addProxy(2, A('2001:db8:1::b'), RTPROT_OSH);
  host.addRoute({ destination: A('2001:db8:1::b'), prefixLength: 128, oif: 3, metric: 4862, protocol: RTPROT_OSH });
  host.addRoute({ destination: A('2001:db8:9::'), prefixLength: 64, oif: 2, table: 4999, protocol: RTPROT_OSH });
  // The operator's: another protocol.
  host.addRule({ source: A('2001:db8:1::c'), table: 4862, priority: 4862, protocol: 4 });
  host.addRoute({ destination: A('2001:db8:1::c'), prefixLength: 128, oif: 3, metric: 4862, protocol: 4 });

  const lines = removeOrphans(deps, ['eth0']);
  t.same(lines.sort(), [
    'orphan proxy 2001:db8:1::b dev 2 removed (no record owns it)',
    'orphan route 2001:db8:1::b/128 table 254 removed (no record owns it)',
    'orphan route 2001:db8:9::/64 table 4999 removed (no record owns it)',
    'orphan rule from 2001:db8:1::b lookup 4862 removed (no record owns it)',
  ]);
  const m = host.model();
  t.same(m.rules.length, 2, 'the owned rule and the operator\'s stay');
  t.same(m.proxies.length, 1, 'the owned proxy entry stays');
  t.same(host.listRoutes().filter((r) => r.prefixLength === 128).length, 2, 'the owned host route and the operator\'s stay');
  t.same(host.listRoutes(4862).length, 1, 'the owned table keeps its route');
  t.same(removeOrphans(deps, ['eth0']), [], 'a second sweep finds nothing');
});

t.test('one unreadable state file hides no other record, and stops the orphan sweep', async (t) => {
  const { host, deps } = setup();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'agd-gc-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const store = new StateStore(dir);
  store.write(record('gone', { process: { pid: 1, start: 'x' } }));
  fs.writeFileSync(path.join(dir, 'junk.json'), '{not json');
  t.throws(() => store.list(), /not valid JSON/, "the store's own list() throws on it");
  const problems: string[] = [];
  const d = { ...deps, store, processAlive: () => false };
  const out = await collectGarbage(d, { problems: (p) => problems.push(...p) });
  t.same(out.map((o) => [o.id, o.removed]), [['gone', true]], 'the readable record collected');
  t.match(problems, [/junk\.json is not valid JSON/]);
  host.addRule({ source: parseIPv6('2001:db8:1::b'), table: 4862, priority: 4862, protocol: RTPROT_OSH });
  t.match(removeOrphans(d, ['eth0']), [/orphan sweep skipped: 1 state file\(s\) unreadable/]);
  t.equal(host.listRules().length, 1, 'nothing removed while a record cannot be read');
});
