/**
 * Which config.toml, and its text: an explicit path (must exist), else OCI_SLAAC_HOOK_CONFIG's,
 * else the default (may be absent). Only a regular file (a FIFO or device is refused, never
 * waited on), at most 64 KiB; a symbolic link is followed (the path is the operator's).
 */
import { configPathOf, DEFAULT_CONFIG_PATH } from '../core/config-path';
import { parseShimConfig, SHIM_DEFAULTS, type ShimConfig } from '../core/shim-config';
import { MAX_CONFIG_TOML_BYTES, readRegularFile } from '../wire/oci/files';

/** The config file's path and text (undefined: the default path, and no file there). */
export function readConfigText(explicit?: string): { file: string; text: string | undefined } {
  const file = configPathOf(explicit);
  const missingOk = file === DEFAULT_CONFIG_PATH && !explicit;
  return { file, text: readRegularFile(file, { what: `config ${file}`, maxBytes: MAX_CONFIG_TOML_BYTES, missingOk }) };
}

/** The runtime wrapper's [shim] alone (core/shim-config.ts). */
export function loadShimConfig(explicit?: string): ShimConfig {
  const { file, text } = readConfigText(explicit);
  return text === undefined ? { ...SHIM_DEFAULTS } : parseShimConfig(text, file);
}
