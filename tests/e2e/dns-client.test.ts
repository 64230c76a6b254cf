// e2e: the DNS dynamic-update client (runtime/dns/*) against real servers in the netns lab:
// BIND 9 (main) and Knot (interop), each with the lab's TSIG key (vm/roles/dns.sh). Checked with
// dig, and against records nsupdate made. Needs root, radvd, iproute2, bind9 (named), knot
// (knotd), bind9-dnsutils (dig, nsupdate).
//
// Each server gets a prefix of its own (2001:db8:dc1::/64, 2001:db8:dc2::/64), not the lab
// default: the host NIC sits in the root netns with a static global address (LAB_HOST_ADDR) so
// this process can reach the server, and another lab in the root netns (another test file
// running at the same time) must not share its on-link route.
import { spawnSync } from 'node:child_process';
import * as crypto from 'node:crypto';
import * as dgram from 'node:dgram';
import t from 'tap';
import { loadKeyFile, type TsigKey } from '../../runtime/wire/dns/keyfile';
import { checkMac, signMessage, verifyResponse } from '../../runtime/wire/dns/tsig';
import { type DnsServer, DnsUpdateError, type UpdateOp, buildUpdate, parseServer, sendUpdate } from '../../runtime/system/dns-client';
import { decodeMessage, encodeMessage } from '../../runtime/wire/dns/wire';
import { dig, nsupdate, reverseName } from '../../vm/lab/dns';
import { type Lab, labUp } from '../../vm/lab/lab';

const isRoot = process.getuid?.() === 0;
const SERVERS = [
  { kind: 'bind', prefix: '2001:db8:dc1:', bin: 'named' },
  { kind: 'knot', prefix: '2001:db8:dc2:', bin: 'knotd' },
] as const;

function missing(cmds: string[]): string | false {
  const r = spawnSync('sh', ['-c', 'for c; do command -v "$c" >/dev/null || echo "$c"; done', 'sh', ...cmds], { encoding: 'utf8' });
  const gone = r.stdout.split('\n').filter((l) => l.length > 0);
  return gone.length > 0 ? `not installed: ${gone.join(' ')}` : false;
}

const sorted = (a: string[]): string[] => [...a].sort();

async function rejection(p: Promise<unknown>): Promise<DnsUpdateError> {
  try {
    await p;
  } catch (e) {
    if (e instanceof DnsUpdateError) return e;
    throw e;
  }
  throw new Error('the update succeeded');
}

/** One UDP exchange by hand (for a request signed with a skewed clock). */
function exchange(server: DnsServer, wire: Buffer, timeoutMs = 3000): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const sock = dgram.createSocket('udp6');
    const timer = setTimeout(() => {
      sock.close();
      reject(new Error('no answer'));
    }, timeoutMs);
    sock.on('message', (msg) => {
      clearTimeout(timer);
      sock.close();
      resolve(msg);
    });
    sock.send(wire, server.port, server.address);
  });
}

