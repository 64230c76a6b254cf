// The asynchronous side of RtnetlinkSocket against the real kernel, in a fresh netns: many
// requests in flight on one socket, dumps that see them, errors with errno and extended ack
// exactly as the synchronous side reports them, close, events beside requests, dumps under
// concurrent changes (NLM_F_DUMP_INTR retried); and NetnsHandle's nsfs + NS_GET_NSTYPE checks.
import t from 'tap';
import { execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { NetlinkError } from '../../runtime/core/errors';
import { formatIPv6, parseIPv6 } from '../../runtime/core/ipv6';
import { native } from '../../runtime/system/native';
import { sameNetnsId } from '../../runtime/core/netns-id';
import { CLONE_NEWNET, NSFS_MAGIC, NetnsHandle } from '../../runtime/system/netns';
import { RtnetlinkSocket, type NetlinkTransport } from '../../runtime/system/rtnetlink/socket';
import { attrNested, attrString, attrU32, cString, decodeAttrs, encodeAttrs, type NetlinkMessage } from '../../runtime/wire/rtnetlink/codec';
import {
  AF_INET6,
  IFA_ADDRESS,
  IFA_FLAGS,
  IFA_F_NODAD,
  IFLA_IFNAME,
  IFLA_INFO_KIND,
  IFLA_LINKINFO,
  IFLA_MTU,
  NLM_F_CREATE,
  NLM_F_EXCL,
  RTM_DELLINK,
  RTM_GETADDR,
  RTM_GETLINK,
  RTM_NEWADDR,
  RTM_NEWLINK,
  RTNLGRP_LINK,
} from '../../runtime/wire/rtnetlink/constants';

const ip = (...args: string[]): string => execFileSync('ip', args, { encoding: 'utf8' });
const NS = `rtb-${randomBytes(4).toString('hex')}`;
const N = 50;

function ifinfomsg(index = 0): Buffer {
  const b = Buffer.alloc(16);
  b.writeInt32LE(index, 4);
  return b;
}
const newBridge = (name: string): Buffer =>
  Buffer.concat([ifinfomsg(), encodeAttrs([attrString(IFLA_IFNAME, name), attrNested(IFLA_LINKINFO, [attrString(IFLA_INFO_KIND, 'bridge')])])]);
function ifaddrmsg(index: number, prefixLength = 0): Buffer {
  const b = Buffer.alloc(8);
  b.writeUInt8(AF_INET6, 0);
  b.writeUInt8(prefixLength, 1);
  b.writeUInt32LE(index, 4);
  return b;
}
const linkName = (m: NetlinkMessage): string => cString(decodeAttrs(m.payload.subarray(16)).get(IFLA_IFNAME)) ?? '';
const linkIndex = (m: NetlinkMessage): number => m.payload.readInt32LE(4);
const addrOf = (m: NetlinkMessage): string => formatIPv6(decodeAttrs(m.payload.subarray(8)).get(IFA_ADDRESS) ?? Buffer.alloc(16));
const bridgeNames = Array.from({ length: N }, (_, i) => `rtb-b${i}`);

t.before(() => {
  t.teardown(() => {
    try { ip('netns', 'del', NS); } catch { /* already gone */ }
  });
  ip('netns', 'add', NS);
});

const openNs = (): { ns: NetnsHandle; sock: RtnetlinkSocket; done: () => void } => {
  const ns = NetnsHandle.open(`/run/netns/${NS}`);
  const sock = RtnetlinkSocket.open(ns);
  return { ns, sock, done: () => { sock.close(); ns.close(); } };
};

t.test(`${N} links created at once on one socket, with a dump in the middle`, async (t) => {
  const { sock, done } = openNs();
  t.teardown(done);
  const creates = bridgeNames.map((name) => sock.requestAsync(`create bridge ${name}`, RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL, newBridge(name)));
  const during = sock.dumpAsync('list links', RTM_GETLINK, ifinfomsg(), RTM_NEWLINK);
  t.ok(sock.inFlight > 1, `${sock.inFlight} in flight at once`);
  const results = await Promise.allSettled(creates);
  t.same(results.filter((r) => r.status === 'rejected'), [], 'every create acknowledged');
  t.ok((await during).length >= 1, 'a dump sent among the creates completes');
  const links = await sock.dumpAsync('list links', RTM_GETLINK, ifinfomsg(), RTM_NEWLINK);
  t.same(links.map(linkName).filter((n) => n.startsWith('rtb-b')).sort(), [...bridgeNames].sort(), 'the dump sees all of them');
  t.same(sock.dump('list links', RTM_GETLINK, ifinfomsg(), RTM_NEWLINK).map(linkName).sort(), links.map(linkName).sort(), 'as the synchronous dump does');
  t.equal(ip('-n', NS, '-br', 'link', 'show', 'type', 'bridge').trim().split('\n').length, N, 'and as ip sees them');
  t.equal(sock.inFlight, 0);
});

t.test(`${N} addresses at once, then a dump of them; gets among them`, async (t) => {
  const { sock, done } = openNs();
  t.teardown(done);
  const [b0] = sock.get('get rtb-b0', RTM_GETLINK, Buffer.concat([ifinfomsg(), encodeAttrs([attrString(IFLA_IFNAME, 'rtb-b0')])]), RTM_NEWLINK);
  const index = linkIndex(b0);
  const wanted = Array.from({ length: N }, (_, i) => `2001:db8:7:b::${(i + 1).toString(16)}`);
  const adds = wanted.map((a) =>
    sock.requestAsync(`add ${a}`, RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL, Buffer.concat([ifaddrmsg(index, 64), encodeAttrs([{ type: IFA_ADDRESS, value: parseIPv6(a) }, attrU32(IFA_FLAGS, IFA_F_NODAD)])])),
  );
  const gets = ['rtb-b1', 'rtb-b2', 'rtb-b3'].map((name) =>
    sock.getAsync(`get ${name}`, RTM_GETLINK, Buffer.concat([ifinfomsg(), encodeAttrs([attrString(IFLA_IFNAME, name)])]), RTM_NEWLINK),
  );
  await Promise.all(adds);
  t.same((await Promise.all(gets)).map((r) => r.map(linkName)), [['rtb-b1'], ['rtb-b2'], ['rtb-b3']], 'each get has its own answer');
  const addrs = await sock.dumpAsync('list addresses', RTM_GETADDR, ifaddrmsg(index), RTM_NEWADDR);
  const seen = new Set(addrs.map(addrOf));
  t.same(wanted.filter((a) => !seen.has(a)), [], `all ${N} addresses in the dump`);
});

t.test('errors: errno and extended ack exactly as on the synchronous side', async (t) => {
  const { sock, done } = openNs();
  t.teardown(done);
  const missing = ifinfomsg(0x7ffffff0);
  const asyncErr = (await sock.requestAsync('delete link 2147483632', RTM_DELLINK, 0, missing).catch((e: unknown) => e)) as NetlinkError;
  const syncErr = t.throws(() => sock.request('delete link 2147483632', RTM_DELLINK, 0, missing)) as NetlinkError;
  t.type(asyncErr, NetlinkError);
  t.equal(asyncErr.code, 'ENODEV');
  t.equal(asyncErr.errno, 19);
  t.same({ ...asyncErr, message: asyncErr.message }, { ...syncErr, message: syncErr.message }, 'the same error');

  const [b0] = sock.get('get rtb-b0', RTM_GETLINK, Buffer.concat([ifinfomsg(), encodeAttrs([attrString(IFLA_IFNAME, 'rtb-b0')])]), RTM_NEWLINK);
  const tooBig = Buffer.concat([ifinfomsg(linkIndex(b0)), encodeAttrs([attrU32(IFLA_MTU, 70000)])]);
  const [asyncMtu, okAfter] = await Promise.allSettled([
    sock.requestAsync('set mtu 70000', RTM_NEWLINK, 0, tooBig),
    sock.requestAsync('set mtu 1400', RTM_NEWLINK, 0, Buffer.concat([ifinfomsg(linkIndex(b0)), encodeAttrs([attrU32(IFLA_MTU, 1400)])])),
  ]);
  t.equal(okAfter.status, 'fulfilled', 'a good request beside a bad one succeeds');
  const mtuErr = (asyncMtu as PromiseRejectedResult).reason as NetlinkError;
  const syncMtu = t.throws(() => sock.request('set mtu 70000', RTM_NEWLINK, 0, tooBig)) as NetlinkError;
  t.equal(mtuErr.code, 'EINVAL');
  t.equal(mtuErr.errno, 22);
  t.match(mtuErr.extack ?? '', /mtu/i, `extack: ${mtuErr.extack}`);
  t.equal(mtuErr.message, syncMtu.message, 'the same text as the synchronous side');
  t.equal(mtuErr.extack, syncMtu.extack);

  // Duplicates among a batch: EEXIST for those, success for the rest.
  const batch = await Promise.allSettled(['rtb-b0', 'rtb-x1', 'rtb-b1', 'rtb-x2'].map((n) => sock.requestAsync(`create ${n}`, RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL, newBridge(n))));
  t.same(batch.map((r) => (r.status === 'fulfilled' ? 'ok' : (r.reason as NetlinkError).code)), ['EEXIST', 'ok', 'EEXIST', 'ok']);
  for (const n of ['rtb-x1', 'rtb-x2']) ip('-n', NS, 'link', 'del', n);
});

t.test('close rejects what is still outstanding', async (t) => {
  const { ns, sock } = openNs();
  t.teardown(() => ns.close());
  const pending = ['rtb-c0', 'rtb-c1', 'rtb-c2'].map((n) => sock.requestAsync(`create ${n}`, RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL, newBridge(n)));
  const dump = sock.dumpAsync('list links', RTM_GETLINK, ifinfomsg(), RTM_NEWLINK);
  sock.close();
  for (const p of [...pending, dump.then(() => undefined)]) await t.rejects(p, { name: 'NetlinkError', code: 'ECANCELED' });
  await t.rejects(sock.requestAsync('after close', RTM_DELLINK, 0, ifinfomsg(1)), { code: 'ECANCELED' });
  for (const n of ['rtb-c0', 'rtb-c1', 'rtb-c2']) ip('-n', NS, 'link', 'del', n); // the kernel did them all the same
});

t.test('link events beside requests on the same socket', async (t) => {
  const { sock, done } = openNs();
  t.teardown(done);
  const names: string[] = [];
  const sub = sock.subscribe([RTNLGRP_LINK], (ms) => names.push(...ms.filter((m) => m.type === RTM_NEWLINK).map(linkName)));
  await sock.requestAsync('create rtb-ev0', RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL, newBridge('rtb-ev0'));
  ip('-n', NS, 'link', 'add', 'rtb-ev1', 'type', 'bridge');
  const until = Date.now() + 2000;
  while (!(names.includes('rtb-ev0') && names.includes('rtb-ev1')) && Date.now() < until) await new Promise((r) => setTimeout(r, 10));
  t.ok(names.includes('rtb-ev0'), 'our own change, echoed to the group');
  t.ok(names.includes('rtb-ev1'), "another process's change");
  sub.close();
  ip('-n', NS, 'link', 'del', 'rtb-ev0');
  ip('-n', NS, 'link', 'del', 'rtb-ev1');
});

t.test('dumps stay whole while another process keeps changing the table', async (t) => {
  const { sock, done } = openNs();
  // Count what the socket sends, to see interrupted walks being retried (not asserted: timing).
  const io = (sock as unknown as { io: NetlinkTransport }).io;
  const send = io.send.bind(io);
  let sent = 0;
  io.send = (d: Buffer) => {
    sent++;
    send(d);
  };
  const flapper = spawn('sh', ['-c', `while :; do ip -n ${NS} link add rtb-flap type bridge; ip -n ${NS} link del rtb-flap; done`], { stdio: 'ignore', detached: true });
  t.teardown(() => {
    if (flapper.pid) try { process.kill(-flapper.pid, 'SIGKILL'); } catch { /* gone */ }
    done();
  });
  await new Promise((r) => setTimeout(r, 100));
  const rounds = 60;
  for (let i = 0; i < rounds; i++) {
    const [a, b] = await Promise.all([
      sock.dumpAsync('list links', RTM_GETLINK, ifinfomsg(), RTM_NEWLINK),
      sock.dumpAsync('list links', RTM_GETLINK, ifinfomsg(), RTM_NEWLINK),
    ]);
    const s = sock.dump('list links', RTM_GETLINK, ifinfomsg(), RTM_NEWLINK);
    for (const dump of [a, b, s]) {
      const names = new Set(dump.map(linkName));
      if (!bridgeNames.every((n) => names.has(n))) t.fail(`round ${i}: a dump missed links`);
    }
  }
  t.pass(`${rounds * 3} dumps whole`);
  t.comment(`${sent - rounds * 2} interrupted walks retried by the asynchronous side`);
});

t.test('the addon: fstatfs, NS_GET_NSTYPE, getsockname', async (t) => {
  const addon = native();
  const fd = fs.openSync('/proc/self/ns/net', 'r');
  t.teardown(() => fs.closeSync(fd));
  t.equal(addon.fstatfs(fd), NSFS_MAGIC);
  t.equal(addon.nsType(fd), CLONE_NEWNET);
  t.throws(() => addon.nsType(0), { code: 'ENOTTY' }, 'not a namespace');
  t.throws(() => addon.fstatfs(987654), { code: 'EBADF', syscall: 'fstatfs' });
  const sock = RtnetlinkSocket.open();
  t.teardown(() => sock.close());
  const sa = addon.getsockname(sock.fd);
  t.equal(sa.readUInt16LE(0), 16, 'AF_NETLINK');
  t.not(sa.readUInt32LE(4), 0, 'an autobound port id');
});

t.test('NetnsHandle: only network namespaces, identified by nsfs device, inode and cookie', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rtb-'));
  const file = path.join(dir, 'rtb-file');
  const fifo = path.join(dir, 'rtb-fifo');
  const uts = path.join(dir, 'rtb-uts');
  fs.writeFileSync(file, '');
  fs.writeFileSync(uts, '');
  execFileSync('mkfifo', [fifo]);
  execFileSync('mount', ['--bind', '/proc/self/ns/uts', uts]);
  t.teardown(() => {
    try { execFileSync('umount', [uts]); } catch { /* not mounted */ }
    fs.rmSync(dir, { recursive: true, force: true });
  });

  t.throws(() => NetnsHandle.open(path.join(dir, 'missing')), { name: 'InputError', message: `network namespace ${path.join(dir, 'missing')}: does not exist` });
  for (const bad of [file, dir, fifo, '/proc/self/ns/mnt', '/proc/self/ns/uts', uts]) {
    t.throws(() => NetnsHandle.open(bad), { name: 'InputError', message: `${bad} is not a network namespace` }, `refused: ${bad}`);
  }

  const self = NetnsHandle.open('/proc/self/ns/net');
  const current = NetnsHandle.current();
  const st = fs.statSync('/proc/self/ns/net');
  t.match(self.id, new RegExp(`^${st.dev}:${st.ino}:[0-9a-f]+$`), 'id is "dev:inode:cookie"');
  t.equal(self.id, current.id);
  t.ok(self.sameAs(current));

  const a = NetnsHandle.open(`/run/netns/${NS}`);
  const b = NetnsHandle.open(`/run/netns/${NS}`);
  t.not(a.fd, b.fd);
  t.equal(a.id, b.id, 'two handles on one netns: one id');
  t.ok(a.sameAs(b));
  t.notOk(a.sameAs(current), 'not the host netns');

  // A netns made after one was freed often gets its inode (the kernel reuses inode numbers); never
  // its cookie (SO_NETNS_COOKIE): the ids of the two differ all the same.
  const idOf = (): string => {
    execFileSync('ip', ['netns', 'add', 'rtb-reuse']);
    const h = NetnsHandle.open('/run/netns/rtb-reuse');
    const id = h.id;
    h.close();
    execFileSync('ip', ['netns', 'del', 'rtb-reuse']);
    return id;
  };
  let inodeReused = false;
  for (let i = 0, before = idOf(); i < 5 && !inodeReused; i++) {
    const after = idOf();
    t.not(after, before, 'a netns made after another was freed has another id');
    t.notOk(sameNetnsId(before, after), 'and is not taken for it');
    inodeReused = before.split(':').slice(0, 2).join(':') === after.split(':').slice(0, 2).join(':');
    before = after;
  }
  t.comment(`inode reused by the next netns: ${inodeReused ? 'yes (the cookie told them apart)' : 'not seen in 5 tries'}`);

  // The same netns reached through a process inside it.
  const sleeper = spawn('ip', ['netns', 'exec', NS, 'sleep', '30'], { stdio: 'ignore' });
  t.teardown(() => { sleeper.kill('SIGKILL'); });
  const procPath = `/proc/${sleeper.pid}/ns/net`;
  const until = Date.now() + 2000;
  while (fs.readlinkSync(procPath) === fs.readlinkSync('/proc/self/ns/net') && Date.now() < until) await new Promise((r) => setTimeout(r, 10));
  const viaProc = NetnsHandle.open(procPath);
  t.equal(viaProc.id, a.id, `${procPath} is the same netns as /run/netns/${NS}`);
  for (const h of [self, a, b, viaProc]) h.close();
});
