// The broker's socket mechanism (runtime/system/seqpacket.ts) on real Unix SOCK_SEQPACKET sockets
// in a temp dir, server and client in this process (as root):
// - a request with one fd (our /proc/self/ns/net) arrives with exactly that one fd, which is the
//   same netns (netnsIdOfFd), and the handler's answer comes back to seqpacketRequest;
// - the received fds are closed once the handler has settled, resolved or rejected;
// - a message longer than maxMessageBytes arrives cut, truncated = true;
// - more than maxPerUid connections from one uid: the extra ones are closed unread (shed);
// - a connection that sends nothing gets the onTimeout answer after timeoutMs and is closed;
// - listen() refuses a path a live server answers on and a regular file, replaces a stale
//   socket; the socket gets its mode; close() removes it.
import t, { type Test } from 'tap';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { AF_UNIX, native } from '../../runtime/system/native';
import { netnsIdOfFd } from '../../runtime/system/netns';
import { SeqpacketServer, seqpacketRequest, SOCK_SEQPACKET, unixAddress, type SeqpacketMessage, type SeqpacketServerOptions, type SocketPeer } from '../../runtime/system/seqpacket';

const addon = native();

/** As root: the per-uid limits and SO_PEERCRED are checked as uid 0. */
const skip = process.getuid?.() !== 0 && 'needs root';

// A short base dir: sun_path holds 107 bytes.
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'osh-sp-'));
t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
let serial = 0;
const socketPath = (): string => path.join(dir, `s${++serial}.sock`);

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function until(what: string, cond: () => boolean, ms = 3000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(5);
  }
}

const fdCount = (): number => fs.readdirSync('/proc/self/fd').length;

interface Fixture {
  server: SeqpacketServer;
  path: string;
  notes: string[];
  seen: { message: SeqpacketMessage; peer: SocketPeer; netns: (string | undefined)[]; open: boolean[] }[];
}

/** A listening server (closed at teardown); `handle` defaults to answering "ok:" + the data's first 64 bytes. */
function serve(t: Test, opts: Partial<SeqpacketServerOptions> = {}): Fixture {
  const file = socketPath();
  const notes: string[] = [];
  const seen: Fixture['seen'] = [];
  const server = new SeqpacketServer({
    path: file,
    mode: 0o666,
    maxMessageBytes: 4096,
    maxFds: 1,
    maxPerUid: 3,
    maxConnections: 10,
    timeoutMs: 300,
    handle: async (message, peer) => {
      // What the handler sees of its fds, while it runs.
      seen.push({
        message,
        peer,
        netns: message.fds.map((fd) => netnsIdOfFd(fd)),
        open: message.fds.map((fd) => {
          try {
            fs.fstatSync(fd);
            return true;
          } catch {
            return false;
          }
        }),
      });
      return Buffer.concat([Buffer.from('ok:'), message.data.subarray(0, 64)]);
    },
    onTimeout: () => Buffer.from('timeout'),
    note: (line) => notes.push(line),
    ...opts,
  });
  server.listen();
  t.teardown(() => server.close());
  return { server, path: file, notes, seen };
}

/** A raw non-blocking client connection that sends nothing (closed at teardown, or by `close`). */
function rawConnect(t: Test, file: string): { fd: number; close(): void } {
  const fd = addon.socketat(-1, AF_UNIX, SOCK_SEQPACKET | addon.constants.SOCK_NONBLOCK, 0);
  let closed = false;
  const close = (): void => {
    if (!closed) addon.close(fd);
    closed = true;
  };
  t.teardown(close);
  try {
    addon.connect(fd, unixAddress(file));
  } catch (err) {
    close();
    throw err;
  }
  return { fd, close };
}

/** What a raw connection holds now: null nothing yet, '' the server hung up, else the message. */
function peek(fd: number): string | null {
  const got = addon.recvmsg(fd, 65536, addon.constants.MSG_DONTWAIT);
  if (got === null) return null;
  return got.data.subarray(0, got.length).toString();
}

const ask = (file: string, data: string | Buffer, fds: number[] = []): Promise<Buffer> => seqpacketRequest(file, Buffer.from(data), fds, { timeoutMs: 2000, maxAnswerBytes: 4096 });

t.test('a request with one fd: the fd arrives, is our netns, and the answer comes back', { skip }, async (t) => {
  const fx = serve(t);
  const st = fs.lstatSync(fx.path);
  t.ok(st.isSocket(), 'listen() made a socket file');
  t.equal(st.mode & 0o777, 0o666, 'with the mode asked for');
  const ns = fs.openSync('/proc/self/ns/net', 'r');
  t.teardown(() => fs.closeSync(ns));
  const ours = netnsIdOfFd(ns);
  t.ok(ours, 'our netns has an id');
  const answer = await ask(fx.path, '{"op":"detach","id":"x"}', [ns]);
  t.equal(answer.toString(), 'ok:{"op":"detach","id":"x"}', 'the handler\'s answer came back');
  t.equal(fx.seen.length, 1, 'one message handled');
  const [m] = fx.seen;
  t.equal(m?.message.fds.length, 1, 'exactly one fd arrived');
  t.not(m?.message.fds[0], ns, 'as a new descriptor of the server\'s');
  t.same(m?.netns, [ours], 'the server\'s copy is the same netns');
  t.equal(m?.message.truncated, false, 'not truncated');
  t.equal(m?.message.data.toString(), '{"op":"detach","id":"x"}', 'the data intact');
  t.same(m?.peer.uid, 0, 'SO_PEERCRED: uid 0');
  t.same(m?.peer.pid, process.pid, 'SO_PEERCRED: this process');
  t.same(fx.server.counters, { accepted: 1, shed: 0, messages: 1, timeouts: 0 }, 'counters');
  await until('the connection to be dropped', () => fx.server.connections === 0);
  t.equal(fx.server.connections, 0, 'the connection is closed after the answer');
});

