// rtnetlink against the real kernel: links created straight into a netns, addresses with flags
// and lifetimes, routes, dumps, address events, and errors with errno + extended ack.
import t from 'tap';
import { execFileSync } from 'node:child_process';
import { NetnsHandle, readNetSysctl, writeNetSysctl } from '../../runtime/system/netns';
import { RtnetlinkSocket } from '../../runtime/system/rtnetlink/socket';
import { createSlave, deleteLink, findLink, listLinks, setLink } from '../../runtime/system/rtnetlink/links';
import { addAddress, deleteAddress, listAddresses, replaceAddress, type AddressEvent } from '../../runtime/system/rtnetlink/addresses';
import { addRoute, deleteRoute, listRoutes } from '../../runtime/system/rtnetlink/routes';
import { watchAddresses } from '../../runtime/system/rtnetlink/events';
import { addSourceRule, deleteSourceRule, listSourceRules } from '../../runtime/system/rtnetlink/rules';
import { addProxyNeighbour, deleteProxyNeighbour, listProxyNeighbours } from '../../runtime/system/rtnetlink/neighbours';
import { IFA_F_NODAD, IFA_F_OPTIMISTIC, IFA_F_TENTATIVE, RTPROT_OSH } from '../../runtime/wire/rtnetlink/constants';
import { NetlinkError } from '../../runtime/core/errors';
import { formatIPv6, parseIPv6 } from '../../runtime/core/ipv6';
import { native, AF_INET6, SOCK_DGRAM } from '../../runtime/system/native';

const ip = (...args: string[]): string => execFileSync('ip', args, { encoding: 'utf8' });
const NS = 'osh-t-rtnl';
const PARENT = 'osh-t-par0';

t.before(() => {
  t.teardown(() => {
    try { ip('netns', 'del', NS); } catch { /* already gone */ }
    try { ip('link', 'del', PARENT); } catch { /* already gone */ }
  });
  ip('netns', 'add', NS);
  ip('link', 'add', PARENT, 'type', 'veth', 'peer', 'name', `${PARENT}p`);
  ip('link', 'set', PARENT, 'up');
  ip('link', 'set', `${PARENT}p`, 'up'); // carrier, so that the kernel's own DAD can run
});

t.test('socketat really opens the socket in the target netns', async (t) => {
  const ns = NetnsHandle.open(`/run/netns/${NS}`);
  const sock = RtnetlinkSocket.open(ns);
  t.same(listLinks(sock).map((l) => l.name), ['lo'], 'only lo in a fresh netns');
  const host = RtnetlinkSocket.open();
  t.ok(findLink(host, PARENT), 'the parent is visible from the host socket');
  // A UDP socket made in the netns cannot bind an address that only the host has.
  const addon = native();
  const fd = addon.socketat(ns.fd, AF_INET6, SOCK_DGRAM, 0);
  addon.close(fd);
  sock.close();
  host.close();
  ns.close();
});

t.test('sysctl files are opened inside the netns', async (t) => {
  const ns = NetnsHandle.open(`/run/netns/${NS}`);
  writeNetSysctl(ns, 'net/ipv6/conf/default/accept_ra', 0);
  t.equal(readNetSysctl(ns, 'net/ipv6/conf/default/accept_ra'), '0');
  t.equal(ip('netns', 'exec', NS, 'cat', '/proc/sys/net/ipv6/conf/default/accept_ra').trim(), '0', 'seen by ip netns exec');
  writeNetSysctl(ns, 'net/ipv6/conf/default/accept_ra', 1);
  t.throws(() => writeNetSysctl(ns, 'net/../../etc/passwd', 1), /invalid sysctl key/);
  t.throws(() => readNetSysctl(ns, 'net/ipv6/conf/nosuchif/accept_ra'), { code: 'ENOENT' });
  ns.close();
});

