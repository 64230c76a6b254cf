/**
 * Network namespaces as file descriptors: opening one by path, telling two apart, and reaching
 * its /proc/sys/net files (which resolve to the netns of whoever opens them).
 */
import * as fs from 'node:fs';
import { InputError } from '../core/errors';
import { native } from './native';

/** A network namespace held open by fd. `fd` -1 means "the namespace this process is in". */
export class NetnsHandle {
  private constructor(
    readonly fd: number,
    readonly path: string,
    /** "dev:inode" of the nsfs inode: equal for two handles to the same namespace. */
    readonly id: string,
  ) {}

  static current(): NetnsHandle {
    const st = fs.statSync('/proc/self/ns/net');
    return new NetnsHandle(-1, '/proc/self/ns/net', `${st.dev}:${st.ino}`);
  }

  /** Open a netns by path (/proc/PID/ns/net, /run/netns/NAME); errors name the path. */
  static open(path: string): NetnsHandle {
    let fd: number;
    try {
      fd = fs.openSync(path, fs.constants.O_RDONLY);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code ?? 'EIO';
      throw new InputError(`network namespace ${path}: ${code === 'ENOENT' ? 'does not exist' : code}`);
    }
    const st = fs.fstatSync(fd);
    // nsfs inodes live on a device of their own; a regular file here is a wrong path.
    if (!st.isFile() || st.size !== 0 || !isNetnsInode(path, st)) {
      fs.closeSync(fd);
      throw new InputError(`${path} is not a network namespace`);
    }
    return new NetnsHandle(fd, path, `${st.dev}:${st.ino}`);
  }

  close(): void {
    if (this.fd >= 0) fs.closeSync(this.fd);
  }
}

function isNetnsInode(path: string, st: fs.Stats): boolean {
  // readlink on /proc/*/ns/net gives "net:[inode]"; bind mounts under /run/netns do not, so
  // compare with the nsfs device of our own namespace instead.
  const own = fs.statSync('/proc/self/ns/net');
  if (st.dev === own.dev) return true;
  try {
    return fs.readlinkSync(path).startsWith('net:[');
  } catch {
    return false;
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