t.test('received fds are closed once the handler settles (resolved or rejected)', { skip }, async (t) => {
  let release: () => void = () => undefined;
  let fail = false;
  const fx = serve(t, {
    maxFds: 2,
    handle: async (message) => {
      fx.seen.push({ message, peer: { pid: 0, uid: 0, gid: 0 }, netns: [], open: [] });
      await new Promise<void>((r) => (release = r));
      if (fail) throw new Error('handler failed');
      return Buffer.from('done');
    },
  });
  const a = fs.openSync('/proc/self/ns/net', 'r');
  const b = fs.openSync('/dev/null', 'r');
  t.teardown(() => {
    fs.closeSync(a);
    fs.closeSync(b);
  });
  for (const how of ['resolved', 'rejected']) {
    fail = how === 'rejected';
    fx.seen.length = 0;
    const before = fdCount();
    const pending = ask(fx.path, 'two fds', [a, b]).then(
      (x) => x.toString(),
      (err: Error) => `error: ${err.message}`,
    );
    await until('the handler to be called', () => fx.seen.length === 1);
    const got = fx.seen[0]?.message.fds ?? [];
    t.equal(got.length, 2, `${how}: both fds arrived`);
    // client socket + server's accepted socket + the two received fds
    t.equal(fdCount(), before + 4, `${how}: while the handler runs, the received fds are open`);
    release();
    const answer = await pending;
    t.equal(answer, fail ? 'error: the broker closed the connection without an answer' : 'done', `${how}: the client's outcome`);
    await until('the connection to be dropped', () => fx.server.connections === 0);
    t.equal(fdCount(), before, `${how}: after it settled, every fd is closed again`);
    for (const fd of got) t.throws(() => fs.fstatSync(fd), { code: 'EBADF' }, `${how}: received fd ${fd} is closed`);
  }
  t.match(fx.notes.join('\n'), /broker: internal error: handler failed/, 'the rejection is noted');
});

t.test('more fds than maxFds: the extra ones are closed on receipt and the message is truncated', { skip }, async (t) => {
  let release: () => void = () => undefined;
  const got: SeqpacketMessage[] = [];
  const fx = serve(t, {
    maxFds: 1,
    handle: async (message) => {
      got.push(message);
      await new Promise<void>((r) => (release = r));
      return Buffer.from('one kept');
    },
  });
  const a = fs.openSync('/proc/self/ns/net', 'r');
  const b = fs.openSync('/dev/null', 'r');
  const c = fs.openSync('/dev/null', 'r');
  t.teardown(() => [a, b, c].forEach((fd) => fs.closeSync(fd)));
  const before = fdCount();
  const pending = ask(fx.path, 'three fds', [a, b, c]);
  await until('the handler to be called', () => got.length === 1);
  t.equal(got[0]?.fds.length, 1, 'one fd kept');
  t.equal(netnsIdOfFd(got[0]?.fds[0] as number), netnsIdOfFd(a), 'the first one sent');
  t.equal(got[0]?.truncated, true, 'truncated = true');
  // client socket + server's accepted socket + the one kept
  t.equal(fdCount(), before + 3, 'the two extra fds are already closed while the handler runs');
  release();
  t.equal((await pending).toString(), 'one kept', 'answered');
  await until('the connection to be dropped', () => fx.server.connections === 0);
  t.equal(fdCount(), before, 'and the kept one after');
});

t.test('a message longer than maxMessageBytes arrives truncated', { skip }, async (t) => {
  const fx = serve(t);
  const big = Buffer.alloc(5000, 0x61);
  await ask(fx.path, big);
  t.equal(fx.seen.length, 1, 'handled');
  t.equal(fx.seen[0]?.message.truncated, true, 'truncated = true');
  t.equal(fx.seen[0]?.message.data.length, 4096, 'cut at maxMessageBytes');
  fx.seen.length = 0;
  await ask(fx.path, Buffer.alloc(4096, 0x62));
  t.equal(fx.seen[0]?.message.truncated, false, 'exactly maxMessageBytes is not truncated');
  t.equal(fx.seen[0]?.message.data.length, 4096, 'and whole');
});