for (const spec of [
  { kind: 'macvlan', mode: 'bridge' },
  { kind: 'macvlan', mode: 'private' },
  { kind: 'macvlan', mode: 'vepa' },
  { kind: 'macvlan', mode: 'passthru' },
] as const) {
  t.test(`create ${spec.kind} ${spec.mode} directly in the netns, configure, delete`, async (t) => {
    const ns = NetnsHandle.open(`/run/netns/${NS}`);
    const host = RtnetlinkSocket.open();
    const inside = RtnetlinkSocket.open(ns);
    const parent = findLink(host, PARENT);
    if (!parent) throw new Error('no parent');
    createSlave(host, { parentIndex: parent.index, name: 'eth0', target: ns, spec });
    t.notOk(
      listLinks(host).some((l) => l.kind === spec.kind && l.parentIndex === parent.index),
      'no slave of the parent ever appears in the host netns',
    );
    const eth0 = findLink(inside, 'eth0');
    if (!eth0) throw new Error('eth0 missing in netns');
    t.equal(eth0.kind, spec.kind);
    t.match(ip('-n', NS, '-d', 'link', 'show', 'eth0'), new RegExp(`macvlan mode ${spec.mode}`));
    setLink(inside, eth0.index, { addrGenMode: 'none' });
    setLink(inside, eth0.index, { up: true, mtu: 1400 });
    t.match(ip('-n', NS, '-d', 'link', 'show', 'eth0'), /mtu 1400.*addrgenmode none/s);
    t.match(ip('-n', NS, 'link', 'show', 'eth0'), /UP/);
    setLink(inside, eth0.index, { up: false, name: 'eth7' });
    t.ok(findLink(inside, 'eth7'), 'renamed');
    deleteLink(inside, eth0.index);
    t.same(listLinks(inside).map((l) => l.name), ['lo']);
    inside.close();
    host.close();
    ns.close();
  });
}

/** A macvlan eth0 of PARENT made straight into NS and set up as asked; done() deletes it. */
function macvlanEth0(change: Parameters<typeof setLink>[2]) {
  const ns = NetnsHandle.open(`/run/netns/${NS}`);
  const host = RtnetlinkSocket.open();
  const inside = RtnetlinkSocket.open(ns);
  const parent = findLink(host, PARENT);
  if (!parent) throw new Error('no parent');
  createSlave(host, { parentIndex: parent.index, name: 'eth0', target: ns, spec: { kind: 'macvlan', mode: 'bridge' } });
  const eth0 = findLink(inside, 'eth0');
  if (!eth0) throw new Error('eth0 missing');
  setLink(inside, eth0.index, change);
  const done = (): void => {
    deleteLink(inside, eth0.index);
    inside.close();
    host.close();
    ns.close();
  };
  return { ns, inside, eth0, done };
}

t.test('addresses: flags, lifetimes, replace, dump, delete, events', async (t) => {
  const { ns, inside, eth0, done } = macvlanEth0({ addrGenMode: 'none', up: true });

  const events: AddressEvent[] = [];
  const sub = watchAddresses(ns, (e) => events.push(...e));

  const a1 = parseIPv6('2001:db8:7::10');
  const a2 = parseIPv6('2001:db8:7::11');
  addAddress(inside, { index: eth0.index, address: a1, prefixLength: 64, flags: IFA_F_NODAD, validLifetime: 3600, preferredLifetime: 1800 });
  writeNetSysctl(ns, 'net/ipv6/conf/eth0/optimistic_dad', 1); // the kernel honours IFA_F_OPTIMISTIC only then
  addAddress(inside, { index: eth0.index, address: a2, prefixLength: 64, flags: IFA_F_OPTIMISTIC });
  const listed = listAddresses(inside, eth0.index);
  const e1 = listed.find((a) => formatIPv6(a.address) === '2001:db8:7::10');
  t.ok(e1, 'dumped');
  t.equal(e1?.flags && e1.flags & IFA_F_TENTATIVE, 0, 'nodad: not tentative');
  t.ok(e1 && e1.validLifetime <= 3600 && e1.validLifetime > 3590, `valid lifetime ${e1?.validLifetime}`);
  t.ok(e1 && e1.preferredLifetime <= 1800 && e1.preferredLifetime > 1790, 'preferred lifetime');
  t.match(ip('-n', NS, '-6', 'addr', 'show', 'dev', 'eth0'), /2001:db8:7::11\/64 scope global (tentative )?optimistic/);

  replaceAddress(inside, { index: eth0.index, address: a1, prefixLength: 64, flags: IFA_F_NODAD, validLifetime: 600, preferredLifetime: 0 });
  t.match(ip('-n', NS, '-6', 'addr', 'show', 'dev', 'eth0'), /2001:db8:7::10\/64 scope global [a-z ]*deprecated[\s\S]*valid_lft (59\d|600)sec preferred_lft 0sec/);

  const err = t.throws(() => addAddress(inside, { index: eth0.index, address: a1, prefixLength: 64 }));
  t.ok(err instanceof NetlinkError, 'NetlinkError');
  t.match((err as NetlinkError).code, 'EEXIST');
  t.match((err as Error).message, /^add address 2001:db8:7::10\/64 on link \d+: EEXIST/);

  deleteAddress(inside, { index: eth0.index, address: a1, prefixLength: 64 });
  t.notMatch(ip('-n', NS, '-6', 'addr', 'show', 'dev', 'eth0'), /2001:db8:7::10/);

  await new Promise((r) => setTimeout(r, 50));
  sub.close();
  const seen = events.map((e) => `${e.kind} ${formatIPv6(e.entry.address)}`);
  t.ok(seen.includes('new 2001:db8:7::10'), 'new event');
  // (2001:db8:7::11 is still tentative: the kernel announces it only once its own DAD is done.)
  t.ok(seen.includes('del 2001:db8:7::10'), 'del event');

  done();
});

