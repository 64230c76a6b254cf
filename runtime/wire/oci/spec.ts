/**
 * "oci-spec": the parts of the OCI runtime spec a hook reads — the state on stdin
 * (runtime-spec state.md) and, from the bundle's config.json, the annotations and the network
 * namespace. Parsed and validated here; anything malformed is an InputError naming the field.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { InputError } from '../../core/errors';

export type HookStage = 'createRuntime' | 'prestart' | 'poststop';
export const HOOK_STAGES: readonly HookStage[] = ['createRuntime', 'prestart', 'poststop'];

export interface OciState {
  ociVersion: string;
  id: string;
  status: string;
  pid: number | undefined;
  bundle: string;
  annotations: Record<string, string>;
}

/** The network namespace the container gets: none of its own (host network), a new one, or a path to join. */
export type NetworkNamespace = { kind: 'host' } | { kind: 'new' } | { kind: 'path'; path: string };

export interface OciConfig {
  annotations: Record<string, string>;
  network: NetworkNamespace;
}

/** runc's container id rule (libcontainer: ^[\w+-\.]+$), which crun and podman ids satisfy. */
const ID = /^[\w+.-]{1,1024}$/;

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
const isObject = (v: Json | undefined): v is { [key: string]: Json } => typeof v === 'object' && v !== null && !Array.isArray(v);

function parseJson(text: string, what: string): Json {
  try {
    return JSON.parse(text) as Json;
  } catch (err) {
    throw new InputError(`${what} is not valid JSON: ${(err as Error).message}`);
  }
}

function annotationsOf(v: Json | undefined, what: string): Record<string, string> {
  if (v === undefined || v === null) return {};
  if (!isObject(v)) throw new InputError(`${what}.annotations must be an object of strings`);
  const out: Record<string, string> = {};
  for (const [k, val] of Object.entries(v)) {
    if (typeof val !== 'string') throw new InputError(`${what}.annotations[${JSON.stringify(k)}] must be a string`);
    out[k] = val;
  }
  return out;
}

/** Parse the OCI state a runtime writes to a hook's stdin. */
export function parseState(text: string): OciState {
  if (text.trim() === '') throw new InputError('no OCI state on stdin');
  const v = parseJson(text, 'OCI state on stdin');
  if (!isObject(v)) throw new InputError('OCI state on stdin must be a JSON object');
  const { ociVersion, id, status, pid, bundle } = v;
  if (typeof ociVersion !== 'string') throw new InputError('OCI state: "ociVersion" must be a string');
  if (typeof id !== 'string' || !ID.test(id)) throw new InputError(`OCI state: "id" must be a container id, got ${JSON.stringify(id ?? null)}`);
  if (typeof status !== 'string') throw new InputError('OCI state: "status" must be a string');
  if (pid !== undefined && pid !== null && (typeof pid !== 'number' || !Number.isInteger(pid) || pid < 0)) {
    throw new InputError(`OCI state: "pid" must be a positive integer, got ${JSON.stringify(pid)}`);
  }
  if (typeof bundle !== 'string' || !path.isAbsolute(bundle)) throw new InputError(`OCI state: "bundle" must be an absolute path, got ${JSON.stringify(bundle ?? null)}`);
  return {
    ociVersion,
    id,
    status,
    pid: typeof pid === 'number' && pid > 0 ? pid : undefined,
    bundle,
    annotations: annotationsOf(v.annotations, 'OCI state'),
  };
}

/** Read `<bundle>/config.json`: annotations and the network namespace. */
export function readConfig(bundle: string): OciConfig {
  const file = path.join(bundle, 'config.json');
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    throw new InputError(`cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  const v = parseJson(text, file);
  if (!isObject(v)) throw new InputError(`${file} must be a JSON object`);
  return { annotations: annotationsOf(v.annotations, 'config.json'), network: networkNamespaceOf(v.linux, file) };
}

function networkNamespaceOf(linux: Json | undefined, file: string): NetworkNamespace {
  if (linux === undefined) return { kind: 'host' };
  if (!isObject(linux)) throw new InputError(`${file}: "linux" must be an object`);
  const namespaces = linux.namespaces ?? [];
  if (!Array.isArray(namespaces)) throw new InputError(`${file}: "linux.namespaces" must be an array`);
  for (const ns of namespaces) {
    if (!isObject(ns) || typeof ns.type !== 'string') throw new InputError(`${file}: each of "linux.namespaces" needs a "type"`);
    if (ns.type !== 'network') continue;
    if (ns.path === undefined || ns.path === '') return { kind: 'new' };
    if (typeof ns.path !== 'string' || !path.isAbsolute(ns.path)) throw new InputError(`${file}: network namespace "path" must be an absolute path`);
    return { kind: 'path', path: ns.path };
  }
  return { kind: 'host' };
}
