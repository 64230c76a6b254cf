/**
 * The agent's open network namespaces: every container's netns handle (its nsfs fd and a
 * NETLINK_ROUTE socket inside it) kept open between refreshes, so that one RA for N containers
 * costs N × a few netlink requests, not N × (open + nsfs checks + two setns round trips for the
 * netns cookie and the socket + close).
 *
 * A held handle is handed out again only while its path still names the same namespace: stat(2) of
 * the path gives the nsfs device and inode, compared with the held ones. While we hold the fd the
 * namespace lives on, so its inode cannot go to another namespace; a path that no longer opens
 * (the process is gone, `ip netns del`) or names another namespace drops the handle, and the
 * caller gets what a fresh open gives (an error, another netns: reopenNetns compares the record's
 * identity and says "gone"). Holding an fd also keeps a dead container's namespace (and its
 * interface) alive until the handle is dropped: the agent drops it when it forgets the container
 * (record removed, GC) and sweeps handles whose path stopped naming them at every GC tick.
 *
 * Each handle is two fds. At most `max` are held (the rest are opened per use, as without the
 * cache): by default what RLIMIT_NOFILE leaves after a reserve (Node raises the soft limit to the
 * hard one at start; the unit sets LimitNOFILE).
 */
import * as fs from 'node:fs';
import type { NetKernel } from '../system/kernel';

interface Held {
  kernel: NetKernel;
  dev: number;
  ino: number;
}

/** fds kept free for everything else (listeners, the control socket, locks, state files, DNS). */
const RESERVE_FDS = 512;

/** The soft RLIMIT_NOFILE as /proc/self/limits says (undefined when unreadable or unlimited). */
export function openFilesLimit(): number | undefined {
  try {
    const m = /^Max open files\s+(\d+)/m.exec(fs.readFileSync('/proc/self/limits', 'utf8'));
    return m?.[1] ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}

/** How many handles to hold by default: two fds each, within the soft limit less a reserve. */
export function defaultMaxHeld(limit = openFilesLimit()): number {
  if (limit === undefined) return 4096;
  return Math.max(0, Math.floor((limit - RESERVE_FDS) / 2));
}

/** `k` with a close() that keeps it open (the cache's to close). */
function lent(k: NetKernel): NetKernel {
  return Object.assign(Object.create(k) as NetKernel, { close: (): void => undefined });
}

export class NetnsCache {
  private readonly held = new Map<string, Held>();

  constructor(
    private readonly open: (path: string) => NetKernel,
    readonly max = defaultMaxHeld(),
  ) {}

  get size(): number {
    return this.held.size;
  }

  /** The netns at `path`: the held handle when the path still names it, else opened (and held while there is room). */
  openNetns(path: string): NetKernel {
    const h = this.held.get(path);
    if (h) {
      if (this.stillNames(path, h)) return lent(h.kernel);
      this.drop(path);
    }
    const k = this.open(path);
    if (this.held.size >= this.max) return k;
    const [dev, ino] = k.netns.id.split(':').map(Number);
    if (dev === undefined || ino === undefined || Number.isNaN(dev) || Number.isNaN(ino)) return k;
    this.held.set(path, { kernel: k, dev, ino });
    return lent(k);
  }

  /** Close the handle held for `path`, if any. */
  drop(path: string): void {
    const h = this.held.get(path);
    if (!h) return;
    this.held.delete(path);
    h.kernel.close();
  }

  /** Drop every handle whose path is not in `keep` or no longer names its namespace; returns how many. */
  sweep(keep: Set<string>): number {
    let n = 0;
    for (const [path, h] of [...this.held]) {
      if (keep.has(path) && this.stillNames(path, h)) continue;
      this.drop(path);
      n++;
    }
    return n;
  }

  closeAll(): void {
    for (const path of [...this.held.keys()]) this.drop(path);
  }

  private stillNames(path: string, h: Held): boolean {
    try {
      const st = fs.statSync(path);
      return st.ino === h.ino && st.dev === h.dev;
    } catch {
      return false;
    }
  }
}
