/**
 * A NETLINK_ROUTE socket opened inside a chosen network namespace, with synchronous
 * request/acknowledge and multi-part dumps (sequence-checked), and errors that carry the errno
 * and the kernel's extended-ack text.
 *
 * rtnetlink handles a request inside sendmsg(), so the answer is already queued when we read:
 * requests are synchronous on purpose (no event-loop round trip on the hook's hot path). A
 * receive timeout bounds the wait should the kernel ever not answer.
 */
import * as os from 'node:os';
import { NetlinkError, TimeoutError } from '../../core/errors';
import { AF_NETLINK, SOCK_RAW, SOL_SOCKET, SO_RCVBUF, SO_RCVTIMEO, native } from '../native';
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

export class RtnetlinkSocket {
  private seq = Math.floor(Math.random() * 0x7fffffff);
  private closed = false;

  private constructor(readonly fd: number, readonly netns: NetnsHandle | undefined) {}

  /** Open a request socket in `netns` (the current namespace when omitted). */
  static open(netns?: NetnsHandle, opts: { timeoutMs?: number; nonBlocking?: boolean } = {}): RtnetlinkSocket {
    const addon = native();
    const type = SOCK_RAW | (opts.nonBlocking ? addon.constants.SOCK_NONBLOCK : 0);
    const fd = addon.socketat(netns?.fd ?? -1, AF_NETLINK, type, NETLINK_ROUTE);
    try {
      addon.setsockopt(fd, SOL_NETLINK, NETLINK_EXT_ACK, 1);
      addon.setsockopt(fd, SOL_NETLINK, NETLINK_CAP_ACK, 1);
      addon.setsockopt(fd, SOL_NETLINK, NETLINK_GET_STRICT_CHK, 1);
      addon.setsockopt(fd, SOL_SOCKET, SO_RCVBUF, 1 << 20);
      const tv = Buffer.alloc(16);
      const ms = opts.timeoutMs ?? 5000;
      tv.writeBigInt64LE(BigInt(Math.floor(ms / 1000)), 0);
      tv.writeBigInt64LE(BigInt((ms % 1000) * 1000), 8);
      addon.setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, tv);
      addon.bind(fd, sockaddrNl());
    } catch (err) {
      addon.close(fd);
      throw err;
    }
    return new RtnetlinkSocket(fd, netns);
  }

  close(): void {
    if (!this.closed) native().close(this.fd);
    this.closed = true;
  }

  /** Join a multicast group (RTNLGRP_*) to receive events. */
  joinGroup(group: number): void {
    native().setsockopt(this.fd, SOL_NETLINK, NETLINK_ADD_MEMBERSHIP, group);
  }

  /** Send a request and wait for its acknowledgement. `what` names it in errors. */
  request(what: string, type: number, flags: number, payload: Buffer): void {
    this.exchange(what, type, flags | NLM_F_ACK, payload, () => undefined);
  }

  /** Send a single-object GET request: its reply messages of `replyType` (the kernel acks after). */
  get(what: string, type: number, payload: Buffer, replyType: number): NetlinkMessage[] {
    const out: NetlinkMessage[] = [];
    this.exchange(what, type, NLM_F_ACK, payload, (m) => {
      if (m.type === replyType) out.push(m);
    });
    return out;
  }

  /** Send a dump request and collect every reply message of `replyType`. */
  dump(what: string, type: number, payload: Buffer, replyType: number): NetlinkMessage[] {
    const out: NetlinkMessage[] = [];
    this.exchange(what, type, NLM_F_DUMP, payload, (m) => {
      if (m.type === replyType) out.push(m);
    });
    return out;
  }

  /** Read whatever is queued without blocking (for event sockets). */
  readPending(): NetlinkMessage[] {
    const addon = native();
    const out: NetlinkMessage[] = [];
    for (;;) {
      const got = addon.recvmsg(this.fd, RECV_MAX, addon.constants.MSG_DONTWAIT);
      if (!got) return out;
      out.push(...decodeMessages(got.data));
    }
  }

  private exchange(what: string, type: number, flags: number, payload: Buffer, onMessage: (m: NetlinkMessage) => void): void {
    const addon = native();
    const seq = (this.seq = (this.seq + 1) >>> 0);
    addon.sendmsg(this.fd, encodeMessage({ type, flags: flags | NLM_F_REQUEST, seq, pid: 0 }, payload), sockaddrNl(), null, 0);
    let interrupted = false;
    for (;;) {
      let got;
      try {
        got = addon.recvmsg(this.fd, RECV_MAX, 0);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'EAGAIN') throw new TimeoutError(`${what}: no answer from the kernel`);
        throw err;
      }
      if (!got) throw new TimeoutError(`${what}: no answer from the kernel`);
      if (got.flags & addon.constants.MSG_TRUNC) throw new NetlinkError(what, 'EMSGSIZE', 90, 'netlink reply truncated');
      for (const m of decodeMessages(got.data)) {
        if (m.seq !== seq) continue; // a late reply to an earlier request, or an event
        if (m.flags & NLM_F_DUMP_INTR) interrupted = true;
        if (m.type === NLMSG_ERROR) {
          const errno = -m.payload.readInt32LE(0);
          if (errno === 0) return;
          throw new NetlinkError(what, errnoName(errno), errno, extackMessage(m));
        }
        if (m.type === NLMSG_DONE) {
          const errno = m.payload.length >= 4 ? -m.payload.readInt32LE(0) : 0;
          if (errno > 0) throw new NetlinkError(what, errnoName(errno), errno, extackMessage(m));
          if (interrupted) throw new NetlinkError(what, 'EINTR', 4, 'dump was interrupted by a concurrent change; retry');
          return;
        }
        onMessage(m);
      }
    }
  }
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
