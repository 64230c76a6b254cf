/**
 * A NETLINK_ROUTE socket opened inside a chosen network namespace, with synchronous
 * request/acknowledge and multi-part dumps (sequence-checked), an asynchronous side that keeps
 * many requests in flight on the same socket, and errors that carry the errno and the kernel's
 * extended-ack text.
 *
 * rtnetlink handles a request inside sendmsg(), so the answer is already queued when we read:
 * the synchronous calls (request/get/dump) are synchronous on purpose (no event-loop round trip
 * on the hook's hot path). A receive timeout bounds the wait should the kernel ever not answer.
 *
 * The asynchronous calls (requestAsync/getAsync/dumpAsync) send at once and read on the event
 * loop (a uv_poll watcher, only while something is outstanding); replies are matched to requests
 * by sequence number and port id, so they may arrive in any order. The kernel runs one dump per
 * socket at a time (a second one gets EBUSY), so dumps are queued behind each other while other
 * requests go on being sent. Dumps the kernel marks NLM_F_DUMP_INTR (the table changed while it
 * was being walked) are run again, on both sides, up to DUMP_RETRIES times.
 */
import * as os from 'node:os';
import { NetlinkError, TimeoutError, isErrno } from '../../core/errors';
import { AF_NETLINK, SOCK_RAW, SOL_SOCKET, SO_RCVBUF, SO_RCVTIMEO, native, timeval } from '../native';
import type { NetnsHandle } from '../netns';
import { decodeAttrs, decodeMessages, encodeMessage, type NetlinkMessage } from '../../wire/rtnetlink/codec';
import {
  NETLINK_ADD_MEMBERSHIP,
  NETLINK_CAP_ACK,
  NETLINK_EXT_ACK,
  NETLINK_GET_STRICT_CHK,
  NETLINK_ROUTE,
  NLMSGERR_ATTR_MSG,
  NLMSG_DONE,
  NLMSG_ERROR,
  NLMSG_HDRLEN,
  NLM_F_ACK,
  NLM_F_ACK_TLVS,
  NLM_F_DUMP,
  NLM_F_DUMP_INTR,
  NLM_F_REQUEST,
  SOL_NETLINK,
} from '../../wire/rtnetlink/constants';

const RECV_MAX = 1 << 16;
const NETLINK_DROP_MEMBERSHIP = 2;
const NLMSG_MIN_TYPE = 0x10;
const EINTR = 4;
const EMSGSIZE = 90;
const ENOBUFS = 105;
const ECANCELED = 125;
/** How many times an interrupted dump (NLM_F_DUMP_INTR) is run again before EINTR is reported. */
export const DUMP_RETRIES = 5;
/** Default bound on asynchronous requests sent and not yet answered (more wait their turn). */
export const DEFAULT_MAX_IN_FLIGHT = 64;

const errnoNames = new Map<number, string>(Object.entries(os.constants.errno).map(([name, num]) => [num, name]));

export function errnoName(errno: number): string {
  return errnoNames.get(errno) ?? `E${errno}`;
}

function sockaddrNl(groups = 0): Buffer {
  const sa = Buffer.alloc(12);
  sa.writeUInt16LE(AF_NETLINK, 0);
  sa.writeUInt32LE(groups >>> 0, 8);
  return sa;
}

/** One datagram as read from the socket. */
export interface NetlinkDatagram {
  data: Buffer;
  /** Longer than we read (MSG_TRUNC). */
  truncated: boolean;
  /** The sender's nl_groups: the multicast group as a bit mask (1 << (group - 1)), 0 for unicast or a group above 32. */
  groups: number;
}

/**
 * The datagram I/O under a RtnetlinkSocket: a real netlink fd through the addon, or a scripted
 * kernel in tests (RtnetlinkSocket.over).
 */
export interface NetlinkTransport {
  /** This socket's netlink port id (nl_pid): the kernel's replies to us carry it as nlmsg_pid. */
  readonly portId: number;
  send(datagram: Buffer): void;
  /**
   * The next queued datagram, or null when there is none (after waiting up to the receive
   * timeout when `wait`). Throws errno errors (ENOBUFS when the kernel dropped messages).
   */
  receive(wait: boolean): NetlinkDatagram | null;
  /** Call `onReadable` whenever a datagram may be waiting; the returned function stops that. */
  watch(onReadable: () => void): () => void;
  /** NETLINK_ADD_MEMBERSHIP / NETLINK_DROP_MEMBERSHIP of an RTNLGRP_* group. */
  membership(group: number, join: boolean): void;
  close(): void;
}

