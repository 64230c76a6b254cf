// The hook's agent client (runtime/system/agent-client.ts) against a fake agent on a temp socket:
// an answer, garbage, an oversized answer, a slow agent (the short timeout), nobody listening,
// no socket at all — every failure is "no answer" (undefined), never a throw, and quickly. And
// the RA cache's decision (runtime/pipeline/ra-cache.ts): fresh, stale, unusable, undecodable.
import t from 'tap';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { agentSocketPath, type AgentRequest, type CachedRa } from '../../runtime/wire/agent-protocol';
import { parseIPv6, formatIPv6 } from '../../runtime/core/ipv6';
import { encodeNd } from '../../runtime/wire/ndp/codec';
import { AgentClient, callAgent, decodeCachedRa } from '../../runtime/system/agent-client';
import { agedLifetime, fromCache, staleReason } from '../../runtime/pipeline/ra-cache';
import { pio, raWith } from './helpers';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'osh-agent-client-'));
t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));

const ROUTER = 'fe80::1';
const ra = raWith([pio('2001:db8:a0::'), { type: 'rdnss', lifetime: 600, servers: [parseIPv6('2001:db8:a0::53')] }, { type: 'dnssl', lifetime: 600, domains: ['lab.example'] }]);
const icmp = encodeNd(ra, { source: parseIPv6(ROUTER), destination: parseIPv6('ff02::1') }).toString('base64');
const cached = (receivedAt: number, over: Partial<CachedRa> = {}): CachedRa => ({ router: ROUTER, receivedAt, icmp, ...over });

