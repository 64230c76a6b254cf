// RtnetlinkSocket's request logic against a scripted kernel (RtnetlinkSocket.over): replies
// matched by seq and port id whatever their order, one dump at a time, NLM_F_DUMP_INTR retried
// on both sides, errors with errno and extended ack, timeouts, close, the in-flight bound,
// overruns, and multicast events beside requests.
import t from 'tap';
import { NetlinkError, TimeoutError } from '../../runtime/core/errors';
import { decodeMessages, encodeAttrs, encodeMessage, type NetlinkMessage } from '../../runtime/wire/rtnetlink/codec';
import {
  NLMSGERR_ATTR_MSG,
  NLMSG_DONE,
  NLMSG_ERROR,
  NLM_F_ACK,
  NLM_F_ACK_TLVS,
  NLM_F_DUMP,
  NLM_F_DUMP_INTR,
  NLM_F_MULTI,
  RTM_DELLINK,
  RTM_GETADDR,
  RTM_GETLINK,
  RTM_NEWADDR,
  RTM_NEWLINK,
} from '../../runtime/wire/rtnetlink/constants';
import { DUMP_RETRIES, RtnetlinkSocket, type NetlinkDatagram, type NetlinkTransport } from '../../runtime/system/rtnetlink/socket';

const PORT = 0x1234;

type Reply = { type: number; flags?: number; seq: number; pid?: number; payload?: Buffer };

/** A kernel in a box: it records what it is sent, and `onRequest` decides what it answers. */
class FakeKernel implements NetlinkTransport {
  readonly portId = PORT;
  readonly requests: NetlinkMessage[] = [];
  readonly memberships = new Set<number>();
  private inbox: NetlinkDatagram[] = [];
  private watcher: (() => void) | undefined;
  closed = false;
  watching = 0;
  failNextReceive: NodeJS.ErrnoException | undefined;

  constructor(public onRequest: (req: NetlinkMessage, k: FakeKernel) => void = () => undefined) {}

  send(datagram: Buffer): void {
    if (this.closed) throw Object.assign(new Error('sendmsg: EBADF'), { code: 'EBADF', errno: 9 });
    const [req] = decodeMessages(datagram);
    this.requests.push(req);
    this.onRequest(req, this);
  }

  receive(): NetlinkDatagram | null {
    if (this.failNextReceive) {
      const err = this.failNextReceive;
      this.failNextReceive = undefined;
      throw err;
    }
    return this.inbox.shift() ?? null;
  }

  watch(onReadable: () => void): () => void {
    this.watcher = onReadable;
    this.watching++;
    this.kick();
    return () => {
      this.watcher = undefined;
      this.watching--;
    };
  }

  membership(group: number, join: boolean): void {
    if (join) this.memberships.add(group);
    else this.memberships.delete(group);
  }

  close(): void {
    this.closed = true;
  }

  /** Queue one datagram holding `replies` (they may answer different requests). */
  answer(replies: Reply[], groups = 0): void {
    const data = Buffer.concat(
      replies.map((r) => {
        const m = encodeMessage({ type: r.type, flags: r.flags ?? 0, seq: r.seq, pid: r.pid ?? PORT }, r.payload ?? Buffer.alloc(0));
        return Buffer.concat([m, Buffer.alloc((4 - (m.length % 4)) % 4)]); // NLMSG_ALIGN
      }),
    );
    this.inbox.push({ data, truncated: false, groups });
    this.kick();
  }

  overrun(): void {
    this.failNextReceive = Object.assign(new Error('recvmsg: ENOBUFS'), { code: 'ENOBUFS', errno: 105 });
    this.kick();
  }

  /** Readiness comes on the event loop, as from uv_poll. */
  private kick(): void {
    setImmediate(() => this.watcher?.());
  }
}

/** nlmsgerr: -errno, the request's header (NETLINK_CAP_ACK), then extack TLVs. */
function ack(req: NetlinkMessage, errno = 0, extack?: string): Reply {
  const err = Buffer.alloc(4 + 16);
  err.writeInt32LE(-errno, 0);
  encodeMessage({ type: req.type, flags: req.flags, seq: req.seq, pid: req.pid }, Buffer.alloc(0)).copy(err, 4);
  const tlvs = extack ? encodeAttrs([{ type: NLMSGERR_ATTR_MSG, value: Buffer.from(`${extack}\0`) }]) : Buffer.alloc(0);
  return { type: NLMSG_ERROR, flags: extack ? NLM_F_ACK_TLVS : 0, seq: req.seq, payload: Buffer.concat([err, tlvs]) };
}

