/**
 * "oci-spec": the parts of the OCI runtime spec a hook reads — the state on stdin
 * (runtime-spec state.md) and, from the bundle's config.json, the annotations and the network
 * namespace. Parsed and validated here; anything malformed is an InputError naming the field.
 */
import * as path from 'node:path';
import { InputError } from '../../core/errors';
import { MAX_CONFIG_JSON_BYTES, parseJsonText, readRegularFile } from './files';

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
  /** config.json "hostname" (podman gives a pod's infra container the pod's name); "" when absent. */
  hostname: string;
  /** config.json "root.path" (absolute, or relative to the bundle); undefined when absent. */
  rootPath?: string;
  /** The source of the last bind mount onto /etc/hostname (Docker's `<data-root>/containers/<id>/hostname`), if any. */
  hostnameSource?: string;
  /** The last mount onto /etc/resolv.conf in "mounts": a bind mount's source (podman, Docker), or another kind. */
  resolvConfMount?: { kind: 'bind'; source: string } | { kind: 'other' };
}

/**
 * runc's container id rule (libcontainer: ^[\w+-\.]+$, and not "." or ".."), which crun and
 * podman ids satisfy; runc's own bound is its state directory's name (255 bytes), ours 1024.
 */
const ID = /^[\w+.-]{1,1024}$/;
export const isContainerId = (id: string): boolean => ID.test(id) && id !== '.' && id !== '..';

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
const isObject = (v: Json | undefined): v is { [key: string]: Json } => typeof v === 'object' && v !== null && !Array.isArray(v);

const parseJson = (text: string, what: string): Json => parseJsonText(text, what) as Json;

/** A key as an error may show it: JSON-quoted (control characters escaped), at most 64 characters. */
const shownKey = (k: string): string => {
  const q = JSON.stringify(k);
  return q.length > 66 ? `${q.slice(0, 61)}…"` : q;
};

