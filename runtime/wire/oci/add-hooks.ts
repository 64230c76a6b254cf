/**
 * Our hooks into a bundle's config.json, for the runtime wrapper: createRuntime and poststop
 * entries appended after whatever is there (Docker's libnetwork-setkey prestart, NVIDIA's, …), in
 * their order; an identical entry (same path and args) already there is not added again.
 *
 * Only the "hooks" value is rewritten: the rest of the file is kept byte for byte. Re-serializing
 * the whole document would round every integer past 2^53 (a uint64 limit or swappiness in
 * linux.resources) through a double and hand the runtime other numbers than its engine wrote.
 */
import { parseJsonText } from './files';
import { InputError } from '../../core/errors';

export interface OciHook {
  path: string;
  args?: string[];
  env?: string[];
  timeout?: number;
}

export type OurHooks = Partial<Record<'createRuntime' | 'poststop', OciHook>>;

const same = (a: OciHook, b: OciHook): boolean => a.path === b.path && JSON.stringify(a.args ?? []) === JSON.stringify(b.args ?? []);

/** Index past the whitespace at `i`. */
function ws(t: string, i: number): number {
  while (i < t.length && (t[i] === ' ' || t[i] === '\t' || t[i] === '\n' || t[i] === '\r')) i++;
  return i;
}

/** Index past the string starting at `i` (a '"'). */
function stringEnd(t: string, i: number): number {
  let j = i + 1;
  while (j < t.length && t[j] !== '"') j += t[j] === '\\' ? 2 : 1;
  return j + 1;
}

/** Index past the value starting at `i` (the document is known to be valid JSON). */
function valueEnd(t: string, i: number): number {
  const c = t[i];
  if (c === '"') return stringEnd(t, i);
  if (c !== '{' && c !== '[') {
    let j = i;
    while (j < t.length && !',}] \t\r\n'.includes(t[j] as string)) j++;
    return j;
  }
  let depth = 0;
  let j = i;
  while (j < t.length) {
    const d = t[j];
    if (d === '"') {
      j = stringEnd(t, j);
      continue;
    }
    if (d === '{' || d === '[') depth++;
    else if (d === '}' || d === ']') {
      depth--;
      if (depth === 0) return j + 1;
    }
    j++;
  }
  return j;
}

/** Where the top-level key's value is in `t` (the last one, as JSON.parse takes it), and where the object's braces are. */
function topLevel(t: string, key: string): { open: number; value?: { start: number; end: number } } {
  const open = ws(t, 0);
  let value: { start: number; end: number } | undefined;
  let i = ws(t, open + 1);
  while (i < t.length && t[i] !== '}') {
    const kEnd = stringEnd(t, i);
    const k = JSON.parse(t.slice(i, kEnd)) as string;
    const start = ws(t, ws(t, kEnd) + 1); // past ':'
    const end = valueEnd(t, start);
    if (k === key) value = { start, end };
    i = ws(t, end);
    if (t[i] === ',') i = ws(t, i + 1);
  }
  return { open, value };
}

/**
 * config.json's text with our hooks added, and whether anything changed. Throws an InputError
 * naming the file when it is not a JSON object or its "hooks" are malformed.
 */
export function addHooks(text: string, ours: OurHooks, file: string): { text: string; changed: boolean } {
  try {
    return addHooksTo(text, ours, file);
  } catch (err) {
    // JSON.parse takes nesting that JSON.stringify and the scan below cannot walk back.
    if (err instanceof RangeError) throw new InputError(`${file}: nested too deeply`);
    throw err;
  }
}

function addHooksTo(text: string, ours: OurHooks, file: string): { text: string; changed: boolean } {
  const doc = parseJsonText(text, file);
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) throw new InputError(`${file} must be a JSON object`);
  const current = (doc as { hooks?: unknown }).hooks;
  if (current !== undefined && (typeof current !== 'object' || current === null || Array.isArray(current))) throw new InputError(`${file}: "hooks" must be an object`);
  const hooks = { ...((current ?? {}) as Record<string, unknown>) };
  let changed = false;
  for (const [stage, hook] of Object.entries(ours) as [keyof OurHooks, OciHook][]) {
    const list = hooks[stage] ?? [];
    if (!Array.isArray(list) || list.some((h) => typeof h !== 'object' || h === null || typeof (h as OciHook).path !== 'string')) {
      throw new InputError(`${file}: "hooks.${stage}" must be an array of hooks with a "path"`);
    }
    if ((list as OciHook[]).some((h) => same(h, hook))) continue;
    hooks[stage] = [...(list as OciHook[]), hook];
    changed = true;
  }
  if (!changed) return { text, changed };
  const where = topLevel(text, 'hooks');
  const value = JSON.stringify(hooks);
  const out = where.value ? text.slice(0, where.value.start) + value + text.slice(where.value.end) : `${text.slice(0, where.open + 1)}"hooks":${value}${Object.keys(doc).length ? ',' : ''}${text.slice(where.open + 1)}`;
  return { text: out, changed };
}