/** A NETLINK_ROUTE fd of ours, through the addon. */
class SocketTransport implements NetlinkTransport {
  private port: number | undefined;

  constructor(readonly fd: number) {}

  get portId(): number {
    // Autobound at bind(); asked only when the asynchronous side first needs it.
    this.port ??= native().getsockname(this.fd).readUInt32LE(4);
    return this.port;
  }

  send(datagram: Buffer): void {
    native().sendmsg(this.fd, datagram, sockaddrNl(), null, 0);
  }

  receive(wait: boolean): NetlinkDatagram | null {
    const addon = native();
    const got = addon.recvmsg(this.fd, RECV_MAX, wait ? 0 : addon.constants.MSG_DONTWAIT);
    if (!got) return null;
    return {
      data: got.data,
      truncated: (got.flags & addon.constants.MSG_TRUNC) !== 0,
      groups: got.name.length >= 12 ? got.name.readUInt32LE(8) : 0,
    };
  }

  watch(onReadable: () => void): () => void {
    const addon = native();
    const handle = addon.watch(this.fd, addon.constants.UV_READABLE, () => onReadable());
    return () => addon.unwatch(handle);
  }

  membership(group: number, join: boolean): void {
    native().setsockopt(this.fd, SOL_NETLINK, join ? NETLINK_ADD_MEMBERSHIP : NETLINK_DROP_MEMBERSHIP, group);
  }

  close(): void {
    native().close(this.fd);
  }
}

/** Per-call options of the asynchronous requests. */
export interface AsyncOptions {
  /** Reject with TimeoutError when the kernel has not answered within this (default: the socket's timeoutMs). */
  timeoutMs?: number;
}

/** Multicast events delivered on the event loop; close() stops them. */
export interface NetlinkSubscription {
  close(): void;
}

type Kind = 'request' | 'get' | 'dump';

/** An asynchronous request: queued, then sent (seq set), then settled. */
interface Pending {
  what: string;
  kind: Kind;
  type: number;
  flags: number;
  payload: Buffer;
  replyType: number;
  out: NetlinkMessage[];
  seq: number;
  /** Times sent (a dump is sent again when interrupted). */
  attempts: number;
  interrupted: boolean;
  /** Settled before its dump ended: ignore what comes, but hold the dump slot until NLMSG_DONE. */
  abandoned: boolean;
  settled: boolean;
  timer: NodeJS.Timeout | undefined;
  resolve(messages: NetlinkMessage[]): void;
  reject(err: Error): void;
}

interface Subscriber {
  groups: Set<number>;
  onMessages(messages: NetlinkMessage[]): void;
  onError: ((err: Error) => void) | undefined;
}

export class RtnetlinkSocket {
  private seq = Math.floor(Math.random() * 0x7fffffff);
  private closed = false;
  /** Asynchronous requests not yet sent (over maxInFlight, or a dump behind another dump). */
  private queue: Pending[] = [];
  /** Asynchronous requests sent, by sequence number. */
  private readonly sent = new Map<number, Pending>();
  /** The dump in flight, if any: the kernel runs one at a time per socket. */
  private dumping: Pending | undefined;
  private readonly subscribers = new Set<Subscriber>();
  /** Members per group, for dropping a membership with its last subscriber. */
  private readonly groupRefs = new Map<number, number>();
  /** Any multicast membership (joinGroup or subscribe): then an overrun may have cost events, not replies. */
  private multicast = false;
  private stopWatching: (() => void) | undefined;
  /** Inside onReadable: the watch is settled once, at the end. */
  private reading = false;
  private readonly timeoutMs: number;
  private readonly maxInFlight: number;

  private constructor(
    readonly fd: number,
    readonly netns: NetnsHandle | undefined,
    private readonly io: NetlinkTransport,
    opts: { timeoutMs?: number; maxInFlight?: number },
  ) {
    this.timeoutMs = opts.timeoutMs ?? 5000;
    this.maxInFlight = Math.max(1, opts.maxInFlight ?? DEFAULT_MAX_IN_FLIGHT);
  }

