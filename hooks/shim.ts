/**
 * oci-slaac-runtime (entry: hooks/oci-slaac-runtime.ts): an OCI runtime for engines without OCI hooks of their own (Docker,
 * containerd, Kubernetes through containerd's CRI). On `create` and `run` it adds our createRuntime
 * and poststop hooks to the bundle's config.json (wire/oci/add-hooks.ts: appended, idempotent,
 * the rest of the file byte for byte), then replaces itself with the real runtime (execve, as
 * nvidia-container-runtime does), same arguments less our `--slaac-config`; every other command
 * goes straight to the real runtime. The real runtime is config.toml's `[shim] runtime` (runc by
 * default); config.toml is `--slaac-config PATH`, else OCI_SLAAC_HOOK_CONFIG, else
 * /etc/oci-slaac-hook/config.toml — and the hooks it adds are given that same path.
 *
 * It never touches stdin/stdout/stderr as Node streams (Node would make a pipe non-blocking, and
 * the runtime inherits the very same pipes); an error is one line written to fd 2, exit 1.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { DEFAULT_CONFIG_PATH } from '../runtime/core/config-text';
import { InputError, oneLine } from '../runtime/core/errors';
import { loadShimConfig } from '../runtime/system/config-text';
import { replaceFile } from '../runtime/system/atomic-file';
import { native } from '../runtime/system/native';
import { addHooks, type OciHook } from '../runtime/wire/oci/add-hooks';
import { MAX_CONFIG_JSON_BYTES, readRegularFile } from '../runtime/wire/oci/files';
import { parseRuntimeArgs } from '../runtime/wire/oci/runtime-args';

const SELF = 'oci-slaac-runtime';
/** runc gives a hook nothing but its `env`. */
const HOOK_PATH = 'PATH=/usr/sbin:/usr/bin:/sbin:/bin';
const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';


/** `name` looked up in PATH (as execvp would), or an absolute path as it is; never this wrapper. */
export function resolveRuntime(name: string, envPath = process.env.PATH ?? DEFAULT_PATH, self = process.argv[1]): string {
  let found: string | undefined;
  if (name.startsWith('/')) found = name;
  else {
    for (const dir of envPath.split(':')) {
      if (!dir.startsWith('/')) continue; // never relative to wherever the engine runs us
      const candidate = path.join(dir, name);
      try {
        fs.accessSync(candidate, fs.constants.X_OK);
        if (fs.statSync(candidate).isFile()) {
          found = candidate;
          break;
        }
      } catch {
        // not here
      }
    }
  }
  if (!found) throw new InputError(`the runtime "${name}" ([shim] runtime) is not in PATH (${envPath})`);
  const real = (p: string): string => {
    try {
      return fs.realpathSync(p);
    } catch {
      return p;
    }
  };
  // Ourselves by path, or by name: install.sh's $PREFIX/bin/oci-slaac-runtime is a script that
  // runs this bundle, whose real path is not ours — exec'ing it would loop for ever.
  if ((self && real(found) === real(self)) || path.basename(real(found)) === SELF) throw new InputError(`[shim] runtime names ${SELF} itself (${found}): it must be the real runtime (runc, crun)`);
  return found;
}

/** Our hooks for a config.toml at `configPath`, run by this node from the hook beside this bundle. */
export function ourHooks(configPath: string, env: NodeJS.ProcessEnv = process.env): { createRuntime: OciHook; poststop: OciHook } {
  const entry = path.join(__dirname, 'oci-slaac-hook.js');
  // What the hook reads from its environment (the secret's and syslog's place) is handed on.
  const hookEnv = [HOOK_PATH, ...Object.entries(env).filter(([k, v]) => k.startsWith('OCI_SLAAC_HOOK_') && k !== 'OCI_SLAAC_HOOK_CONFIG' && v !== undefined).map(([k, v]) => `${k}=${v}`)];
  const hook = (stage: string): OciHook => ({ path: process.execPath, args: ['node', entry, stage, '--config', configPath], env: hookEnv, timeout: 30 });
  return { createRuntime: hook('createRuntime'), poststop: hook('poststop') };
}

/** Add our hooks to `<bundle>/config.json`, replaced atomically (same mode and owner) only when it changes. */
export function addHooksToBundle(bundle: string, configPath: string): boolean {
  const file = path.join(bundle, 'config.json');
  const text = readRegularFile(file, { what: file, maxBytes: MAX_CONFIG_JSON_BYTES, noFollow: true }) ?? '';
  const out = addHooks(text, ourHooks(configPath), file);
  if (out.changed) replaceFile(file, out.text);
  return out.changed;
}

/** Our stdio, and the fds an engine hands the runtime with `--preserve-fds N` (3 … 3+N-1). */
export function inheritedFds(preserve: number | undefined): number[] {
  const n = Math.min(preserve ?? 0, 1024);
  return [0, 1, 2, ...Array.from({ length: n }, (_, i) => 3 + i)];
}

/** The wrapper's whole run: hooks added on create/run, then the real runtime in our place. */
export function runShim(args: string[]): void {
  const parsed = parseRuntimeArgs(args);
  let runtime: string;
  try {
    const configPath = path.resolve(parsed.slaacConfig ?? process.env.OCI_SLAAC_HOOK_CONFIG ?? DEFAULT_CONFIG_PATH);
    if (parsed.problem) throw new InputError(`bad arguments: ${parsed.problem}`);
    runtime = resolveRuntime(loadShimConfig(parsed.slaacConfig).runtime);
    if (parsed.command === 'create' || parsed.command === 'run') addHooksToBundle(path.resolve(parsed.bundle ?? '.'), configPath);
  } catch (err) {
    fs.writeSync(2, `${SELF}: ${oneLine(err)}\n`);
    process.exit(1);
  }
  const envp = Object.entries(process.env).flatMap(([k, v]) => (v === undefined ? [] : [`${k}=${v}`]));
  try {
    native().execve(runtime, [path.basename(runtime), ...parsed.argv], envp, inheritedFds(parsed.preserveFds));
  } catch (err) {
    fs.writeSync(2, `${SELF}: cannot run ${runtime}: ${oneLine(err)}\n`);
    process.exit(1);
  }
}
