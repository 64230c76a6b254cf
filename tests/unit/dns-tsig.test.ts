// TSIG (runtime/dns/tsig.ts, RFC 8945), BIND-style key files (runtime/dns/keyfile.ts), and the
// signed exchange of runtime/dns/update.ts against a fake server on ::1: known-answer MACs
// computed here with node:crypto from the RFC 8945 §4.3.3 layout, tampering, time outside the
// fudge, server TSIG errors, forged datagrams, TC → TCP, timeouts and retries, no handle left.
import { spawnSync } from 'node:child_process';
import * as crypto from 'node:crypto';
import * as dgram from 'node:dgram';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import t from 'tap';
import { InputError } from '../../runtime/core/errors';
import { type TsigKey, loadKeyFile, parseKeyFile } from '../../runtime/wire/dns/keyfile';
import { DEFAULT_FUDGE, TSIG_ALGORITHMS, checkMac, macLength, signMessage, verifyRequest, verifyResponse } from '../../runtime/wire/dns/tsig';
import { type DnsServer, DnsUpdateError, type UpdateOp, buildUpdate, formatServer, parseServer, sendUpdate } from '../../runtime/system/dns-client';
import { CLASS, type DecodeResult, TYPE, decodeMessage, encodeMessage } from '../../runtime/wire/dns/wire';

const SECRET = Buffer.from('000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f', 'hex');
const KEY: TsigKey = { name: 'oci-slaac-hook', algorithm: 'hmac-sha256', secret: SECRET };
const T0 = 1_700_000_000;

type Ok = Extract<DecodeResult, { ok: true }>;
function decoded(wire: Buffer): Ok {
  const d = decodeMessage(wire);
  if (!d.ok) throw new Error(d.reason);
  return d;
}

/** Wire form of a name, label by label (independent of the codec). */
function wireName(name: string): Buffer {
  return Buffer.concat([...name.split('.').map((l) => Buffer.concat([Buffer.from([l.length]), Buffer.from(l, 'latin1')])), Buffer.from([0])]);
}
const u16 = (n: number): Buffer => Buffer.from([n >> 8, n & 0xff]);
const u32 = (n: number): Buffer => {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n);
  return b;
};
const u48 = (n: number): Buffer => {
  const b = Buffer.alloc(6);
  b.writeUIntBE(n, 0, 6);
  return b;
};

/** RFC 8945 §4.3.3, written out field by field. */
function variables(keyName: string, alg: string, time: number, fudge: number, error: number, other: Buffer): Buffer {
  return Buffer.concat([wireName(keyName), u16(255), u32(0), wireName(alg), u48(time), u16(fudge), u16(error), u16(other.length), other]);
}

const OPS: UpdateOp[] = [
  { op: 'add', name: 'c1.lab.example', type: 'AAAA', ttl: 300, data: '2001:db8:1::10' },
  { op: 'delete', name: 'c1.lab.example', type: 'AAAA', data: '2001:db8:1::11' },
];
const REQUEST = encodeMessage(buildUpdate(0x4242, 'lab.example', OPS));

/** A response to `request`: header + echoed zone section, unsigned. */
function responseTo(request: Buffer, rcode: number, opts: { tc?: boolean } = {}): Buffer {
  const q = decoded(request).message;
  return encodeMessage({
    header: { ...q.header, qr: true, tc: opts.tc ?? false, rcode },
    questions: q.questions,
    answers: [],
    authorities: [],
    additionals: [],
  });
}

// ---------------------------------------------------------------- known answers

