/**
 * config.toml's [shim], the runtime wrapper's one table. The wrapper runs for every runtime call an
 * engine makes (state, kill, delete …): it reads this table alone, so that neither the rest of the
 * config's parsing (policy prefixes, DNS zones) costs it anything nor a mistake there stops a
 * `docker rm` — the hook, which reads the whole file, refuses the container with that mistake.
 */
import { isTable, parseTomlText } from './config-text';
import { InputError, shown } from './errors';

export interface ShimConfig {
  /** The real runtime the wrapper hands over to: a name looked up in PATH, or an absolute path. */
  runtime: string;
}

export const SHIM_DEFAULTS: ShimConfig = { runtime: 'runc' };

export function shimSection(table: Record<string, unknown>, where: string): ShimConfig {
  const shim: ShimConfig = { ...SHIM_DEFAULTS };
  for (const [key, value] of Object.entries(table)) {
    if (key !== 'runtime') throw new InputError(`${where}: unknown key ${shown(key)}`);
    // A name (runc, crun) or an absolute path; nothing relative to wherever the engine runs us.
    if (typeof value !== 'string' || !(/^[A-Za-z0-9][A-Za-z0-9_.+-]{0,254}$/.test(value) || /^\/[^\0\n]{1,4095}$/.test(value))) {
      throw new InputError(`${where}: runtime must be a program name (runc, crun) or an absolute path, got ${shown(value)}`);
    }
    shim.runtime = value;
  }
  return shim;
}

/** [shim] of a config.toml's text (the defaults when there is none). */
export function parseShimConfig(text: string, file: string): ShimConfig {
  const table = parseTomlText(text, file).shim;
  if (table === undefined) return { ...SHIM_DEFAULTS };
  if (!isTable(table)) throw new InputError(`config ${file}: shim must be a table ([shim])`);
  return shimSection(table, `config ${file} [shim]`);
}
