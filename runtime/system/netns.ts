/**
 * Network namespaces as file descriptors: opening one by path, telling two apart, and reaching
 * its /proc/sys/net files (which resolve to the netns of whoever opens them).
 */
import * as fs from 'node:fs';
import { InputError, isErrno } from '../core/errors';
import { native } from './native';

/** statfs f_type of nsfs, the file system of namespace files (linux/magic.h). */
export const NSFS_MAGIC = 0x6e736673;
/** The namespace type NS_GET_NSTYPE reports for a network namespace (linux/sched.h). */
export const CLONE_NEWNET = 0x40000000;

/**
 * A network namespace held open by fd, identified by the (device, inode) of its nsfs inode, as
 * containernetworking/plugins pkg/ns does. `fd` -1 means "the namespace this process is in".
 */
export class NetnsHandle {
  private constructor(
    readonly fd: number,
    readonly path: string,
    /** "dev:inode" of the nsfs inode: equal for two handles to the same namespace (state records keep it). */
    readonly id: string,
  ) {}

  /** The namespace this process is in (`ip netns identify` with no argument, by inode). */
  static current(): NetnsHandle {
    const st = fs.statSync('/proc/self/ns/net');
    return new NetnsHandle(-1, '/proc/self/ns/net', `${st.dev}:${st.ino}`);
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
      const st = fs.fstatSync(fd);
      return new NetnsHandle(fd, path, `${st.dev}:${st.ino}`);
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
    return this.id === other.id;
  }

  close(): void {
    if (this.fd >= 0) fs.closeSync(this.fd);
  }
}

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
