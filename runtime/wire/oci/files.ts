/**
 * Reading the hook's input files without trusting them: only a regular file is read (a FIFO, a
 * device such as /dev/zero, a socket or a directory is refused after fstat, and the open itself
 * cannot block: O_NONBLOCK, nor give us a controlling terminal: O_NOCTTY), at most `maxBytes`
 * (a file that is or grows larger is refused, not truncated), optionally without following a
 * symbolic link in the last component (O_NOFOLLOW: a bundle's config.json must be its own file,
 * not a link to another one). Errors name the file and what was wrong, never its content.
 */
import * as fs from 'node:fs';
import type * as Tty from 'node:tty';
import { InputError } from '../../core/errors';

export const MAX_CONFIG_JSON_BYTES = 1024 * 1024;
export const MAX_STATE_BYTES = 1024 * 1024;
export const MAX_CONFIG_TOML_BYTES = 64 * 1024;

export interface ReadOptions {
  /** Refuse anything larger. */
  maxBytes: number;
  /** How the file is named in errors ("config.json /x/config.json"). */
  what: string;
  /** Refuse a symbolic link as the last component instead of following it. */
  noFollow?: boolean;
  /** ENOENT as undefined instead of an error. */
  missingOk?: boolean;
}

const FILE_TYPES: [number, string][] = [
  [fs.constants.S_IFDIR, 'a directory'],
  [fs.constants.S_IFIFO, 'a FIFO'],
  [fs.constants.S_IFCHR, 'a character device'],
  [fs.constants.S_IFBLK, 'a block device'],
  [fs.constants.S_IFSOCK, 'a socket'],
  [fs.constants.S_IFLNK, 'a symbolic link'],
];

const kindOf = (mode: number): string => FILE_TYPES.find(([t]) => (mode & fs.constants.S_IFMT) === t)?.[1] ?? 'not a regular file';

/** Bytes as UTF-8 text; invalid UTF-8 is refused rather than replaced. */
export function utf8(bytes: Buffer, what: string): string {
  try {
    return new TextDecoder('utf-8', { fatal: true, ignoreBOM: false }).decode(bytes);
  } catch {
    throw new InputError(`${what} is not UTF-8 text`);
  }
}

/** Read up to maxBytes + 1 from an open fd; more than maxBytes is an error. */
export function readBounded(fd: number, maxBytes: number, what: string): Buffer {
  const chunks: Buffer[] = [];
  let total = 0;
  for (;;) {
    const chunk = Buffer.allocUnsafe(Math.min(64 * 1024, maxBytes + 1 - total));
    let n: number;
    try {
      n = fs.readSync(fd, chunk, 0, chunk.length, null);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'EAGAIN' && total === 0) throw new InputError(`${what}: nothing to read`);
      if (code === 'EAGAIN') throw new InputError(`${what}: ended early (${total} bytes, then nothing more)`);
      throw new InputError(`${what}: cannot read (${code ?? (err as Error).message})`);
    }
    if (n === 0) break;
    chunks.push(chunk.subarray(0, n));
    total += n;
    if (total > maxBytes) throw new InputError(`${what} is larger than ${maxBytes} bytes`);
  }
  return Buffer.concat(chunks, total);
}

