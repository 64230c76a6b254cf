// A link made of an AF_UNIX datagram socketpair, for the ND client's tests: one end is the
// client's transport, the other the router. Each datagram is the ICMPv6 bytes (checksummed by
// encodeNd) behind a small header standing in for what the kernel would tell: hop limit, source,
// destination, and the sender's clock reading at the send.
import { formatIPv6, parseIPv6, type IPv6 } from '../../runtime/core/ipv6';
import type { NdMessage, NdOption, ReceivedMeta, RouterAdvertisement } from '../../runtime/core/nd-types';
import type { Clock } from '../../runtime/system/clock';
import { AF_UNIX, SOCK_DGRAM, native, type WatchHandle } from '../../runtime/system/native';
import type { NdTransport } from '../../runtime/system/nd/client';
import type { ReceivedNd } from '../../runtime/system/nd/socket';
import { decodeNd, encodeNd } from '../../runtime/wire/ndp/codec';
import { pio, raWith } from './helpers';

export const IFINDEX = 7;
export const ROUTER = parseIPv6('fe80::1');
export const ALL_NODES = parseIPv6('ff02::1');
const HEADER = 1 + 16 + 16 + 8;

interface Frame {
  hopLimit: number;
  source: IPv6;
  destination: IPv6;
  /** The sender's clock at the send. */
  sentAt: number;
  icmp: Buffer;
}

function frame(f: Frame): Buffer {
  const h = Buffer.alloc(HEADER);
  h.writeUInt8(f.hopLimit, 0);
  f.source.copy(h, 1);
  f.destination.copy(h, 17);
  h.writeDoubleLE(f.sentAt, 33);
  return Buffer.concat([h, f.icmp]);
}

function unframe(data: Buffer): Frame {
  return {
    hopLimit: data.readUInt8(0),
    source: Buffer.from(data.subarray(1, 17)),
    destination: Buffer.from(data.subarray(17, 33)),
    sentAt: data.readDoubleLE(33),
    icmp: Buffer.from(data.subarray(HEADER)),
  };
}

/** Read every datagram queued on `fd` now. */
function drainFrames(fd: number): Frame[] {
  const out: Frame[] = [];
  for (;;) {
    const got = native().recvmsg(fd, 65536, 0);
    if (!got) return out;
    out.push(unframe(got.data));
  }
}

/** The client's end: what NdSocket does, over the socketpair; stamps receipts with `clock`. */
export class PairTransport implements NdTransport {
  readonly ifname = 'test0';
  /** Thrown by the next sends, one each, in order (errno-like errors). */
  readonly sendErrors: Error[] = [];
  private watch: WatchHandle | undefined;

  constructor(
    readonly fd: number,
    private readonly clock: Clock,
  ) {}

  get listening(): boolean {
    return this.watch !== undefined;
  }

  send(message: NdMessage, source: IPv6, destination: IPv6): Buffer {
    const err = this.sendErrors.shift();
    if (err) throw err;
    const icmp = encodeNd(message, { source, destination });
    native().write(this.fd, frame({ hopLimit: 255, source, destination, sentAt: this.clock.now(), icmp }));
    return icmp;
  }

  listen(onPackets: (packets: ReceivedNd[]) => void): void {
    this.stopListening();
    const addon = native();
    this.watch = addon.watch(this.fd, addon.constants.UV_READABLE, () => {
      const packets = drainFrames(this.fd).map((f): ReceivedNd => {
        const meta: ReceivedMeta = { source: f.source, destination: f.destination, hopLimit: f.hopLimit, ifindex: IFINDEX };
        return { meta, result: decodeNd(f.icmp, meta), at: performance.now(), bootAt: this.clock.now() };
      });
      if (packets.length) onPackets(packets);
    });
  }

  stopListening(): void {
    if (this.watch) native().unwatch(this.watch);
    this.watch = undefined;
  }
}

export interface SeenRs {
  source: string;
  destination: string;
  /** The client's clock when it sent this RS. */
  sentAt: number;
  options: NdOption[];
}

/** An RA with one SLAAC prefix, 2001:db8:1::/64 (`over` may replace anything, options too). */
export const raMessage = (over: Partial<RouterAdvertisement> = {}): RouterAdvertisement => raWith([pio('2001:db8:1::')], over);

/** The router's end: collects the RSs (validated as a router would) and writes RAs. */
export class PairRouter {
  readonly solicitations: SeenRs[] = [];
  readonly invalid: string[] = [];
  private waiters: { n: number; resolve: () => void }[] = [];
  private watch: WatchHandle | undefined;

  constructor(readonly fd: number) {
    const addon = native();
    this.watch = addon.watch(fd, addon.constants.UV_READABLE, () => {
      for (const f of drainFrames(fd)) {
        const r = decodeNd(f.icmp, { source: f.source, destination: f.destination, hopLimit: f.hopLimit, ifindex: IFINDEX });
        if (!r.ok) this.invalid.push(r.reason);
        else if (r.message.type !== 'router-solicitation') this.invalid.push(`a ${r.message.type}`);
        else this.solicitations.push({ source: formatIPv6(f.source), destination: formatIPv6(f.destination), sentAt: f.sentAt, options: r.message.options });
      }
      this.waiters = this.waiters.filter((w) => (this.solicitations.length >= w.n ? (w.resolve(), false) : true));
    });
  }

  /** Resolves once `n` RSs have arrived in all (at once if they have). */
  waitForRs(n: number): Promise<SeenRs[]> {
    return new Promise((resolve) => {
      if (this.solicitations.length >= n) resolve(this.solicitations);
      else this.waiters.push({ n, resolve: () => resolve(this.solicitations) });
    });
  }

  /** Write an RA; by default a valid one from fe80::1 to ff02::1, hop limit 255. */
  advertise(opts: { ra?: Partial<RouterAdvertisement>; source?: IPv6; destination?: IPv6; hopLimit?: number; badChecksum?: boolean } = {}): void {
    const source = opts.source ?? ROUTER;
    const destination = opts.destination ?? ALL_NODES;
    const icmp = encodeNd(raMessage(opts.ra), { source, destination });
    if (opts.badChecksum) icmp.writeUInt16BE(icmp.readUInt16BE(2) ^ 0x5a5a, 2);
    native().write(this.fd, frame({ hopLimit: opts.hopLimit ?? 255, source, destination, sentAt: 0, icmp }));
  }

  close(): void {
    if (this.watch) native().unwatch(this.watch);
    this.watch = undefined;
  }
}

/** A socketpair link: the client's transport at one end, a router at the other. */
export function pairLink(clock: Clock): { transport: PairTransport; router: PairRouter; close: () => void } {
  const addon = native();
  const [a, b] = addon.socketpair(AF_UNIX, SOCK_DGRAM | addon.constants.SOCK_NONBLOCK);
  const transport = new PairTransport(a, clock);
  const router = new PairRouter(b);
  return {
    transport,
    router,
    close: () => {
      transport.stopListening();
      router.close();
      addon.close(a);
      addon.close(b);
    },
  };
}

/** An errno-shaped error, as the addon throws. */
export function errnoError(code: string): Error {
  return Object.assign(new Error(`sendmsg: ${code}`), { code, syscall: 'sendmsg' });
}
