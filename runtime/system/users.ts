/**
 * Local accounts, as the broker needs them: a uid's user name and the groups it is in (its primary
 * group and those listing it in /etc/group). Read from the files, as getpwuid(3) with files-only
 * NSS would: Node has no getpwuid for another user, and the broker must not ask a network service.
 */
import * as fs from 'node:fs';

export interface Account {
  uid: number;
  name: string;
  groups: string[];
}

const MAX_FILE_BYTES = 16 * 1024 * 1024;

function lines(file: string): string[][] {
  let text: string;
  try {
    const fd = fs.openSync(file, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW);
    try {
      const buf = Buffer.alloc(Math.min(fs.fstatSync(fd).size + 1, MAX_FILE_BYTES));
      text = buf.subarray(0, fs.readSync(fd, buf)).toString('utf8');
    } finally {
      fs.closeSync(fd);
    }
  } catch {
    return [];
  }
  return text.split('\n').filter((l) => l && !l.startsWith('#')).map((l) => l.split(':'));
}

/** The account of `uid` in `passwd`/`group` (default /etc's), or undefined when there is none. */
export function accountOf(uid: number, files = { passwd: '/etc/passwd', group: '/etc/group' }): Account | undefined {
  const entry = lines(files.passwd).find((f) => f.length >= 4 && f[2] === String(uid));
  if (!entry || !entry[0]) return undefined;
  const name = entry[0];
  const gid = entry[3];
  const groups = new Set<string>();
  for (const g of lines(files.group)) {
    if (g.length < 4 || !g[0]) continue;
    if (g[2] === gid || (g[3] ?? '').split(',').includes(name)) groups.add(g[0]);
  }
  return { uid, name, groups: [...groups] };
}
