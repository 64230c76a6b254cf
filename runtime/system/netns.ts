/**
 * Network namespaces as file descriptors: opening one by path, telling two apart, and reaching
 * its /proc/sys/net files (which resolve to the netns of whoever opens them).
 */
import * as fs from 'node:fs';
import { InputError, isErrno } from '../core/errors';
import { sameNetnsId } from '../core/netns-id';
import { AF_UNIX, native, SOCK_DGRAM, SOL_SOCKET } from './native';

/** statfs f_type of nsfs, the file system of namespace files (linux/magic.h). */
export const NSFS_MAGIC = 0x6e736673;
/** The namespace type NS_GET_NSTYPE reports for a network namespace (linux/sched.h). */
export const CLONE_NEWNET = 0x40000000;
/** getsockopt(SOL_SOCKET, SO_NETNS_COOKIE): the 64-bit cookie of a socket's netns (Linux 5.14, asm-generic/socket.h). */
const SO_NETNS_COOKIE = 71;

/**
 * The netns cookie: unlike the nsfs inode, which the kernel hands to the next namespace made once
 * one is freed, a cookie is never reused while the system runs (net_alloc: atomic64 counter). A
 * record kept across a container's death must compare both: a new netns may get the dead one's
 * inode. Read from a socket made inside the netns; "" where the kernel has no SO_NETNS_COOKIE.
 */
function netnsCookie(fd: number): string {
  const addon = native();
  let sock: number;
  try {
    sock = addon.socketat(fd, AF_UNIX, SOCK_DGRAM, 0);
  } catch {
    return '';
  }
  try {
    return addon.getsockopt(sock, SOL_SOCKET, SO_NETNS_COOKIE, 8).readBigUInt64LE(0).toString(16);
  } catch {
    return '';
  } finally {
    addon.close(sock);
  }
}


/**
 * A network namespace held open by fd, identified by the (device, inode) of its nsfs inode, as
 * containernetworking/plugins pkg/ns does. `fd` -1 means "the namespace this process is in".
 */
export class NetnsHandle {
  private constructor(
    readonly fd: number,
    readonly path: string,
    /**
     * "dev:inode:cookie": the nsfs inode (equal for two handles to one namespace, as `ip netns
     * identify` tells them apart) and the netns cookie (never reused: an inode is). Records keep it.
     */
    readonly id: string,
  ) {}

  /** The namespace this process is in (`ip netns identify` with no argument, by inode). */
  static current(): NetnsHandle {
    const st = fs.statSync('/proc/self/ns/net');
    return new NetnsHandle(-1, '/proc/self/ns/net', `${nsInodeId(st)}:${netnsCookie(-1)}`);
  }

  /**
   * Open a netns by path (/proc/PID/ns/net, /run/netns/NAME as made by `ip netns add`); errors
   * name the path. The opened fd must be on nsfs (fstatfs f_type NSFS_MAGIC) and be a network
   * namespace (ioctl NS_GET_NSTYPE gives CLONE_NEWNET): a regular file, a directory or another
   * kind of namespace (/proc/PID/ns/mnt) is refused. Like pkg/ns GetNS.
   */
  static open(path: string): NetnsHandle {
    let fd: number;
    try {
      // O_NONBLOCK: a FIFO given by mistake must not hang the open; nsfs files ignore the flag.
      fd = fs.openSync(path, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK | fs.constants.O_NOCTTY);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code ?? 'EIO';
      throw new InputError(`network namespace ${path}: ${code === 'ENOENT' ? 'does not exist' : code}`);
    }
    try {
      if (!isNetworkNamespace(fd)) throw new InputError(`${path} is not a network namespace`);
      return new NetnsHandle(fd, path, heldNetnsId(fd));
    } catch (err) {
      fs.closeSync(fd);
      throw err;
    }
  }

  /**
   * True when both handles are the same network namespace: same nsfs device and inode (as
   * vishvananda/netns NsHandle.Equal; `ip netns identify PID` names a netns the same way).
   */
  sameAs(other: NetnsHandle): boolean {
    return sameNetnsId(this.id, other.id);
  }