function done(req: NetlinkMessage, flags = 0): Reply {
  return { type: NLMSG_DONE, flags: NLM_F_MULTI | flags, seq: req.seq, payload: Buffer.alloc(4) };
}

/** A reply object whose payload is just a label, so tests can tell which is which. */
function obj(type: number, req: NetlinkMessage, label: string, flags = 0): Reply {
  return { type, flags: NLM_F_MULTI | flags, seq: req.seq, payload: Buffer.from(label) };
}

const labels = (ms: NetlinkMessage[]): string[] => ms.map((m) => m.payload.toString());
const tick = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

t.test('interleaved replies in any order reach the requests they answer', async (t) => {
  const held: NetlinkMessage[] = [];
  const k = new FakeKernel((req) => held.push(req));
  const sock = RtnetlinkSocket.over(k);
  const a = sock.getAsync('get a', RTM_GETLINK, Buffer.from('a'), RTM_NEWLINK);
  const b = sock.getAsync('get b', RTM_GETLINK, Buffer.from('b'), RTM_NEWLINK);
  const c = sock.requestAsync('delete c', RTM_DELLINK, 0, Buffer.from('c'));
  const d = sock.dumpAsync('dump d', RTM_GETADDR, Buffer.from('d'), RTM_NEWADDR);
  t.equal(k.requests.length, 4, 'all four sent at once');
  t.equal(sock.inFlight, 4);
  t.ok(k.requests[2].flags & NLM_F_ACK, 'requests ask for an ack');
  t.equal(k.requests[3].flags & NLM_F_DUMP, NLM_F_DUMP, 'a dump is a dump');
  t.equal(new Set(k.requests.map((r) => r.seq)).size, 4, 'four sequence numbers');
  t.notOk(k.requests.some((r) => r.seq === 0), 'never seq 0 (events carry it)');
  const [ra, rb, rc, rd] = held;
  // Reversed, mixed in datagrams, with an event and another process's reply in between.
  k.answer([obj(RTM_NEWADDR, rd, 'd1'), ack(rc), obj(RTM_NEWLINK, rb, 'b')]);
  k.answer([{ type: RTM_NEWLINK, seq: 0, pid: 0, payload: Buffer.from('event') }, { type: RTM_NEWLINK, seq: ra.seq, pid: PORT + 1, payload: Buffer.from('not ours') }]);
  k.answer([obj(RTM_NEWADDR, rd, 'd2'), ack(rb), obj(RTM_NEWLINK, ra, 'a')]);
  k.answer([done(rd), ack(ra)]);
  t.same(labels(await a), ['a']);
  t.same(labels(await b), ['b']);
  t.equal(await c, undefined);
  t.same(labels(await d), ['d1', 'd2']);
  t.equal(sock.inFlight, 0);
  t.equal(k.watching, 0, 'no watch left once nothing is outstanding');
  sock.close();
});

t.test('errors carry errno and extended ack, the same on both sides', async (t) => {
  const k = new FakeKernel((req, k) => k.answer([ack(req, 22, 'MTU too large')]));
  const sock = RtnetlinkSocket.over(k);
  const async = (await sock.requestAsync('set mtu', RTM_NEWLINK, 0, Buffer.alloc(16)).catch((e: unknown) => e)) as NetlinkError;
  const sync = t.throws(() => sock.request('set mtu', RTM_NEWLINK, 0, Buffer.alloc(16))) as NetlinkError;
  for (const err of [async, sync]) {
    t.type(err, NetlinkError);
    t.equal(err.code, 'EINVAL');
    t.equal(err.errno, 22);
    t.equal(err.extack, 'MTU too large');
    t.equal(err.message, 'set mtu: EINVAL: MTU too large');
  }
  // An error ending a dump (NLMSG_DONE with a negative errno).
  k.onRequest = (req, k) => k.answer([{ type: NLMSG_DONE, flags: NLM_F_MULTI, seq: req.seq, payload: Buffer.from([0xf4, 0xff, 0xff, 0xff]) /* -ENOMEM */ }]);
  await t.rejects(sock.dumpAsync('dump', RTM_GETLINK, Buffer.alloc(16), RTM_NEWLINK), { code: 'ENOMEM', errno: 12 });
  t.throws(() => sock.dump('dump', RTM_GETLINK, Buffer.alloc(16), RTM_NEWLINK), { code: 'ENOMEM', errno: 12 });
  sock.close();
});

