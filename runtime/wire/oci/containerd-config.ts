/**
 * containerd's config.toml with our runtime wrapper registered as a CRI runtime (the table README
 * shows): containerd runs no OCI hooks of its own, and `runtime_type = "io.containerd.runc.v2"`
 * with `options.BinaryName` is how its runc shim runs another runc-compatible binary. Our lines
 * go in one marked block appended to the file (runtime/core/toml-edit.ts checks that the rest
 * parses to exactly what it held), so that removing them removes ours and nothing else. Pure.
 */
import { InputError } from '../../core/errors';
import { isTable, parseTomlText } from '../../core/config-text';
import { putMarkedBlock, removeMarkedBlock, tomlKey, tomlString, valueAt, type BlockMarks } from '../../core/toml-edit';

export const CONTAINERD_MARKS: BlockMarks = {
  begin: '# oci-slaac-hook: begin (oci-slaac-hook uninstall removes this block)',
  end: '# oci-slaac-hook: end',
};

const RUNC_SHIM = 'io.containerd.runc.v2';
const RUNTIME_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;

/**
 * Where a config of that `version` keeps CRI runtimes: version 1 (no `version` key) under
 * plugins.cri, version 2 (containerd 1.x) under plugins."io.containerd.grpc.v1.cri", version 3
 * (containerd 2.x) under plugins."io.containerd.cri.v1.runtime".
 */
export function runtimesPath(version: unknown): string[] {
  const plugin = version === 3 ? 'io.containerd.cri.v1.runtime' : version === 2 ? 'io.containerd.grpc.v1.cri' : 'cri';
  return ['plugins', plugin, 'containerd', 'runtimes'];
}

export interface ContainerdRuntime {
  name: string;
  /** The wrapper's absolute path (BinaryName). */
  path: string;
}

function check(opts: ContainerdRuntime): void {
  if (!RUNTIME_NAME.test(opts.name)) throw new InputError(`runtime name ${JSON.stringify(opts.name)} must be 1..64 letters, digits, "_", "." or "-", starting with a letter or digit`);
  if (!opts.path.startsWith('/') || /[\x00-\x1f\x7f]/.test(opts.path)) throw new InputError(`runtime path ${JSON.stringify(opts.path)} must be an absolute path without control characters`);
}

/**
 * `text` (the file's content; undefined: no file, made as a version 2 config) with runtime
 * `name` → BinaryName `path`. `changed` is one phrase, or empty when nothing changed; `ours` is
 * false when an equal runtime of the operator's is there already (nothing added: nothing to
 * remove later). A different runtime of that name outside our block is refused.
 */
export function addContainerdRuntime(text: string | undefined, opts: ContainerdRuntime, file: string): { text: string; changed: string[]; ours: boolean } {
  check(opts);
  const body = text ?? 'version = 2\n';
  const doc = parseTomlText(body, file);
  const path = [...runtimesPath(doc.version), opts.name];
  const value = { runtime_type: RUNC_SHIM, options: { BinaryName: opts.path } };
  const inBlock = body.split('\n').some((l) => l.trim() === CONTAINERD_MARKS.begin);
  const existing = valueAt(doc, path);
  if (existing !== undefined && !inBlock) {
    const binary = isTable(existing) && isTable(existing.options) ? existing.options.BinaryName : undefined;
    if (isTable(existing) && existing.runtime_type === RUNC_SHIM && binary === opts.path) return { text: body, changed: [], ours: false };
    throw new InputError(`${file} has a runtime ${tomlKey(path)} already (BinaryName ${JSON.stringify(binary ?? null)}): remove it, or register ${opts.path} by hand`);
  }
  const table = tomlKey(path);
  const block = [`[${table}]`, `  runtime_type = ${tomlString(RUNC_SHIM)}`, `  [${table}.options]`, `    BinaryName = ${tomlString(opts.path)}`];
  const r = putMarkedBlock(body, CONTAINERD_MARKS, block, path, value, file);
  const changed = r.changed || text === undefined ? [`${table}: ${inBlock ? 'updated' : 'added'}, BinaryName ${opts.path}`] : [];
  return { text: r.text, changed, ours: true };
}

/**
 * `text` without our block. `emptied`: what is left holds nothing but `version` (a file we made
 * may then go).
 */
export function removeContainerdRuntime(text: string, name: string, file: string): { text: string; changed: boolean; emptied: boolean } {
  const doc = parseTomlText(text, file);
  const r = removeMarkedBlock(text, CONTAINERD_MARKS, [...runtimesPath(doc.version), name], file);
  const left = parseTomlText(r.text, file);
  return { ...r, emptied: Object.keys(left).every((k) => k === 'version') };
}
