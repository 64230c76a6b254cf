// Several reverse zones (issue 11): `[dns] reverse_zones = [...]` (and `reverse_zone` as its
// one-element shorthand) checked at config time with one-line errors; each address's PTR in the
// most specific configured zone covering it, none → no PTR (said once); publish, republish and
// withdraw over records in different zones (one update per zone, against a fake server that
// answers per zone); an older record (its one `reverseZone`) still withdrawn and republished;
// check asking each record whatever its zone.
import * as dgram from 'node:dgram';
import type { AddressInfo } from 'node:net';
import t from 'tap';
import { InputError } from '../../runtime/core/errors';
import { checkReverseZone, parseConfig, reverseZonesOf, type DnsConfig } from '../../runtime/core/config';
import type { ContainerRecord, DnsState } from '../../runtime/core/record';
import { decodeMessage, encodeMessage, RCODE, typeName } from '../../runtime/wire/dns/wire';
import { reverseName } from '../../runtime/wire/dns/names';
import { parseIPv6 } from '../../runtime/core/ipv6';
import { coveringZone, planDns, publish, republish, withdraw } from '../../runtime/ops/dns-records';
import type { OpContext } from '../../runtime/ops/context';
import { check, type CheckDeps } from '../../runtime/pipeline/check';
import type { NetKernel } from '../../runtime/system/kernel';
import { MemoryLogger } from './fake-kernel';

const Z44 = 'a.0.0.8.b.d.0.1.0.0.2.ip6.arpa'; // 2001:db8:a0::/44
const Z7 = '7.a.0.0.8.b.d.0.1.0.0.2.ip6.arpa'; // 2001:db8:a7::/48, inside Z44
const A7 = '2001:db8:a7::1234';
const A8 = '2001:db8:a8::5678';
const A9 = '2001:db8:a9::9abc';
const B1 = '2001:db8:b1::1'; // in no zone
const ptr = (a: string): string => reverseName(parseIPv6(a));

// ---------------------------------------------------------------- config

const toml = (lines: string[]): string => ['parent = "eth0"', '[dns]', 'server = "2001:db8::53"', 'zone = "lab.example"', ...lines].join('\n');
const dnsOf = (lines: string[]): DnsConfig => {
  const dns = parseConfig(toml(lines), 'c.toml').dns;
  if (!dns) throw new Error('no [dns]');
  return dns;
};
const refused = (lines: string[]): string => {
  try {
    dnsOf(lines);
  } catch (err) {
    if (!(err instanceof InputError)) throw err;
    return err.message;
  }
  throw new Error(`accepted: ${lines.join('; ')}`);
};

t.test('config: reverse_zones, reverse_zone as its shorthand, both refused', async (t) => {
  const many = dnsOf([`reverse_zones = ["${Z44}", "${Z7.toUpperCase()}."]`]);
  t.same(many.reverse_zones, [Z44, Z7], 'lower case, no trailing dot');
  t.same(reverseZonesOf(many), [Z44, Z7]);
  const one = dnsOf([`reverse_zone = "${Z7}."`]);
  t.equal(one.reverse_zones, undefined);
  t.same(reverseZonesOf(one), [Z7], 'reverse_zone: a one-element list');
  t.same(reverseZonesOf(dnsOf([])), [], 'neither: no PTR');
  t.same(reverseZonesOf(dnsOf(['reverse_zones = []'])), [], 'an empty list: no PTR');
  t.equal(refused([`reverse_zone = "${Z7}"`, `reverse_zones = ["${Z44}"]`]), 'config c.toml [dns]: reverse_zone and reverse_zones are both set: list every reverse zone in reverse_zones');
});

