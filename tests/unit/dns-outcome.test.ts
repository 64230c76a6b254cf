// Whether a failed DNS update may nevertheless have been applied (DnsUpdateError.outcome, issue 10):
// once the request has left this host only an answer tells what the server did — a lost reply, a
// timeout or a connection reset after the request was written leave it `unknown`; an answer (a
// refusal) or a request that never left (nobody to connect to) is `rejected`. Loopback servers.
import * as dgram from 'node:dgram';
import * as net from 'node:net';
import type { AddressInfo } from 'node:net';
import t from 'tap';
import { DnsUpdateError, sendUpdate, type UpdateOp } from '../../runtime/system/dns-client';
import { decodeMessage, encodeMessage, RCODE } from '../../runtime/wire/dns/wire';

const ZONE = 'lab.example';
const ONE: UpdateOp[] = [{ op: 'add', name: `web.${ZONE}`, type: 'AAAA', ttl: 60, data: '2001:db8:c1::10' }];
/** Over 512 bytes: sent over TCP only (RFC 1035 §4.2.1). */
const MANY: UpdateOp[] = Array.from({ length: 30 }, (_, i) => ({ op: 'add', name: `web${i}.${ZONE}`, type: 'AAAA', ttl: 60, data: `2001:db8:c1::${i + 1}` }));

async function failure(p: Promise<unknown>): Promise<DnsUpdateError> {
  try {
    await p;
  } catch (e) {
    if (e instanceof DnsUpdateError) return e;
    throw e;
  }
  throw new Error('expected a DnsUpdateError');
}

/** A UDP server on 127.0.0.1: `answer` gives the RCODE, or undefined to stay silent (the reply lost). */
async function udpServer(answer: () => number | undefined) {
  const sock = dgram.createSocket('udp4');
  let received = 0;
  sock.on('message', (msg, rinfo) => {
    received++;
    const d = decodeMessage(msg);
    const rcode = answer();
    if (!d.ok || rcode === undefined) return;
    sock.send(encodeMessage({ ...d.message, header: { ...d.message.header, qr: true, rcode }, answers: [], authorities: [], additionals: [] }), rinfo.port, rinfo.address);
  });
  await new Promise<void>((r) => sock.bind(0, '127.0.0.1', r));
  return { server: { address: '127.0.0.1', port: (sock.address() as AddressInfo).port }, received: () => received, close: () => new Promise<void>((r) => sock.close(() => r())) };
}

t.test('a reply lost (the server silent): TIMEOUT, outcome unknown; onSent once, when the first datagram left', async (t) => {
  const srv = await udpServer(() => undefined);
  t.teardown(srv.close);
  let sent = 0;
  const e = await failure(sendUpdate({ server: srv.server, zone: ZONE, ops: ONE, timeoutMs: 40, retries: 2, onSent: () => sent++ }));
  t.equal(e.rcode, 'TIMEOUT');
  t.equal(e.outcome, 'unknown', e.message);
  t.equal(srv.received(), 3, 'three transmissions reached the server');
  t.equal(sent, 1, 'onSent once');
});

t.test('an answer saying no (REFUSED): outcome rejected — the update was not applied (RFC 2136 §3)', async (t) => {
  const srv = await udpServer(() => RCODE.REFUSED);
  t.teardown(srv.close);
  const e = await failure(sendUpdate({ server: srv.server, zone: ZONE, ops: ONE, timeoutMs: 200 }));
  t.equal(e.rcode, 'REFUSED');
  t.equal(e.outcome, 'rejected');
});

t.test('TCP: nobody listening — the request never left: outcome rejected, onSent never called', async (t) => {
  const probe = net.createServer();
  await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
  const port = (probe.address() as AddressInfo).port;
  await new Promise<void>((r) => probe.close(() => r()));
  let sent = 0;
  const e = await failure(sendUpdate({ server: { address: '127.0.0.1', port }, zone: ZONE, ops: MANY, timeoutMs: 200, retries: 1, onSent: () => sent++ }));
  t.equal(e.rcode, 'NETWORK');
  t.match(e.message, /ECONNREFUSED/);
  t.equal(e.outcome, 'rejected');
  t.equal(sent, 0);
});

t.test('TCP: the connection reset after the request was read — outcome unknown', async (t) => {
  let requests = 0;
  const srv = net.createServer((sock) => {
    sock.on('data', () => {
      requests++;
      sock.resetAndDestroy(); // the server had it (and may have applied it); the answer never comes
    });
    sock.on('error', () => undefined);
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  t.teardown(() => new Promise<void>((r) => srv.close(() => r())));
  const port = (srv.address() as AddressInfo).port;
  let sent = 0;
  const e = await failure(sendUpdate({ server: { address: '127.0.0.1', port }, zone: ZONE, ops: MANY, timeoutMs: 500, retries: 1, onSent: () => sent++ }));
  t.equal(e.rcode, 'NETWORK', e.message);
  t.equal(e.outcome, 'unknown');
  t.equal(requests, 2, 'both attempts reached the server');
  t.equal(sent, 1);
});

t.test('UDP: nobody listening at the port — refused by the server\'s host (ICMP) at once: outcome rejected', async (t) => {
  const probe = dgram.createSocket('udp4');
  await new Promise<void>((r) => probe.bind(0, '127.0.0.1', r));
  const port = (probe.address() as AddressInfo).port;
  await new Promise<void>((r) => probe.close(() => r()));
  const started = Date.now();
  const e = await failure(sendUpdate({ server: { address: '127.0.0.1', port }, zone: ZONE, ops: ONE, timeoutMs: 1000, retries: 2 }));
  t.equal(e.rcode, 'NETWORK');
  t.match(e.message, /ECONNREFUSED/);
  t.equal(e.outcome, 'rejected', 'the one datagram reached no server');
  t.ok(Date.now() - started < 900, 'without waiting for a timeout');
});
