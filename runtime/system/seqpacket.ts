/**
 * Unix SOCK_SEQPACKET sockets with descriptor passing, which Node's `net` cannot do (it reads with
 * read(2), and the kernel drops the SCM_RIGHTS of a message read so): a server that takes one
 * message per connection and answers it, and the matching one-shot client. Mechanism only; what a
 * message means and who may send it is the caller's (agent/broker.ts).
 *
 * The server guards itself against a flood (a user looping connect()): at most `maxPerUid` open
 * connections per uid and `maxConnections` in all, the rest closed at accept without a byte read;
 * a connection that sends nothing within `timeoutMs` is closed. Received descriptors are
 * close-on-exec (MSG_CMSG_CLOEXEC) and always closed once the handler has settled.
 */
import * as fs from 'node:fs';
import { AF_UNIX, native, SOCK_SEQPACKET, SO_PEERCRED, SO_RCVTIMEO, SO_SNDTIMEO, SOL_SOCKET, timeval, type ReceivedMessage, type WatchHandle } from './native';
import { isErrno } from '../core/errors';

export { SOCK_SEQPACKET };
/** SOL_SOCKET control message type carrying descriptors (linux/socket.h). */
const SCM_RIGHTS = 1;
/** sun_path is 108 bytes, NUL included. */
const SUN_PATH_MAX = 107;

export interface SocketPeer {
  pid: number;
  uid: number;
  gid: number;
}

/**
 * Is there a socket file at `file` (one a killed server left, or a live server's)? Nothing there:
 * false; anything there that is not a socket is refused — a server never removes what is not its own.
 */