t.test('request: TSIG RR layout and MAC match an independent RFC 8945 computation', async (t) => {
  const signed = signMessage(REQUEST, KEY, { now: T0 });
  const expectedMac = crypto
    .createHmac('sha256', SECRET)
    .update(Buffer.concat([REQUEST, variables('oci-slaac-hook', 'hmac-sha256', T0, 300, 0, Buffer.alloc(0))]))
    .digest();
  t.equal(signed.mac.toString('hex'), expectedMac.toString('hex'), 'MAC over message + TSIG variables');
  const header = Buffer.from(REQUEST.subarray(0, 12));
  header.writeUInt16BE(1, 10); // ARCOUNT 0 → 1
  const rdata = Buffer.concat([wireName('hmac-sha256'), u48(T0), u16(300), u16(32), expectedMac, u16(0x4242), u16(0), u16(0)]);
  const rr = Buffer.concat([wireName('oci-slaac-hook'), u16(250), u16(255), u32(0), u16(rdata.length), rdata]);
  t.equal(signed.wire.toString('hex'), Buffer.concat([header, REQUEST.subarray(12), rr]).toString('hex'), 'message + TSIG RR, byte for byte');
  t.equal(signed.fudge, DEFAULT_FUDGE);
  t.equal(DEFAULT_FUDGE, 300);
  const v = verifyRequest(decoded(signed.wire), KEY, T0 + 10);
  t.ok(v.ok, 'a server verifies it');
});

t.test('response: MAC over request MAC size + request MAC + response + variables', async (t) => {
  const req = signMessage(REQUEST, KEY, { now: T0 });
  const resp = responseTo(REQUEST, 0);
  const vars = variables('oci-slaac-hook', 'hmac-sha256', T0 + 1, 300, 0, Buffer.alloc(0));
  const mac = crypto.createHmac('sha256', SECRET).update(Buffer.concat([u16(32), req.mac, resp, vars])).digest();
  // Built by hand, not with signMessage: TSIG RR appended, ARCOUNT + 1.
  const rdata = Buffer.concat([wireName('hmac-sha256'), u48(T0 + 1), u16(300), u16(mac.length), mac, u16(0x4242), u16(0), u16(0)]);
  const wire = Buffer.concat([resp, wireName('oci-slaac-hook'), u16(250), u16(255), u32(0), u16(rdata.length), rdata]);
  wire.writeUInt16BE(1, 10);
  const check = verifyResponse(decoded(wire), req, KEY, T0 + 2);
  t.equal(check.kind, 'verified');
  t.equal(signMessage(resp, KEY, { now: T0 + 1, requestMac: req.mac }).wire.toString('hex'), wire.toString('hex'), 'signMessage makes the same bytes');

  // The MAC covers the original id: a changed header id (as a forwarder may do) still verifies.
  const reid = Buffer.from(wire);
  reid.writeUInt16BE(0x9999, 0);
  t.equal(verifyResponse(decoded(reid), req, KEY, T0 + 2).kind, 'verified', 'original ID, not the header ID');

  // A truncated MAC (RFC 8945 §5.2.2.1): half of SHA-256 (16) is allowed, 8 octets is not.
  const trunc = (len: number): Buffer => {
    const r = Buffer.concat([wireName('hmac-sha256'), u48(T0 + 1), u16(300), u16(len), mac.subarray(0, len), u16(0x4242), u16(0), u16(0)]);
    const w = Buffer.concat([resp, wireName('oci-slaac-hook'), u16(250), u16(255), u32(0), u16(r.length), r]);
    w.writeUInt16BE(1, 10);
    return w;
  };
  t.equal(verifyResponse(decoded(trunc(16)), req, KEY, T0 + 2).kind, 'verified', 'MAC truncated to 16 octets');
  t.match(verifyResponse(decoded(trunc(8)), req, KEY, T0 + 2), { kind: 'invalid', error: 'BADTRUNC' });
});