t.test('more than maxPerUid connections from one uid: the rest are closed unread', { skip }, async (t) => {
  // A longer timeout here, so that the held connections are not dropped by it mid-test.
  const fx = serve(t, { timeoutMs: 5000 });
  const fds = Array.from({ length: 6 }, () => rawConnect(t, fx.path));
  await until('all six to be accepted', () => fx.server.counters.accepted === 6);
  t.equal(fx.server.connections, 3, 'connections stays at maxPerUid');
  t.equal(fx.server.counters.shed, 3, 'the 4th, 5th and 6th were shed');
  await sleep(20);
  const states = fds.map((c) => peek(c.fd));
  t.same(states.slice(0, 3), [null, null, null], 'the first three are held open (nothing to read yet)');
  t.same(states.slice(3), ['', '', ''], 'the others were closed (EOF) without an answer');
  t.equal(fx.notes.filter((n) => /closed unread/.test(n)).length, 1, 'the shedding is noted once, not per connection');
  t.match(fx.notes[0], /uid 0 .*limits 3 and 10/, 'the note names the uid and limits');
  // Once one held connection goes, another may come.
  fds[0]?.close();
  await until('the hang-up to be noticed', () => fx.server.connections === 2);
  const again = await ask(fx.path, 'after');
  t.equal(again.toString(), 'ok:after', 'a freed slot takes a new connection');
});

t.test('maxConnections bounds all uids together', { skip }, async (t) => {
  const fx = serve(t, { timeoutMs: 5000, maxPerUid: 10, maxConnections: 2 });
  for (let i = 0; i < 4; i++) rawConnect(t, fx.path);
  await until('all four to be accepted', () => fx.server.counters.accepted === 4);
  t.equal(fx.server.connections, 2, 'at most maxConnections open');
  t.equal(fx.server.counters.shed, 2, 'the rest shed');
});

t.test('a connection that sends nothing gets the onTimeout answer and is closed', { skip }, async (t) => {
  const fx = serve(t);
  const started = Date.now();
  const { fd } = rawConnect(t, fx.path);
  let answer: string | null = null;
  await until('the timeout answer', () => (answer = peek(fd)) !== null, 2000);
  const elapsed = Date.now() - started;
  t.equal(answer, 'timeout', 'the onTimeout answer');
  t.ok(elapsed >= 280 && elapsed < 1500, `after about timeoutMs (${elapsed} ms)`);
  t.equal(peek(fd), '', 'then the server hung up');
  t.equal(fx.server.counters.timeouts, 1, 'counted as a timeout');
  t.equal(fx.server.connections, 0, 'no connection left');
  t.equal(fx.server.counters.messages, 0, 'no message handled');

  const quiet = serve(t, { onTimeout: undefined });
  const { fd: fd2 } = rawConnect(t, quiet.path);
  let got: string | null = null;
  await until('the hang-up', () => (got = peek(fd2)) !== null, 2000);
  t.equal(got, '', 'without onTimeout: just closed, no answer');
});

t.test('listen(): a live server is refused, a stale socket replaced, a regular file refused; close() removes it', { skip }, async (t) => {
  const live = serve(t);
  const second = new SeqpacketServer({ path: live.path, mode: 0o666, maxMessageBytes: 4096, maxFds: 1, maxPerUid: 3, maxConnections: 10, timeoutMs: 300, handle: async () => Buffer.from('second'), note: () => undefined });
  t.throws(() => second.listen(), { message: `another broker is running (it answers on ${live.path})` }, 'a live server at the path: refused');
  t.equal((await ask(live.path, 'still')).toString(), 'ok:still', 'the live server still answers');

  // A stale socket: bound, then its fd closed (as a killed agent leaves it).
  const stale = socketPath();
  const sfd = addon.socketat(-1, AF_UNIX, SOCK_SEQPACKET, 0);
  addon.bind(sfd, unixAddress(stale));
  addon.close(sfd);
  t.ok(fs.lstatSync(stale).isSocket(), 'a stale socket file is there');
  await t.rejects(ask(stale, 'anyone?'), { code: 'ECONNREFUSED' }, 'nobody answers on it');
  const fx = serve(t, { path: stale });
  t.equal(fs.lstatSync(stale).mode & 0o777, 0o666, 'replaced by a new socket with its mode');
  t.equal((await ask(stale, 'fresh')).toString(), 'ok:fresh', 'and the new server answers there');

  const regular = socketPath();
  fs.writeFileSync(regular, 'precious\n');
  const onFile = new SeqpacketServer({ path: regular, mode: 0o666, maxMessageBytes: 4096, maxFds: 1, maxPerUid: 3, maxConnections: 10, timeoutMs: 300, handle: async () => Buffer.alloc(0), note: () => undefined });
  t.throws(() => onFile.listen(), { message: `${regular} exists and is not a socket: not touching it` }, 'a regular file at the path: refused');
  t.equal(fs.readFileSync(regular, 'utf8'), 'precious\n', 'and left as it was');

  fx.server.close();
  t.notOk(fs.existsSync(stale), 'close() removed the socket file');
  await t.rejects(ask(stale, 'anyone?'), { code: 'ENOENT' }, 'nobody there any more');
  fx.server.close();
  t.pass('close() twice is harmless');
});
