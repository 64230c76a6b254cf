/**
 * The typed face of our N-API addon (runtime/native/addon.c). Everything that needs a system call
 * Node does not offer goes through here; errors thrown by the addon carry `code` (errno name),
 * `errno` and `syscall`.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

export interface ControlMessage {
  level: number;
  type: number;
  data: Buffer;
}

export interface ReceivedMessage {
  data: Buffer;
  /** The sender's sockaddr bytes. */
  name: Buffer;
  control: ControlMessage[];
  flags: number;
  /** recvmsg's return: the real datagram length when MSG_TRUNC was passed in flags. */
  length: number;
}

export interface WatchHandle {
  readonly __watchHandle: unique symbol;
}

export interface NativeAddon {
  socketat(nsfd: number, domain: number, type: number, protocol: number): number;
  openat(nsfd: number, path: string, flags: number, mode: number): number;
  close(fd: number): void;
  /** flock(2): true when taken; false only when busy and `wait` is false. */
  flock(fd: number, exclusive: boolean, wait: boolean): boolean;
  setsockopt(fd: number, level: number, name: number, value: number | Uint8Array): void;
  getsockopt(fd: number, level: number, name: number, maxlen: number): Buffer;
  bind(fd: number, sockaddr: Uint8Array): void;
  read(fd: number, maxlen: number): Buffer | null;
  write(fd: number, data: Uint8Array): number;
  sendmsg(fd: number, data: Uint8Array, name: Uint8Array | null, control: ControlMessage[] | null, flags: number): number;
  recvmsg(fd: number, maxlen: number, flags: number): ReceivedMessage | null;
  watch(fd: number, events: number, callback: (status: number, events: number) => void): WatchHandle;
  unwatch(handle: WatchHandle): void;
  /** fstatfs(2): the file system type (f_type) of what `fd` refers to; NSFS_MAGIC for a namespace. */
  fstatfs(fd: number): number;
  /** ioctl(fd, NS_GET_NSTYPE): the CLONE_NEW* type of a namespace fd; throws ENOTTY for any other file. */
  nsType(fd: number): number;
  /** getsockname(2): the socket's own address bytes (sockaddr_nl: the netlink port id at offset 4). */
  getsockname(fd: number): Buffer;
  /** clock_gettime(CLOCK_BOOTTIME) in ms, sub-ms precision: monotonic, suspend included. */
  clockBoottime(): number;
  /** socketpair(domain, type) -> [fd, fd], close-on-exec. */
  socketpair(domain: number, type: number): [number, number];
  listen(fd: number, backlog: number): void;
  /** posix_spawn(3) in a session of its own, stdio on /dev/null, signals at their defaults; the child's pid (never waited for). */
  spawn_detached(path: string, argv: string[], envp: string[]): number;
  /** execve(2), the fds in `inherit` without FD_CLOEXEC, signals Node ignores reset to default and the mask emptied first; returns only by throwing. */
  execve(path: string, argv: string[], envp: string[], inherit: number[]): never;
  /** accept4(fd, SOCK_NONBLOCK | SOCK_CLOEXEC): the new fd, or null when none waits. */
  accept(fd: number): number | null;
  connect(fd: number, sockaddr: Uint8Array): void;
  /** The user namespace owning namespace file `fd`, as a new close-on-exec fd (ioctl NS_GET_USERNS). */
  nsUserns(fd: number): number;
  /** The parent of user namespace `fd`, as a new close-on-exec fd (ioctl NS_GET_PARENT; EPERM past our own). */
  nsParent(fd: number): number;
  /** ioctl(NS_GET_OWNER_UID): the uid (in our user namespace) owning user namespace `fd`. */
  nsOwnerUid(fd: number): number;
  constants: {
    SOCK_NONBLOCK: number;
    O_NONBLOCK: number;
    MSG_TRUNC: number;
    MSG_DONTWAIT: number;
    MSG_CTRUNC: number;
    MSG_CMSG_CLOEXEC: number;
    UV_READABLE: number;
    UV_WRITABLE: number;
  };
}

/** Linux ABI numbers used by the JS side (stable kernel UAPI values). */
export const AF_UNIX = 1;
export const AF_INET6 = 10;
export const AF_NETLINK = 16;
export const SOCK_DGRAM = 2;
export const SOCK_RAW = 3;
export const SOL_SOCKET = 1;
export const SO_RCVBUF = 8;
export const SO_BINDTODEVICE = 25;
export const SO_RCVTIMEO = 20;
export const SO_SNDTIMEO = 21;
export const SO_PEERCRED = 17;
export const SOCK_SEQPACKET = 5;
export const IPPROTO_IPV6 = 41;
export const IPPROTO_ICMPV6 = 58;

let loaded: NativeAddon | undefined;

/**
 * Where the addon is, under the package root (<root>/dist holds the bundle, one level below it;
 * this source file is <root>/runtime/system, two): OCI_SLAAC_HOOK_ADDON if set; else a build from
 * source, <root>/build/Release/osh_native.node (a checkout, or an npm install where no prebuild
 * matched: scripts/install-addon.js); else the prebuild shipped in the npm package,
 * <root>/prebuilds/<platform>-<arch>/osh_native.node (N-API: one per platform and arch, whatever
 * the node version). A local build first, as node-gyp-build does: it was made for this machine.
 */
export function addonPath(env: NodeJS.ProcessEnv = process.env, dir: string = __dirname): string {
  if (env.OCI_SLAAC_HOOK_ADDON) return env.OCI_SLAAC_HOOK_ADDON;
  const root = path.join(dir, ...(path.basename(dir) === 'system' ? ['..', '..'] : ['..']));
  const built = path.join(root, 'build', 'Release', 'osh_native.node');
  const prebuilt = path.join(root, 'prebuilds', `${process.platform}-${process.arch}`, 'osh_native.node');
  return !fs.existsSync(built) && fs.existsSync(prebuilt) ? prebuilt : built;
}

export function native(): NativeAddon {
  if (!loaded) {
    const mod = { exports: {} as NativeAddon };
    process.dlopen(mod, addonPath());
    loaded = mod.exports;
  }
  return loaded;
}

/** struct timeval for SO_RCVTIMEO / SO_SNDTIMEO: `ms` as seconds and microseconds. */
export function timeval(ms: number): Buffer {
  const tv = Buffer.alloc(16);
  tv.writeBigInt64LE(BigInt(Math.floor(ms / 1000)), 0);
  tv.writeBigInt64LE(BigInt((ms % 1000) * 1000), 8);
  return tv;
}