t.test('config: each bad reverse zone is one line naming the key and what is wrong', async (t) => {
  const cases: [string, RegExp][] = [
    ['reverse_zones = "x.ip6.arpa"', /^config c\.toml \[dns\]: reverse_zones must be an array of at most 64 zone names, got "x\.ip6\.arpa"$/],
    ['reverse_zones = [1]', /^config c\.toml \[dns\]: reverse_zones\[0\] must be a string, got 1$/],
    ['reverse_zones = ["lab.example"]', /^config c\.toml \[dns\]: reverse_zones\[0\]: "lab\.example" is not an ip6\.arpa zone name \(e\.g\. /],
    ['reverse_zones = ["1.0.in-addr.arpa"]', /reverse_zones\[0\]: "1\.0\.in-addr\.arpa" is not an ip6\.arpa zone name/],
    [`reverse_zones = ["${Z44}", "10.0.8.b.d.0.1.0.0.2.ip6.arpa"]`, /^config c\.toml \[dns\]: reverse_zones\[1\]: "10\.0\.8\.b\.d\.0\.1\.0\.0\.2\.ip6\.arpa" is not nibble-aligned: label "10" is not one hex digit/],
    ['reverse_zones = ["g.8.b.d.0.1.0.0.2.ip6.arpa"]', /is not nibble-aligned: label "g"/],
    ['reverse_zones = ["8.b.d..0.1.0.0.2.ip6.arpa"]', /is not an ip6\.arpa zone name/],
    ['reverse_zones = ["ip6.arpa"]', /reverse_zones\[0\]: "ip6\.arpa" must have 1 to 32 nibbles, has 0$/],
    [`reverse_zones = ["${'0.'.repeat(33)}ip6.arpa"]`, /must have 1 to 32 nibbles, has 33$/],
    ['reverse_zones = ["8.b.d.0.1.0.0.2.ip6.arpa\\n"]', /is not an ip6\.arpa zone name/],
    [`reverse_zones = ["${Z7}", "${Z7}."]`, /^config c\.toml \[dns\]: reverse_zones\[1\]: 7\.a\.0\.0\.8\.b\.d\.0\.1\.0\.0\.2\.ip6\.arpa is listed twice$/],
    [`reverse_zones = [${Array.from({ length: 65 }, (_, i) => `"${(i % 16).toString(16)}.${Math.floor(i / 16)}.ip6.arpa"`).join(', ')}]`, /at most 64 zone names/],
    ['reverse_zone = "lab.example"', /^config c\.toml \[dns\]: reverse_zone: "lab\.example" is not an ip6\.arpa zone name/],
    ['reverse_zone = "ab.8.b.d.0.1.0.0.2.ip6.arpa"', /^config c\.toml \[dns\]: reverse_zone: .* is not nibble-aligned: label "ab"/],
  ];
  for (const [line, want] of cases) {
    const msg = refused([line]);
    t.match(msg, want, line.slice(0, 80));
    t.notMatch(msg, /\n/, 'one line');
  }
  t.equal(checkReverseZone('8.B.D.0.1.0.0.2.IP6.ARPA.', 'x'), '8.b.d.0.1.0.0.2.ip6.arpa');
  t.equal(checkReverseZone('0.'.repeat(32) + 'ip6.arpa', 'x'), '0.'.repeat(32) + 'ip6.arpa', '32 nibbles: one address');
});

// ---------------------------------------------------------------- planning

const cfg = (over: Partial<DnsConfig> = {}): DnsConfig => ({ server: '127.0.0.1:53', zone: 'lab.example', reverse_zone: '', key_file: '', ttl: 60, required: false, timeout_ms: 300, ...over });
const ptrs = (s: DnsState): [string, string][] => s.records.filter((r) => r.type === 'PTR').map((r) => [r.name, r.zone]);

t.test('plan: each PTR in the most specific zone covering it, whatever the order; none → no PTR', async (t) => {
  t.equal(coveringZone(ptr(A7), [Z44, Z7]), Z7);
  t.equal(coveringZone(ptr(A7), [Z7, Z44]), Z7, 'order does not matter');
  t.equal(coveringZone(ptr(A8), [Z44, Z7]), Z44);
  t.equal(coveringZone(ptr(B1), [Z44, Z7]), undefined);
  t.equal(coveringZone(ptr(A7), ['a7.0.0.8.b.d.0.1.0.0.2.ip6.arpa']), undefined, 'a name is covered by labels, not by characters');

  const { plan, uncovered } = planDns(cfg({ reverse_zones: [Z44, Z7] }), 'web', [A7, A8, B1]);
  t.same(plan.records.filter((r) => r.type === 'AAAA').map((r) => [r.zone, r.data]), [['lab.example', A7], ['lab.example', A8], ['lab.example', B1]]);
  t.same(ptrs(plan), [[ptr(A7), Z7], [ptr(A8), Z44]]);
  t.same(uncovered, [B1]);
  t.same(plan.reverseZones, [Z44, Z7]);
  t.equal(plan.reverseZone, Z44, 'reverseZone: the first, as older records carried it');

  const old = planDns(cfg({ reverse_zone: Z7 }), 'web', [A7, A8]);
  t.same(ptrs(old.plan), [[ptr(A7), Z7]], 'the shorthand: an address outside it has no PTR (it used to fail the publication)');
  t.same(old.uncovered, [A8]);
  t.same(planDns(cfg(), 'web', [A7]).uncovered, [], 'no reverse zone at all: nothing to say');
});

// ---------------------------------------------------------------- a fake server, per zone

interface Seen {
  zone: string;
  op: 'add' | 'delete';
  records: string[];
}
async function dnsServer(refuse: (zone: string, op: 'add' | 'delete') => boolean = () => false) {
  const sock = dgram.createSocket('udp4');
  const seen: Seen[] = [];
  sock.on('message', (msg, rinfo) => {
    const d = decodeMessage(msg);
    if (!d.ok) return;
    const zone = d.message.questions[0]?.name ?? '?';
    const op = d.message.authorities.some((rr) => rr.class === 1) ? 'add' : 'delete';
    const records = d.message.authorities.map((rr) => `${typeName(rr.type)} ${rr.name}`);
    seen.push({ zone, op, records });
    const rcode = refuse(zone, op) ? RCODE.REFUSED : RCODE.NOERROR;
    const reply = encodeMessage({ ...d.message, header: { ...d.message.header, qr: true, rcode }, answers: [], authorities: [], additionals: [] });
    sock.send(reply, rinfo.port, rinfo.address);
  });
  await new Promise<void>((resolve) => sock.bind(0, '127.0.0.1', resolve));
  return { server: `127.0.0.1:${(sock.address() as AddressInfo).port}`, seen, close: () => new Promise<void>((resolve) => sock.close(() => resolve())) };
}

/** Just what publish uses of an OpContext: the ledger's record, intend, save; the log. */
function fakeCtx(log: MemoryLogger): OpContext & { saved: number } {
  const ctx = {
    saved: 0,
    log,
    ledger: {
      record: {} as Partial<ContainerRecord>,
      intend: () => undefined,
      save: () => {
        ctx.saved++;
      },
    },
  };
  return ctx as unknown as OpContext & { saved: number };
}

const zonesOf = (seen: Seen[]): string[] => seen.map((s) => `${s.op} ${s.zone}: ${s.records.map((r) => r.split(' ')[0]).join(',')}`);

t.test('publish: one update per zone; the uncovered address logged once, its AAAA published', async (t) => {
  const dns = await dnsServer();
  t.teardown(dns.close);
  const log = new MemoryLogger();
  const ctx = fakeCtx(log);
  await publish(ctx, cfg({ server: dns.server, reverse_zones: [Z44, Z7] }), () => 'web', [A7, A8, B1]);
  t.same(zonesOf(dns.seen), ['add lab.example: AAAA,AAAA,AAAA', `add ${Z7}: PTR`, `add ${Z44}: PTR`]);
  const state = ctx.ledger.record.dns;
  t.equal(state?.status, 'published');
  t.ok(state?.records.every((r) => r.published), 'every record published');
  t.same(log.lines.filter((l) => l.includes('no PTR')), [`warning: DNS: no PTR for ${B1}: no reverse zone covers it (reverse zones ${Z44}, ${Z7})`]);
  t.match(log.lines.join('\n'), /DNS: published web\.lab\.example \(AAAA, AAAA, AAAA, PTR, PTR\)/);

  dns.seen.length = 0;
  const gone = await withdraw(state as DnsState);
  t.equal(gone.status, 'pending');
  t.notOk(gone.records.some((r) => r.published || r.uncertain), 'all withdrawn');
  t.same(zonesOf(dns.seen), ['delete lab.example: AAAA,AAAA,AAAA', `delete ${Z7}: PTR`, `delete ${Z44}: PTR`], 'each zone its delete');
});

t.test('republish: only what changed, in its zone; the others untouched; a new uncovered address said once', async (t) => {
  const dns = await dnsServer();
  t.teardown(dns.close);
  const ctx = fakeCtx(new MemoryLogger());
  await publish(ctx, cfg({ server: dns.server, reverse_zones: [Z7, Z44] }), () => 'web', [A7, A8]);
  const start = ctx.ledger.record.dns as DnsState;
  dns.seen.length = 0;

  const notes: string[] = [];
  const intents: DnsState[] = [];
  // Renumbered: A7's prefix gone, A9 (in Z44) and B1 (in none) new, A8 stays.
  const next = await republish(start, [A8, A9, B1], (i) => intents.push(i), (l) => notes.push(l));
  t.same(zonesOf(dns.seen), ['delete lab.example: AAAA', `delete ${Z7}: PTR`, 'add lab.example: AAAA,AAAA', `add ${Z44}: PTR`], 'A7 withdrawn in its zones, A9 and B1 added; A8 not sent');
  t.same(dns.seen[0]?.records, ['AAAA web.lab.example']);
  t.same(dns.seen[1]?.records, [`PTR ${ptr(A7)}`]);
  t.same(dns.seen[3]?.records, [`PTR ${ptr(A9)}`]);
  t.equal(next.status, 'published');
  t.same(next.records.map((r) => [r.type, r.type === 'AAAA' ? r.data : r.name, r.zone, r.published]), [
    ['AAAA', A8, 'lab.example', true],
    ['AAAA', A9, 'lab.example', true],
    ['AAAA', B1, 'lab.example', true],
    ['PTR', ptr(A8), Z44, true],
    ['PTR', ptr(A9), Z44, true],
  ]);
  t.equal(intents.length, 1, 'the records to add saved first');
  t.ok(intents[0]?.records.filter((r) => !r.published).every((r) => r.uncertain), 'marked uncertain in that save');
  t.same(notes, [`no PTR for ${B1}: no reverse zone covers it (reverse zones ${Z7}, ${Z44})`]);

  dns.seen.length = 0;
  const same = await republish(next, [A8, A9, B1], () => t.fail('nothing to save'), (l) => notes.push(l));
  t.equal(same, next, 'no change: the same state, nothing sent');
  t.same(dns.seen, []);
  t.equal(notes.length, 1, 'said once');

  // Only a removal: nothing to add, one delete per zone concerned.
  const fewer = await republish(next, [A9], () => t.fail('nothing to add'));
  t.same(zonesOf(dns.seen), ['delete lab.example: AAAA,AAAA', `delete ${Z44}: PTR`]);
  t.same(fewer.records.map((r) => [r.type, r.zone]), [['AAAA', 'lab.example'], ['PTR', Z44]]);
  t.equal(fewer.status, 'published');
});

t.test('a zone refusing: the others done, what it holds still counted published', async (t) => {
  const dns = await dnsServer((zone, op) => zone === Z7 && op === 'delete');
  t.teardown(dns.close);
  const ctx = fakeCtx(new MemoryLogger());
  await publish(ctx, cfg({ server: dns.server, reverse_zones: [Z44, Z7] }), () => 'web', [A7, A8]);
  const state = ctx.ledger.record.dns as DnsState;
  const out = await withdraw(state);
  t.equal(out.status, 'withdraw-failed');
  t.match(out.error, /REFUSED/);
  t.same(out.records.filter((r) => r.published).map((r) => [r.type, r.zone]), [['PTR', Z7]], 'only the refused zone\'s record is left');

  // republish withdrawing A7 (whose PTR is in the refusing zone): nothing added, the state keeps it.
  const next = await republish(state, [A8, A9], () => t.fail('nothing added while a withdrawal failed'));
  t.equal(next.status, 'withdraw-failed');
  t.ok(next.records.some((r) => r.type === 'PTR' && r.zone === Z7 && r.published), 'A7\'s PTR still counted');
  t.notOk(next.records.some((r) => r.data === A9), 'A9 not published yet');
});

t.test('an older record (one reverseZone, no reverseZones) still withdraws and republishes', async (t) => {
  const dns = await dnsServer();
  t.teardown(dns.close);
  const older: DnsState = {
    label: 'web',
    name: 'web.lab.example',
    status: 'published',
    server: dns.server,
    keyFile: '',
    ttl: 60,
    timeoutMs: 300,
    zone: 'lab.example',
    reverseZone: Z7,
    records: [
      { zone: 'lab.example', name: 'web.lab.example', type: 'AAAA', data: A7, published: true },
      { zone: Z7, name: ptr(A7), type: 'PTR', data: 'web.lab.example', published: true },
    ],
  };
  const notes: string[] = [];
  const next = await republish(older, [A7, A8], () => undefined, (l) => notes.push(l));
  t.same(zonesOf(dns.seen), ['add lab.example: AAAA'], 'A8 has no PTR: its zone list is [reverseZone]');
  t.same(notes, [`no PTR for ${A8}: no reverse zone covers it (reverse zones ${Z7})`]);
  dns.seen.length = 0;
  const gone = await withdraw(next);
  t.equal(gone.status, 'pending');
  t.same(zonesOf(dns.seen), ['delete lab.example: AAAA,AAAA', `delete ${Z7}: PTR`]);
});

t.test('check: each published record asked by its name, in whichever zone', async (t) => {
  const state: DnsState = {
    ...planDns(cfg({ server: '[2001:db8:a7::53]:53', reverse_zones: [Z44, Z7] }), 'web', [A7, A8]).plan,
    status: 'published',
  };
  state.records.forEach((r) => (r.published = true));
  const record = { id: 'web', phase: 'attached', ledger: [{ kind: 'dns', name: state.name }], dns: state } as unknown as ContainerRecord;
  const asked: string[] = [];
  const deps: CheckDeps = {
    host: { listRules: () => [], listProxies: () => [], listRoutes: () => [], listLinks: () => [] } as unknown as NetKernel,
    openNetns: () => {
      throw new Error('no netns needed');
    },
    log: new MemoryLogger(),
    dnsExists: async (q) => {
      asked.push(`${q.type} ${q.name}`);
      return q.name !== ptr(A7);
    },
  };
  const diffs = await check(record, deps);
  t.same(asked.sort(), [`AAAA web.lab.example`, `AAAA web.lab.example`, `PTR ${ptr(A7)}`, `PTR ${ptr(A8)}`].sort());
  t.same(diffs.map((d) => [d.kind, d.state, d.text]), [['dns', 'missing', `DNS record ${ptr(A7)} PTR web.lab.example is missing at [2001:db8:a7::53]:53`]]);
});