for (const { kind, prefix, bin } of SERVERS) {
  const skip = !isRoot ? 'needs root' : missing(['radvd', bin, 'dig', 'nsupdate']);
  t.test(`${kind}: sendUpdate against the lab's ${bin}`, { skip, timeout: 240_000 }, async (t) => {
    const name = `dc${process.pid % 10000}${kind[0]}`;
    const lab: Lab = await labUp({
      LAB_NAME: name,
      LAB_DNS: kind,
      LAB_PREFIX: `${prefix}:/64`,
      LAB_DNS_ADDR: `${prefix}:53`,
      LAB_HOST_ADDR: `${prefix}:2/64`,
    });
    t.teardown(() => lab.down());
    const zone = lab.dnsZone ?? '';
    const rzone = lab.dnsReverseZone ?? '';
    const keyFile = lab.dnsKeyFile ?? '';
    t.ok(zone && rzone && keyFile && lab.dnsAddr, `zones ${zone}, ${rzone}; key ${keyFile}`);
    const key = loadKeyFile(keyFile);
    t.equal(key.name, 'oci-slaac-hook');
    t.equal(key.algorithm, 'hmac-sha256');
    const server = parseServer(`[${lab.dnsAddr}]:${lab.dnsPort}`);

    const ours = `${prefix}:c1`;
    const theirs = `${prefix}:c2`; // a second AAAA at our name, added by nsupdate
    const other = `${prefix}:99`; // at another name, added by nsupdate
    const host = `c1.${zone}`;
    const rev = reverseName(ours);

    await t.test('add AAAA and PTR: dig sees both', async (t) => {
      const fwd = await sendUpdate({ server, zone, key, ops: [{ op: 'add', name: host, type: 'AAAA', ttl: 60, data: ours }] });
      t.same([fwd.transport, fwd.attempts], ['udp', 1], `forward: ${fwd.elapsedMs.toFixed(1)} ms`);
      const back = await sendUpdate({ server, zone: rzone, key, ops: [{ op: 'add', name: rev, type: 'PTR', ttl: 60, data: host }] });
      t.same([back.transport, back.attempts], ['udp', 1], `reverse: ${back.elapsedMs.toFixed(1)} ms`);
      t.same(await dig(lab, host, 'AAAA'), [ours]);
      t.same(await dig(lab, rev, 'PTR'), [`${host}.`]);
      const again = await sendUpdate({ server, zone, key, ops: [{ op: 'add', name: host, type: 'AAAA', ttl: 60, data: ours }] });
      t.equal(again.attempts, 1, 'adding it again is NOERROR');
      t.same(await dig(lab, host, 'AAAA'), [ours], 'still one record');
    });

    await t.test('delete removes exactly our AAAA and PTR; foreign records survive', async (t) => {
      const ns = await nsupdate(lab, [
        `zone ${zone}`,
        `update add other.${zone} 60 AAAA ${other}`,
        `update add ${host} 60 AAAA ${theirs}`,
        'send',
        `zone ${rzone}`,
        `update add ${rev} 60 PTR foreign.${zone}.`,
        'send',
      ]);
      t.equal(ns.code, 0, `nsupdate: ${ns.stdout}${ns.stderr}`);
      t.same(sorted(await dig(lab, host, 'AAAA')), sorted([ours, theirs]), 'before: both AAAA at our name');
      t.same(sorted(await dig(lab, rev, 'PTR')), sorted([`${host}.`, `foreign.${zone}.`]), 'before: both PTR at our reverse name');
      await sendUpdate({ server, zone, key, ops: [{ op: 'delete', name: host, type: 'AAAA', data: ours }] });
      await sendUpdate({ server, zone: rzone, key, ops: [{ op: 'delete', name: rev, type: 'PTR', data: host }] });
      t.same(await dig(lab, host, 'AAAA'), [theirs], 'the other AAAA at our name survives');
      t.same(await dig(lab, `other.${zone}`, 'AAAA'), [other], 'the record at another name survives');
      t.same(await dig(lab, rev, 'PTR'), [`foreign.${zone}.`], 'the other PTR at our reverse name survives');
      const twice = await sendUpdate({ server, zone, key, ops: [{ op: 'delete', name: host, type: 'AAAA', data: ours }] });
      t.equal(twice.attempts, 1, 'deleting what is gone is NOERROR (idempotent)');
      t.same(await dig(lab, host, 'AAAA'), [theirs]);
    });

    await t.test('wrong secret → BADSIG, unknown key → BADKEY, by name; nothing changes', async (t) => {
      const ops: UpdateOp[] = [{ op: 'add', name: `bad.${zone}`, type: 'AAAA', ttl: 60, data: `${prefix}:bad` }];
      const wrong: TsigKey = { ...key, secret: crypto.randomBytes(32) };
      const e1 = await rejection(sendUpdate({ server, zone, key: wrong, ops }));
      t.equal(e1.rcode, 'BADSIG', e1.message);
      t.match(e1.message, new RegExp(`^DNS update of ${zone.replace(/\./g, '\\.')} at \\[${lab.dnsAddr}\\]:${lab.dnsPort}: BADSIG`));
      const stranger: TsigKey = { ...key, name: 'nobody-knows-this-key' };
      const e2 = await rejection(sendUpdate({ server, zone, key: stranger, ops }));
      t.equal(e2.rcode, 'BADKEY', e2.message);
      t.same(await dig(lab, `bad.${zone}`, 'AAAA'), [], 'not added');
      const e3 = await rejection(sendUpdate({ server, zone, ops }));
      // BIND answers REFUSED, Knot NOTAUTH: either way, refused by the update policy.
      t.ok(e3.rcode === 'REFUSED' || e3.rcode === 'NOTAUTH', `unsigned update: ${e3.message}`);
    });

    await t.test('a request signed 1000 s in the past → BADTIME; the server signed its answer', async (t) => {
      const unsigned = encodeMessage(buildUpdate(0x7777, zone, [{ op: 'add', name: `late.${zone}`, type: 'AAAA', ttl: 60, data: `${prefix}:1a7e` }]));
      const now = Math.floor(Date.now() / 1000);
      const req = signMessage(unsigned, key, { now: now - 1000 });
      const answer = decodeMessage(await exchange(server, req.wire));
      if (!answer.ok) return t.fail(answer.reason);
      const check = verifyResponse(answer, req, key, now);
      t.match(check, { kind: 'tsig-error', error: 'BADTIME' }, JSON.stringify(check));
      t.equal(answer.message.header.rcode, 9, 'NOTAUTH');
      const last = answer.message.additionals[answer.message.additionals.length - 1];
      if (last?.rdata.type === 'TSIG' && last.rdata.mac.length > 0) {
        t.same(checkMac(answer, key, req.mac), { ok: true }, `${kind} signed its BADTIME answer and our MAC check agrees`);
      } else {
        t.comment(`${kind} sent its BADTIME answer unsigned`);
      }
      t.same(await dig(lab, `late.${zone}`, 'AAAA'), [], 'not added');
    });

    await t.test('a zone the server does not serve → REFUSED or NOTAUTH, by name', async (t) => {
      const e = await rejection(sendUpdate({ server, zone: 'not-served.example', key, ops: [{ op: 'add', name: 'x.not-served.example', type: 'AAAA', ttl: 60, data: ours }] }));
      t.ok(e.rcode === 'REFUSED' || e.rcode === 'NOTAUTH', e.message);
      t.comment(`${kind}: ${e.message}`);
    });

    await t.test('server down → TIMEOUT after the bounded retries, in the expected time (outcome unknown)', async (t) => {
      const timeoutMs = 300;
      const retries = 2;
      const down = { address: `${prefix}:dead`, port: 53 }; // an address nobody holds
      const started = Date.now();
      const e = await rejection(sendUpdate({ server: down, zone, key, timeoutMs, retries, ops: [{ op: 'add', name: host, type: 'AAAA', ttl: 60, data: ours }] }));
      const ms = Date.now() - started;
      t.equal(e.rcode, 'TIMEOUT', e.message);
      t.match(e.message, /no answer to 3 attempts of 300 ms over UDP/);
      t.ok(ms >= (retries + 1) * timeoutMs - 20 && ms < (retries + 1) * timeoutMs + 500, `${ms} ms for ${retries + 1} × ${timeoutMs} ms`);
      t.equal(e.outcome, 'unknown', 'nothing says the datagrams reached no server');
    });

    await t.test('nobody listening on the server\'s port → NETWORK (ECONNREFUSED) at once: known not applied', async (t) => {
      const started = Date.now();
      const e = await rejection(sendUpdate({ server: { address: lab.dnsAddr ?? '', port: 5399 }, zone, key, timeoutMs: 300, retries: 2, ops: [{ op: 'add', name: host, type: 'AAAA', ttl: 60, data: ours }] }));
      t.equal(e.rcode, 'NETWORK', e.message);
      t.match(e.message, /ECONNREFUSED/);
      t.equal(e.outcome, 'rejected', 'the ICMP port unreachable said it reached no server');
      t.ok(Date.now() - started < 300, `${Date.now() - started} ms: no timeout waited for`);
    });

    await t.test('an update over 512 bytes goes over TCP', async (t) => {
      const addrs = Array.from({ length: 24 }, (_, i) => `${prefix}:b${(i + 1).toString(16)}`);
      const bulk = `bulk.${zone}`;
      const add = await sendUpdate({ server, zone, key, ops: addrs.map((a) => ({ op: 'add' as const, name: bulk, type: 'AAAA' as const, ttl: 60, data: a })) });
      t.same([add.transport, add.attempts], ['tcp', 1]);
      t.same(sorted(await dig(lab, bulk, 'AAAA')), sorted(addrs));
      const del = await sendUpdate({ server, zone, key, ops: addrs.slice(1).map((a) => ({ op: 'delete' as const, name: bulk, type: 'AAAA' as const, data: a })) });
      t.same([del.transport, del.attempts], ['tcp', 1]);
      t.same(await dig(lab, bulk, 'AAAA'), [addrs[0]]);
    });
  });
}