  /**
   * Open a request socket in `netns` (the current namespace when omitted). `timeoutMs` bounds
   * every wait for the kernel (default 5 s); `maxInFlight` bounds the asynchronous requests sent
   * and unanswered at once (default 64; the rest wait their turn).
   */
  static open(
    netns?: NetnsHandle,
    opts: { timeoutMs?: number; nonBlocking?: boolean; maxInFlight?: number; protocol?: number } = {},
  ): RtnetlinkSocket {
    const addon = native();
    const type = SOCK_RAW | (opts.nonBlocking ? addon.constants.SOCK_NONBLOCK : 0);
    // `protocol`: another netlink family on the same machinery (NETLINK_NETFILTER = 12 for nf_tables).
    const protocol = opts.protocol ?? NETLINK_ROUTE;
    const fd = addon.socketat(netns?.fd ?? -1, AF_NETLINK, type, protocol);
    try {
      addon.setsockopt(fd, SOL_NETLINK, NETLINK_EXT_ACK, 1);
      addon.setsockopt(fd, SOL_NETLINK, NETLINK_CAP_ACK, 1);
      if (protocol === NETLINK_ROUTE) addon.setsockopt(fd, SOL_NETLINK, NETLINK_GET_STRICT_CHK, 1);
      else {
        // Strict checking of dump requests is rtnetlink's; elsewhere it is harmless where accepted.
        try {
          addon.setsockopt(fd, SOL_NETLINK, NETLINK_GET_STRICT_CHK, 1);
        } catch {
          /* not needed outside rtnetlink */
        }
      }
      addon.setsockopt(fd, SOL_SOCKET, SO_RCVBUF, 1 << 20);
      addon.setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, timeval(opts.timeoutMs ?? 5000));
      addon.bind(fd, sockaddrNl());
    } catch (err) {
      addon.close(fd);
      throw err;
    }
    return new RtnetlinkSocket(fd, netns, new SocketTransport(fd), opts);
  }

  /**
   * A socket over another transport (a scripted kernel in tests): the same request logic,
   * synchronous and asynchronous, without a netlink fd (`fd` is -1).
   */
  static over(transport: NetlinkTransport, opts: { timeoutMs?: number; maxInFlight?: number } = {}): RtnetlinkSocket {
    return new RtnetlinkSocket(-1, undefined, transport, opts);
  }

  /** Close the socket; asynchronous requests still outstanding reject with NetlinkError ECANCELED. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.abortAll((p) => new NetlinkError(p.what, 'ECANCELED', ECANCELED, 'the socket was closed before the kernel answered'));
    this.subscribers.clear();
    this.updateWatch();
    this.io.close();
  }

  /** Join a multicast group (RTNLGRP_*) to receive events. */
  joinGroup(group: number): void {
    this.io.membership(group, true);
    this.multicast = true;
  }

  /** Send a request and wait for its acknowledgement. `what` names it in errors. */
  request(what: string, type: number, flags: number, payload: Buffer): void {
    this.exchange(what, type, flags | NLM_F_ACK, payload, () => false);
  }

  /** Send a single-object GET request: its reply messages of `replyType` (the kernel acks after). */
  get(what: string, type: number, payload: Buffer, replyType: number): NetlinkMessage[] {
    const out: NetlinkMessage[] = [];
    this.exchange(what, type, NLM_F_ACK, payload, (m) => {
      if (m.type === replyType) out.push(m);
      return true;
    });
    return out;
  }

  /**
   * Send a dump request and collect every reply message of `replyType`. A dump the kernel marks
   * interrupted (NLM_F_DUMP_INTR) is run again, up to DUMP_RETRIES times, then NetlinkError EINTR.
   * The kernel runs one dump per socket: not while a dumpAsync is in flight here (EBUSY).
   */
  dump(what: string, type: number, payload: Buffer, replyType: number): NetlinkMessage[] {
    for (let attempt = 1; ; attempt++) {
      const out: NetlinkMessage[] = [];
      const interrupted = this.exchange(what, type, NLM_F_DUMP, payload, (m) => {
        if (m.type === replyType) out.push(m);
        return true;
      });
      if (!interrupted) return out;
      if (attempt > DUMP_RETRIES) throw dumpInterrupted(what, attempt);
    }
  }

  /**
   * Send `messages` in one datagram (NLM_F_REQUEST added, consecutive sequence numbers) and wait
   * until each one sent with NLM_F_ACK is acknowledged: an nfnetlink batch (BATCH_BEGIN, changes,
   * BATCH_END), which the kernel applies all or nothing. The kernel handles the whole datagram
   * inside sendmsg(), so every answer is queued when it returns; the receive timeout bounds the
   * wait regardless. On the first error (in message order) throws TransactionError (a
   * NetlinkError) naming `what` and the failing message, with errno and extended-ack text, after
   * draining the rest of the answers (the kernel also acknowledges messages of an aborted batch),
   * so that the socket stays usable. Equivalent to: `nft -f FILE` (one batch).
   */
  transaction(what: string, messages: TransactionMessage[]): void {
    if (messages.length === 0) return;
    const first = this.nextSeq();
    const seqs = [first];
    for (let i = 1; i < messages.length; i++) seqs.push(this.nextSeq());
    const index = new Map<number, number>(seqs.map((seq, i) => [seq, i]));
    const pending = new Set<number>(seqs.filter((_, i) => ((messages[i]?.flags ?? 0) & NLM_F_ACK) !== 0));
    const datagram = Buffer.concat(
      messages.map((m, i) => encodeMessage({ type: m.type, flags: m.flags | NLM_F_REQUEST, seq: seqs[i] ?? 0, pid: 0 }, m.payload)),
    );
    this.io.send(datagram);
    let failed: { at: number; error: NetlinkError } | undefined;
    let drained = false;
    while (pending.size > 0 || (failed && !drained)) {
      let got: NetlinkDatagram | null;
      try {
        // After an error, only what is already queued: the kernel may not answer the rest.
        got = this.io.receive(!failed);
      } catch (err) {
        if (failed) break;
        if (isErrno(err, 'EAGAIN')) throw new TimeoutError(`${what}: no answer from the kernel`);
        throw err;
      }
      if (!got) {
        if (failed) break;
        throw new TimeoutError(`${what}: no answer from the kernel`);
      }
      if (got.truncated && !failed) failed = { at: -1, error: new NetlinkError(what, 'EMSGSIZE', EMSGSIZE, 'netlink reply truncated') };
      for (const m of decodeMessages(got.data)) {
        const at = index.get(m.seq);
        if (at === undefined || m.type !== NLMSG_ERROR) {
          this.deliver(m); // an answer to an asynchronous request of ours, or nothing of ours
          continue;
        }
        pending.delete(m.seq);
        const msg = messages[at];
        const err = replyError(`${what}: ${msg?.what ?? `message ${at}`}`, m);
        if (err && (!failed || at < failed.at)) failed = { at, error: new TransactionError(err, at, extackOffset(m)) };
      }
      if (failed && pending.size === 0) drained = true;
    }
    if (failed) throw failed.error;
  }

  /**
   * Read whatever is queued without blocking (for event sockets). Replies to asynchronous
   * requests of this socket, if any are outstanding, go to those requests instead.
   */
  readPending(): NetlinkMessage[] {
    const out: NetlinkMessage[] = [];
    for (;;) {
      const got = this.io.receive(false);
      if (!got) return out;
      for (const m of decodeMessages(got.data)) if (!this.deliver(m)) out.push(m);
    }
  }

  /**
   * requestAsync sends a request (NLM_F_ACK added) and resolves when the kernel acknowledges it;
   * it rejects with NetlinkError (errno name, number and extended-ack text, as request() throws)
   * when the kernel refuses it, TimeoutError when there is no answer in time. Many may be in
   * flight at once. Equivalent to: the change commands of `ip -batch` (`ip link add ...`,
   * `ip -6 addr add ...`, `ip -6 route replace ...`) sent without waiting for each answer.
   */
  requestAsync(what: string, type: number, flags: number, payload: Buffer, opts: AsyncOptions = {}): Promise<void> {
    return this.enqueue('request', what, type, flags | NLM_F_ACK, payload, -1, opts).then(() => undefined);
  }

  /**
   * getAsync sends a single-object GET request and resolves with its reply messages of
   * `replyType`. Equivalent to: `ip link show dev NAME`, `ip -6 route get ADDRESS`.
   */
  getAsync(what: string, type: number, payload: Buffer, replyType: number, opts: AsyncOptions = {}): Promise<NetlinkMessage[]> {
    return this.enqueue('get', what, type, NLM_F_ACK, payload, replyType, opts);
  }

  /**
   * dumpAsync sends a dump request (NLM_F_DUMP) and resolves with every reply message of
   * `replyType`; an interrupted dump (NLM_F_DUMP_INTR) is run again, up to DUMP_RETRIES times,
   * then rejects with NetlinkError EINTR. One dump runs at a time per socket; others wait their
   * turn (requests meanwhile are not held up). Equivalent to: `ip link show`, `ip -6 addr show`,
   * `ip -6 route show table all` (RTM_GETLINK, RTM_GETADDR, RTM_GETROUTE dumps).
   */
  dumpAsync(what: string, type: number, payload: Buffer, replyType: number, opts: AsyncOptions = {}): Promise<NetlinkMessage[]> {
    return this.enqueue('dump', what, type, NLM_F_DUMP, payload, replyType, opts);
  }

  /**
   * subscribe joins the multicast `groups` (RTNLGRP_*) and calls `onMessages` on the event loop
   * with the events of each datagram the kernel sends (messages of our own requests are never
   * among them). `onError` hears of an overrun (NetlinkError ENOBUFS: events were lost; resync
   * with a dump). Equivalent to: `ip monitor link address route` (vishvananda/netlink
   * LinkSubscribe, AddrSubscribe, RouteSubscribe).
   */
  subscribe(groups: number[], onMessages: (messages: NetlinkMessage[]) => void, onError?: (err: Error) => void): NetlinkSubscription {
    if (this.closed) throw new NetlinkError('subscribe', 'EBADF', 9, 'the socket is closed');
    const joined: number[] = [];
    try {
      for (const group of new Set(groups)) {
        const refs = this.groupRefs.get(group) ?? 0;
        if (refs === 0) this.io.membership(group, true);
        this.groupRefs.set(group, refs + 1);
        joined.push(group);
      }
    } catch (err) {
      this.leave(joined);
      throw err;
    }
    this.multicast = true;
    const sub: Subscriber = { groups: new Set(joined), onMessages, onError };
    this.subscribers.add(sub);
    this.updateWatch();
    return {
      close: () => {
        if (!this.subscribers.delete(sub)) return;
        if (!this.closed) this.leave(joined);
        this.updateWatch();
      },
    };
  }

  /** Asynchronous requests sent whose answer has not ended yet (for diagnostics and tests). */
  get inFlight(): number {
    return this.sent.size;
  }

  // ---- the synchronous side ----

  /**
   * One request and its answer; returns whether a dump was marked interrupted. `onMessage`
   * says whether it took a message of ours (a request does not: what comes with its seq before
   * the ack is the kernel echoing the change to groups we joined, an event).
   */
  private exchange(what: string, type: number, flags: number, payload: Buffer, onMessage: (m: NetlinkMessage) => boolean): boolean {
    const seq = this.nextSeq();
    this.io.send(encodeMessage({ type, flags: flags | NLM_F_REQUEST, seq, pid: 0 }, payload));
    let interrupted = false;
    for (;;) {
      let got;
      try {
        got = this.io.receive(true);
      } catch (err) {
        if (isErrno(err, 'EAGAIN')) throw new TimeoutError(`${what}: no answer from the kernel`);
        throw err;
      }
      if (!got) throw new TimeoutError(`${what}: no answer from the kernel`);
      if (got.truncated) throw new NetlinkError(what, 'EMSGSIZE', EMSGSIZE, 'netlink reply truncated');
      const others: NetlinkMessage[] = [];
      for (const m of decodeMessages(got.data)) {
        if (m.seq !== seq) {
          // A reply to an asynchronous request of ours, an event, or a late reply to an
          // earlier request that timed out.
          if (!this.deliver(m)) others.push(m);
          continue;
        }
        if (m.flags & NLM_F_DUMP_INTR) interrupted = true;
        if (m.type === NLMSG_ERROR) {
          const err = replyError(what, m);
          if (err) throw err;
          return interrupted;
        }
        if (m.type === NLMSG_DONE) {
          const err = replyError(what, m);
          if (err) throw err;
          return interrupted;
        }
        if (!onMessage(m)) others.push(m);
      }
      if (others.length && this.subscribers.size) {
        // Not from inside a synchronous call: subscribers hear of them on the event loop.
        const groups = got.groups;
        queueMicrotask(() => this.publish(others, groups));
      }
    }
  }

  // ---- the asynchronous side ----

  private enqueue(kind: Kind, what: string, type: number, flags: number, payload: Buffer, replyType: number, opts: AsyncOptions): Promise<NetlinkMessage[]> {
    if (this.closed) return Promise.reject(new NetlinkError(what, 'ECANCELED', ECANCELED, 'the socket is closed'));
    return new Promise<NetlinkMessage[]>((resolve, reject) => {
      const p: Pending = {
        what,
        kind,
        type,
        flags,
        payload,
        replyType,
        out: [],
        seq: 0,
        attempts: 0,
        interrupted: false,
        abandoned: false,
        settled: false,
        timer: undefined,
        resolve,
        reject,
      };
      // The clock runs from the call: a request waiting its turn counts its wait too.
      p.timer = setTimeout(() => this.expire(p), opts.timeoutMs ?? this.timeoutMs);
      this.queue.push(p);
      this.pump();
    });
  }

  /** Send what may be sent: up to maxInFlight outstanding, one dump at a time. */
  private pump(): void {
    for (let i = 0; i < this.queue.length && this.sent.size < this.maxInFlight && !this.closed; ) {
      const p = this.queue[i];
      if (p.kind === 'dump' && this.dumping) {
        i++;
        continue;
      }
      this.queue.splice(i, 1);
      this.transmit(p);
    }
    this.updateWatch();
  }

  private transmit(p: Pending): void {
    p.seq = this.nextSeq();
    p.attempts++;
    p.out = [];
    p.interrupted = false;
    this.sent.set(p.seq, p);
    if (p.kind === 'dump') this.dumping = p;
    try {
      this.io.send(encodeMessage({ type: p.type, flags: p.flags | NLM_F_REQUEST, seq: p.seq, pid: 0 }, p.payload));
    } catch (err) {
      this.release(p);
      this.settle(p, err as Error);
    }
  }

  /** The socket is readable: read every queued datagram and hand its messages out. */
  private onReadable(): void {
    this.reading = true;
    try {
      this.readAll();
    } finally {
      this.reading = false;
    }
    this.updateWatch();
  }

  private readAll(): void {
    while (!this.closed) {
      let got: NetlinkDatagram | null;
      try {
        got = this.io.receive(false);
      } catch (err) {
        this.readFailed(err as Error);
        if (isErrno(err, 'ENOBUFS')) continue;
        break; // the socket is dead: everything outstanding was rejected
      }
      if (!got) break;
      const messages = decodeMessages(got.data);
      if (got.truncated) {
        // One datagram answers one request: the first header names it.
        const p = got.data.length >= NLMSG_HDRLEN ? this.sent.get(got.data.readUInt32LE(8)) : undefined;
        if (p && !p.abandoned) this.fail(p, new NetlinkError(p.what, 'EMSGSIZE', EMSGSIZE, 'netlink reply truncated'));
        continue;
      }
      const events = messages.filter((m) => !this.deliver(m));
      if (events.length) this.publish(events, got.groups);
    }
  }

  /**
   * Hand a message to the asynchronous request it answers; false when it answers none of
   * ours (an event, or a late reply to a request given up long ago).
   */
  private deliver(m: NetlinkMessage): boolean {
    if (m.seq === 0 || this.sent.size === 0) return false;
    const p = this.sent.get(m.seq);
    if (!p || m.pid !== this.io.portId) return false;
    const ends = m.type === NLMSG_ERROR || m.type === NLMSG_DONE;
    if (p.abandoned) {
      if (ends) {
        this.release(p);
        this.pump();
      }
      return true;
    }
    if (m.flags & NLM_F_DUMP_INTR) p.interrupted = true;
    if (ends) {
      const err = replyError(p.what, m);
      const interrupted = !err && p.interrupted && p.kind === 'dump';
      if (interrupted && p.attempts <= DUMP_RETRIES) {
        // The table changed while the kernel walked it: walk it again (same dump slot, same clock).
        this.sent.delete(p.seq);
        this.transmit(p);
        return true;
      }
      this.release(p);
      this.settle(p, err ?? (interrupted ? dumpInterrupted(p.what, p.attempts) : undefined));
      return true;
    }
    if (p.kind !== 'request' && m.type === p.replyType) {
      p.out.push(m);
      return true;
    }
    // Before a change's ack, the kernel echoes the change with our seq to groups we joined: an event.
    return p.kind !== 'request';
  }

  /** A read error: ENOBUFS means the kernel dropped messages for want of room; anything else is fatal. */
  private readFailed(err: Error): void {
    if (isErrno(err, 'ENOBUFS')) {
      if (this.multicast) {
        // Events or replies were lost, we cannot tell which: subscribers resync; a lost reply
        // ends in its request's timeout.
        this.publishError(new NetlinkError('receive events', 'ENOBUFS', ENOBUFS, 'receive buffer overrun: events were lost'));
        return;
      }
      for (const p of [...this.sent.values()]) {
        if (!p.abandoned) this.fail(p, new NetlinkError(p.what, 'ENOBUFS', ENOBUFS, 'receive buffer overrun: the answer was lost (the request may have taken effect)'));
      }
      return;
    }
    this.abortAll(() => err);
    this.publishError(err);
    this.subscribers.clear();
  }

  /** Reject every outstanding request at once (close, a dead socket); nothing more is sent. */
  private abortAll(reason: (p: Pending) => Error): void {
    const outstanding = [...this.queue, ...this.sent.values()];
    this.queue = [];
    this.sent.clear();
    this.dumping = undefined;
    for (const p of outstanding) {
      clearTimeout(p.timer);
      p.timer = undefined;
      if (p.settled) continue;
      p.settled = true;
      p.reject(reason(p));
    }
  }

  /**
   * Fail a request. One already sent keeps its seq (and a dump the dump slot) until the kernel
   * ends its answer, so that the rest of that answer is recognised and ignored.
   */
  private fail(p: Pending, err: Error): void {
    if (p.seq && this.sent.get(p.seq) === p) this.abandon(p);
    else this.release(p);
    this.settle(p, err);
  }

  private expire(p: Pending): void {
    p.timer = undefined;
    if (p.settled) {
      // Abandoned, and the kernel never ended its answer: give its seq and slot up after all.
      this.release(p);
      this.pump();
      return;
    }
    this.fail(p, new TimeoutError(`${p.what}: no answer from the kernel`));
  }

  /** Ignore the rest of an answer, holding its seq (and dump slot) until its end arrives or one more timeout. */
  private abandon(p: Pending): void {
    p.abandoned = true;
    clearTimeout(p.timer);
    p.timer = setTimeout(() => this.expire(p), this.timeoutMs);
    p.timer.unref();
  }

  /** Forget a request: out of the queue, out of the sent map, out of the dump slot. */
  private release(p: Pending): void {
    clearTimeout(p.timer);
    p.timer = undefined;
    if (p.seq && this.sent.get(p.seq) === p) this.sent.delete(p.seq);
    if (this.dumping === p) this.dumping = undefined;
    const i = this.queue.indexOf(p);
    if (i >= 0) this.queue.splice(i, 1);
  }

  private settle(p: Pending, err: Error | undefined): void {
    if (p.settled) return;
    p.settled = true;
    if (!p.abandoned) {
      clearTimeout(p.timer);
      p.timer = undefined;
    }
    if (err) p.reject(err);
    else p.resolve(p.out);
    this.pump();
  }

  private publish(all: NetlinkMessage[], groups: number): void {
    // Control messages (NLMSG_ERROR, NLMSG_DONE...) are late answers, never events.
    const messages = all.filter((m) => m.type >= NLMSG_MIN_TYPE);
    if (!messages.length) return;
    for (const sub of [...this.subscribers]) {
      if (!this.subscribers.has(sub)) continue;
      const mine = groups === 0 || [...sub.groups].some((g) => g <= 32 && (groups & (1 << (g - 1))) !== 0);
      if (mine) sub.onMessages(messages);
    }
  }

  private publishError(err: Error): void {
    for (const sub of [...this.subscribers]) sub.onError?.(err);
  }

  private leave(groups: number[]): void {
    for (const group of groups) {
      const refs = (this.groupRefs.get(group) ?? 1) - 1;
      if (refs > 0) {
        this.groupRefs.set(group, refs);
        continue;
      }
      this.groupRefs.delete(group);
      this.io.membership(group, false);
    }
  }

  /** Watch the socket while a reply or an event is expected, and only then (an idle socket keeps no process alive). */
  private updateWatch(): void {
    if (this.reading && !this.closed) return;
    const wanted = !this.closed && (this.sent.size > 0 || this.subscribers.size > 0);
    if (wanted && !this.stopWatching) this.stopWatching = this.io.watch(() => this.onReadable());
    else if (!wanted && this.stopWatching) {
      this.stopWatching();
      this.stopWatching = undefined;
    }
  }

  /** The next sequence number: never 0 (events carry 0), never one still outstanding. */
  private nextSeq(): number {
    do this.seq = (this.seq + 1) >>> 0;
    while (this.seq === 0 || this.sent.has(this.seq));
    return this.seq;
  }
}

