/** Reading config.toml: an explicit path (must exist), else the env's, else the default (may be absent). */
import * as fs from 'node:fs';
import { DEFAULT_CONFIG_PATH, defaultConfig, parseConfig, type HookConfig } from '../core/config';
import { InputError } from '../core/errors';

export function loadConfigFile(explicit?: string): HookConfig {
  const file = explicit ?? process.env.OCI_SLAAC_HOOK_CONFIG ?? DEFAULT_CONFIG_PATH;
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' && file === DEFAULT_CONFIG_PATH && !explicit) return defaultConfig();
    throw new InputError(`config ${file}: ${code === 'ENOENT' ? 'does not exist' : (code ?? (err as Error).message)}`);
  }
  return parseConfig(text, file);
}