t.test('every algorithm signs and verifies, with its full MAC length', async (t) => {
  const lengths: Record<string, number> = { 'hmac-sha256': 32, 'hmac-sha512': 64, 'hmac-sha384': 48, 'hmac-sha224': 28, 'hmac-sha1': 20, 'hmac-md5.sig-alg.reg.int': 16 };
  t.same(Object.keys(TSIG_ALGORITHMS).sort(), Object.keys(lengths).sort());
  for (const [algorithm, len] of Object.entries(lengths)) {
    const key: TsigKey = { name: 'k.example', algorithm, secret: crypto.randomBytes(len) };
    t.equal(macLength(algorithm), len, `${algorithm}: ${len} octets`);
    const req = signMessage(REQUEST, key, { now: T0 });
    const digest = TSIG_ALGORITHMS[algorithm] ?? '';
    const mac = crypto.createHmac(digest, key.secret).update(Buffer.concat([REQUEST, variables('k.example', algorithm, T0, 300, 0, Buffer.alloc(0))])).digest();
    t.equal(req.mac.toString('hex'), mac.toString('hex'), `${algorithm}: known answer`);
    const server = verifyRequest(decoded(req.wire), key, T0);
    t.ok(server.ok, `${algorithm}: request verifies`);
    const resp = signMessage(responseTo(REQUEST, 0), key, { now: T0, requestMac: req.mac });
    t.equal(verifyResponse(decoded(resp.wire), req, key, T0).kind, 'verified', `${algorithm}: response verifies`);
  }
});

// ---------------------------------------------------------------- failures

t.test('tampering, another key, time outside the fudge', async (t) => {
  const req = signMessage(REQUEST, KEY, { now: T0 });
  // a server's view of a tampered request: one bit of the AAAA address flipped
  const bad = Buffer.from(req.wire);
  bad[REQUEST.length - 1] = (bad[REQUEST.length - 1] ?? 0) ^ 1;
  t.match(verifyRequest(decoded(bad), KEY, T0), { ok: false, error: 'BADSIG' });
  t.match(verifyRequest(decoded(req.wire), { ...KEY, secret: crypto.randomBytes(32) }, T0), { ok: false, error: 'BADSIG' }, 'wrong secret');
  t.match(verifyRequest(decoded(req.wire), { ...KEY, name: 'other-key' }, T0), { ok: false, error: 'BADKEY' }, 'unknown key name');
  t.match(verifyRequest(decoded(req.wire), KEY, T0 + 301), { ok: false, error: 'BADTIME' }, 'request 301 s old');
  t.ok(verifyRequest(decoded(req.wire), KEY, T0 - 300).ok, 'exactly at the fudge is fine');
  t.match(verifyRequest(decoded(REQUEST), KEY, T0), { ok: false, error: 'FORMERR' }, 'no TSIG at all');

  const resp = signMessage(responseTo(REQUEST, 0), KEY, { now: T0, requestMac: req.mac });
  const flipped = Buffer.from(resp.wire);
  flipped[3] = (flipped[3] ?? 0) | 5; // NOERROR → REFUSED
  t.match(verifyResponse(decoded(flipped), req, KEY, T0), { kind: 'invalid', error: 'BADSIG', detail: /MAC does not verify/ }, 'tampered response');
  const otherReq = signMessage(REQUEST, KEY, { now: T0 + 1 });
  t.match(verifyResponse(decoded(resp.wire), otherReq, KEY, T0), { kind: 'invalid', error: 'BADSIG' }, 'response to another request (request MAC chained)');
  t.match(verifyResponse(decoded(resp.wire), req, KEY, T0 + 301), { kind: 'invalid', error: 'BADTIME', detail: /301 s ago \(fudge 300 s\)/ });
  t.match(verifyResponse(decoded(resp.wire), req, KEY, T0 - 400), { kind: 'invalid', error: 'BADTIME', detail: /400 s ahead/ });
  const otherKey: TsigKey = { name: 'other', algorithm: 'hmac-sha256', secret: SECRET };
  const byOther = signMessage(responseTo(REQUEST, 0), otherKey, { now: T0, requestMac: req.mac });
  t.match(verifyResponse(decoded(byOther.wire), req, KEY, T0), { kind: 'invalid', error: 'BADKEY' }, 'signed by another key');
  const sha512 = signMessage(responseTo(REQUEST, 0), { ...KEY, algorithm: 'hmac-sha512' }, { now: T0, requestMac: req.mac });
  t.match(verifyResponse(decoded(sha512.wire), req, KEY, T0), { kind: 'invalid', error: 'BADKEY', detail: /algorithm/ });
  t.match(checkMac(decoded(signMessage(responseTo(REQUEST, 0), KEY, { unsigned: true }).wire), KEY), { ok: false, error: 'BADSIG', detail: 'no MAC' });
});