/** One message of a transaction(): `what` names it in errors ("NEWSET net_blue"). */
export interface TransactionMessage {
  what: string;
  type: number;
  flags: number;
  payload: Buffer;
}

/** The kernel refused message number `index` of a transaction (the batch was not applied). */
export class TransactionError extends NetlinkError {
  override name = 'TransactionError';
  constructor(
    cause: NetlinkError,
    readonly index: number,
    /** NLMSGERR_ATTR_OFFS: where in the refused message (from its nlmsghdr) the offending attribute starts. */
    readonly attrOffset?: number,
  ) {
    super(cause.request, cause.code, cause.errno, cause.extack);
  }
}

/** The error an NLMSG_ERROR/NLMSG_DONE carries, or undefined for an acknowledgement / a clean end. */
function replyError(what: string, m: NetlinkMessage): NetlinkError | undefined {
  const errno = m.payload.length >= 4 ? -m.payload.readInt32LE(0) : 0;
  if (errno <= 0) return undefined;
  return new NetlinkError(what, errnoName(errno), errno, extackMessage(m));
}

function dumpInterrupted(what: string, attempts: number): NetlinkError {
  return new NetlinkError(what, 'EINTR', EINTR, `dump was interrupted by a concurrent change ${attempts} times in a row`);
}

