// check (runtime/pipeline/check.ts) over a fake kernel and a fake DNS: the parts the e2e tests
// cannot reach on this machine's kernel (ipvlan l3's table, rules and proxy entries), and the
// DNS outcomes one by one (missing, refused, no answer once per server, unpublished records).
import t from 'tap';
import { DnsQueryError, type QueryOptions } from '../../runtime/system/dns-client';
import { parseIPv6 } from '../../runtime/core/ipv6';
import type { ContainerRecord, Effect } from '../../runtime/core/record';
import { IFA_F_DADFAILED, IFA_F_NODAD, IFA_F_OPTIMISTIC, IFA_F_TENTATIVE, IFF_UP, RTPROT_OSH } from '../../runtime/wire/rtnetlink/constants';
import type { AddressEntry, Link, NetKernel, RouteEntry, SourceRule } from '../../runtime/system/kernel';
import { Logger } from '../../runtime/system/log';
import { check, findRecord, type CheckDeps } from '../../runtime/pipeline/check';
import { InputError } from '../../runtime/core/errors';

const A = '2001:db8:1:0:1111:2222:3333:4444';
const LL = 'fe80::1234';
const ROUTER = 'fe80::1';

interface FakeState {
  id: string;
  links: Partial<Link>[];
  addresses: Partial<AddressEntry>[];
  routes: Partial<RouteEntry>[];
  rules: SourceRule[];
  proxies: { index: number; address: Buffer; protocol: number }[];
}

/** Only what check reads. */
function fakeKernel(s: FakeState): NetKernel {
  let closed = false;
  const k = {
    netns: { id: s.id, path: '', fd: -1 },
    listLinks: () => s.links as Link[],
    listAddresses: (index?: number) => (s.addresses as AddressEntry[]).filter((a) => index === undefined || a.index === index),
    listRoutes: (table?: number) => (s.routes as RouteEntry[]).filter((r) => table === undefined || r.table === table),
    listRules: () => s.rules,
    listProxies: () => s.proxies,
    close: () => {
      closed = true;
    },
    get closed() {
      return closed;
    },
  };
  return k as unknown as NetKernel;
}

function l3Record(over: Partial<ContainerRecord> = {}): ContainerRecord {
  const ledger: Effect[] = [
    { kind: 'link', alias: 'oci-slaac-hook:c1', madeAs: 'osh0123456789', index: 5, name: 'eth0', parentIndex: 2, linkKind: 'ipvlan', mode: 'l3' },
    { kind: 'address', index: 5, address: LL, prefixLength: 64 },
    { kind: 'l3-table', parentIndex: 2, table: 4862 },
    { kind: 'address', index: 5, address: A, prefixLength: 64 },
    { kind: 'l3-reach', parentIndex: 2, table: 4862, address: A },
    { kind: 'route', index: 5, destination: '::/0', gateway: ROUTER },
  ];
  return {
    version: 1,
    id: 'c1',
    phase: 'attached',
    ledger,
    name: 'c1',
    nameSource: 'id',
    netns: { path: '/run/netns/c1', id: '4:100' },
    interface: { name: 'eth0', index: 5, mac: '', kind: 'ipvlan', mode: 'l3' },
    l3: { parentIndex: 2, table: 4862 },
    parent: 'nic0',
    linkLocal: LL,
    linkLocalDad: 'verified',
    addresses: [],
    retransMs: 1000,
    router: { address: ROUTER, mac: null, lifetime: 1800, preference: 'medium' },
    mtu: null,
    rdnss: [],
    dnssl: [],
    routes: ['default'],
    timings: { raMs: 0, dadMs: 0, totalMs: 0 },
    raAt: 0,
    since: '',
    ...over,
  };
}

function healthy(): { host: FakeState; container: FakeState } {
  return {
    host: {
      id: '4:1',
      links: [{ index: 2, name: 'nic0', flags: IFF_UP }],
      addresses: [],
      routes: [{ destination: parseIPv6('2001:db8:1::'), prefixLength: 64, oif: 2, table: 4862, protocol: RTPROT_OSH }],
      rules: [{ source: parseIPv6(A), table: 4862, priority: 4862, protocol: RTPROT_OSH }],
      proxies: [{ index: 2, address: parseIPv6(A), protocol: RTPROT_OSH }],
    },
    container: {
      id: '4:100',
      links: [{ index: 5, name: 'eth0', flags: IFF_UP, alias: 'oci-slaac-hook:c1' }],
      addresses: [
        { index: 5, address: parseIPv6(LL), prefixLength: 64, flags: IFA_F_NODAD },
        { index: 5, address: parseIPv6(A), prefixLength: 64, flags: IFA_F_NODAD },
      ],
      routes: [{ destination: Buffer.alloc(16), prefixLength: 0, gateway: parseIPv6(ROUTER), oif: 5, table: 254, protocol: 9 }],
      rules: [],
      proxies: [],
    },
  };
}

