// The per-container lock (runtime/system/lock.ts, issue 10): one file per container under
// <state_dir>/locks, named by a hash so that any id works; held across awaits; exclusive between
// processes (flock(2), here against util-linux flock(1)); its file removed with the container.
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import t from 'tap';
import { containerLockPath, withContainerLock } from '../../runtime/system/lock';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'osh-clock-'));
t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

t.test('any id names one short file of its own under locks/', async (t) => {
  const ids = ['web1', '-rf', '.hidden', '..', 'a/../../etc/passwd', 'x'.repeat(1024), 'café\nline'];
  const files = ids.map((id) => containerLockPath(dir, id));
  for (const f of files) {
    t.equal(path.dirname(f), path.join(dir, 'locks'));
    t.match(path.basename(f), /^c-[0-9a-f]{64}\.lock$/);
  }
  t.equal(new Set(files).size, ids.length, 'one file per id');
  for (const id of ids) await withContainerLock(dir, id, () => t.ok(fs.existsSync(containerLockPath(dir, id)), `taken for ${JSON.stringify(id.slice(0, 20))}`));
});

t.test('held until the promise settles; holders in one process take turns', async (t) => {
  const log: string[] = [];
  const holder = (name: string) =>
    withContainerLock(dir, 'turns', async () => {
      log.push(`${name} in`);
      await sleep(30);
      log.push(`${name} out`);
    });
  await Promise.all([holder('a'), holder('b'), holder('c')]);
  t.strictSame(log, ['a in', 'a out', 'b in', 'b out', 'c in', 'c out']);
  await t.rejects(withContainerLock(dir, 'turns', () => Promise.reject(new Error('boom'))), /boom/);
  t.equal(await withContainerLock(dir, 'turns', () => 7), 7, 'released after a failure too');
});

t.test('exclusive between processes: waits while another process holds it', async (t) => {
  const file = containerLockPath(dir, 'shared');
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const other = spawn('flock', ['-x', file, '-c', 'echo held; sleep 0.5'], { stdio: ['ignore', 'pipe', 'ignore'] });
  const exited = new Promise((r) => other.once('exit', r));
  await new Promise<void>((r) => other.stdout.once('data', () => r()));
  const started = Date.now();
  await withContainerLock(dir, 'shared', () => undefined);
  const waited = Date.now() - started;
  t.ok(waited >= 300, `waited ${waited} ms for the other process`);
  await exited;
});

t.test('forget: the file goes with the lock; the next holder makes it again', async (t) => {
  const file = containerLockPath(dir, 'gone');
  await withContainerLock(dir, 'gone', (lock) => lock.forget());
  t.notOk(fs.existsSync(file), 'removed');
  await withContainerLock(dir, 'gone', () => t.ok(fs.existsSync(file), 'made again'));
  t.ok(fs.existsSync(file), 'kept when not forgotten');
});
