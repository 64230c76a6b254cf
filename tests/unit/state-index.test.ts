// The state store's index (runtime/system/state-store.ts): a start reads only the records of its
// name and its netns, found by the empty entries in the state dir's index/, instead of every record.
import t from 'tap';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { StateStore } from '../../runtime/system/state-store';
import { sampleRecord } from './helpers';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'osh-index-'));
t.teardown(() => fs.rmSync(tmp, { recursive: true, force: true }));

const ids = (rs: { id: string }[]): string[] => rs.map((r) => r.id);
const entries = (dir: string): string[] => fs.readdirSync(path.join(dir, 'index')).filter((n) => /^[0-9a-f]{16}-/.test(n));
const at = (i: number): string => `2026-01-01T00:00:${String(i).padStart(2, '0')}.000Z`;

t.test('related(): the records of one name or one netns (by dev:inode), oldest first', async (t) => {
  const store = new StateStore(path.join(tmp, 'a'));
  t.same(store.related({ name: 'web', netnsId: '0:1:1' }), [], 'no state dir yet: none');
  store.write(sampleRecord('c1', { name: 'web', netns: { path: '/run/netns/1', id: '0:100:7' }, since: at(1) }));
  store.write(sampleRecord('c2', { name: 'db', netns: { path: '/run/netns/2', id: '0:200:8' }, since: at(2) }));
  store.write(sampleRecord('c3', { name: 'web', netns: { path: '/run/netns/3', id: '0:300:9' }, since: at(3) }));
  store.write(sampleRecord('c4', { name: 'cache', netns: { path: '/run/netns/2', id: '0:200' }, since: at(0) }));
  t.same(ids(store.related({ name: 'web', netnsId: '0:999:1' })), ['c1', 'c3'], 'one name');
  t.same(ids(store.related({ name: 'nobody', netnsId: '0:200:55' })), ['c4', 'c2'], 'one netns: a cookie-less id and another cookie match by dev:inode');
  t.same(ids(store.related({ name: 'db', netnsId: '0:100:7' })), ['c1', 'c2'], 'either key');
  t.equal(entries(store.dir).length, 8, 'two entries per record');
  store.write(sampleRecord('c1', { name: 'web', netns: { path: '/run/netns/1', id: '0:100:7' }, since: at(1), phase: 'attaching' }));
  t.equal(entries(store.dir).length, 8, 'rewriting a record adds no entry');

  t.ok(store.remove('c1'));
  t.equal(entries(store.dir).length, 6, 'remove() takes its entries');
  t.same(ids(store.related({ name: 'web', netnsId: '0:1:1' })), ['c3']);
  t.notOk(store.remove('c1'), 'removing again: nothing there, nothing thrown');
  t.same(ids(new StateStore(store.dir).related({ name: 'web', netnsId: '0:1:1' })), ['c3'], 'another process (a new store) reads the same index');
});

t.test('an entry never gives a wrong answer, and records it does not name are not read', async (t) => {
  const store = new StateStore(path.join(tmp, 'b'));
  store.write(sampleRecord('x1', { name: 'web', netns: { path: '/run/netns/1', id: '0:100:1' }, since: at(1) }));
  store.write(sampleRecord('x2', { name: 'db', netns: { path: '/run/netns/2', id: '0:200:1' }, since: at(2) }));
  // x1's file now holds another name (written behind the store's back): its old entry points at a
  // record that no longer matches, and must not count.
  fs.writeFileSync(path.join(store.dir, 'x1.json'), JSON.stringify(sampleRecord('x1', { name: 'other', netns: { path: '/run/netns/9', id: '0:900:1' }, since: at(1) })));
  t.same(store.related({ name: 'web', netnsId: '0:100:1' }), [], 'a stale entry: checked, not believed');
  // An entry whose record is gone (a crash between the two unlinks).
  fs.rmSync(path.join(store.dir, 'x1.json'));
  t.same(store.related({ name: 'web', netnsId: '0:100:1' }), [], 'an entry without its record: nothing');
  // A bad record elsewhere in the dir: list() throws on it; related() never reads it.
  fs.writeFileSync(path.join(store.dir, 'junk.json'), '{ not json');
  t.throws(() => store.list(), /not valid JSON/);
  t.same(ids(store.related({ name: 'db', netnsId: '0:1:1' })), ['x2'], 'related() reads only what its keys name');
});

t.test('a state dir from before the index is indexed by the first related()', async (t) => {
  const dir = path.join(tmp, 'c');
  fs.mkdirSync(dir);
  // Records as an older version wrote them: files, no entries, no marker.
  for (const [i, [id, name]] of [['o1', 'web'], ['o2', 'db'], ['o3', 'web']].entries()) {
    fs.writeFileSync(path.join(dir, `${id}.json`), JSON.stringify(sampleRecord(id, { name, since: at(i) })), { mode: 0o600 });
  }
  const store = new StateStore(dir);
  t.same(ids(store.related({ name: 'web', netnsId: '0:1:1' })), ['o1', 'o3'], 'found without entries');
  t.ok(fs.existsSync(path.join(dir, 'index', '.complete')), 'the marker: every record is indexed now');
  t.same(fs.readdirSync(dir).filter((n) => !n.endsWith('.json')), ['index'], 'nothing beside the records but index/ (readers of *.json see records only)');
  t.equal(entries(dir).length, 6, 'entries made for each');
  fs.rmSync(path.join(dir, 'o2.json'));
  t.same(ids(new StateStore(dir).related({ name: 'web', netnsId: '0:1:1' })), ['o1', 'o3'], 'later starts use the entries');
});
