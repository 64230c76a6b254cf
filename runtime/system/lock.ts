/**
 * A lock per parent NIC for the host-side objects its containers share — the ipvlan mode, the l3
 * table with its rules and proxy entries, the host-link companion — so that concurrent hooks never
 * check-then-act on them at the same time. flock(2) on `<state_dir>/locks/<parent>.lock`: the
 * kernel releases it when its holder dies, so a killed hook never leaves a lock behind.
 */
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