t.test('routes: default via a link-local router with expiry, delete', async (t) => {
  const { inside, eth0, done } = macvlanEth0({ up: true });
  const spec = { destination: Buffer.alloc(16), prefixLength: 0, gateway: parseIPv6('fe80::1'), oif: eth0.index, expires: 1800, preference: 'high' as const };
  addRoute(inside, spec);
  const shown = ip('-n', NS, '-6', 'route', 'show', 'default');
  t.match(shown, /default via fe80::1 dev eth0 proto ra .*expires \d+sec .*pref high/);
  t.ok(listRoutes(inside).some((r) => r.prefixLength === 0 && r.gateway && formatIPv6(r.gateway) === 'fe80::1'), 'dumped');
  addRoute(inside, { destination: parseIPv6('2001:db8:ff::'), prefixLength: 48, gateway: parseIPv6('fe80::1'), oif: eth0.index });
  t.match(ip('-n', NS, '-6', 'route'), /2001:db8:ff::\/48 via fe80::1 dev eth0/);
  const err = t.throws(() => addRoute(inside, spec)) as NetlinkError;
  t.equal(err.code, 'EEXIST');
  deleteRoute(inside, spec);
  t.equal(ip('-n', NS, '-6', 'route', 'show', 'default').trim(), '');
  // One table only, filtered by the kernel: the main table's routes are not in the answer.
  t.same(listRoutes(inside, 4862), [], 'a table that does not exist has no routes');
  addRoute(inside, { destination: parseIPv6('2001:db8:7::'), prefixLength: 64, oif: eth0.index, table: 4862 });
  t.same(listRoutes(inside, 4862).map((r) => `${formatIPv6(r.destination)}/${r.prefixLength} ${r.table}`), ['2001:db8:7::/64 4862'], 'only table 4862');
  done();
});

