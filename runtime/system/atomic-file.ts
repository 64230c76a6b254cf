/**
 * A file replaced atomically: written beside it under a temp name, then renamed over it — readers
 * see the old text or the new, never a part (Docker's daemon.json, a bundle's config.json).
 */
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';

/**
 * Replace `file` by a temp file in its directory and a rename: readers see the old text or the new,
 * never a part. A symbolic link is kept (its target is replaced), and the file's mode and owner;
 * a new file is 0644 (dockerd's own files are world-readable) in a directory made if missing.
 * `fsync`: the text is on disk before the rename (a daemon's config); without, only atomic.
 * `own`: a file wholly ours (a hooks.d file, a launcher): the path itself is replaced — a link
 * there is replaced, not written through — with `mode` (default 0644) and our owner.
 */
export function replaceFile(file: string, text: string, opts: { fsync?: boolean; own?: { mode?: number } } = {}): void {
  let target = path.resolve(file);
  let mode = opts.own?.mode ?? 0o644;
  let owner: { uid: number; gid: number } | undefined;
  try {
    if (opts.own) fs.lstatSync(target);
    else {
      target = fs.realpathSync(file);
      const st = fs.statSync(target);
      mode = st.mode & 0o7777;
      owner = { uid: st.uid, gid: st.gid };
    }
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    fs.mkdirSync(path.dirname(target), { recursive: true, mode: 0o755 });
  }
  const temp = path.join(path.dirname(target), `.${path.basename(target)}.tmp-${process.pid}-${randomBytes(6).toString('hex')}`);
  const fd = fs.openSync(temp, fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL, 0o600);
  try {
    try {
      // fchmod, not open's mode: the umask must not narrow what the operator's file had.
      fs.fchmodSync(fd, mode);
      if (owner && (owner.uid !== process.getuid?.() || owner.gid !== process.getgid?.())) fs.fchownSync(fd, owner.uid, owner.gid);
      fs.writeSync(fd, text);
      if (opts.fsync) fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    fs.renameSync(temp, target);
  } catch (err) {
    fs.rmSync(temp, { force: true });
    throw err;
  }
}
