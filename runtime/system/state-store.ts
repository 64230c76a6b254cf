/**
 * Per-container state: one JSON file per container id under the state dir
 * (default /run/oci-slaac-hook), written atomically (temp file, fsync, rename) so a reader never
 * sees half a file and concurrent hooks for different containers never touch the same file.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { randomBytes } from 'node:crypto';
import { STATE_VERSION, type ContainerRecord } from '../core/record';

const ID = /^[\w+.-]{1,1024}$/;

export class StateStore {
  /** The directory exists (made once per store, not before every write). */
  private made = false;

  constructor(readonly dir: string) {}

  private file(id: string): string {
    if (!ID.test(id)) throw new Error(`invalid container id for a state file: ${JSON.stringify(id)}`);
    return path.join(this.dir, `${id}.json`);
  }

  /**
   * Atomically replace the record (temp file, rename). `durable` adds an fsync first: for the
   * record's settled states; the ledger's intermediate saves need only survive a killed process,
   * which the page cache already ensures (and the state dir is a tmpfs by default).
   */
  write(record: ContainerRecord, opts: { durable?: boolean } = {}): void {
    if (!this.made) fs.mkdirSync(this.dir, { recursive: true, mode: 0o755 });
    this.made = true;
    const target = this.file(record.id);
    const temp = path.join(this.dir, `.${record.id}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
    const fd = fs.openSync(temp, fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL, 0o644);
    try {
      fs.writeSync(fd, `${JSON.stringify(record, null, 2)}\n`);
      if (opts.durable !== false) fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    try {
      fs.renameSync(temp, target);
    } catch (err) {
      fs.rmSync(temp, { force: true });
      throw err;
    }
  }

  read(id: string): ContainerRecord | undefined {
    let text: string;
    try {
      text = fs.readFileSync(this.file(id), 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
    const record = JSON.parse(text) as ContainerRecord;
    if (record.version !== STATE_VERSION || record.id !== id) throw new Error(`state file ${this.file(id)} is not ours (version ${record.version})`);
    return record;
  }

  /** Remove a container's state; false if there was none. */
  remove(id: string): boolean {
    try {
      fs.unlinkSync(this.file(id));
      return true;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
      throw err;
    }
  }

  list(): ContainerRecord[] {
    let names: string[];
    try {
      names = fs.readdirSync(this.dir);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw err;
    }
    return names
      .filter((n) => n.endsWith('.json') && !n.startsWith('.'))
      .flatMap((n) => {
        const r = this.read(n.slice(0, -5));
        return r ? [r] : [];
      })
      .sort((a, b) => a.since.localeCompare(b.since));
  }
}