function depsOver(host: FakeState, container: FakeState | Error, dnsExists?: CheckDeps['dnsExists']): CheckDeps & { opened: NetKernel[] } {
  const opened: NetKernel[] = [];
  return {
    host: fakeKernel(host),
    openNetns: () => {
      if (container instanceof Error) throw container;
      const k = fakeKernel(container);
      opened.push(k);
      return k;
    },
    log: new Logger('', '/nonexistent'),
    dnsExists,
    opened,
  };
}

t.test('ipvlan l3: all there → no difference; the container netns handle is closed', async (t) => {
  const { host, container } = healthy();
  const deps = depsOver(host, container);
  t.same(await check(l3Record(), deps), []);
  t.equal(deps.opened.length, 1);
  t.ok((deps.opened[0] as unknown as { closed: boolean }).closed, 'closed');
});

t.test('ipvlan l3: the host side, each piece named', async (t) => {
  const { host, container } = healthy();
  host.routes = [];
  host.rules = [];
  host.proxies = [];
  const diffs = await check(l3Record(), depsOver(host, container));
  t.same(
    diffs.map((d) => [d.kind, d.state, d.text]),
    [
      ['l3-table', 'missing', 'host table 4862 has no route out of nic0 (l3 reach)'],
      ['l3-reach', 'missing', `host rule from ${A} lookup 4862 is missing`],
      ['l3-reach', 'missing', `host proxy entry for ${A} on nic0 is missing`],
    ],
  );
});

t.test('addresses: tentative, dadfailed, missing; the link down; a route missing', async (t) => {
  const { host, container } = healthy();
  container.links = [{ index: 5, name: 'eth0', flags: 0, alias: 'oci-slaac-hook:c1' }];
  container.addresses = [
    { index: 5, address: parseIPv6(LL), prefixLength: 64, flags: IFA_F_TENTATIVE },
    { index: 5, address: parseIPv6(A), prefixLength: 64, flags: IFA_F_TENTATIVE | IFA_F_DADFAILED },
  ];
  container.routes = [];
  t.same(
    (await check(l3Record(), depsOver(host, container))).map((d) => d.text),
    ['link eth0 is down', `address ${LL}/64 on eth0 is tentative (not usable)`, `address ${A}/64 on eth0 is dadfailed (the kernel saw a duplicate)`, `route default via ${ROUTER} dev eth0 is missing`],
  );
  container.addresses = [];
  t.same((await check(l3Record(), depsOver(host, container))).map((d) => d.state), ['down', 'missing', 'missing', 'missing']);
  // The link-local while the kernel's DAD of it runs (attach step 3): Optimistic, usable (RFC 4429).
  container.addresses = [
    { index: 5, address: parseIPv6(LL), prefixLength: 64, flags: IFA_F_TENTATIVE | IFA_F_OPTIMISTIC },
    { index: 5, address: parseIPv6(A), prefixLength: 64, flags: IFA_F_NODAD },
  ];
  t.same((await check(l3Record(), depsOver(host, container))).map((d) => d.state), ['down', 'missing'], 'optimistic is no difference');
});

t.test('the link found by its mark (renamed), or gone: then only that', async (t) => {
  const { host, container } = healthy();
  container.links = [{ index: 5, name: 'renamed0', flags: IFF_UP, alias: 'oci-slaac-hook:c1' }];
  t.same(await check(l3Record(), depsOver(host, container)), [], 'found by its mark whatever its name');
  container.links = [{ index: 5, name: 'eth0', flags: IFF_UP, alias: 'someone-else' }];
  t.same((await check(l3Record(), depsOver(host, container))).map((d) => d.text), ['link eth0 (oci-slaac-hook:c1) is gone: its addresses and routes went with it'], 'a link without our mark is not ours');
});

t.test('netns gone or replaced: one line; the host side still checked', async (t) => {
  const { host, container } = healthy();
  host.proxies = [];
  const gone = await check(l3Record(), depsOver(host, new InputError('network namespace /run/netns/c1: does not exist')));
  t.same(gone.map((d) => d.text), [
    'network namespace /run/netns/c1 is gone (does not exist): its link, addresses and routes went with it',
    `host proxy entry for ${A} on nic0 is missing`,
  ]);
  const deps = depsOver(host, { ...container, id: '4:999' });
  const replaced = await check(l3Record(), deps);
  t.match(replaced[0], { kind: 'netns', state: 'replaced', text: /is another one now \(4:999, was 4:100\)/ });
  t.ok((deps.opened[0] as unknown as { closed: boolean }).closed, 'the other netns handle is closed');
});

