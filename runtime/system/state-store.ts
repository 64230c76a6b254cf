/**
 * Per-container state: one JSON file per container id under the state dir
 * (default /run/oci-slaac-hook), written atomically (temp file, fsync, rename) so a reader never
 * sees half a file and concurrent hooks for different containers never touch the same file.
 *
 * File names: `<id>.json` for an ordinary id (up to 200 characters, not starting with "." or
 * "-": what podman, Docker and most runc users give), `@<sha-256 of the id, 40 hex>.json` for any
 * other valid id — one of 1024 characters, or ".x", or "-x" — so that every id runc accepts has a
 * file (NAME_MAX is 255) and none is hidden. "@" is not a character of ids: the two kinds never
 * meet. Temp files are `.tmp-<pid>-<random>` (short, fixed length, hidden). list() reads each
 * record's id from the record itself.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { createHash, randomBytes } from 'node:crypto';
import { STATE_VERSION, type ContainerRecord } from '../core/record';
import { isContainerId } from '../wire/oci/spec';
import { readRegularFile } from '../wire/oci/files';

/** A record holds at most a few hundred effects: 4 MiB is far beyond any we write. */
const MAX_RECORD_BYTES = 4 * 1024 * 1024;
const ORDINARY = /^[\w+][\w+.-]{0,199}$/;

/** The state file's name for a container id (no directory). */
export function stateFileName(id: string): string {
  if (!isContainerId(id)) throw new Error(`invalid container id for a state file: ${JSON.stringify(id.length > 64 ? `${id.slice(0, 60)}…` : id)}`);
  return ORDINARY.test(id) ? `${id}.json` : `@${createHash('sha256').update(id).digest('hex').slice(0, 40)}.json`;
}

export class StateStore {
  /** The directory exists (made once per store, not before every write). */
  private made = false;

  constructor(readonly dir: string) {}

  private file(id: string): string {
    return path.join(this.dir, stateFileName(id));
  }

  /**
   * Atomically replace the record (temp file, rename). `durable` adds an fsync first: for the
   * record's settled states; the ledger's intermediate saves need only survive a killed process,
   * which the page cache already ensures (and the state dir is a tmpfs by default).
   */
  write(record: ContainerRecord, opts: { durable?: boolean } = {}): void {
    const target = this.file(record.id);
    if (!this.made) fs.mkdirSync(this.dir, { recursive: true, mode: 0o755 });
    this.made = true;
    const temp = path.join(this.dir, `.tmp-${process.pid}-${randomBytes(6).toString('hex')}`);
    const fd = fs.openSync(temp, fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL, 0o600);
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
    const file = this.file(id);
    const record = this.readFile(file);
    if (record === undefined) return undefined;
    if (record.id !== id) throw new Error(`state file ${file} is not ours (version ${record.version}, id ${JSON.stringify(record.id)})`);
    return record;
  }

  private readFile(file: string): ContainerRecord | undefined {
    const text = readRegularFile(file, { what: `state file ${file}`, maxBytes: MAX_RECORD_BYTES, noFollow: true, missingOk: true });
    if (text === undefined) return undefined;
    let record: ContainerRecord;
    try {
      record = JSON.parse(text) as ContainerRecord;
    } catch {
      throw new Error(`state file ${file} is not valid JSON`);
    }
    if (typeof record !== 'object' || record === null || record.version !== STATE_VERSION || typeof record.id !== 'string') {
      throw new Error(`state file ${file} is not ours (version ${String((record as Partial<ContainerRecord> | null)?.version)})`);
    }
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

  /** Every record, oldest first: each file's id read from the record (a file not named for its id is skipped). */
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
        const r = this.readFile(path.join(this.dir, n));
        return r && isContainerId(r.id) && stateFileName(r.id) === n ? [r] : [];
      })
      .sort((a, b) => a.since.localeCompare(b.since));
  }
}
