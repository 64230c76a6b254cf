/**
 * A lock per parent NIC for the host-side objects its containers share — the ipvlan mode, the l3
 * table with its rules and proxy entries, the host-link companion — so that concurrent hooks never
 * check-then-act on them at the same time. flock(2) on `<state_dir>/locks/<parent>.lock`: the
 * kernel releases it when its holder dies, so a killed hook never leaves a lock behind.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { checkIfname } from '../core/link-kinds';
import { native } from './native';

export type Unlock = () => void;

/** Take the parent's lock, waiting for it; the returned function releases it (idempotent). */
export function lockParent(stateDir: string, parent: string): Unlock {
  const dir = path.join(stateDir, 'locks');
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  const fd = fs.openSync(path.join(dir, `${checkIfname(parent)}.lock`), fs.constants.O_RDWR | fs.constants.O_CREAT, 0o600);
  try {
    native().flock(fd, true, true);
  } catch (err) {
    fs.closeSync(fd);
    throw err;
  }
  let held = true;
  return () => {
    if (held) fs.closeSync(fd); // closing the only fd releases the flock
    held = false;
  };
}

/** Run `fn` holding the parent's lock. */
export function withParentLock<T>(stateDir: string, parent: string, fn: () => T): T {
  const unlock = lockParent(stateDir, parent);
  try {
    return fn();
  } finally {
    unlock();
  }
}

/**
 * A lock per container, for the processes that may act on one container at once: poststop's
 * detach, and the background process finishing optimistic DAD (pipeline/optimistic.ts), which must
 * change nothing once poststop has undone the container. flock(2) on
 * `<state_dir>/locks/c-<SHA-256 of the id, hex>.lock`: hashed, so that any id names one short,
 * safe file (ids may be long, or start with '.' or '-'); `c-` and 64 digits never collide with a
 * parent's lock (an interface name has at most 15 characters).
 *
 * Held across awaits: waiting polls with LOCK_NB (every 10 ms) so the event loop keeps running,
 * and holders in one process queue in memory first (a second flock by the same process on another
 * open file would wait for itself). The holder that removes the container also removes its lock
 * file (`forget`): whoever takes the lock checks that the file it locked is still the one at the
 * path (same inode) and starts over if not — a lock on an unlinked file would guard nothing.
 */
export interface ContainerLock {
  /** Remove the lock file on release: the container is gone (its record removed). */
  forget(): void;
}

export function containerLockPath(stateDir: string, id: string): string {
  return path.join(stateDir, 'locks', `c-${createHash('sha256').update(id, 'utf8').digest('hex')}.lock`);
}

const queues = new Map<string, Promise<void>>();
const POLL_MS = 10;

async function flockFile(file: string): Promise<number> {
  for (;;) {
    const fd = fs.openSync(file, fs.constants.O_RDWR | fs.constants.O_CREAT | fs.constants.O_NOFOLLOW, 0o600);
    try {
      while (!native().flock(fd, true, false)) await new Promise((r) => setTimeout(r, POLL_MS));
      let same = false;
      try {
        same = fs.statSync(file).ino === fs.fstatSync(fd).ino;
      } catch {
        // removed meanwhile: start over
      }
      if (same) return fd;
    } catch (err) {
      fs.closeSync(fd);
      throw err;
    }
    fs.closeSync(fd);
  }
}

/** Run `fn` holding container `id`'s lock, until the promise it returns settles. */
export async function withContainerLock<T>(stateDir: string, id: string, fn: (lock: ContainerLock) => Promise<T> | T): Promise<T> {
  const file = containerLockPath(stateDir, id);
  const before = queues.get(file) ?? Promise.resolve();
  let done = (): void => undefined;
  const mine = new Promise<void>((r) => (done = r));
  const tail = before.then(() => mine);
  queues.set(file, tail);
  await before;
  let fd: number | undefined;
  let remove = false;
  try {
    fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
    fd = await flockFile(file);
    return await fn({ forget: () => (remove = true) });
  } finally {
    if (fd !== undefined) {
      if (remove) fs.rmSync(file, { force: true }); // unlinked while still locked: see flockFile
      fs.closeSync(fd); // closing the only fd releases the flock
    }
    done();
    if (queues.get(file) === tail) queues.delete(file);
  }
}