t.test('phase: attaching and detached records', async (t) => {
  const { host, container } = healthy();
  t.match(await check(l3Record({ phase: 'attaching' }), depsOver(host, container)), [{ kind: 'phase', state: 'unfinished' }]);
  t.same(await check(l3Record({ ledger: [] }), depsOver(host, container)), [{ kind: 'phase', state: 'detached', text: 'container c1 is detached: its ledger is empty' }]);
  t.match(await check(l3Record({ ledger: undefined as unknown as Effect[] }), depsOver(host, container)), [{ kind: 'phase', state: 'failed' }]);
});

t.test('DNS: published records asked, each outcome; pending ones not; one line per silent server', async (t) => {
  const { host, container } = healthy();
  const dnsRecord = (published: boolean[]): ContainerRecord =>
    l3Record({
      ledger: [...(l3Record().ledger), { kind: 'dns', name: 'c1.lab.example' }],
      dns: {
        label: 'c1',
        name: 'c1.lab.example',
        status: 'published',
        server: '[2001:db8:1::53]:53',
        keyFile: '',
        ttl: 60,
        timeoutMs: 100,
        zone: 'lab.example',
        reverseZone: '',
        records: published.map((p, i) => ({ zone: 'lab.example', name: 'c1.lab.example', type: 'AAAA' as const, data: `2001:db8:1::${i + 1}`, published: p })),
      },
    });
  const asked: string[] = [];
  const answers: Record<string, boolean | Error> = {
    '2001:db8:1::1': true,
    '2001:db8:1::2': false,
    '2001:db8:1::3': new DnsQueryError('c1.lab.example AAAA', '[2001:db8:1::53]:53', 'REFUSED'),
  };
  const fake = async (q: QueryOptions & { data: string }): Promise<boolean> => {
    asked.push(q.data);
    const a = answers[q.data];
    if (a instanceof Error) throw a;
    return a ?? false;
  };
  const diffs = await check(dnsRecord([true, true, true, false]), depsOver(host, container, fake));
  t.same(asked.sort(), ['2001:db8:1::1', '2001:db8:1::2', '2001:db8:1::3'], 'only the published records are asked');
  t.same(diffs.map((d) => [d.state, d.text]), [
    ['missing', 'DNS record c1.lab.example AAAA 2001:db8:1::2 is missing at [2001:db8:1::53]:53'],
    ['failed', 'DNS record c1.lab.example AAAA 2001:db8:1::3 could not be checked: DNS query c1.lab.example AAAA at [2001:db8:1::53]:53: REFUSED'],
  ]);

  const silent = async (): Promise<boolean> => {
    throw new DnsQueryError('x', '[2001:db8:1::53]:53', 'TIMEOUT', 'no answer to 2 attempts of 100 ms over UDP');
  };
  t.same((await check(dnsRecord([true, true]), depsOver(host, container, silent))).map((d) => d.text), [
    'DNS server [2001:db8:1::53]:53 did not answer (TIMEOUT: no answer to 2 attempts of 100 ms over UDP): c1.lab.example not checked',
  ]);

  const noDnsEffect = { ...dnsRecord([true]), ledger: l3Record().ledger };
  t.same(await check(noDnsEffect, depsOver(host, container, silent)), [], 'no dns effect in the ledger: nothing to ask');
  const badKey = dnsRecord([true]);
  if (badKey.dns) badKey.dns.keyFile = '/nonexistent/key';
  t.match(await check(badKey, depsOver(host, container, fake)), [{ kind: 'dns', state: 'failed', text: /^DNS records of c1\.lab\.example cannot be checked: / }]);
});

t.test('findRecord: by id, by a unique prefix; unknown, ambiguous and invalid ids are InputErrors', async (t) => {
  const records = [l3Record({ id: 'abc123' }), l3Record({ id: 'abd456' })];
  const store = { read: (id: string) => records.find((r) => r.id === id), list: () => records };
  t.equal(findRecord(store, 'abc123').id, 'abc123');
  t.equal(findRecord(store, 'abc').id, 'abc123');
  t.throws(() => findRecord(store, 'ab'), new InputError('container id ab is ambiguous: abc123, abd456'));
  t.throws(() => findRecord(store, 'x', '/run/x'), new InputError('unknown container x: no state in /run/x (never attached by this hook, or detached since)'));
  t.throws(() => findRecord(store, '../x'), InputError);
});
