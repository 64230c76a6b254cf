// attach with the agent's RA cache (PipelineDeps.cachedRas, runtime/pipeline/ra-cache.ts), on the
// fake kernel: fresh cached RAs → no discover (no RS), lifetimes counted from the RA's receipt
// (routes aged too); stale, unusable or none → discover as without an agent; a cache that
// throws is no cache.
import t from 'tap';
import { defaultConfig, validateForAttach, type HookConfig } from '../../runtime/core/config';
import { parseIPv6 } from '../../runtime/core/ipv6';
import type { HeardRa } from '../../runtime/core/plan';
import { attach, type AttachRequest } from '../../runtime/pipeline/attach';
import type { PipelineDeps } from '../../runtime/pipeline/deps';
import { discovered, FakeNet, fakeNd, MemoryLogger, MemoryStore, recordingLock } from './fake-kernel';
import { pio, raWith } from './helpers';

const PARENT = 'eth0';
const NOW = 10_000_000;
const SOLICITED = raWith([pio('2001:db8:c0::')]);
const CACHED = raWith([pio('2001:db8:b0::', { validLifetime: 3600, preferredLifetime: 1800 })], { routerLifetime: 1800 });

function world(cachedRas?: PipelineDeps['cachedRas']) {
  const net = new FakeNet();
  const host = net.addNetns('host', { id: '0:4026531840', path: '/proc/1/ns/net', fd: -1 });
  host.seedLink({ name: 'lo', index: 1, up: true, mtu: 65536 });
  host.seedLink({ name: PARENT, index: 2, up: true, mtu: 1500, mac: '52:54:00:12:34:56' });
  host.seedAddress(2, 'fe80::5054:ff:fe12:3456', 64);
  const c = net.addNetns('c1', { id: '0:4026532001', path: '/run/netns/c1', fd: 20 });
  c.seedLink({ name: 'lo', index: 1, up: false, mtu: 65536 });
  const nd = fakeNd(net, { router: () => discovered(SOLICITED, 'fe80::2', NOW - 5) });
  const containerLock = async <T>(_id: string, fn: (lock: { forget(): void }) => Promise<T> | T): Promise<T> => fn({ forget: () => undefined });
  const log = new MemoryLogger();
  const deps: PipelineDeps = {
    host,
    openNetns: (p) => net.open(p),
    nd: nd.make,
    ...(cachedRas ? { cachedRas } : {}),
    store: new MemoryStore(),
    withLock: recordingLock(net).withLock,
    withContainerLock: containerLock,
    clock: () => NOW,
    log,
    hostNamespaces: () => [{ what: "the hook's own", id: host.netns.id }],
    processRef: (pid) => ({ pid, start: '1' }),
    processAlive: () => true,
  };
  return { net, nd, deps, log };
}

const cfg = (over: Partial<HookConfig> = {}): HookConfig => validateForAttach({ ...defaultConfig(), parent: PARENT, ra_cache_max_age_ms: 60_000, ...over });
const request = (config: HookConfig): AttachRequest => ({ id: 'c1', name: { name: 'web', source: 'annotation' }, netnsPath: '/run/netns/c1', config, annotations: {}, secret: Buffer.alloc(32, 7) });
const heard = (receivedAt: number, ra = CACHED): HeardRa[] => [{ router: parseIPv6('fe80::1'), advertisement: ra, receivedAt }];
const discovers = (w: ReturnType<typeof world>): number => w.net.calls.filter((c) => c.kind === 'nd' && c.text.startsWith('RS on')).length;

t.test('fresh cached RAs: no RS; lifetimes and routes counted from the receipt', async (t) => {
  const asked: string[] = [];
  const w = world(async (parent) => (asked.push(parent), heard(NOW - 10_500)));
  const record = await attach(request(cfg()), w.deps);
  t.same(asked, [PARENT], 'asked for the parent');
  t.equal(discovers(w), 0, 'no discover (no RS)');
  t.match(record.addresses[0]?.prefix, '2001:db8:b0::/64', "the cached RA's prefix");
  t.equal(record.raAt, NOW - 10_500, 'raAt is the RA receipt');
  t.equal(record.router.address, 'fe80::1');
  const calls = w.net.calls.map((c) => c.text);
  t.ok(calls.some((c) => /addr add 2001:db8:b0:.* valid_lft 3589 preferred_lft 1789/.test(c)), 'address lifetimes less the 10.5 s since');
  t.ok(calls.some((c) => /route add default via fe80::1 .* expires 1790 /.test(c)), `default route lifetime less the 10 s since`);
  t.ok(w.log.lines.some((l) => /RA from the agent's cache \(1 RA, 10500 ms old\): no solicitation/.test(l)), 'one line says so');
});

t.test('stale, unusable, nothing, no agent, a throw, max age 0: discover as without an agent', async (t) => {
  const cases: [string, PipelineDeps['cachedRas'] | undefined, Partial<HookConfig>, RegExp | undefined][] = [
    ['stale', async () => heard(NOW - 61_000), {}, /RA from fe80::1 61000 ms old \(ra_cache_max_age_ms 60000\)/],
    ['a lifetime run out', async () => heard(NOW - 50_000, raWith([pio('2001:db8:b0::')], { routerLifetime: 30 })), {}, /a lifetime of 30 s run out/],
    ['unusable', async () => heard(NOW - 10, raWith([])), {}, /no cached RA has a prefix usable/],
    ['nothing cached', async () => [], {}, /nothing cached/],
    ['no agent', async () => undefined, {}, undefined],
    ['a throw', async () => Promise.reject(new Error('boom')), {}, undefined],
    ['max age 0', async () => heard(NOW - 10), { ra_cache_max_age_ms: 0 }, undefined],
    ['no cache at all', undefined, {}, undefined],
  ];
  for (const [what, cache, over, line] of cases) {
    const w = world(cache);
    const record = await attach(request(cfg(over)), w.deps);
    t.equal(discovers(w), 1, `${what}: solicited`);
    t.match(record.addresses[0]?.prefix, '2001:db8:c0::/64', `${what}: the solicited RA's prefix`);
    if (line) t.ok(w.log.lines.some((l) => line.test(l)), `${what}: says why`);
    else t.notOk(w.log.lines.some((l) => /agent/.test(l)), `${what}: says nothing of an agent`);
  }
});