export function socketThere(file: string): boolean {
  let st: fs.Stats;
  try {
    st = fs.lstatSync(file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw err;
  }
  if (!st.isSocket()) throw new Error(`${file} exists and is not a socket: not touching it`);
  return true;
}

/** sockaddr_un for a path. */
export function unixAddress(file: string): Buffer {
  const p = Buffer.from(file, 'utf8');
  if (p.length > SUN_PATH_MAX || p.includes(0)) throw new Error(`socket path ${file} is longer than ${SUN_PATH_MAX} bytes`);
  const sa = Buffer.alloc(2 + p.length + 1);
  sa.writeUInt16LE(AF_UNIX, 0);
  p.copy(sa, 2);
  return sa;
}

/** SO_PEERCRED of a connected Unix socket fd (struct ucred: pid, uid, gid). */
export function socketPeer(fd: number): SocketPeer {
  const b = native().getsockopt(fd, SOL_SOCKET, SO_PEERCRED, 12);
  return { pid: b.readInt32LE(0), uid: b.readUInt32LE(4), gid: b.readUInt32LE(8) };
}

/** The descriptors of a message's SCM_RIGHTS control messages (int32 each). */
function rightsOf(control: { level: number; type: number; data: Buffer }[]): number[] {
  const fds: number[] = [];
  for (const c of control) {
    if (c.level !== SOL_SOCKET || c.type !== SCM_RIGHTS) continue;
    for (let i = 0; i + 4 <= c.data.length; i += 4) fds.push(c.data.readInt32LE(i));
  }
  return fds;
}

export interface SeqpacketMessage {
  data: Buffer;
  /** Descriptors that came with it (closed by the server once the handler has settled). */
  fds: number[];
  /** Longer than the server takes, more descriptors than it keeps, or its control data was cut (MSG_TRUNC / MSG_CTRUNC). */
  truncated: boolean;
}

export interface SeqpacketServerOptions {
  path: string;
  /** File mode of the socket (0666: any local user may connect). */
  mode: number;
  maxMessageBytes: number;
  /** Descriptors kept per message; more are closed on receipt and the message is marked truncated. */
  maxFds: number;
  maxPerUid: number;
  maxConnections: number;
  timeoutMs: number;
  /** The answer to one message (sent, then the connection is closed). */
  handle(message: SeqpacketMessage, peer: SocketPeer): Promise<Buffer>;
  /** The answer when no message came in time (undefined: just close). */
  onTimeout?(): Buffer;
  /** A log line (shed connections are summed, not one line each). */
  note(line: string): void;
}

interface Connection {
  fd: number;
  peer: SocketPeer;
  watch: WatchHandle | undefined;
  timer: NodeJS.Timeout | undefined;
  busy: boolean;
}

export class SeqpacketServer {
  private fd = -1;
  private watch: WatchHandle | undefined;
  private readonly open = new Set<Connection>();
  private readonly perUid = new Map<number, number>();
  private shedNoted = 0;
  readonly counters = { accepted: 0, shed: 0, messages: 0, timeouts: 0 };

  constructor(private readonly opts: SeqpacketServerOptions) {}

  get connections(): number {
    return this.open.size;
  }

  /** Take the path (a stale socket left by a killed agent is replaced; anything else there is refused) and listen. */
  listen(): void {
    const addon = native();
    const file = this.opts.path;
    if (socketThere(file)) {
      if (answers(file)) throw new Error(`another broker is running (it answers on ${file})`);
      fs.unlinkSync(file); // left by a server that was killed
    }
    const fd = addon.socketat(-1, AF_UNIX, SOCK_SEQPACKET | addon.constants.SOCK_NONBLOCK, 0);
    try {
      // Bound under umask 0177 (never open to others before the chmod), then given its mode.
      const old = process.umask(0o177);
      try {
        addon.bind(fd, unixAddress(file));
      } finally {
        process.umask(old);
      }
      fs.chmodSync(file, this.opts.mode);
      addon.listen(fd, 128);
    } catch (err) {
      addon.close(fd);
      throw err;
    }
    this.fd = fd;
    this.watch = addon.watch(fd, addon.constants.UV_READABLE, () => this.acceptAll());
  }

  close(): void {
    const addon = native();
    if (this.watch) addon.unwatch(this.watch);
    this.watch = undefined;
    for (const c of [...this.open]) this.drop(c);
    if (this.fd >= 0) {
      addon.close(this.fd);
      this.fd = -1;
      try {
        if (fs.lstatSync(this.opts.path).isSocket()) fs.unlinkSync(this.opts.path);
      } catch {
        // gone already
      }
    }
  }

  private acceptAll(): void {
    const addon = native();
    for (;;) {
      let fd: number | null;
      try {
        fd = addon.accept(this.fd);
      } catch (err) {
        // EMFILE and the like: the backlog waits for the next readiness.
        this.opts.note(`broker: accept: ${(err as Error).message}`);
        return;
      }
      if (fd === null) return;
      this.counters.accepted++;
      let peer: SocketPeer;
      try {
        peer = socketPeer(fd);
      } catch {
        addon.close(fd);
        continue;
      }
      const mine = this.perUid.get(peer.uid) ?? 0;
      if (mine >= this.opts.maxPerUid || this.open.size >= this.opts.maxConnections) {
        addon.close(fd);
        this.shed(peer);
        continue;
      }
      this.perUid.set(peer.uid, mine + 1);
      const c: Connection = { fd, peer, watch: undefined, timer: undefined, busy: false };
      this.open.add(c);
      c.timer = setTimeout(() => {
        this.counters.timeouts++;
        const answer = this.opts.onTimeout?.();
        if (answer) send(c.fd, answer);
        this.drop(c);
      }, this.opts.timeoutMs);
      c.watch = addon.watch(fd, addon.constants.UV_READABLE, () => this.readable(c));
    }
  }

  /** One line per second at most for connections shed, however many. */
  private shed(peer: SocketPeer): void {
    this.counters.shed++;
    const now = Date.now();
    if (now - this.shedNoted < 1000) return;
    this.shedNoted = now;
    this.opts.note(`broker: connection from uid ${peer.uid} (pid ${peer.pid}) closed unread: ${this.perUid.get(peer.uid) ?? 0} open for that uid, ${this.open.size} in all (limits ${this.opts.maxPerUid} and ${this.opts.maxConnections}); ${this.counters.shed} shed so far`);
  }

  private readable(c: Connection): void {
    if (c.busy || !this.open.has(c)) return;
    const addon = native();
    let got: ReceivedMessage | null;
    try {
      got = addon.recvmsg(c.fd, this.opts.maxMessageBytes + 1, addon.constants.MSG_DONTWAIT | addon.constants.MSG_CMSG_CLOEXEC);
    } catch {
      this.drop(c);
      return;
    }
    if (got === null) return; // spurious readiness
    const received = rightsOf(got.control);
    // A flood of descriptors must not sit in our table while the request waits its turn.
    for (const extra of received.slice(this.opts.maxFds)) closeQuietly(extra);
    const fds = received.slice(0, this.opts.maxFds);
    if (got.length === 0 && received.length === 0) {
      this.drop(c); // the peer hung up
      return;
    }
    c.busy = true;
    if (c.watch) addon.unwatch(c.watch);
    c.watch = undefined;
    if (c.timer) clearTimeout(c.timer);
    c.timer = undefined;
    this.counters.messages++;
    const truncated = got.length > this.opts.maxMessageBytes || received.length > this.opts.maxFds || (got.flags & (addon.constants.MSG_TRUNC | addon.constants.MSG_CTRUNC)) !== 0;
    const message: SeqpacketMessage = { data: got.data.subarray(0, this.opts.maxMessageBytes), fds, truncated };
    const finish = (answer: Buffer | undefined): void => {
      for (const fd of fds) closeQuietly(fd);
      if (answer && this.open.has(c)) send(c.fd, answer);
      this.drop(c);
    };
    this.opts.handle(message, c.peer).then(finish, (err: unknown) => {
      this.opts.note(`broker: internal error: ${(err as Error).message}`);
      finish(undefined);
    });
  }

  private drop(c: Connection): void {
    if (!this.open.delete(c)) return;
    const addon = native();
    if (c.watch) addon.unwatch(c.watch);
    if (c.timer) clearTimeout(c.timer);
    closeQuietly(c.fd);
    const left = (this.perUid.get(c.peer.uid) ?? 1) - 1;
    if (left > 0) this.perUid.set(c.peer.uid, left);
    else this.perUid.delete(c.peer.uid);
  }
}

function closeQuietly(fd: number): void {
  try {
    native().close(fd);
  } catch {
    // already closed
  }
}

/** One message, not waiting: a peer that cannot take a few hundred bytes at once gets nothing. */
function send(fd: number, data: Buffer): void {
  const addon = native();
  try {
    addon.sendmsg(fd, data, null, null, addon.constants.MSG_DONTWAIT);
  } catch {
    // the peer is gone
  }
}

/**
 * Does something accept connections at `file`? A non-blocking connect to a Unix socket answers at
 * once: connected, or EAGAIN when a live server's backlog is full (alive all the same), or
 * ECONNREFUSED/ENOENT when nobody listens.
 */
function answers(file: string): boolean {
  const addon = native();
  const fd = addon.socketat(-1, AF_UNIX, SOCK_SEQPACKET | addon.constants.SOCK_NONBLOCK, 0);
  try {
    addon.connect(fd, unixAddress(file));
    return true;
  } catch (err) {
    return isErrno(err, 'EAGAIN');
  } finally {
    addon.close(fd);
  }
}

/**
 * Send one message (with `fds`, if any) to the server at `file` and wait for its one answer, at most
 * `timeoutMs` in all. Rejects with an Error naming what failed (ENOENT/ECONNREFUSED: nobody there).
 */
export function seqpacketRequest(file: string, data: Buffer, fds: number[], opts: { timeoutMs: number; maxAnswerBytes: number }): Promise<Buffer> {
  const addon = native();
  const fd = addon.socketat(-1, AF_UNIX, SOCK_SEQPACKET, 0);
  try {
    // connect and sendmsg block at most this long (a broker whose backlog is full).
    addon.setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, timeval(opts.timeoutMs));
    addon.connect(fd, unixAddress(file));
    const control = fds.length ? [{ level: SOL_SOCKET, type: SCM_RIGHTS, data: Buffer.from(new Int32Array(fds).buffer) }] : null;
    addon.sendmsg(fd, data, null, control, 0);
  } catch (err) {
    addon.close(fd);
    return Promise.reject(err);
  }
  return new Promise<Buffer>((resolve, reject) => {
    let watch: WatchHandle | undefined;
    const done = (err: Error | undefined, answer?: Buffer): void => {
      clearTimeout(timer);
      if (watch) addon.unwatch(watch);
      watch = undefined;
      addon.close(fd);
      if (err) reject(err);
      else resolve(answer ?? Buffer.alloc(0));
    };
    const timer = setTimeout(() => done(new Error(`no answer within ${opts.timeoutMs} ms`)), opts.timeoutMs);
    watch = addon.watch(fd, addon.constants.UV_READABLE, () => {
      let got: ReceivedMessage | null;
      try {
        got = addon.recvmsg(fd, opts.maxAnswerBytes + 1, addon.constants.MSG_DONTWAIT | addon.constants.MSG_CMSG_CLOEXEC);
      } catch (err) {
        done(err as Error);
        return;
      }
      if (got === null) return;
      for (const extra of rightsOf(got.control)) closeQuietly(extra); // an answer carries none
      if (got.length === 0) done(new Error('the broker closed the connection without an answer'));
      else if (got.length > opts.maxAnswerBytes) done(new Error(`answer longer than ${opts.maxAnswerBytes} bytes`));
      else done(undefined, got.data);
    });
  });
}