function annotationsOf(v: Json | undefined, what: string): Record<string, string> {
  if (v === undefined || v === null) return {};
  if (!isObject(v)) throw new InputError(`${what}.annotations must be an object of strings`);
  const out: Record<string, string> = {};
  for (const [k, val] of Object.entries(v)) {
    if (typeof val !== 'string') throw new InputError(`${what}.annotations[${shownKey(k)}] must be a string`);
    // defineProperty: a key "__proto__" is an annotation like any other, not the object's prototype.
    Object.defineProperty(out, k, { value: val, enumerable: true, writable: true, configurable: true });
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
  if (typeof id !== 'string' || !isContainerId(id)) throw new InputError(`OCI state: "id" must be a container id, got ${shownKey(typeof id === 'string' ? id : JSON.stringify(id ?? null) ?? 'null')}`);
  if (typeof status !== 'string') throw new InputError('OCI state: "status" must be a string');
  if (pid !== undefined && pid !== null && (typeof pid !== 'number' || !Number.isInteger(pid) || pid < 0)) {
    throw new InputError(`OCI state: "pid" must be a positive integer, got ${shownKey(JSON.stringify(pid))}`);
  }
  if (typeof bundle !== 'string' || !path.isAbsolute(bundle) || bundle.includes('\0')) throw new InputError(`OCI state: "bundle" must be an absolute path, got ${shownKey(typeof bundle === 'string' ? bundle : JSON.stringify(bundle ?? null) ?? 'null')}`);
  return {
    ociVersion,
    id,
    status,
    pid: typeof pid === 'number' && pid > 0 ? pid : undefined,
    bundle,
    annotations: annotationsOf(v.annotations, 'OCI state'),
  };
}

/**
 * Read `<bundle>/config.json`: annotations and the network namespace. Only the bundle's own
 * regular file (a symbolic link, FIFO or device is refused), at most 1 MiB.
 */
export function readConfig(bundle: string): OciConfig {
  const file = path.join(bundle, 'config.json');
  const text = readRegularFile(file, { what: file, maxBytes: MAX_CONFIG_JSON_BYTES, noFollow: true }) ?? '';
  return parseConfigJson(text, file);
}

/** config.json's text (`file` names it in errors) → what the hook reads of it. Pure; throws only InputError. */
export function parseConfigJson(text: string, file: string): OciConfig {
  const v = parseJson(text, file);
  if (!isObject(v)) throw new InputError(`${file} must be a JSON object`);
  const hostname = typeof v.hostname === 'string' ? v.hostname : '';
  const rootPath = isObject(v.root) && typeof v.root.path === 'string' && v.root.path !== '' && !v.root.path.includes('\0') && v.root.path.length <= 4096 ? v.root.path : undefined;
  const resolvConfMount = resolvConfMountOf(v.mounts, file);
  const hostnameSource = bindSourceOf(v.mounts, '/etc/hostname');
  return {
    annotations: annotationsOf(v.annotations, 'config.json'),
    network: networkNamespaceOf(v.linux, file),
    hostname,
    ...(rootPath !== undefined ? { rootPath } : {}),
    ...(resolvConfMount !== undefined ? { resolvConfMount } : {}),
    ...(hostnameSource !== undefined ? { hostnameSource } : {}),
  };
}

/** The absolute source of the last bind mount onto `destination`, if any (mounts already checked to be an array or absent). */
function bindSourceOf(mounts: Json | undefined, destination: string): string | undefined {
  if (!Array.isArray(mounts)) return undefined;
  let found: string | undefined;
  for (const m of mounts) {
    if (!isObject(m) || typeof m.destination !== 'string' || typeof m.source !== 'string') continue;
    if (path.posix.normalize(`/${m.destination}`).replace(/\/+$/, '') !== destination) continue;
    if (path.isAbsolute(m.source) && !m.source.includes('\0') && m.source.length <= 4096) found = m.source;
  }
  return found;
}

const RESOLV_CONF = '/etc/resolv.conf';

/** The last mount onto /etc/resolv.conf (a later mount covers an earlier one). */
function resolvConfMountOf(mounts: Json | undefined, file: string): OciConfig['resolvConfMount'] {
  if (mounts === undefined || mounts === null) return undefined;
  if (!Array.isArray(mounts)) throw new InputError(`${file}: "mounts" must be an array`);
  let found: OciConfig['resolvConfMount'];
  for (const m of mounts) {
    if (!isObject(m) || typeof m.destination !== 'string') continue;
    if (path.posix.normalize(`/${m.destination}`).replace(/\/+$/, '') !== RESOLV_CONF) continue;
    const options = Array.isArray(m.options) ? m.options : [];
    const bind = m.type === 'bind' || options.includes('bind') || options.includes('rbind');
    if (!bind) {
      found = { kind: 'other' }; // something else mounted there: no file we could write
      continue;
    }
    if (typeof m.source !== 'string' || !path.isAbsolute(m.source) || m.source.includes('\0') || m.source.length > 4096) {
      throw new InputError(`${file}: the mount onto ${RESOLV_CONF} needs an absolute "source"`);
    }
    found = { kind: 'bind', source: m.source };
  }
  return found;
}

export const NO_PID = "OCI state has no pid: cannot find the container's network namespace";

/** The netns a hook acts on: config.json's path to join, else the container's process's; undefined: the host's network. */
export function containerNetnsPath(network: NetworkNamespace, pid: number | undefined): string | undefined {
  if (network.kind === 'host') return undefined;
  if (network.kind === 'path') return network.path;
  if (!pid) throw new InputError(NO_PID);
  return `/proc/${pid}/ns/net`;
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
    if (typeof ns.path !== 'string' || !path.isAbsolute(ns.path) || ns.path.includes('\0') || ns.path.length > 4096) throw new InputError(`${file}: network namespace "path" must be an absolute path`);
    return { kind: 'path', path: ns.path };
  }
  return { kind: 'host' };
}
