// The agent's membership pass (runtime/agent/membership.ts) against fake kernels and a scripted
// DNS: each restricted container's member sets hold the other members (local and DNS's), an
// unchanged pass writes nothing, a DNS failure keeps the last answer, a member that goes is dropped.
import t from 'tap';
import type { DnsConfig } from '../../runtime/core/config';
import type { Policy } from '../../runtime/core/policy';
import type { ContainerRecord } from '../../runtime/core/record';
import { Membership } from '../../runtime/agent/membership';
import { FakeNet, MemoryLogger, MemoryStore, type FakeKernel } from './fake-kernel';
import { sampleRecord } from './helpers';

const DNS = { server: '::1', zone: 'example', reverse_zone: '', key_file: '', ttl: 2, required: false, timeout_ms: 500 } as DnsConfig;
const blue = (mode: Policy['mode']): Policy => ({ mode, expose: [], networks: ['blue'], allowFrom: [], echo: true });

function world() {
  const net = new FakeNet();
  const store = new MemoryStore();
  const log = new MemoryLogger();
  let answer: Map<string, Set<string>> | Error = new Map();
  let dns: DnsConfig | undefined = DNS;
  const add = (id: string, address: string, policy: Policy): FakeKernel => {
    const k = net.addNetns(id, { id: `0:${id}:1`, path: `/run/netns/${id}`, fd: 30 });
    const record: ContainerRecord = sampleRecord(id, { addresses: [{ address, prefix: '2001:db8::/64', prefixLength: 64, validLifetime: 'infinite', preferredLifetime: 'infinite', dadCounter: 0, dad: 'verified' }], policy });
    if (policy.mode === 'restricted') {
      record.firewall = { table: 'oci_slaac_hook', tag: 'x' };
      k.installFirewall({ table: 'oci_slaac_hook', ifname: 'eth0', policy, members: { blue: [] }, tag: 'x' });
    }
    store.write(record);
    return k;
  };
  const m = new Membership({
    deps: () => ({ store, openNetns: (p: string) => net.open(p) }),
    dns: () => dns,
    log,
    lookup: async () => {
      if (answer instanceof Error) throw answer;
      return answer;
    },
  });
  return {
    net,
    store,
    log,
    m,
    add,
    setAnswer: (a: Map<string, Set<string>> | Error) => (answer = a),
    setDns: (d: DnsConfig | undefined) => (dns = d),
    set: (k: FakeKernel) => k.firewalls.get('oci_slaac_hook')?.sets.get('net_blue'),
  };
}

t.test('local and DNS members, without its own address; an unchanged pass writes nothing', async (t) => {
  const w = world();
  const a = w.add('a', '2001:db8::a', blue('restricted'));
  w.add('o', '2001:db8::0', blue('open'));
  const c = w.add('c', '2001:db8::c', blue('restricted'));
  w.setAnswer(new Map([['blue', new Set(['2001:db8::a', '2001:db8::b1', '2001:db8::c'])]]));
  await w.m.pass();
  t.same(w.set(a), ['2001:db8::0', '2001:db8::b1', '2001:db8::c'], 'a: the open member, the remote one, c');
  t.same(w.set(c), ['2001:db8::0', '2001:db8::a', '2001:db8::b1'], 'c: likewise, without itself');
  const writes = w.m.counters.writes;
  await w.m.pass();
  t.equal(w.m.counters.writes, writes, 'nothing changed: nothing written');

  w.setAnswer(new Error('DNS query blue.networks.example AAAA at [::1]:53: TIMEOUT'));
  await w.m.pass();
  t.same(w.set(a), ['2001:db8::0', '2001:db8::b1', '2001:db8::c'], 'DNS fails: the last answer is kept');
  await w.m.pass();
  t.equal(w.log.lines.filter((l) => l.includes('keeping the members last known')).length, 1, 'said once');

  w.setAnswer(new Map([['blue', new Set(['2001:db8::a', '2001:db8::c'])]]));
  w.store.remove('o');
  await w.m.pass();
  t.same(w.set(a), ['2001:db8::c'], 'the remote member left DNS, the local one its record: both gone');
  t.ok(w.log.lines.some((l) => l.includes('DNS answers again')));
});

t.test('without [dns]: the host’s own containers alone; a netns gone is skipped', async (t) => {
  const w = world();
  w.setDns(undefined);
  const a = w.add('a', '2001:db8::a', blue('restricted'));
  w.add('b', '2001:db8::b', blue('restricted'));
  w.setAnswer(new Error('never asked'));
  await w.m.pass();
  t.same(w.set(a), ['2001:db8::b']);
  t.equal(w.m.pollMs(), undefined, 'no DNS poll');
  w.setDns(DNS);
  t.equal(w.m.pollMs(), 2000, 'the TTL is the poll');
  w.setDns({ ...DNS, ttl: 86400 });
  t.equal(w.m.pollMs(), 300_000, 'at most 5 min');
  w.setDns(undefined);
  (w.net.kernel('b') as FakeKernel).gone = true;
  w.store.write({ ...(w.store.read('a') as ContainerRecord), netns: { path: '/run/netns/gone', id: '0:gone:1' } });
  await w.m.pass();
  t.equal(w.m.counters.failures, 0, 'a netns that is gone is not a failure');
});