t.test('source rules and proxy neighbours (the host side of ipvlan l3): add, dump, delete', async (t) => {
  const ns = NetnsHandle.open(`/run/netns/${NS}`);
  const inside = RtnetlinkSocket.open(ns);
  ip('-n', NS, 'link', 'add', 'dummy0', 'type', 'veth', 'peer', 'name', 'dummy0p'); // (no dummy driver in this kernel)
  const dummy = findLink(inside, 'dummy0');
  if (!dummy) throw new Error('dummy0 missing');
  const a = parseIPv6('2001:db8:7::c1');
  const rule = { source: a, table: 4862, priority: 4862, protocol: RTPROT_OSH };
  addSourceRule(inside, rule);
  t.match(ip('-n', NS, '-6', 'rule', 'show'), /^4862:\s+from 2001:db8:7::c1 lookup 4862 proto 86/m, 'ip shows the rule, marked ours');
  t.same(listSourceRules(inside).map((r) => ({ ...r, source: formatIPv6(r.source) })), [{ source: '2001:db8:7::c1', table: 4862, priority: 4862, protocol: RTPROT_OSH }], 'dumped (a strict-checked dump request)');
  t.equal((t.throws(() => addSourceRule(inside, rule)) as NetlinkError).code, 'EEXIST', 'a second add is EEXIST');
  deleteSourceRule(inside, rule);
  t.same(listSourceRules(inside), [], 'deleted');
  t.equal((t.throws(() => deleteSourceRule(inside, rule)) as NetlinkError).code, 'ENOENT', 'deleting again is ENOENT');

  addProxyNeighbour(inside, dummy.index, a, RTPROT_OSH);
  addProxyNeighbour(inside, dummy.index, a, RTPROT_OSH); // idempotent
  t.match(ip('-n', NS, '-6', 'neigh', 'show', 'proxy'), /2001:db8:7::c1 dev dummy0 proxy/, 'ip shows the proxy entry');
  t.same(listProxyNeighbours(inside).map((p) => ({ index: p.index, address: formatIPv6(p.address), protocol: p.protocol })), [{ index: dummy.index, address: '2001:db8:7::c1', protocol: RTPROT_OSH }], 'dumped, marked ours');
  setLink(inside, dummy.index, { alias: 'oci-slaac-hook:test' });
  t.equal(findLink(inside, 'dummy0')?.alias, 'oci-slaac-hook:test', 'a link carries our mark (IFLA_IFALIAS)');
  t.match(ip('-n', NS, 'link', 'show', 'dummy0'), /alias oci-slaac-hook:test/, 'ip shows the mark');
  deleteProxyNeighbour(inside, dummy.index, a);
  t.equal(ip('-n', NS, '-6', 'neigh', 'show', 'proxy').trim(), '', 'deleted');
  deleteLink(inside, dummy.index);
  inside.close();
  ns.close();
});

t.test('errors carry errno and the kernel extended ack', async (t) => {
  const host = RtnetlinkSocket.open();
  const parent = findLink(host, PARENT);
  if (!parent) throw new Error('no parent');
  const err = t.throws(() => setLink(host, parent.index, { mtu: 70000 })) as NetlinkError;
  t.equal(err.code, 'EINVAL');
  t.equal(err.errno, 22);
  t.match(err.extack ?? '', /mtu/i, `extack: ${err.extack}`);
  const enodev = t.throws(() =>
    createSlave(host, { parentIndex: 0x7ffffff0, name: 'x0', spec: { kind: 'macvlan', mode: 'bridge' } }),
  ) as NetlinkError;
  t.equal(enodev.code, 'ENODEV');
  t.throws(() => createSlave(host, { parentIndex: parent.index, name: 'bad name!', spec: { kind: 'macvlan', mode: 'bridge' } }), /invalid interface name/);
  t.throws(() => NetnsHandle.open('/run/netns/osh-no-such-netns'), /network namespace \/run\/netns\/osh-no-such-netns: does not exist/);
  t.throws(() => NetnsHandle.open('/etc/hostname'), /is not a network namespace/);
  host.close();
});

t.test('a dump spanning many messages is collected whole', async (t) => {
  const ns = NetnsHandle.open(`/run/netns/${NS}`);
  const inside = RtnetlinkSocket.open(ns);
  ip('-n', NS, 'link', 'add', 'dum0', 'type', 'veth', 'peer', 'name', 'dum1');
  const lo = findLink(inside, 'dum0');
  if (!lo) throw new Error('dum0');
  setLink(inside, lo.index, { addrGenMode: 'none', up: true });
  for (let i = 0; i < 600; i++) {
    addAddress(inside, { index: lo.index, address: parseIPv6(`fd00:5::${(i + 1).toString(16)}`), prefixLength: 128, flags: IFA_F_NODAD });
  }
  t.equal(listAddresses(inside, lo.index).length, 600, '600 addresses over several datagrams');
  ip('-n', NS, 'link', 'del', 'dum0');
  inside.close();
  ns.close();
});
