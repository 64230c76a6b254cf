/**
 * config.toml as text: where it is by default, and its TOML read into a table — errors one line,
 * naming where the file is wrong but never quoting it. Shared by the whole config (config.ts) and
 * the runtime wrapper's [shim] alone (shim-config.ts).
 */
import { parse as parseToml, TomlError } from 'smol-toml';
import { InputError } from './errors';

export { DEFAULT_CONFIG_PATH } from './config-path';

export const isTable = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Date);

/** A config.toml's text as a table (`file` names it in errors). */
export function parseTomlText(text: string, file: string): Record<string, unknown> {
  try {
    return parseToml(text) as Record<string, unknown>;
  } catch (err) {
    throw new InputError(`config ${file}: not valid TOML${tomlWhere(err)}`);
  }
}

/** Where smol-toml found the error (line and column), never its excerpt of the file: the file's content stays out of logs. */
function tomlWhere(err: unknown): string {
  if (!(err instanceof TomlError)) return '';
  const e = err as { line?: unknown; column?: unknown; message?: unknown };
  if (typeof e.line !== 'number' || typeof e.column !== 'number') return '';
  // smol-toml's messages are fixed texts; its "codeblock" (the lines around the error) is not shown.
  const what = typeof e.message === 'string' ? (e.message.split('\n')[0] ?? '').replace(/^Invalid TOML document: /, '') : '';
  return `${/^[\w ,.'()-]{1,120}$/.test(what) ? `: ${what}` : ''} (at line ${e.line}, column ${e.column})`;
}
