/**
 * Careful edits of someone else's TOML file (config.toml's `parent`, containerd's config.toml),
 * as text: the file keeps its comments, order and layout, and every edit is checked by parsing
 * the result — it must hold exactly what the old text held plus (or minus) our change, or the
 * edit is refused in one line and nothing is written. Pure: text in, text out.
 */
import { isDeepStrictEqual } from 'node:util';
import { InputError } from './errors';
import { isTable, parseTomlText } from './config-text';

export type TomlTable = Record<string, unknown>;

/** A TOML basic string for `value` (JSON's escapes are TOML's, but TOML wants DEL escaped too). */
export function tomlString(value: string): string {
  return JSON.stringify(value).replace(/\x7f/g, '\\u007f');
}

/** A TOML dotted key: bare where TOML allows it, else quoted. */
export function tomlKey(parts: readonly string[]): string {
  return parts.map((p) => (/^[A-Za-z0-9_-]+$/.test(p) ? p : tomlString(p))).join('.');
}

/** Tables and arrays copied, leaves (strings, numbers, smol-toml's dates) shared: structuredClone would turn a TomlDate into a Date. */
function copyOf<T>(v: T): T {
  if (Array.isArray(v)) return v.map(copyOf) as T;
  if (isTable(v)) return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, copyOf(x)])) as T;
  return v;
}

/** Equal content: smol-toml's tables have no prototype, ours do; only keys and values count. */
const sameContent = (a: unknown, b: unknown): boolean => isDeepStrictEqual(copyOf(a), copyOf(b));

/** A deep copy of `table` with `value` at `path` (intermediate tables made). */
export function withValueAt(table: TomlTable, path: readonly string[], value: unknown): TomlTable {
  const copy = copyOf(table);
  let at: TomlTable = copy;
  path.forEach((key, i) => {
    if (i === path.length - 1) {
      at[key] = value;
      return;
    }
    const next = Object.hasOwn(at, key) ? at[key] : undefined;
    if (!isTable(next)) at[key] = {};
    at = at[key] as TomlTable;
  });
  return copy;
}

/** The value at `path`, own properties only; undefined where the path ends early. */
export function valueAt(table: TomlTable, path: readonly string[]): unknown {
  let at: unknown = table;
  for (const key of path) {
    if (!isTable(at) || !Object.hasOwn(at, key)) return undefined;
    at = at[key];
  }
  return at;
}