/** A dump answered with `interruptions` interrupted walks before a clean one. */
function interruptingKernel(interruptions: number): FakeKernel {
  let walks = 0;
  return new FakeKernel((req, k) => {
    walks++;
    const intr = walks <= interruptions ? NLM_F_DUMP_INTR : 0;
    // The kernel flags the messages after the change, and the DONE.
    k.answer([obj(RTM_NEWLINK, req, `walk${walks}.1`), obj(RTM_NEWLINK, req, `walk${walks}.2`, intr)]);
    k.answer([done(req, intr)]);
  });
}

t.test('an interrupted dump is walked again (async)', async (t) => {
  const k = interruptingKernel(2);
  const sock = RtnetlinkSocket.over(k);
  t.same(labels(await sock.dumpAsync('list links', RTM_GETLINK, Buffer.alloc(16), RTM_NEWLINK)), ['walk3.1', 'walk3.2'], 'only the clean walk');
  t.equal(k.requests.length, 3);
  t.equal(new Set(k.requests.map((r) => r.seq)).size, 3, 'each walk has its own seq');
  const always = interruptingKernel(Infinity);
  const sock2 = RtnetlinkSocket.over(always);
  const err = (await sock2.dumpAsync('list links', RTM_GETLINK, Buffer.alloc(16), RTM_NEWLINK).catch((e: unknown) => e)) as NetlinkError;
  t.type(err, NetlinkError);
  t.equal(err.code, 'EINTR');
  t.equal(err.errno, 4);
  t.equal(always.requests.length, DUMP_RETRIES + 1, `given up after ${DUMP_RETRIES} retries`);
  sock.close();
  sock2.close();
});

t.test('an interrupted dump is walked again (sync)', async (t) => {
  const k = interruptingKernel(DUMP_RETRIES);
  const sock = RtnetlinkSocket.over(k);
  t.same(labels(sock.dump('list links', RTM_GETLINK, Buffer.alloc(16), RTM_NEWLINK)), [`walk${DUMP_RETRIES + 1}.1`, `walk${DUMP_RETRIES + 1}.2`]);
  t.equal(k.requests.length, DUMP_RETRIES + 1);
  const always = interruptingKernel(Infinity);
  const sock2 = RtnetlinkSocket.over(always);
  t.throws(() => sock2.dump('list links', RTM_GETLINK, Buffer.alloc(16), RTM_NEWLINK), { name: 'NetlinkError', code: 'EINTR', errno: 4 });
  t.equal(always.requests.length, DUMP_RETRIES + 1);
  sock.close();
  sock2.close();
});

t.test('one dump at a time; requests are not held up behind a dump', async (t) => {
  const held: NetlinkMessage[] = [];
  const k = new FakeKernel((req) => held.push(req));
  const sock = RtnetlinkSocket.over(k);
  const d1 = sock.dumpAsync('dump 1', RTM_GETLINK, Buffer.alloc(16), RTM_NEWLINK);
  const d2 = sock.dumpAsync('dump 2', RTM_GETADDR, Buffer.alloc(8), RTM_NEWADDR);
  const r = sock.requestAsync('delete', RTM_DELLINK, 0, Buffer.alloc(16));
  t.same(k.requests.map((m) => m.type), [RTM_GETLINK, RTM_DELLINK], 'the second dump waits, the request goes');
  k.answer([ack(held[1]), obj(RTM_NEWLINK, held[0], 'l1')]);
  await r;
  t.equal(k.requests.length, 2, 'still one dump');
  k.answer([done(held[0])]);
  t.same(labels(await d1), ['l1']);
  t.same(k.requests.map((m) => m.type), [RTM_GETLINK, RTM_DELLINK, RTM_GETADDR], 'the second dump went when the first ended');
  k.answer([obj(RTM_NEWADDR, held[2], 'a1'), done(held[2])]);
  t.same(labels(await d2), ['a1']);
  sock.close();
});

t.test('no answer: TimeoutError; a late answer is ignored; a dump keeps its slot until it ends', async (t) => {
  const held: NetlinkMessage[] = [];
  const k = new FakeKernel((req) => held.push(req));
  const sock = RtnetlinkSocket.over(k, { timeoutMs: 30 });
  const started = Date.now();
  const err = (await sock.requestAsync('add address', RTM_NEWADDR, 0, Buffer.alloc(8)).catch((e: unknown) => e)) as TimeoutError;
  t.type(err, TimeoutError);
  t.equal(err.message, 'add address: no answer from the kernel');
  t.ok(Date.now() - started >= 25, 'after the timeout');
  k.answer([ack(held[0])]); // too late: nobody is told
  await tick();
  t.equal(sock.inFlight, 0, 'its late end released its seq');

  const d1 = sock.dumpAsync('dump 1', RTM_GETLINK, Buffer.alloc(16), RTM_NEWLINK);
  await t.rejects(d1, TimeoutError);
  const d2 = sock.dumpAsync('dump 2', RTM_GETLINK, Buffer.alloc(16), RTM_NEWLINK, { timeoutMs: 1000 });
  t.equal(k.requests.length, 2, 'the timed-out dump still holds the slot');
  k.answer([obj(RTM_NEWLINK, held[1], 'stale'), done(held[1])]);
  await tick();
  await tick();
  t.equal(k.requests.length, 3, 'its end freed the slot');
  k.answer([obj(RTM_NEWLINK, held[2], 'fresh'), done(held[2])]);
  t.same(labels(await d2), ['fresh'], 'the stale walk went nowhere');
  sock.close();
});