/** A fake agent on `<stateDir>/agent.sock`: `reply` answers each request (raw bytes, or nothing at all). */
async function fakeAgent(name: string, reply: (req: AgentRequest, sock: net.Socket) => void): Promise<{ stateDir: string; seen: AgentRequest[]; close: () => Promise<void> }> {
  const stateDir = path.join(dir, name);
  fs.mkdirSync(stateDir);
  const seen: AgentRequest[] = [];
  const server = net.createServer((sock) => {
    let buf = '';
    sock.on('error', () => undefined);
    sock.on('data', (d) => {
      buf += d.toString('utf8');
      const nl = buf.indexOf('\n');
      if (nl < 0) return;
      const req = JSON.parse(buf.slice(0, nl)) as AgentRequest;
      seen.push(req);
      reply(req, sock);
    });
  });
  await new Promise<void>((resolve) => server.listen(agentSocketPath(stateDir), resolve));
  return { stateDir, seen, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}

t.test('an answer: cached RAs decoded; register and complete-dad taken', async (t) => {
  const now = 1_000_000;
  const agent = await fakeAgent('ok', (req, sock) => sock.end(`${JSON.stringify(req.op === 'ra' ? { ok: true, heard: [cached(now - 50)] } : { ok: true })}\n`));
  t.teardown(agent.close);
  const client = new AgentClient(agent.stateDir);
  const heard = await client.cachedRas('eth0');
  t.equal(heard?.length, 1, 'one RA');
  t.equal(formatIPv6(heard?.[0]?.router ?? Buffer.alloc(16)), ROUTER);
  t.equal(heard?.[0]?.receivedAt, now - 50);
  t.same(heard?.[0]?.advertisement, ra, 'the RA as the codec decodes it');
  t.equal(await client.register('c1'), true);
  t.equal(await client.completeDad('c1'), true);
  t.same(agent.seen, [{ op: 'ra', parent: 'eth0' }, { op: 'register', id: 'c1' }, { op: 'complete-dad', id: 'c1' }], 'one request per connection, each as the protocol says');
});

t.test('failures are "no answer", quickly, and remembered', async (t) => {
  const cases: { name: string; reply: (req: AgentRequest, sock: net.Socket) => void; why: RegExp }[] = [
    { name: 'garbage', reply: (_r, s) => s.end('this is not json\n'), why: /not JSON/ },
    { name: 'wrong-shape', reply: (_r, s) => s.end('{"ok":true,"heard":[{"router":1}]}\n'), why: /not a list of cached RAs/ },
    { name: 'empty', reply: (_r, s) => s.end(), why: /empty answer/ },
    { name: 'oversize', reply: (_r, s) => s.end(`{"ok":true,"x":"${'a'.repeat(2 * 1024 * 1024)}"}\n`), why: /larger than 1048576 bytes/ },
    { name: 'slow', reply: () => undefined, why: /no answer within 200 ms/ },
  ];
  for (const k of cases) {
    const agent = await fakeAgent(k.name, k.reply);
    const failures: string[] = [];
    const client = new AgentClient(agent.stateDir, { onFailure: (op, why) => failures.push(`${op}: ${why}`) });
    const t0 = performance.now();
    t.equal(await client.cachedRas('eth0'), undefined, `${k.name}: no answer`);
    const ms = performance.now() - t0;
    t.ok(ms < 400, `${k.name}: within the timeout (${Math.round(ms)} ms)`);
    t.match(failures[0] ?? '', k.why, `${k.name}: ${failures[0] ?? ''}`);
    t.equal(await client.register('c1'), false, `${k.name}: later requests: no answer`);
    t.equal(agent.seen.length, 1, `${k.name}: and not asked again`);
    await agent.close();
  }
});

t.test('an agent that says no', async (t) => {
  const agent = await fakeAgent('no', (_r, s) => s.end('{"ok":false,"error":"unknown container"}\n'));
  t.teardown(agent.close);
  const failures: string[] = [];
  const client = new AgentClient(agent.stateDir, { onFailure: (op, why) => failures.push(`${op}: ${why}`) });
  t.equal(await client.completeDad('c9'), false);
  t.same(failures, ['complete-dad: agent said: unknown container']);
});

t.test('no socket, nobody listening: "no agent" at once', async (t) => {
  const none = path.join(dir, 'none');
  fs.mkdirSync(none);
  let t0 = performance.now();
  const missing = await callAgent(agentSocketPath(none), { op: 'ping' });
  t.same(missing, { ok: false, why: 'no agent (ENOENT)' });
  t.ok(performance.now() - t0 < 50, `ENOENT in ${Math.round(performance.now() - t0)} ms`);
  // A socket file nobody listens on (a dead agent's): bound by a process that then exited.
  const dead = path.join(dir, 'dead');
  fs.mkdirSync(dead);
  const bound = spawnSync('/usr/bin/python3', ['-c', 'import socket,sys; socket.socket(socket.AF_UNIX, socket.SOCK_STREAM).bind(sys.argv[1])', agentSocketPath(dead)]);
  t.equal(bound.status, 0, 'a leftover socket file');
  t0 = performance.now();
  const refused = await callAgent(agentSocketPath(dead), { op: 'ping' });
  t.same(refused, { ok: false, why: 'no agent (ECONNREFUSED)' });
  t.ok(performance.now() - t0 < 50, `ECONNREFUSED in ${Math.round(performance.now() - t0)} ms`);
  const client = new AgentClient(none);
  t.equal(await client.cachedRas('eth0'), undefined);
  t.equal(client.unavailable, 'no agent (ENOENT)');
});

t.test('decodeCachedRa: only an RA from a link-local router', async (t) => {
  t.ok(decodeCachedRa(cached(1)), 'the RA');
  t.equal(decodeCachedRa(cached(1, { router: '2001:db8::1' })), undefined, 'a global source');
  t.equal(decodeCachedRa(cached(1, { router: 'not an address' })), undefined, 'no address');
  t.equal(decodeCachedRa(cached(1, { icmp: '!!!' })), undefined, 'not base64');
  t.equal(decodeCachedRa(cached(1, { icmp: Buffer.from([134, 0, 0, 0]).toString('base64') })), undefined, 'truncated');
  const ns = encodeNd({ type: 'neighbor-solicitation', target: parseIPv6('fe80::2'), options: [] }).toString('base64');
  t.equal(decodeCachedRa(cached(1, { icmp: ns })), undefined, 'an NS');
  t.equal(decodeCachedRa(cached(-5)), undefined, 'a negative time');
});

t.test('the cache decision: fresh, stale, unusable', async (t) => {
  const h = decodeCachedRa(cached(100_000));
  if (!h) throw new Error('no RA');
  const now = 110_000;
  const r = fromCache([h], now, 600_000);
  t.ok('found' in r && r.found.solicitations === 0 && r.found.receivedAt === 100_000, 'fresh: used, no RS, lifetimes from its receipt');
  t.match(fromCache([h], now, 5000), { why: /RA from fe80::1 10000 ms old \(ra_cache_max_age_ms 5000\)/ }, 'older than the max age');
  t.match(fromCache([h], now, 0), { why: /old/ }, 'max age 0: never');
  t.match(fromCache([h], 100_000 + 601_000, 3_600_000), { why: /a lifetime of 600 s run out/ }, 'RDNSS lifetime run out');
  t.match(fromCache([h], 90_000, 600_000), { why: /future/ });
  t.match(fromCache([], now, 600_000), { why: /nothing cached/ });
  const noPrefix = { ...h, advertisement: raWith([]) };
  t.match(fromCache([noPrefix], now, 600_000), { why: /no cached RA has a prefix usable/ });
  t.ok('found' in fromCache([noPrefix, h], now, 600_000), 'two routers: one with a prefix is enough; both merged');
  t.equal(staleReason({ ...h, receivedAt: undefined }, now, 600_000), 'no receipt time');
  t.equal(agedLifetime(1800, 10_500), 1790, 'a route lifetime counts from the receipt');
  t.equal(agedLifetime(0xffffffff, 10_500), 0xffffffff, 'infinite stays infinite');
  t.equal(agedLifetime(5, 60_000), 1, 'at least a second');
});
