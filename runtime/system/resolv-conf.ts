/**
 * The container's resolver from the RA (config `resolv_conf = "ra"`, issue 11 item 7): the RA's
 * RDNSS servers and DNSSL domains as `nameserver` and `search` lines in the file the container sees
 * as /etc/resolv.conf — the source of config.json's bind mount onto it (podman, Docker), else
 * `<root.path>/etc/resolv.conf` in the bundle's rootfs.
 *
 * A rootfs is the image's, and hostile: no symbolic link is followed anywhere (every directory on
 * the way must be its own real path, and the file itself a regular file of its own: a symbolic
 * link, FIFO, device, socket or directory — or a file with other hard links — is refused), and a
 * rootfs file is replaced atomically (a temp file beside it, then rename; nothing left on failure).
 * A bind mount's source is written in place instead: by createRuntime the runtime has already bound
 * that inode onto the container's /etc/resolv.conf, and a rename would put a file beside the one
 * the container sees. Errors are one line naming the file and what was wrong, never its content.
 */
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { InputError } from '../core/errors';

/** Far beyond any resolv.conf we write (max_dns_servers ≤ 256 servers; a bounded search list). */
export const MAX_RESOLV_CONF_BYTES = 64 * 1024;
/** At most this many search domains, of at most 253 characters each, are written. */
const MAX_SEARCH_DOMAINS = 32;
const DOMAIN = /^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*\.?$/;
const ADDRESS = /^[0-9A-Fa-f:.]{2,45}$/;

const { constants: c } = fs;

/** The file's text: a comment line, one `nameserver` per server, one `search` line. */
export function resolvConfText(rdnss: string[], dnssl: string[]): string {
  const servers = rdnss.filter((s) => ADDRESS.test(s));
  const domains = dnssl.filter((d) => d.length <= 253 && DOMAIN.test(d)).slice(0, MAX_SEARCH_DOMAINS);
  const lines = ['# written by oci-slaac-hook from the router advertisement (RDNSS, DNSSL)', ...servers.map((s) => `nameserver ${s}`)];
  if (domains.length > 0) lines.push(`search ${domains.join(' ')}`);
  const text = `${lines.join('\n')}\n`;
  if (Buffer.byteLength(text) > MAX_RESOLV_CONF_BYTES) throw new RangeError(`resolv.conf text larger than ${MAX_RESOLV_CONF_BYTES} bytes`);
  return text;
}

const kindOf = (st: fs.Stats): string =>
  st.isSymbolicLink() ? 'a symbolic link' : st.isDirectory() ? 'a directory' : st.isFIFO() ? 'a FIFO' : st.isCharacterDevice() ? 'a character device' : st.isBlockDevice() ? 'a block device' : st.isSocket() ? 'a socket' : 'not a regular file';

const errno = (err: unknown): string => (err as NodeJS.ErrnoException).code ?? (err as Error).message;

/**
 * An fd of directory `dir`, which must be its own real path: opened, then its path as the kernel
 * has it (/proc/self/fd/N) compared with `dir` — a symbolic link anywhere on the way gives another
 * path, and is refused. Whatever is swapped afterwards, the fd stays that directory: the file is
 * then opened and renamed relative to it (/proc/self/fd/N/NAME), the last component not followed.
 */
function openRealDirectory(dir: string, what: string): number {
  let fd: number;
  try {
    fd = fs.openSync(dir, c.O_RDONLY | c.O_DIRECTORY | c.O_NOCTTY | c.O_NONBLOCK);
  } catch (err) {
    const code = errno(err);
    throw new InputError(`${what} ${dir}: ${code === 'ENOENT' ? 'does not exist' : code === 'ENOTDIR' ? 'is not a directory: refused' : `cannot be opened (${code})`}`);
  }
  let real: string;
  try {
    real = fs.readlinkSync(`/proc/self/fd/${fd}`);
  } catch (err) {
    fs.closeSync(fd);
    throw new Error(`${what} ${dir}: cannot tell where it is (${errno(err)})`);
  }
  if (real !== dir) {
    fs.closeSync(fd);
    throw new InputError(`${what} ${dir} goes through a symbolic link (to ${real}): refused`);
  }
  return fd;
}

/** The file in directory fd `dirFd`, not followed: a regular file with no other hard link, or absent (undefined) when `missingOk`. */
function checkFile(dirFd: number, file: string, missingOk: boolean): fs.Stats | undefined {
  let st: fs.Stats;
  try {
    st = fs.lstatSync(`/proc/self/fd/${dirFd}/${path.basename(file)}`);
  } catch (err) {
    if (errno(err) === 'ENOENT' && missingOk) return undefined;
    throw new InputError(`resolv.conf ${file}: ${errno(err) === 'ENOENT' ? 'does not exist' : `cannot be read (${errno(err)})`}`);
  }
  if (!st.isFile()) throw new InputError(`resolv.conf ${file} is ${kindOf(st)}, not a regular file: refused`);
  if (st.nlink !== 1) throw new InputError(`resolv.conf ${file} has ${st.nlink} hard links: refused`);
  return st;
}

/** Run `fn` with an fd of `dir` (a real path), closing it after. */
function inDirectory<T>(dir: string, what: string, fn: (dirFd: number) => T): T {
  const fd = openRealDirectory(dir, what);
  try {
    return fn(fd);
  } finally {
    fs.closeSync(fd);
  }
}