  close(): void {
    if (this.fd >= 0) fs.closeSync(this.fd);
  }
}

/**
 * The id ("dev:inode:cookie") of a network namespace held by `fd` (one received over SCM_RIGHTS),
 * or undefined when `fd` is not a network namespace (fstatfs, NS_GET_NSTYPE).
 */
export function netnsIdOfFd(fd: number): string | undefined {
  try {
    if (!isNetworkNamespace(fd)) return undefined;
  } catch {
    return undefined;
  }
  return heldNetnsId(fd);
}

/** A namespace file's nsfs identity, "dev:inode" (what `ip netns identify` compares). */
export const nsInodeId = (st: fs.Stats): string => `${st.dev}:${st.ino}`;

/** The id ("dev:inode:cookie") of the network namespace an fd holds. */
const heldNetnsId = (fd: number): string => `${nsInodeId(fs.fstatSync(fd))}:${netnsCookie(fd)}`;

/** fstatfs says nsfs, and NS_GET_NSTYPE says a network namespace. */
function isNetworkNamespace(fd: number): boolean {
  const addon = native();
  if (addon.fstatfs(fd) !== NSFS_MAGIC) return false;
  try {
    return addon.nsType(fd) === CLONE_NEWNET;
  } catch (err) {
    if (isErrno(err, 'ENOTTY') || isErrno(err, 'EINVAL')) return false;
    throw err;
  }
}

/** A namespace a container's must never be, with what it is ("the hook's own"). */
export interface NamedNetns {
  what: string;
  id: string;
}

/**
 * The host's network namespaces as the hook sees them: its own, init's (pid 1 of its pid
 * namespace) and its parent's — the runtime that runs the hook (runc and crun run createRuntime
 * and prestart hooks in the runtime's namespaces). "dev:inode", compared while both are alive.
 * One that cannot be read (no /proc/1 access) is left out.
 */
export function hostNamespaces(hook: { pid: number; ppid: number | undefined } = { pid: process.pid, ppid: process.ppid }): NamedNetns[] {
  const named: [string, string][] = [
    [hook.pid === process.pid ? "the hook's own" : `the hook's (pid ${hook.pid})`, `/proc/${hook.pid}/ns/net`],
    ["init's (pid 1)", '/proc/1/ns/net'],
  ];
  if (hook.ppid !== undefined) named.push([`the runtime's (pid ${hook.ppid})`, `/proc/${hook.ppid}/ns/net`]);
  // The agent running a hook's stage (agent/delegate.ts): its own as well.
  if (hook.pid !== process.pid) named.push(["the agent's own", '/proc/self/ns/net']);
  return named.flatMap(([what, file]) => {
    try {
      const st = fs.statSync(file);
      return [{ what, id: nsInodeId(st) }];
    } catch {
      return [];
    }
  });
}

/** Write a sysctl under /proc/sys/net as seen from `netns` ("net/ipv6/conf/eth0/accept_ra"). */
export function writeNetSysctl(netns: NetnsHandle, key: string, value: string | number): void {
  if (!/^net\/[A-Za-z0-9_./-]+$/.test(key) || key.includes('..')) throw new InputError(`invalid sysctl key: ${key}`);
  const addon = native();
  const fd = addon.openat(netns.fd, `/proc/sys/${key}`, fs.constants.O_WRONLY, 0);
  try {
    addon.write(fd, Buffer.from(`${value}\n`));
  } finally {
    addon.close(fd);
  }
}

/** Read a sysctl under /proc/sys/net as seen from `netns`. */
export function readNetSysctl(netns: NetnsHandle, key: string): string {
  if (!/^net\/[A-Za-z0-9_./-]+$/.test(key) || key.includes('..')) throw new InputError(`invalid sysctl key: ${key}`);
  const addon = native();
  const fd = addon.openat(netns.fd, `/proc/sys/${key}`, fs.constants.O_RDONLY, 0);
  try {
    return (addon.read(fd, 4096) ?? Buffer.alloc(0)).toString('utf8').trim();
  } finally {
    addon.close(fd);
  }
}