/** NLMSGERR_ATTR_OFFS (linux/netlink.h): the offending attribute's offset in the request. */
const NLMSGERR_ATTR_OFFS = 2;

/** NLMSGERR_ATTR_OFFS from an error message, when the kernel attached one. */
function extackOffset(m: NetlinkMessage): number | undefined {
  if (!(m.flags & NLM_F_ACK_TLVS) || m.type !== NLMSG_ERROR) return undefined;
  const offs = decodeAttrs(m.payload.subarray(4 + NLMSG_HDRLEN)).get(NLMSGERR_ATTR_OFFS);
  return offs && offs.length >= 4 ? offs.readUInt32LE(0) : undefined;
}

/** NLMSGERR_ATTR_MSG from an error/done message, when the kernel attached one. */
function extackMessage(m: NetlinkMessage): string | undefined {
  if (!(m.flags & NLM_F_ACK_TLVS)) return undefined;
  // nlmsgerr = int error + the request's nlmsghdr (payload capped by NETLINK_CAP_ACK).
  const offset = m.type === NLMSG_ERROR ? 4 + NLMSG_HDRLEN : 4;
  const text = decodeAttrs(m.payload.subarray(offset)).get(NLMSGERR_ATTR_MSG);
  if (!text) return undefined;
  const nul = text.indexOf(0);
  return text.toString('utf8', 0, nul < 0 ? text.length : nul);
}