/** A path the runtime gave (its own symbolic links followed: the runtime's, not the image's), resolved. */
function runtimePath(p: string, what: string): string {
  try {
    return fs.realpathSync(p);
  } catch (err) {
    throw new InputError(`${what} ${p}: ${errno(err) === 'ENOENT' ? 'does not exist' : `cannot be resolved (${errno(err)})`}`);
  }
}

export interface ResolvConfTarget {
  /** Its real path (recorded: the agent rewrites it there). */
  file: string;
  /** in-place: a bind mount's source (the container sees that inode); replace: a rootfs file (temp + rename). */
  how: 'in-place' | 'replace';
}

/**
 * Where the container's /etc/resolv.conf is, checked before anything is made (an InputError when
 * it is not a file we may write): config.json's bind mount source, else the rootfs's. The
 * runtime's paths (the bundle, root.path, the source's directory) are resolved; inside the rootfs
 * nothing is followed (`etc` must be a directory, not a link).
 */
export function resolvConfTarget(bundle: string, oci: { rootPath?: string; resolvConfMount?: { kind: 'bind'; source: string } | { kind: 'other' } }): ResolvConfTarget {
  const mount = oci.resolvConfMount;
  if (mount?.kind === 'other') throw new InputError('resolv_conf = "ra": config.json mounts something other than a file onto /etc/resolv.conf: refused');
  if (mount?.kind === 'bind') {
    const dir = runtimePath(path.dirname(path.resolve(mount.source)), 'resolv.conf bind mount source directory');
    const file = path.join(dir, path.basename(mount.source));
    inDirectory(dir, 'resolv.conf bind mount source directory', (fd) => checkFile(fd, file, false));
    return { file, how: 'in-place' };
  }
  const root = runtimePath(path.resolve(bundle, oci.rootPath ?? 'rootfs'), 'rootfs');
  const etc = path.join(root, 'etc');
  const file = path.join(etc, 'resolv.conf');
  inDirectory(etc, 'rootfs directory', (fd) => checkFile(fd, file, true));
  return { file, how: 'replace' };
}

/** Write all of `data` at the fd's offset 0. */
function writeAll(fd: number, data: Buffer): void {
  let off = 0;
  while (off < data.length) off += fs.writeSync(fd, data, off, data.length - off, off);
}

/**
 * Write the RA's servers and search list into `file`, a real path (see resolvConfTarget).
 * `replace`: a temp file in the same directory renamed over it (atomic; nothing left on failure);
 * otherwise in place (the same inode: what a bind mount shows) — the way the agent rewrites it
 * later, right for either kind. No symbolic link is followed; the file must be a regular file of
 * its own. Throws one line (InputError for a refused file).
 */
export function writeResolvConf(file: string, rdnss: string[], dnssl: string[], opts: { replace?: boolean } = {}): void {
  const data = Buffer.from(resolvConfText(rdnss, dnssl));
  const abs = path.resolve(file);
  const name = path.basename(abs);
  inDirectory(path.dirname(abs), 'resolv.conf directory', (dirFd) => {
    const at = (n: string): string => `/proc/self/fd/${dirFd}/${n}`;
    const before = checkFile(dirFd, abs, opts.replace === true);
    if (opts.replace) {
      const tempName = `.resolv.conf.oci-slaac-hook.${process.pid}.${randomBytes(4).toString('hex')}`;
      let fd: number | undefined;
      try {
        fd = fs.openSync(at(tempName), c.O_WRONLY | c.O_CREAT | c.O_EXCL | c.O_NOFOLLOW | c.O_NOCTTY, 0o644);
        writeAll(fd, data);
        fs.fchmodSync(fd, before ? before.mode & 0o777 : 0o644);
        fs.fsyncSync(fd);
        fs.closeSync(fd);
        fd = undefined;
        fs.renameSync(at(tempName), at(name));
      } catch (err) {
        if (fd !== undefined) fs.closeSync(fd);
        fs.rmSync(at(tempName), { force: true });
        throw new Error(`cannot write resolv.conf ${abs} (${errno(err)})`);
      }
      return;
    }
    let fd: number;
    try {
      fd = fs.openSync(at(name), c.O_WRONLY | c.O_NOFOLLOW | c.O_NONBLOCK | c.O_NOCTTY);
    } catch (err) {
      const code = errno(err);
      if (code === 'ELOOP') throw new InputError(`resolv.conf ${abs} is a symbolic link: refused`);
      if (code === 'ENXIO' || code === 'EISDIR') throw new InputError(`resolv.conf ${abs} is not a regular file: refused`);
      throw new InputError(`resolv.conf ${abs}: ${code === 'ENOENT' ? 'does not exist' : `cannot be opened (${code})`}`);
    }
    try {
      const st = fs.fstatSync(fd);
      if (!st.isFile()) throw new InputError(`resolv.conf ${abs} is ${kindOf(st)}, not a regular file: refused`);
      if (before && st.ino !== before.ino) throw new InputError(`resolv.conf ${abs} was replaced while being checked: refused`);
      if (st.nlink !== 1) throw new InputError(`resolv.conf ${abs} has ${st.nlink} hard links: refused`);
      try {
        writeAll(fd, data);
        fs.ftruncateSync(fd, data.length);
      } catch (err) {
        throw new Error(`cannot write resolv.conf ${abs} (${errno(err)})`);
      }
    } finally {
      fs.closeSync(fd);
    }
  });
}