t.test('unsigned answers and the server TSIG errors of RFC 8945 §5.3.2', async (t) => {
  const req = signMessage(REQUEST, KEY, { now: T0 });
  t.match(verifyResponse(decoded(responseTo(REQUEST, 0)), req, KEY, T0), { kind: 'invalid', error: 'BADRESPONSE', detail: /unsigned NOERROR/ });
  t.match(verifyResponse(decoded(responseTo(REQUEST, 5)), req, KEY, T0), { kind: 'invalid', error: 'REFUSED', detail: /unsigned/ });
  for (const [error, name] of [
    [16, 'BADSIG'],
    [17, 'BADKEY'],
  ] as const) {
    const r = signMessage(responseTo(REQUEST, 9), KEY, { now: T0, requestMac: req.mac, error, unsigned: true });
    t.equal(r.mac.length, 0);
    t.match(verifyResponse(decoded(r.wire), req, KEY, T0), { kind: 'tsig-error', error: name, detail: /rcode NOTAUTH; unsigned/ }, `NOTAUTH + unsigned ${name}`);
  }
  const other = u48(T0 + 1000);
  const badtime = signMessage(responseTo(REQUEST, 9), KEY, { now: T0, requestMac: req.mac, error: 18, other });
  t.match(verifyResponse(decoded(badtime.wire), req, KEY, T0), { kind: 'tsig-error', error: 'BADTIME', detail: /server time 1700001000, ours 1700000000 \(-1000 s\)/ });
});

// ---------------------------------------------------------------- key files

t.test('key files: tsig-keygen output, comments, quoted and unquoted names', async (t) => {
  const gen = spawnSync('tsig-keygen', ['-a', 'hmac-sha256', 'Gen.Key.'], { encoding: 'utf8' });
  if (gen.status === 0) {
    const k = parseKeyFile(gen.stdout, 'gen.key');
    t.equal(k.name, 'gen.key');
    t.equal(k.algorithm, 'hmac-sha256');
    t.equal(k.secret.length, 32);
    t.equal(k.secret.toString('base64'), /secret "([^"]+)"/.exec(gen.stdout)?.[1]);
  } else {
    t.comment('tsig-keygen not available: skipped its output');
  }
  const text = `
    # a comment
    // another
    /* a block
       comment with key "fake" { }; */
    key oci-slaac-hook {   # unquoted name
      algorithm HMAC-SHA512; // case does not matter
      secret "${SECRET.toString('base64')}";
    };
  `;
  t.same(parseKeyFile(text, 'k'), { name: 'oci-slaac-hook', algorithm: 'hmac-sha512', secret: SECRET });
  t.same(parseKeyFile('key "k" { secret "AAAA"; algorithm hmac-md5; };', 'k'), { name: 'k', algorithm: 'hmac-md5.sig-alg.reg.int', secret: Buffer.from([0, 0, 0]) });
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dns-key-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'tsig.key');
  fs.writeFileSync(file, text);
  t.same(loadKeyFile(file), { name: 'oci-slaac-hook', algorithm: 'hmac-sha512', secret: SECRET });
  t.throws(() => loadKeyFile(path.join(dir, 'absent.key')), { name: 'InputError', message: /key file .*absent\.key: does not exist/ });
});

