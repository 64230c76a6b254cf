// The agent's held netns handles (runtime/agent/netns-cache.ts): handed out again only while the
// path names the same inode; dropped (closed) when it does not, when swept, at closeAll; never more
// than `max` held; a lent handle's close() keeps it open. Files stand in for nsfs paths.
import t from 'tap';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { NetnsCache, defaultMaxHeld } from '../../runtime/agent/netns-cache';
import type { NetKernel } from '../../runtime/system/kernel';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'osh-nscache-'));
t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));

interface Fake {
  kernel: NetKernel;
  closed: boolean;
}

function fixture(max?: number): { cache: NetnsCache; opened: Fake[] } {
  const opened: Fake[] = [];
  const open = (p: string): NetKernel => {
    const st = fs.statSync(p); // throws like a netns that no longer opens
    const f: Fake = { closed: false, kernel: undefined as unknown as NetKernel };
    f.kernel = { netns: { id: `${st.dev}:${st.ino}:c${opened.length}`, path: p, fd: 3 }, close: () => (f.closed = true), listLinks: () => [] } as unknown as NetKernel;
    opened.push(f);
    return f.kernel;
  };
  return { cache: new NetnsCache(open, max), opened };
}

const file = (name: string): string => {
  const p = path.join(dir, name);
  fs.writeFileSync(p, name);
  return p;
};

t.test('held while the path names the same inode; a lent close() keeps it open', async (t) => {
  const { cache, opened } = fixture();
  const a = file('a');
  const k1 = cache.openNetns(a);
  k1.close();
  const k2 = cache.openNetns(a);
  t.equal(opened.length, 1, 'opened once');
  t.equal(opened[0]?.closed, false, 'still open after the borrowers closed it');
  t.equal(k2.netns.id, k1.netns.id);
  t.same(k2.listLinks(), [], 'methods reach the held handle');
  cache.closeAll();
  t.equal(opened[0]?.closed, true, 'closeAll closes it');
  t.equal(cache.size, 0);
});

t.test('another inode at the path: the old handle dropped, a fresh one opened', async (t) => {
  const { cache, opened } = fixture();
  const b = file('b');
  cache.openNetns(b);
  fs.rmSync(b);
  fs.writeFileSync(path.join(dir, 'other'), 'x'); // take the freed inode number elsewhere
  file('b');
  const k = cache.openNetns(b);
  t.equal(opened.length, 2);
  t.equal(opened[0]?.closed, true, 'the stale handle closed');
  t.equal(k.netns.id, opened[1]?.kernel.netns.id);
  cache.closeAll();
});

t.test('a path gone: dropped, and the open fails as without the cache', async (t) => {
  const { cache, opened } = fixture();
  const c = file('c');
  cache.openNetns(c);
  fs.rmSync(c);
  t.throws(() => cache.openNetns(c), /ENOENT/);
  t.equal(opened[0]?.closed, true);
  t.equal(cache.size, 0);
});

t.test('sweep drops what is not kept or no longer named; max bounds what is held', async (t) => {
  const { cache, opened } = fixture(2);
  const [x, y, z] = [file('x'), file('y'), file('z')];
  cache.openNetns(x);
  cache.openNetns(y);
  const kz = cache.openNetns(z);
  t.equal(cache.size, 2, 'at most max held');
  kz.close();
  t.equal(opened[2]?.closed, true, 'beyond max: the caller closes its own');
  fs.rmSync(y);
  t.equal(cache.sweep(new Set([x, y])), 1, 'y no longer named');
  t.equal(cache.size, 1);
  t.equal(cache.sweep(new Set()), 1, 'x not kept');
  t.equal(opened[0]?.closed && opened[1]?.closed, true);
});

t.test('the default bound: two fds a handle within the soft limit less a reserve', async (t) => {
  t.equal(defaultMaxHeld(20000), 9744);
  t.equal(defaultMaxHeld(1024), 256);
  t.equal(defaultMaxHeld(100), 0);
});
