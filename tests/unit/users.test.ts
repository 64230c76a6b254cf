// Local accounts from passwd/group files (runtime/system/users.ts accountOf), as the broker reads
// them: a uid's name, its primary group (by gid) and the groups listing it; an unknown uid,
// comment and malformed lines, and missing files give nothing rather than a throw.
import t, { type Test } from 'tap';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { accountOf } from '../../runtime/system/users';

const PASSWD = [
  'root:x:0:0:root:/root:/bin/bash',
  '# alice:x:1000:1000::/home/alice:/bin/sh (a comment, not an account)',
  'bob:x:1001:1001:Bob:/home/bob:/bin/bash',
  'broken-line-without-fields',
  'short:x:1002',
  ':x:1003:1003::/:/bin/false',
  'carol:x:1004:100:Carol:/home/carol:/bin/bash',
  'dave:x:1005:4242::/home/dave:/bin/sh',
  '',
].join('\n');

const GROUP = [
  'root:x:0:',
  '# containers:x:900:bob (commented out)',
  'bob:x:1001:',
  'users:x:100:',
  'containers:x:901:bob,carol',
  'podman:x:902:carol',
  'bobby:x:903:bobby',
  'notbob:x:904:xbob,bobx, bob',
  'malformed:x:905',
  ':x:906:bob',
  'wheel:x:10:root,bob',
  '',
].join('\n');

function files(t: Test, passwd = PASSWD, group = GROUP): { passwd: string; group: string } {
  const dir = t.testdir({ passwd, group });
  return { passwd: path.join(dir, 'passwd'), group: path.join(dir, 'group') };
}

t.test('name, primary group and supplementary groups', async (t) => {
  const f = files(t);
  t.same(accountOf(1001, f), { uid: 1001, name: 'bob', groups: ['bob', 'containers', 'wheel'] }, 'bob: own group by gid, then those listing him exactly');
  t.same(accountOf(1004, f), { uid: 1004, name: 'carol', groups: ['users', 'containers', 'podman'] }, 'carol: primary group users (gid 100)');
  t.same(accountOf(0, f), { uid: 0, name: 'root', groups: ['root', 'wheel'] }, 'root');
  t.same(accountOf(1005, f), { uid: 1005, name: 'dave', groups: [] }, 'a primary gid with no group line: no groups, still an account');
});

t.test('unknown uid, comments and malformed lines give nothing', async (t) => {
  const f = files(t);
  t.equal(accountOf(1000, f), undefined, 'a commented-out account does not exist');
  t.equal(accountOf(4242, f), undefined, 'an unknown uid');
  t.equal(accountOf(1002, f), undefined, 'a line with too few fields is ignored');
  t.equal(accountOf(1003, f), undefined, 'an empty name is no account');
  t.equal(accountOf(-1, f), undefined, 'uid -1');
});

t.test('missing or unreadable files give undefined, never a throw', async (t) => {
  const dir = t.testdir({});
  t.equal(accountOf(1001, { passwd: path.join(dir, 'nope'), group: path.join(dir, 'nope2') }), undefined, 'no passwd file');
  const f = files(t);
  t.same(accountOf(1001, { passwd: f.passwd, group: path.join(dir, 'nope') }), { uid: 1001, name: 'bob', groups: [] }, 'no group file: the account, no groups');
  t.equal(accountOf(1001, { passwd: dir, group: f.group }), undefined, 'passwd a directory');
  const link = path.join(dir, 'passwd-link');
  fs.symlinkSync(f.passwd, link);
  t.equal(accountOf(1001, { passwd: link, group: f.group }), undefined, 'a symlinked passwd is not followed (O_NOFOLLOW)');
});

t.test('the default files: root is uid 0 on this host', async (t) => {
  const root = accountOf(0);
  t.equal(root?.name, 'root', '/etc/passwd has root');
  t.ok(root?.groups.includes('root'), 'in group root by gid 0');
});
