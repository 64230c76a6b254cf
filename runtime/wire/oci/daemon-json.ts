/**
 * Docker's daemon.json with our runtime wrapper registered: Docker runs no OCI hooks of its own,
 * so `runtimes.<name> = { path }` (and, when asked, `default-runtime`) is how its containers get
 * ours. Pure: text in, text out; the operator's file is everything else, kept as it was (keys in
 * their order, other runtimes untouched), and a second run changes nothing.
 */
import { InputError } from '../../core/errors';
import { parseJsonText } from './files';

/** Docker's own rule for a runtime's name is looser; this one is safe as a CLI flag value and a file name. */
const RUNTIME_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;
const MAX_PATH = 4096;

export interface DockerRuntimeOptions {
  name: string;
  /** The runtime's executable: absolute (dockerd would search its own PATH for a bare name). */
  path: string;
  /** Also set `default-runtime`: every container without `--runtime` gets the wrapper. */
  makeDefault: boolean;
}

type JsonObject = Record<string, unknown>;

const isObject = (v: unknown): v is JsonObject => typeof v === 'object' && v !== null && !Array.isArray(v);

const kind = (v: unknown): string => (v === null ? 'null' : Array.isArray(v) ? 'an array' : typeof v === 'object' ? 'an object' : `a ${typeof v}`);

/** A value as a change line shows it: a string quoted, anything else by its kind (it may be huge, or nested past JSON.stringify's stack). */
const quotedOrKind = (v: unknown): string => (typeof v === 'string' ? JSON.stringify(v) : kind(v));

/** Own properties only: a runtime named "constructor" is not Object.prototype's. */
const own = (o: JsonObject, key: string): unknown => (Object.hasOwn(o, key) ? o[key] : undefined);

/**
 * `text` (daemon.json's content; undefined or blank: `{}`) with runtime `name` at `path`. `changed`
 * says what changed, one phrase each; empty when nothing did (then `text` need not be written).
 */
export function addDockerRuntime(text: string | undefined, opts: DockerRuntimeOptions): { text: string; changed: string[] } {
  if (!RUNTIME_NAME.test(opts.name)) {
    throw new InputError(`runtime name ${JSON.stringify(opts.name)} must be 1..64 letters, digits, "_", "." or "-", starting with a letter or digit`);
  }
  if (!opts.path.startsWith('/') || opts.path.length > MAX_PATH || /[\x00-\x1f\x7f]/.test(opts.path)) {
    throw new InputError(`runtime path ${JSON.stringify(opts.path)} must be an absolute path (at most ${MAX_PATH} characters, no control characters)`);
  }
  const doc = text === undefined || text.trim() === '' ? {} : parseJsonText(text, 'daemon.json');
  if (!isObject(doc)) throw new InputError(`daemon.json must be a JSON object, got ${kind(doc)}`);
  const changed: string[] = [];

  // Assigning into the parsed objects (never rebuilding them) keeps every key where it was; a
  // new key goes last.
  if (own(doc, 'runtimes') === undefined) doc.runtimes = {};
  const runtimes = doc.runtimes;
  if (!isObject(runtimes)) throw new InputError(`daemon.json: "runtimes" must be a JSON object, got ${kind(runtimes)}`);
  const entry = own(runtimes, opts.name);
  if (!isObject(entry)) {
    runtimes[opts.name] = { path: opts.path };
    changed.push(entry === undefined ? `runtimes.${opts.name}: added, path ${opts.path}` : `runtimes.${opts.name}: replaced (was ${kind(entry)}), path ${opts.path}`);
  } else {
    const was = own(entry, 'path');
    if (was !== opts.path) {
      changed.push(was === undefined ? `runtimes.${opts.name}.path: set to ${opts.path}` : `runtimes.${opts.name}.path: ${quotedOrKind(was)} -> ${opts.path}`);
      entry.path = opts.path;
    }
    // dockerd refuses a runtime with both a path and a runtimeType (a containerd shim) and its
    // options; the operator's runtimeArgs (say `--slaac-config`) are ours to keep.
    for (const key of ['runtimeType', 'options']) {
      if (Object.hasOwn(entry, key)) {
        delete entry[key];
        changed.push(`runtimes.${opts.name}.${key}: removed (dockerd takes a path or a runtimeType, not both)`);
      }
    }
  }
  if (opts.makeDefault && own(doc, 'default-runtime') !== opts.name) {
    const was = own(doc, 'default-runtime');
    doc['default-runtime'] = opts.name;
    changed.push(was === undefined ? `default-runtime: set to ${JSON.stringify(opts.name)} (was dockerd's default, "runc")` : `default-runtime: ${quotedOrKind(was)} -> ${JSON.stringify(opts.name)}`);
  }

  let out: string;
  try {
    out = `${JSON.stringify(doc, null, 2)}\n`;
  } catch {
    // JSON.parse nests as deep as the text goes; JSON.stringify recurses and runs out of stack.
    throw new InputError('daemon.json is nested too deeply');
  }
  return { text: out, changed };
}

/**
 * `text` without runtime `name`, when it still has our `path` (a runtime the operator has changed
 * since is theirs: kept, and `kept` says so). `dropEmptyRuntimes`: the `runtimes` key was ours
 * too, removed when nothing is left in it. `emptied`: nothing is left in the file at all (a file
 * we made may go).
 */
export function removeDockerRuntime(text: string, opts: { name: string; path: string; dropEmptyRuntimes: boolean }): { text: string; changed: string[]; kept?: string; emptied: boolean } {
  const doc = text.trim() === '' ? {} : parseJsonText(text, 'daemon.json');
  if (!isObject(doc)) throw new InputError(`daemon.json must be a JSON object, got ${kind(doc)}`);
  const runtimes = own(doc, 'runtimes');
  const entry = isObject(runtimes) ? own(runtimes, opts.name) : undefined;
  if (!isObject(runtimes) || !isObject(entry) || own(entry, 'path') !== opts.path) {
    const kept = entry === undefined ? undefined : `runtimes.${opts.name}: kept (changed since install: its path is not ${opts.path})`;
    return { text, changed: [], ...(kept ? { kept } : {}), emptied: Object.keys(doc).length === 0 };
  }
  delete runtimes[opts.name];
  const changed = [`runtimes.${opts.name}: removed`];
  if (opts.dropEmptyRuntimes && Object.keys(runtimes).length === 0) {
    delete doc.runtimes;
    changed.push('runtimes: removed (empty)');
  }
  return { text: `${JSON.stringify(doc, null, 2)}\n`, changed, emptied: Object.keys(doc).length === 0 };
}
