/**
 * Which config.toml a process means: `--config PATH`, else OCI_SLAAC_HOOK_CONFIG, else the default.
 * Its own module so that the hook's thin client (hooks/delegate.ts) names its config without
 * loading the TOML parser.
 */
import * as path from 'node:path';

export const DEFAULT_CONFIG_PATH = '/etc/oci-slaac-hook/config.toml';

/** The config path as given (explicit, else the environment's, else the default). */
export function configPathOf(explicit: string | undefined, env: NodeJS.ProcessEnv = process.env): string {
  return explicit ?? env.OCI_SLAAC_HOOK_CONFIG ?? DEFAULT_CONFIG_PATH;
}

/** The same, absolute: how the agent and its thin clients compare which config they mean. */
export const absoluteConfigPath = (explicit: string | undefined, env: NodeJS.ProcessEnv = process.env): string => path.resolve(configPathOf(explicit, env));
