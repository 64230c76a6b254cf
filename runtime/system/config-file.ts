/**
 * Reading config.toml: an explicit path (must exist), else the env's, else the default (may be
 * absent). Only a regular file (a FIFO or device is refused, never waited on), at most 64 KiB;
 * a symbolic link is followed (the path is the operator's, e.g. a mounted ConfigMap).
 */
import { defaultConfig, parseConfig, type HookConfig } from '../core/config';
import { readConfigText } from './config-text';

export function loadConfigFile(explicit?: string): HookConfig {
  const { file, text } = readConfigText(explicit);
  return text === undefined ? defaultConfig() : parseConfig(text, file);
}
