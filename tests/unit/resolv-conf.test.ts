// resolv_conf = "ra" (runtime/system/resolv-conf.ts): where the container's /etc/resolv.conf is
// (config.json's bind mount source, else the rootfs's), and writing it without following a link
// out of the rootfs: a symbolic link (the file, or /etc), a FIFO, a directory, a hard-linked file
// are refused with one line and left as they were; a rootfs file is replaced atomically (no temp
// file left), a bind source written in place (the same inode: what the bind mount shows).
import t from 'tap';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { InputError } from '../../runtime/core/errors';
import { parseConfigJson } from '../../runtime/wire/oci/spec';
import { resolvConfTarget, resolvConfText, writeResolvConf } from '../../runtime/system/resolv-conf';

const work = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'osh-resolv-')));
t.teardown(() => fs.rmSync(work, { recursive: true, force: true }));

const RDNSS = ['2001:db8:a0::53', '2001:db8:a0::54'];
const DNSSL = ['lab.example', 'b.example'];
const EXPECTED = `# written by oci-slaac-hook from the router advertisement (RDNSS, DNSSL)\nnameserver 2001:db8:a0::53\nnameserver 2001:db8:a0::54\nsearch lab.example b.example\n`;

/** A bundle with a rootfs/etc; `etc` may be replaced by the caller. */
function bundle(name: string, mounts?: unknown[]): { dir: string; etc: string; oci: ReturnType<typeof parseConfigJson> } {
  const dir = path.join(work, name);
  const etc = path.join(dir, 'rootfs', 'etc');
  fs.mkdirSync(etc, { recursive: true });
  const config = { ociVersion: '1.0.2', root: { path: 'rootfs' }, ...(mounts ? { mounts } : {}) };
  fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify(config));
  return { dir, etc, oci: parseConfigJson(JSON.stringify(config), 'config.json') };
}

const leftovers = (dir: string): string[] => fs.readdirSync(dir).filter((f) => f.startsWith('.resolv.conf'));

t.test('the text: nameserver lines, one search line; odd domains left out', async (t) => {
  t.equal(resolvConfText(RDNSS, DNSSL), EXPECTED);
  t.equal(resolvConfText(['2001:db8::1'], ['ok.example', 'bad domain', 'semi;colon', '#hash']), '# written by oci-slaac-hook from the router advertisement (RDNSS, DNSSL)\nnameserver 2001:db8::1\nsearch ok.example\n');
  t.notMatch(resolvConfText([], []), /search/, 'no search line without domains');
});

t.test('rootfs: replaced atomically, mode kept, no temp file left', async (t) => {
  const b = bundle('plain');
  fs.writeFileSync(path.join(b.etc, 'resolv.conf'), 'nameserver 192.0.2.1\n', { mode: 0o640 });
  const target = resolvConfTarget(b.dir, b.oci);
  t.same(target, { file: path.join(b.etc, 'resolv.conf'), how: 'replace' });
  writeResolvConf(target.file, RDNSS, DNSSL, { replace: true });
  t.equal(fs.readFileSync(target.file, 'utf8'), EXPECTED);
  t.equal(fs.statSync(target.file).mode & 0o777, 0o640, 'mode kept');
  t.same(leftovers(b.etc), [], 'no temp file');
  // Absent: created.
  const c = bundle('absent');
  const t2 = resolvConfTarget(c.dir, c.oci);
  writeResolvConf(t2.file, RDNSS, DNSSL, { replace: true });
  t.equal(fs.readFileSync(t2.file, 'utf8'), EXPECTED, 'created when the image has none');
  // root.path absolute.
  const abs = parseConfigJson(JSON.stringify({ ociVersion: '1.0.2', root: { path: path.join(c.dir, 'rootfs') } }), 'config.json');
  t.equal(resolvConfTarget('/nonexistent-bundle', abs).file, t2.file, 'an absolute root.path');
});