/** A regular file's text, bounded; undefined when missing and `missingOk`. */
export function readRegularFile(file: string, opts: ReadOptions): string | undefined {
  const { constants: c } = fs;
  let fd: number;
  try {
    fd = fs.openSync(file, c.O_RDONLY | c.O_NONBLOCK | c.O_NOCTTY | (opts.noFollow ? c.O_NOFOLLOW : 0));
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' && opts.missingOk) return undefined;
    if (code === 'ELOOP' && opts.noFollow) throw new InputError(`${opts.what} is a symbolic link: refused (it must be a regular file of its own)`);
    throw new InputError(`${opts.what}: ${code === 'ENOENT' ? 'does not exist' : `cannot open (${code ?? (err as Error).message})`}`);
  }
  try {
    const st = fs.fstatSync(fd);
    if (!st.isFile()) throw new InputError(`${opts.what} is ${kindOf(st.mode)}, not a regular file: refused`);
    if (st.size > opts.maxBytes) throw new InputError(`${opts.what} is larger than ${opts.maxBytes} bytes`);
    return utf8(readBounded(fd, opts.maxBytes, opts.what), opts.what);
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * isatty(3), asked only of a character device: a pipe or a file (a runtime's stdin) is no terminal,
 * and node:tty (which loads node:net) then stays unloaded.
 */
function isTerminal(fd: number): boolean {
  let st: fs.Stats;
  try {
    st = fs.fstatSync(fd);
  } catch {
    return false; // as isatty says of a closed fd; the read then names the problem
  }
  return st.isCharacterDevice() && (require('node:tty') as typeof Tty).isatty(fd);
}

/** The OCI state on stdin (a pipe or a file), at most 1 MiB: /dev/zero as stdin is refused, not read forever. */
/**
 * Stdin already read by the thin client (hooks/delegate.ts), for the stage bundle it falls back to:
 * another bundle in the same process, so the two meet on a global of their own. An Error is what
 * reading it threw, thrown again by the stage.
 */
const STDIN_HANDOVER = Symbol.for('oci-slaac-hook.stdin');
type Handover = { [STDIN_HANDOVER]?: string | Error };

export function handOverStdin(read: string | Error): void {
  (globalThis as Handover)[STDIN_HANDOVER] = read;
}

export function readStdinState(fd = 0): string {
  const handed = (globalThis as Handover)[STDIN_HANDOVER];
  if (fd === 0 && handed !== undefined) {
    delete (globalThis as Handover)[STDIN_HANDOVER];
    if (handed instanceof Error) throw handed;
    return handed;
  }
  // isatty(fd), not process.stdin: that getter builds a stream (and a libuv handle) we never use.
  if (isTerminal(fd)) throw new InputError('no OCI state on stdin (stdin is a terminal)');
  try {
    return utf8(readBounded(fd, MAX_STATE_BYTES, 'OCI state on stdin'), 'OCI state on stdin');
  } catch (err) {
    if (err instanceof InputError && err.message === 'OCI state on stdin: nothing to read') throw new InputError('no OCI state on stdin');
    throw err;
  }
}

/**
 * Where JSON.parse failed, as a byte offset into `text` (V8's messages quote the text around the
 * error, which must not reach a log): found by scanning the grammar (RFC 8259) without recursion.
 */
export function jsonErrorOffset(text: string): number {
  let i = 0;
  const n = text.length;
  const ws = (): void => {
    while (i < n && (text[i] === ' ' || text[i] === '\t' || text[i] === '\n' || text[i] === '\r')) i++;
  };
  const fail = (): number => Buffer.byteLength(text.slice(0, i));
  // Scans one scalar; false on a syntax error at i.
  const scalar = (): boolean => {
    const ch = text[i];
    if (ch === '"') {
      i++;
      while (i < n) {
        const c = text.charCodeAt(i);
        if (c === 0x22) {
          i++;
          return true;
        }
        if (c < 0x20) return false;
        if (c === 0x5c) {
          const e = text[i + 1];
          if (e === 'u') {
            if (!/^[0-9a-fA-F]{4}$/.test(text.slice(i + 2, i + 6))) {
              i++;
              return false;
            }
            i += 6;
          } else if (e !== undefined && '"\\/bfnrt'.includes(e)) i += 2;
          else {
            i++;
            return false;
          }
        } else i++;
      }
      return false;
    }
    for (const word of ['true', 'false', 'null']) {
      if (text.startsWith(word, i)) {
        i += word.length;
        return true;
      }
    }
    const m = /^-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/.exec(text.slice(i, i + 4096));
    if (m && m[0].length > 0 && m[0] !== '-') {
      i += m[0].length;
      return true;
    }
    return false;
  };
  const stack: ('[' | '{')[] = [];
  ws();
  // state: expecting a value
  for (;;) {
    ws();
    if (i >= n) return fail();
    const ch = text[i];
    if (ch === '[' || ch === '{') {
      stack.push(ch);
      i++;
      ws();
      if (ch === '[' && text[i] === ']') {
        i++;
        stack.pop();
      } else if (ch === '{' && text[i] === '}') {
        i++;
        stack.pop();
      } else if (ch === '{') {
        if (text[i] !== '"' || !scalar()) return fail();
        ws();
        if (text[i] !== ':') return fail();
        i++;
        continue;
      } else continue;
    } else if (!scalar()) return fail();
    // after a value: ',' or a closer, or the end
    for (;;) {
      ws();
      const top = stack[stack.length - 1];
      if (top === undefined) return i < n ? fail() : Buffer.byteLength(text);
      if (text[i] === ',') {
        i++;
        if (top === '{') {
          ws();
          if (text[i] !== '"' || !scalar()) return fail();
          ws();
          if (text[i] !== ':') return fail();
          i++;
        }
        break;
      }
      if ((top === '[' && text[i] === ']') || (top === '{' && text[i] === '}')) {
        i++;
        stack.pop();
        continue;
      }
      return fail();
    }
  }
}

/** JSON.parse with an error that says where, never what: `<what> is not valid JSON (at byte N)`. */
export function parseJsonText(text: string, what: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new InputError(`${what} is not valid JSON (at byte ${jsonErrorOffset(text)})`);
  }
}
