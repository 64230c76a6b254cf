/**
 * Reading config.toml: an explicit path (must exist), else the env's, else the default (may be
 * absent). Only a regular file (a FIFO or device is refused, never waited on), at most 64 KiB;
 * a symbolic link is followed (the path is the operator's, e.g. a mounted ConfigMap).
 */
import { DEFAULT_CONFIG_PATH, defaultConfig, parseConfig, type HookConfig } from '../core/config';
import { MAX_CONFIG_TOML_BYTES, readRegularFile } from '../wire/oci/files';

export function loadConfigFile(explicit?: string): HookConfig {
  const file = explicit ?? process.env.OCI_SLAAC_HOOK_CONFIG ?? DEFAULT_CONFIG_PATH;
  const missingOk = file === DEFAULT_CONFIG_PATH && !explicit;
  const text = readRegularFile(file, { what: `config ${file}`, maxBytes: MAX_CONFIG_TOML_BYTES, missingOk });
  return text === undefined ? defaultConfig() : parseConfig(text, file);
}
