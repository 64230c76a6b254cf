/**
 * The host's RFC 7217 §5 secret_key: 32 random bytes in `<state dir>/secret`, created once and
 * shared by every hook process — or, with config.toml's `secret_file`, a secret the operator
 * installed on several hosts of one link, so that a container name gets the same addresses and
 * MAC on any of them (loadSecret). Synchronous: it is read on every hook invocation.
 */
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { isErrno } from '../core/errors';

export const HOST_SECRET_BYTES = 32;

/**
 * Read `<dir>/secret`, creating it first if it does not exist. Concurrent first calls all return
 * the same secret: each writes a private temp file and hard-links it into place, and link(2) lets
 * exactly one win. Throws if the file is not 32 bytes or is accessible to group or others.
 */
export function loadOrCreateHostSecret(dir: string = hostSecretDir()): Buffer {
  const path = join(dir, 'secret');
  return readSecretFile(path, 'host') ?? createSecret(dir, path);
}

/**
 * The secret config.toml names: `secret_file` when set (shared; it must exist — we never make it —
 * and pass checkSharedSecret), else the host's own (made at first use).
 */
export function loadSecret(cfg: { secret_file: string }, dir: string = hostSecretDir()): Buffer {
  return cfg.secret_file ? readSharedSecret(cfg.secret_file) : loadOrCreateHostSecret(dir);
}

/** Which secret a config uses, as doctor and the logs say it. */
export const secretPath = (cfg: { secret_file: string }, dir: string = hostSecretDir()): string => cfg.secret_file || join(dir, 'secret');

/**
 * A shared secret file (`secret_file`): an absolute path to a regular file of exactly 32 bytes,
 * owned by root or by us, neither group nor other able to read or write it. Anything else is a
 * one-line Error naming the file and what is wrong with it (readSecretFile).
 */
export function readSharedSecret(path: string): Buffer {
  if (!path.startsWith('/')) throw new Error(`secret_file ${path}: not an absolute path`);
  const secret = readSecretFile(path, 'shared');
  if (!secret) throw new Error(`secret_file ${path} does not exist (a shared secret is installed by the operator: head -c 32 /dev/urandom > FILE on one host, then install -m 0600 -o root on each)`);
  return secret;
}

/** Where the host secret lives: `OCI_SLAAC_HOOK_STATE_LIB`, else /var/lib/oci-slaac-hook. */
export const hostSecretDir = (): string => process.env.OCI_SLAAC_HOOK_STATE_LIB ?? '/var/lib/oci-slaac-hook';

/** The host secret if it exists (undefined if not; never created here); throws as loadOrCreateHostSecret does on a bad one. */
export const readHostSecret = (dir: string = hostSecretDir()): Buffer | undefined => readSecretFile(join(dir, 'secret'), 'host');

/**
 * open + fstat + read, for the host's own secret and a shared one alike: undefined if the file does
 * not exist. Opened with O_NONBLOCK (a FIFO there must not hang the hook) and checked on the open
 * descriptor (no race with a rename). A shared file must also be root's (or ours): the operator
 * put it there, where anyone else's could choose every address on the link.
 */
function readSecretFile(path: string, kind: 'host' | 'shared'): Buffer | undefined {
  const shared = kind === 'shared';
  const what = shared ? `secret_file ${path}` : `host secret ${path}`;
  let fd: number;
  try {
    fd = fs.openSync(path, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK | fs.constants.O_NOCTTY);
  } catch (err) {
    if (isErrno(err, 'ENOENT')) return undefined;
    if (!shared) throw err;
    if (isErrno(err, 'EACCES')) throw new Error(`${what} cannot be read by uid ${process.getuid?.() ?? '?'}: permission denied`);
    throw new Error(`${what} cannot be opened: ${(err as Error).message}`);
  }
  try {
    const st = fs.fstatSync(fd);
    if (!st.isFile()) throw new Error(`${what} is not a regular file`);
    const uid = process.getuid?.() ?? 0;
    if (shared && st.uid !== 0 && st.uid !== uid) throw new Error(`${what} is owned by uid ${st.uid}, expected root${uid !== 0 ? ` or uid ${uid}` : ''} (chown root)`);
    if ((st.mode & 0o077) !== 0) {
      throw new Error(`${what} has mode 0${(st.mode & 0o777).toString(8)}, refusing a secret open to group or others (${shared ? 'chmod 0600' : 'expected 0600'})`);
    }
    const secret = Buffer.alloc(HOST_SECRET_BYTES);
    const n = st.size === HOST_SECRET_BYTES ? fs.readSync(fd, secret, 0, HOST_SECRET_BYTES, 0) : st.size;
    if (n !== HOST_SECRET_BYTES) {
      throw new Error(shared ? `${what} is ${n} bytes, expected exactly ${HOST_SECRET_BYTES} (head -c ${HOST_SECRET_BYTES} /dev/urandom)` : `${what} is corrupt: ${n} bytes, expected ${HOST_SECRET_BYTES}`);
    }
    return secret;
  } finally {
    fs.closeSync(fd);
  }
}

/** Write a fresh secret to a temp file (O_EXCL, 0600, fsync), link it to `path`, read back the winner. */
function createSecret(dir: string, path: string): Buffer {
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  const temp = join(dir, `.secret.${process.pid}.${randomBytes(6).toString('hex')}`);
  const { O_WRONLY, O_CREAT, O_EXCL } = fs.constants;
  const fd = fs.openSync(temp, O_WRONLY | O_CREAT | O_EXCL, 0o600);
  try {
    try {
      fs.fchmodSync(fd, 0o600); // exactly 0600 whatever the umask
      const secret = randomBytes(HOST_SECRET_BYTES);
      if (fs.writeSync(fd, secret) !== secret.length) throw new Error(`short write to ${temp}`);
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    try {
      fs.linkSync(temp, path);
      syncDir(dir);
    } catch (err) {
      if (!isErrno(err, 'EEXIST')) throw err; // another process won: use its secret
    }
  } finally {
    fs.unlinkSync(temp);
  }
  const secret = readSecretFile(path, 'host');
  if (!secret) throw new Error(`host secret ${path} disappeared while being created`);
  return secret;
}

/** Make the new directory entry durable, so a crash cannot lose the secret and change every address. */
function syncDir(dir: string): void {
  const fd = fs.openSync(dir, fs.constants.O_RDONLY | fs.constants.O_DIRECTORY);
  try {
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}