t.test('bind mount source: used, written in place (same inode)', async (t) => {
  const src = path.join(work, 'runtime-files', 'resolv.conf');
  fs.mkdirSync(path.dirname(src), { recursive: true });
  fs.writeFileSync(src, 'nameserver 192.0.2.1\n# a long old file that is longer than the new one ..........................................................\n');
  const b = bundle('bind', [{ destination: '/etc/hosts', type: 'bind', source: '/etc/hosts' }, { destination: '/etc/resolv.conf', type: 'bind', source: src, options: ['rbind', 'rprivate'] }]);
  fs.symlinkSync('/etc/shadow', path.join(b.etc, 'resolv.conf')); // the rootfs's own is not the one the container sees
  const target = resolvConfTarget(b.dir, b.oci);
  t.same(target, { file: src, how: 'in-place' }, "config.json's bind mount source");
  const ino = fs.statSync(src).ino;
  writeResolvConf(target.file, RDNSS, DNSSL);
  t.equal(fs.readFileSync(src, 'utf8'), EXPECTED, 'the servers and search list, nothing of the old file left');
  t.equal(fs.statSync(src).ino, ino, 'the same inode');
  // A docker-style "options: bind" without a type, and a later mount covering an earlier one.
  const other = parseConfigJson(JSON.stringify({ ociVersion: '1.0.2', mounts: [{ destination: '/etc/resolv.conf', source: '/x', options: ['bind'] }, { destination: '/etc/resolv.conf/', type: 'tmpfs', source: 'tmpfs' }] }), 'c');
  t.throws(() => resolvConfTarget(b.dir, other), /mounts something other than a file onto \/etc\/resolv.conf/, 'something else mounted there last: refused');
});

t.test('hostile rootfs: refused with one line, nothing written, nothing left', async (t) => {
  const outside = path.join(work, 'outside');
  fs.writeFileSync(outside, 'precious\n');
  const check = (name: string, setup: (etc: string, b: { dir: string }) => void, message: RegExp): void => {
    const b = bundle(name);
    setup(b.etc, b);
    let err: unknown;
    try {
      const target = resolvConfTarget(b.dir, b.oci);
      writeResolvConf(target.file, RDNSS, DNSSL, { replace: target.how === 'replace' });
    } catch (e) {
      err = e;
    }
    t.ok(err instanceof InputError, `${name}: refused (${(err as Error)?.message})`);
    t.match((err as Error)?.message ?? '', message, name);
    t.notMatch((err as Error)?.message ?? '', /\n/, `${name}: one line`);
    t.equal(fs.readFileSync(outside, 'utf8'), 'precious\n', `${name}: the file outside untouched`);
    if (fs.existsSync(b.etc) && fs.lstatSync(b.etc).isDirectory()) t.same(leftovers(b.etc), [], `${name}: no temp file`);
  };
  check('symlink-out', (etc) => fs.symlinkSync(outside, path.join(etc, 'resolv.conf')), /resolv.conf .* is a symbolic link, not a regular file: refused/);
  check('symlink-relative', (etc) => fs.symlinkSync('../../../outside', path.join(etc, 'resolv.conf')), /is a symbolic link/);
  check(
    'etc-symlink',
    (etc) => {
      fs.rmSync(etc, { recursive: true });
      fs.symlinkSync(work, etc);
    },
    /rootfs directory .*\/etc goes through a symbolic link \(to .*\): refused/,
  );
  check(
    'fifo',
    (etc) => {
      const r = spawnSync('mkfifo', [path.join(etc, 'resolv.conf')]);
      if (r.status !== 0) throw new Error('mkfifo failed');
    },
    /is a FIFO, not a regular file: refused/,
  );
  check('directory', (etc) => fs.mkdirSync(path.join(etc, 'resolv.conf')), /is a directory, not a regular file: refused/);
  check('hard-link', (etc) => fs.linkSync(outside, path.join(etc, 'resolv.conf')), /has 2 hard links: refused/);
  check('no-rootfs', (_etc, b) => fs.rmSync(path.join(b.dir, 'rootfs'), { recursive: true }), /rootfs .*: does not exist/);
});

t.test('the agent rewriting later (in place): a link swapped in since is refused', async (t) => {
  const b = bundle('later');
  const target = resolvConfTarget(b.dir, b.oci);
  writeResolvConf(target.file, RDNSS, DNSSL, { replace: true });
  writeResolvConf(target.file, ['2001:db8:a0::99'], []);
  t.equal(fs.readFileSync(target.file, 'utf8'), '# written by oci-slaac-hook from the router advertisement (RDNSS, DNSSL)\nnameserver 2001:db8:a0::99\n', 'rewritten in place');
  const outside = path.join(work, 'outside2');
  fs.writeFileSync(outside, 'precious\n');
  fs.rmSync(target.file);
  fs.symlinkSync(outside, target.file);
  t.throws(() => writeResolvConf(target.file, RDNSS, DNSSL), /is a symbolic link, not a regular file: refused/);
  fs.rmSync(target.file);
  fs.rmSync(b.etc, { recursive: true });
  fs.symlinkSync(work, b.etc);
  t.throws(() => writeResolvConf(target.file, RDNSS, DNSSL), /goes through a symbolic link/);
  t.equal(fs.readFileSync(outside, 'utf8'), 'precious\n', 'untouched');
});
