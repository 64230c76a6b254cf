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
 *
 * The index: a start asks only for the records of its name and its netns (related()), and reading
 * every record for that made each start O(N) — at 1000 containers two full reads a start, most of
 * the hook's time. So every record also has an empty file per key in `index/`, named
 * `<16 hex of sha-256(key)>-<state file name>`: related() lists that directory (names only) and
 * reads just the records its keys point at, then checks each against the query, so an entry left
 * behind can never give a wrong answer. An entry is made before its record is renamed into place
 * (a record is never visible without its entries) and removed after the record. `index/.complete`
 * says the index covers every record; a state dir without it (records from before the index) is
 * indexed by the first related() that finds it missing.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { createHash, randomBytes } from 'node:crypto';
import { isRelated, netnsInode, type RelatedQuery } from '../core/netns-id';
import { STATE_VERSION, type ContainerRecord } from '../core/record';
import { isContainerId } from '../wire/oci/spec';
import { readRegularFile } from '../wire/oci/files';

/** A record holds at most a few hundred effects: 4 MiB is far beyond any we write. */
const MAX_RECORD_BYTES = 4 * 1024 * 1024;
const ORDINARY = /^[\w+][\w+.-]{0,199}$/;
/** The index's directory in the state dir, its entries `<16 hex>-<state file name>`, and its marker. */
const INDEX_DIR = 'index';
const KEY_LENGTH = 16 + 1;
const COMPLETE = '.complete';

/** A key's part of an entry's name: the hash keeps any name (any length, any bytes) in 16 characters. */
const keyPrefix = (kind: 'name' | 'netns', key: string): string => `${createHash('sha256').update(`${kind}\0${key}`).digest('hex').slice(0, 16)}-`;

/** The entry prefixes a record is found by. */
const recordKeys = (r: { name: string; netns: { id: string } }): string[] => [keyPrefix('name', r.name), keyPrefix('netns', netnsInode(r.netns.id))];

/** The state file's name for a container id (no directory). */
export function stateFileName(id: string): string {
  if (!isContainerId(id)) throw new Error(`invalid container id for a state file: ${JSON.stringify(id.length > 64 ? `${id.slice(0, 60)}…` : id)}`);
  return ORDINARY.test(id) ? `${id}.json` : `@${createHash('sha256').update(id).digest('hex').slice(0, 40)}.json`;
}

export class StateStore {
  /** The directory exists (made once per store, not before every write). */
  private made = false;
  /** Index entries this store made or found (one open(2) per entry per process, not per write). */
  private readonly entries = new Set<string>();
  private indexMade = false;

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
    this.index(record);
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

  /** Remove a container's state (then its index entries); false if there was none. */
  remove(id: string): boolean {
    let removed: boolean;
    try {
      fs.unlinkSync(this.file(id));
      removed = true;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      removed = false;
    }
    const file = stateFileName(id);
    for (const n of this.names(INDEX_DIR)) {
      if (n.length > KEY_LENGTH && n.slice(KEY_LENGTH) === file) {
        fs.rmSync(path.join(this.dir, INDEX_DIR, n), { force: true });
        this.entries.delete(n);
      }
    }
    return removed;
  }

  /** The records of `query`'s name or netns, oldest first, from the index (module comment). */
  related(query: RelatedQuery): ContainerRecord[] {
    const names = this.names(INDEX_DIR);
    if (!names.includes(COMPLETE)) return this.indexAll().filter((r) => isRelated(r, query));
    const prefixes = [keyPrefix('name', query.name), keyPrefix('netns', netnsInode(query.netnsId))];
    const files = new Set(names.filter((n) => prefixes.some((p) => n.startsWith(p))).map((n) => n.slice(KEY_LENGTH)));
    return [...files]
      .flatMap((f) => {
        const r = this.readFile(path.join(this.dir, f));
        return r && isContainerId(r.id) && stateFileName(r.id) === f && isRelated(r, query) ? [r] : [];
      })
      .sort((a, b) => a.since.localeCompare(b.since));
  }

  /** The names in the state dir, or in a directory of it (none when it does not exist). */
  private names(sub?: string): string[] {
    try {
      return fs.readdirSync(sub ? path.join(this.dir, sub) : this.dir);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw err;
    }
  }

  /** Make `record`'s entries that are not there yet. */
  private index(record: ContainerRecord): void {
    const file = stateFileName(record.id);
    for (const prefix of recordKeys(record)) {
      const entry = `${prefix}${file}`;
      if (this.entries.has(entry)) continue;
      this.touch(entry);
      this.entries.add(entry);
    }
  }

  /** An empty file in the index (the directory made on first use). */
  private touch(name: string): void {
    if (!this.indexMade) fs.mkdirSync(path.join(this.dir, INDEX_DIR), { recursive: true, mode: 0o755 });
    this.indexMade = true;
    fs.closeSync(fs.openSync(path.join(this.dir, INDEX_DIR, name), fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_NOFOLLOW, 0o600));
  }

  /** A state dir from before the index (or new): every record indexed, then the marker. Returns the records. */
  private indexAll(): ContainerRecord[] {
    if (!fs.existsSync(this.dir)) return [];
    const records = this.list();
    for (const r of records) this.index(r);
    this.touch(COMPLETE);
    return records;
  }

  /** Every record, oldest first: each file's id read from the record (a file not named for its id is skipped). */
  list(): ContainerRecord[] {
    return this.names()
      .filter((n) => n.endsWith('.json') && !n.startsWith('.'))
      .flatMap((n) => {
        const r = this.readFile(path.join(this.dir, n));
        return r && isContainerId(r.id) && stateFileName(r.id) === n ? [r] : [];
      })
      .sort((a, b) => a.since.localeCompare(b.since));
  }
}