t.test('malformed key files: InputError naming the file and the fault', async (t) => {
  const cases: [string, string, RegExp][] = [
    ['missing secret', 'key "k" {\n algorithm hmac-sha256;\n};', /k\.key: line 1: key "k" has no secret/],
    ['missing algorithm', 'key "k" { secret "AAAA"; };', /has no algorithm/],
    ['bad base64', 'key "k" {\n algorithm hmac-sha256;\n secret "not base64!";\n};', /line 3: secret is not valid base64/],
    ['bad base64 padding', 'key "k" { algorithm hmac-sha256; secret "AAA"; };', /not valid base64/],
    ['empty secret', 'key "k" { algorithm hmac-sha256; secret ""; };', /empty secret/],
    ['unknown algorithm', 'key "k" { algorithm hmac-sha3; secret "AAAA"; };', /unknown algorithm "hmac-sha3" \(supported: hmac-sha256/],
    ['missing semicolon', 'key "k" { algorithm hmac-sha256 secret "AAAA"; };', /expected ";", found "secret"/],
    ['missing final semicolon', 'key "k" { algorithm hmac-sha256; secret "AAAA"; }', /unexpected end of file, expected ";"/],
    ['unterminated string', 'key "k', /unterminated string/],
    ['unterminated comment', '/* key', /unterminated \/\* comment/],
    ['empty file', '# nothing\n', /no key statement/],
    ['two keys', 'key a { algorithm hmac-sha256; secret "AAAA"; }; key b { algorithm hmac-sha256; secret "AAAA"; };', /2 keys \(a, b\); expected one/],
    ['unknown statement', 'key "k" { algorithm hmac-sha256; secret "AAAA"; owner x; };', /unknown statement "owner"/],
    ['not a key', 'options { };', /expected a "key" statement, found "options"/],
    ['bad name', 'key "a..b" { algorithm hmac-sha256; secret "AAAA"; };', /bad key name/],
    ['twice', 'key k { algorithm hmac-sha256; algorithm hmac-sha1; secret "AAAA"; };', /algorithm given twice/],
  ];
  for (const [what, text, re] of cases) {
    try {
      parseKeyFile(text, '/etc/k.key');
      t.fail(`${what}: accepted`);
    } catch (e) {
      t.ok(e instanceof InputError, `${what}: InputError`);
      t.match(e instanceof Error ? e.message : '', /^key file \/etc\/k\.key: /, `${what}: names the file`);
      t.match(e instanceof Error ? e.message : '', re, what);
    }
  }
});

// ---------------------------------------------------------------- servers

t.test('parseServer', async (t) => {
  t.same(parseServer('2001:db8:1::53'), { address: '2001:db8:1::53', port: 53 });
  t.same(parseServer('2001:DB8:1:0:0:0:0:53'), { address: '2001:db8:1::53', port: 53 });
  t.same(parseServer('[2001:db8:1::53]:5353'), { address: '2001:db8:1::53', port: 5353 });
  t.same(parseServer('[2001:db8:1::53]'), { address: '2001:db8:1::53', port: 53 });
  t.same(parseServer('192.0.2.53'), { address: '192.0.2.53', port: 53 });
  t.same(parseServer('192.0.2.53:5353'), { address: '192.0.2.53', port: 5353 });
  for (const bad of ['', 'ns.example', '2001:db8::53:5353x', '[2001:db8::53]:0', '[2001:db8::53]:65536', '[2001:db8::53]:x', '192.0.2.53:', '192.0.2.256', '[192.0.2.53]:53', '2001:db8::53]:53']) {
    t.throws(() => parseServer(bad), InputError, JSON.stringify(bad));
  }
  t.equal(formatServer({ address: '2001:db8:1::53', port: 53 }), '[2001:db8:1::53]:53');
  t.equal(formatServer({ address: '192.0.2.53', port: 5353 }), '192.0.2.53:5353');
});

// ---------------------------------------------------------------- sendUpdate against a fake server

interface Received {
  via: 'udp' | 'tcp';
  wire: Buffer;
}
type Reply = (req: Buffer, via: 'udp' | 'tcp', n: number) => Buffer[];

interface Fake {
  server: DnsServer;
  received: Received[];
  close(): Promise<void>;
}

/** A DNS server on [::1]:port, UDP and (unless `tcp` is false) TCP, answering with `reply`. */
async function fakeServer(reply: Reply, tcp = true): Promise<Fake> {
  const received: Received[] = [];
  const udp = dgram.createSocket('udp6');
  await new Promise<void>((res) => udp.bind(0, '::1', res));
  const port = udp.address().port;
  udp.on('message', (msg, rinfo) => {
    received.push({ via: 'udp', wire: msg });
    for (const out of reply(msg, 'udp', received.length)) udp.send(out, rinfo.port, rinfo.address);
  });
  let srv: net.Server | undefined;
  const conns = new Set<net.Socket>();
  let closing: Promise<void> | undefined;
  if (tcp) {
    const s = net.createServer((conn) => {
      conns.add(conn);
      conn.on('close', () => conns.delete(conn));
      let buf = Buffer.alloc(0);
      conn.on('data', (chunk: Buffer) => {
        buf = Buffer.concat([buf, chunk]);
        if (buf.length < 2 || buf.length < 2 + buf.readUInt16BE(0)) return;
        const msg = buf.subarray(2, 2 + buf.readUInt16BE(0));
        received.push({ via: 'tcp', wire: msg });
        for (const out of reply(msg, 'tcp', received.length)) conn.write(Buffer.concat([u16(out.length), out]));
      });
      conn.on('error', () => undefined);
    });
    srv = s;
    await new Promise<void>((res, rej) => {
      s.once('error', rej);
      s.listen(port, '::1', () => res());
    });
  }
  return {
    server: { address: '::1', port },
    received,
    close: () => (closing ??= (async () => {
      await new Promise<void>((res) => udp.close(() => res()));
      for (const c of conns) c.destroy();
      if (srv) {
        const s = srv;
        await new Promise<void>((res) => s.close(() => res()));
      }
    })()),
  };
}

/** The server side: verify the request, answer `rcode`, signed. */
function signedAnswer(req: Buffer, rcode: number, key = KEY, opts: { tc?: boolean } = {}): Buffer {
  const d = decoded(req);
  const v = verifyRequest(d, key);
  if (!v.ok) throw new Error(`fake server: request does not verify: ${v.error} ${v.detail}`);
  const body = Buffer.from(req.subarray(0, d.tsigOffset));
  body.writeUInt16BE(body.readUInt16BE(10) - 1, 10);
  return signMessage(responseTo(body, rcode, opts), key, { requestMac: v.mac }).wire;
}

/** Handles of the kinds sendUpdate uses, counted. */
function handles(): Record<string, number> {
  const out: Record<string, number> = {};
  for (const r of process.getActiveResourcesInfo()) if (/UDP|TCP|Timeout|Timer/i.test(r)) out[r] = (out[r] ?? 0) + 1;
  return out;
}
const sameHandles = (a: Record<string, number>, b: Record<string, number>): boolean => JSON.stringify(a) === JSON.stringify(b);

/** The handles once they stop changing (a closed handle lingers for a loop turn or two). */
async function quiescent(): Promise<Record<string, number>> {
  let last = handles();
  for (let same = 0, i = 0; same < 5 && i < 100; i++) {
    await new Promise((res) => setTimeout(res, 10));
    const now = handles();
    same = sameHandles(now, last) ? same + 1 : 0;
    last = now;
  }
  return last;
}

/** Wait (up to 1 s: closing a handle takes a loop turn or two) until the handles are back to `baseline`. */
async function handlesBackTo(baseline: Record<string, number>): Promise<Record<string, number>> {
  for (let i = 0; i < 100 && !sameHandles(handles(), baseline); i++) await new Promise((res) => setTimeout(res, 10));
  return handles();
}

t.test('sendUpdate: signed update over UDP, checked by the server; nothing left behind', async (t) => {
  const before = await quiescent();
  const fake = await fakeServer((req) => [signedAnswer(req, 0)]);
  t.teardown(fake.close);
  const r = await sendUpdate({ server: fake.server, zone: 'lab.example', ops: OPS, key: KEY });
  await fake.close();
  t.same(await handlesBackTo(before), before, 'no socket or timer of ours remains');
  t.equal(r.transport, 'udp');
  t.equal(r.attempts, 1);
  t.ok(r.elapsedMs >= 0 && r.elapsedMs < 1000, `${r.elapsedMs.toFixed(1)} ms`);
  const got = fake.received[0];
  if (!got) return t.fail('nothing received');
  const d = decoded(got.wire);
  t.equal(d.message.header.opcode, 5);
  t.same(d.message.questions, [{ name: 'lab.example', type: TYPE.SOA, class: CLASS.IN }]);
  t.same(d.message.answers, [], 'no prerequisites');
  t.same(d.message.authorities.map((rr) => [rr.class, rr.ttl]), [[CLASS.IN, 300], [CLASS.NONE, 0]]);
  t.equal(d.message.additionals.length, 1, 'only the TSIG');
});

t.test('sendUpdate: forged or broken datagrams do not decide; the verified answer does', async (t) => {
  const fake = await fakeServer((req) => {
    const good = signedAnswer(req, 0);
    const wrongId = Buffer.from(good);
    wrongId.writeUInt16BE((wrongId.readUInt16BE(0) + 1) & 0xffff, 0);
    const unsigned = responseTo(req, 5);
    const badMac = Buffer.from(good);
    badMac[badMac.length - 10] = (badMac[badMac.length - 10] ?? 0) ^ 0xff;
    return [wrongId, unsigned, badMac, Buffer.from([good[0] ?? 0, good[1] ?? 0, 0xff]), good];
  });
  t.teardown(fake.close);
  const r = await sendUpdate({ server: fake.server, zone: 'lab.example', ops: OPS, key: KEY, timeoutMs: 1000 });
  t.same([r.transport, r.attempts], ['udp', 1]);
  await fake.close();
});

t.test('sendUpdate: only an unverifiable answer → reported at the end of the attempt, no retry', async (t) => {
  const fake = await fakeServer((req) => [responseTo(req, 0)]);
  t.teardown(fake.close);
  const started = Date.now();
  await t.rejects(sendUpdate({ server: fake.server, zone: 'lab.example', ops: OPS, key: KEY, timeoutMs: 200, retries: 2 }), {
    name: 'DnsUpdateError',
    rcode: 'BADRESPONSE',
    message: `DNS update of lab.example at [::1]:${fake.server.port}: BADRESPONSE (unsigned NOERROR response to a signed request)`,
  });
  const ms = Date.now() - started;
  t.ok(ms >= 190 && ms < 600, `${ms} ms: one attempt`);
  t.equal(fake.received.length, 1);
  await fake.close();
});

t.test('sendUpdate: server TSIG errors and RCODEs by name', async (t) => {
  const badsig = await fakeServer((req) => {
    const d = decoded(req);
    const body = Buffer.from(req.subarray(0, d.tsigOffset));
    body.writeUInt16BE(0, 10);
    return [signMessage(responseTo(body, 9), KEY, { error: 16, unsigned: true }).wire];
  });
  t.teardown(badsig.close);
  const wrong: TsigKey = { ...KEY, secret: crypto.randomBytes(32) };
  const e = await sendUpdate({ server: badsig.server, zone: 'lab.example', ops: OPS, key: wrong }).catch((x: unknown) => x);
  t.ok(e instanceof DnsUpdateError);
  t.match(e, { rcode: 'BADSIG', message: /^DNS update of lab\.example at \[::1\]:\d+: BADSIG \(server reports TSIG error, rcode NOTAUTH; unsigned\)$/ });

  const refused = await fakeServer((req) => [signedAnswer(req, 5)]);
  t.teardown(refused.close);
  await t.rejects(sendUpdate({ server: refused.server, zone: 'lab.example', ops: OPS, key: KEY }), {
    rcode: 'REFUSED',
    message: `DNS update of lab.example at [::1]:${refused.server.port}: REFUSED`,
  });
  t.equal(refused.received.length, 1, 'a definite RCODE is not retried');

  const unsignedServer = await fakeServer((req) => [responseTo(req, 8)]);
  t.teardown(unsignedServer.close);
  await t.rejects(sendUpdate({ server: unsignedServer.server, zone: 'lab.example', ops: OPS }), { name: 'DnsUpdateError', rcode: 'NXRRSET' }, 'no key: the RCODE as is');
  await Promise.all([badsig.close(), refused.close(), unsignedServer.close()]);
});

t.test('sendUpdate: TC → the same update over TCP; > 512 bytes → TCP at once', async (t) => {
  const before = await quiescent();
  const fake = await fakeServer((req, via) => (via === 'udp' ? [responseTo(req, 0, { tc: true })] : [signedAnswer(req, 0)]));
  t.teardown(fake.close);
  const r = await sendUpdate({ server: fake.server, zone: 'lab.example', ops: OPS, key: KEY });
  const many: UpdateOp[] = Array.from({ length: 20 }, (_, i) => ({ op: 'add', name: `c${i}.lab.example`, type: 'AAAA', ttl: 60, data: `2001:db8:1::${i + 1}` }));
  const big = await sendUpdate({ server: fake.server, zone: 'lab.example', ops: many, key: KEY });
  await fake.close();
  t.same(await handlesBackTo(before), before, 'no socket or timer of ours remains');
  t.same([r.transport, r.attempts], ['tcp', 2]);
  t.same(
    fake.received.map((x) => x.via),
    ['udp', 'tcp', 'tcp'],
  );
  t.equal(fake.received[0]?.wire.toString('hex'), fake.received[1]?.wire.toString('hex'), 'the same bytes');

  t.same([big.transport, big.attempts], ['tcp', 1]);
  t.ok((fake.received[2]?.wire.length ?? 0) > 512, `${fake.received[2]?.wire.length} bytes`);
});

t.test('sendUpdate: TC but nobody on TCP → NETWORK with the errno, after the TCP retries', async (t) => {
  const fake = await fakeServer((req) => [responseTo(req, 0, { tc: true })], false);
  t.teardown(fake.close);
  await t.rejects(sendUpdate({ server: fake.server, zone: 'lab.example', ops: OPS, key: KEY, retries: 1 }), {
    rcode: 'NETWORK',
    message: /: NETWORK \(connect: ECONNREFUSED; 2 attempts over TCP\)$/,
  });
  await fake.close();
});

t.test('sendUpdate: a silent server → TIMEOUT after the bounded retries, same bytes each time', async (t) => {
  const before = await quiescent();
  const fake = await fakeServer(() => []);
  t.teardown(fake.close);
  const started = Date.now();
  await t.rejects(sendUpdate({ server: fake.server, zone: 'lab.example', ops: OPS, key: KEY, timeoutMs: 150, retries: 2 }), {
    rcode: 'TIMEOUT',
    message: `DNS update of lab.example at [::1]:${fake.server.port}: TIMEOUT (no answer to 3 attempts of 150 ms over UDP)`,
  });
  const ms = Date.now() - started;
  t.ok(ms >= 440 && ms < 900, `${ms} ms for 3 × 150 ms`);
  t.equal(fake.received.length, 3);
  t.equal(new Set(fake.received.map((x) => x.wire.toString('hex'))).size, 1, 'retransmissions are the same message');
  await t.rejects(sendUpdate({ server: fake.server, zone: 'lab.example', ops: OPS, timeoutMs: 50, retries: 0 }), { rcode: 'TIMEOUT', message: /1 attempts of 50 ms/ });
  await fake.close();
  t.same(await handlesBackTo(before), before, 'no socket or timer of ours remains');
});

t.test('sendUpdate: bad arguments are InputErrors', async (t) => {
  const server = { address: '::1', port: 9 };
  await t.rejects(sendUpdate({ server, zone: 'lab.example', ops: [{ op: 'add', name: 'x.other', type: 'AAAA', ttl: 1, data: '::1' }] }), InputError);
  await t.rejects(sendUpdate({ server: { address: 'ns.example', port: 53 }, zone: 'lab.example', ops: [] }), InputError);
  await t.rejects(sendUpdate({ server, zone: 'lab.example', ops: [], timeoutMs: 0 }), InputError);
  await t.rejects(sendUpdate({ server, zone: 'lab.example', ops: [], retries: -1 }), InputError);
  await t.rejects(sendUpdate({ server, zone: 'lab.example', ops: [], key: { ...KEY, algorithm: 'hmac-sha3' } }), InputError);
});