/** Why a blocking request failed, and whether the request had gone out by then. */
export class SeqpacketRequestError extends Error {
  constructor(
    message: string,
    readonly sent: boolean,
  ) {
    super(message);
  }
}

/**
 * seqpacketRequest, blocking: for a process that has nothing else to do while it waits (the hook's
 * thin client, hooks/delegate.ts), without an event loop turn or a watcher. SO_SNDTIMEO and
 * SO_RCVTIMEO bound the connect and the wait for the answer by `timeoutMs` each. Throws a
 * SeqpacketRequestError: `sent` false when nothing reached the server (ENOENT, ECONNREFUSED:
 * nobody there; EAGAIN: its backlog full), true when it has the request (no answer in time, or the
 * connection closed without one).
 */
export function seqpacketRequestSync(file: string, data: Buffer, opts: { timeoutMs: number; maxAnswerBytes: number }): Buffer {
  const addon = native();
  const fd = addon.socketat(-1, AF_UNIX, SOCK_SEQPACKET, 0);
  try {
    try {
      addon.setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, timeval(opts.timeoutMs));
      addon.setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, timeval(opts.timeoutMs));
      addon.connect(fd, unixAddress(file));
      addon.sendmsg(fd, data, null, null, 0);
    } catch (err) {
      throw new SeqpacketRequestError((err as Error).message, false);
    }
    let got: ReceivedMessage | null;
    try {
      got = addon.recvmsg(fd, opts.maxAnswerBytes + 1, addon.constants.MSG_CMSG_CLOEXEC);
    } catch (err) {
      throw new SeqpacketRequestError((err as Error).message, true);
    }
    if (got === null) throw new SeqpacketRequestError(`no answer within ${opts.timeoutMs} ms`, true);
    for (const extra of rightsOf(got.control)) closeQuietly(extra); // an answer carries none
    if (got.length === 0) throw new SeqpacketRequestError('the connection closed without an answer', true);
    if (got.length > opts.maxAnswerBytes) throw new SeqpacketRequestError(`answer longer than ${opts.maxAnswerBytes} bytes`, true);
    return got.data;
  } finally {
    addon.close(fd);
  }
}