t.test('close rejects whatever is outstanding, queued or sent', async (t) => {
  const k = new FakeKernel();
  const sock = RtnetlinkSocket.over(k, { maxInFlight: 1 });
  const sent = sock.requestAsync('first', RTM_NEWLINK, 0, Buffer.alloc(16));
  const queued = sock.getAsync('second', RTM_GETLINK, Buffer.alloc(16), RTM_NEWLINK);
  t.equal(k.requests.length, 1);
  sock.close();
  await t.rejects(sent, { name: 'NetlinkError', code: 'ECANCELED', request: 'first' });
  await t.rejects(queued, { name: 'NetlinkError', code: 'ECANCELED', request: 'second' });
  await t.rejects(sock.requestAsync('after', RTM_NEWLINK, 0, Buffer.alloc(16)), { code: 'ECANCELED' });
  t.ok(k.closed);
  t.equal(k.watching, 0);
});

t.test('at most maxInFlight requests outstanding; the rest wait their turn', async (t) => {
  const k = new FakeKernel();
  const sock = RtnetlinkSocket.over(k, { maxInFlight: 3 });
  const all = Array.from({ length: 10 }, (_, i) => sock.requestAsync(`r${i}`, RTM_NEWLINK, 0, Buffer.from([i])));
  t.equal(k.requests.length, 3);
  let answered = 0;
  while (answered < 10) {
    const outstanding = k.requests.slice(answered);
    t.ok(outstanding.length <= 3, `${outstanding.length} outstanding`);
    k.answer(outstanding.map((r) => ack(r)));
    answered += outstanding.length;
    await tick();
    await tick();
  }
  await Promise.all(all);
  t.same(k.requests.map((r) => r.payload[0]), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9], 'sent in call order');
  sock.close();
});

t.test('an overrun rejects the requests whose answers may be lost', async (t) => {
  const k = new FakeKernel();
  const sock = RtnetlinkSocket.over(k);
  const r = sock.requestAsync('add', RTM_NEWLINK, 0, Buffer.alloc(16));
  k.overrun();
  await t.rejects(r, { name: 'NetlinkError', code: 'ENOBUFS', errno: 105 });
  sock.close();
});

t.test('multicast events beside requests', async (t) => {
  const held: NetlinkMessage[] = [];
  const k = new FakeKernel((req) => held.push(req));
  const sock = RtnetlinkSocket.over(k);
  const got: string[] = [];
  const errors: Error[] = [];
  const RTNLGRP_LINK = 1;
  const RTNLGRP_IPV6_IFADDR = 9;
  const sub = sock.subscribe([RTNLGRP_LINK], (ms) => got.push(...labels(ms)), (e) => errors.push(e));
  t.ok(k.memberships.has(RTNLGRP_LINK), 'joined');
  const r = sock.requestAsync('add link', RTM_NEWLINK, 0, Buffer.alloc(16));
  // The kernel echoes our own change (our seq and port) to the group, then acks.
  k.answer([{ type: RTM_NEWLINK, seq: held[0].seq, payload: Buffer.from('echo') }], 1 << (RTNLGRP_LINK - 1));
  k.answer([ack(held[0])]);
  k.answer([{ type: RTM_NEWLINK, seq: 77, pid: 999, payload: Buffer.from('theirs') }], 1 << (RTNLGRP_LINK - 1));
  k.answer([{ type: RTM_NEWADDR, seq: 0, pid: 0, payload: Buffer.from('other group') }], 1 << (RTNLGRP_IPV6_IFADDR - 1));
  await r;
  await tick();
  t.same(got, ['echo', 'theirs'], 'events of our group, our own change among them');
  k.overrun();
  await tick();
  t.match(errors, [{ code: 'ENOBUFS' }], 'an overrun is reported to subscribers');
  t.ok(k.watching > 0, 'still watching for events');
  sub.close();
  t.notOk(k.memberships.has(RTNLGRP_LINK), 'left with the last subscriber');
  t.equal(k.watching, 0);
  sock.close();
});