const KEY_LINE = (key: string): RegExp => new RegExp(`^\\s*(?:${key}|"${key}"|'${key}')\\s*=`);
const TABLE_HEADER = /^\s*\[/;

/**
 * `text` with the top-level key `key` set to the string `value`: its line replaced when it has
 * one; else a commented-out `# key = …` line of the top-level part (our template's) taken and
 * uncommented, its trailing comment kept; else a new line after the file's leading comments.
 * `file` names the file in errors.
 */
export function setTopLevelString(text: string, key: string, value: string, file: string): { text: string; changed: boolean } {
  if (!/^[A-Za-z0-9_-]+$/.test(key)) throw new InputError(`setTopLevelString: bad key ${JSON.stringify(key)}`);
  const before = parseTomlText(text, file);
  if (before[key] === value) return { text, changed: false };
  const lines = text.split('\n');
  const header = lines.findIndex((l) => TABLE_HEADER.test(l));
  const top = header < 0 ? lines.length : header;
  const line = `${key} = ${tomlString(value)}`;
  const existing = lines.slice(0, top).findIndex((l) => KEY_LINE(key).test(l));
  const commented = lines.slice(0, top).findIndex((l) => new RegExp(`^\\s*#\\s*${key}\\s*=`).test(l));
  if (existing >= 0) lines[existing] = line;
  else if (commented >= 0) {
    // `# parent = "eth0"        # the physical NIC …`: the explanation stays beside the value.
    const comment = /^\s*#[^#]*(#.*)$/.exec(lines[commented] ?? '')?.[1];
    lines[commented] = comment ? `${line}  ${comment}` : line;
  } else {
    let at = 0;
    while (at < top && /^\s*(#.*)?$/.test(lines[at] ?? '')) at++;
    // After the leading comment block (and its blank line): a header's own comment stays with it.
    if (at === top) at = 0;
    lines.splice(at, 0, line);
  }
  const out = lines.join('\n');
  const after = parseTomlText(out, file);
  if (!sameContent(after, { ...before, [key]: value })) {
    throw new InputError(`${file}: cannot set ${key} without touching the rest of the file: set ${line} by hand`);
  }
  return { text: out, changed: true };
}

/** The lines that open and close a block of ours in someone else's file. */
export interface BlockMarks {
  begin: string;
  end: string;
}

/** The line range [begin, end] of our marked block, or undefined; a begin without its end is an error. */
function findBlock(lines: readonly string[], marks: BlockMarks, file: string): { begin: number; end: number } | undefined {
  const begin = lines.findIndex((l) => l.trim() === marks.begin);
  if (begin < 0) return undefined;
  const end = lines.findIndex((l, i) => i > begin && l.trim() === marks.end);
  if (end < 0) throw new InputError(`${file}: the line "${marks.begin}" has no "${marks.end}" after it: mend the file by hand`);
  return { begin, end };
}

/**
 * `text` with `block` (TOML lines) between `marks`: the marked block replaced when there is one,
 * else appended after one blank line. The result must parse to the old content with `value` at
 * `path` (what the block declares) and nothing else changed.
 */
export function putMarkedBlock(text: string, marks: BlockMarks, block: readonly string[], path: readonly string[], value: unknown, file: string): { text: string; changed: boolean } {
  const before = parseTomlText(text, file);
  const lines = text.split('\n');
  const found = findBlock(lines, marks, file);
  const ours = [marks.begin, ...block, marks.end];
  let out: string;
  if (found) {
    if (isDeepStrictEqual(lines.slice(found.begin, found.end + 1), ours)) return { text, changed: false };
    out = [...lines.slice(0, found.begin), ...ours, ...lines.slice(found.end + 1)].join('\n');
  } else {
    const body = text === '' || text.endsWith('\n') ? text : `${text}\n`;
    out = `${body}${body.trim() === '' ? '' : '\n'}${ours.join('\n')}\n`;
  }
  let after: TomlTable;
  try {
    after = parseTomlText(out, file);
  } catch {
    throw new InputError(`${file}: adding ${tomlKey(path)} makes the file invalid TOML (is a table on its path written inline?): add it by hand`);
  }
  // The old content less whatever an old block of ours declared, plus the new value.
  const base = found ? withoutValueAt(before, path) : before;
  if (!sameContent(after, withValueAt(base, path, value))) {
    throw new InputError(`${file}: cannot add ${tomlKey(path)} without changing other entries: add it by hand`);
  }
  return { text: out, changed: true };
}

/**
 * `text` without our marked block (and the blank line put before it); the rest must parse to what
 * it held less the value at `path`. Unchanged when there is no block.
 */
export function removeMarkedBlock(text: string, marks: BlockMarks, path: readonly string[], file: string): { text: string; changed: boolean } {
  const before = parseTomlText(text, file);
  const lines = text.split('\n');
  const found = findBlock(lines, marks, file);
  if (!found) return { text, changed: false };
  const from = found.begin > 0 && (lines[found.begin - 1] ?? '').trim() === '' ? found.begin - 1 : found.begin;
  const out = [...lines.slice(0, from), ...lines.slice(found.end + 1)].join('\n');
  const after = parseTomlText(out, file);
  if (!sameContent(withValueAt(after, path, valueAt(before, path)), before) || valueAt(after, path) !== undefined) {
    throw new InputError(`${file}: removing our block would change other entries: remove ${tomlKey(path)} by hand`);
  }
  return { text: out, changed: true };
}

/** A deep copy of `table` without the value at `path` (its now-empty parents kept). */
function withoutValueAt(table: TomlTable, path: readonly string[]): TomlTable {
  const copy = copyOf(table);
  const parent = valueAt(copy, path.slice(0, -1));
  const last = path[path.length - 1];
  if (isTable(parent) && last !== undefined) delete parent[last];
  return copy;
}
