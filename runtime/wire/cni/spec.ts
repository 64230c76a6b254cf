/**
 * The CNI protocol (containernetworking/cni SPEC.md, spec 1.0.0 and 1.1.0) as data: the
 * environment a runtime sets, the network configuration on stdin, CNI_ARGS, and the error and
 * version answers. Nothing here throws on what it is given: each parser returns the value or the
 * CNI error (code and message) the plugin prints.
 */
// Values in messages go through shown(): bounded, and no throw even for a value nested thousands deep.
import { shown } from '../../core/errors';
import { isIfname } from '../../core/link-kinds';
import { isContainerId } from '../oci/spec';

/** The spec versions this plugin speaks: its results are CNI 1.0 (1.1 adds only optional fields). */
export const CNI_VERSIONS = ['1.0.0', '1.1.0'] as const;
export type CniVersion = (typeof CNI_VERSIONS)[number];
export const isCniVersion = (v: unknown): v is CniVersion => (CNI_VERSIONS as readonly unknown[]).includes(v);

export const CNI_COMMANDS = ['ADD', 'DEL', 'CHECK', 'GC', 'STATUS', 'VERSION'] as const;
export type CniCommand = (typeof CNI_COMMANDS)[number];

/** SPEC.md §5 "Error": 0-99 well known, 100+ the plugin's own. */
export const CNI_ERRORS = {
  incompatibleVersion: 1,
  unsupportedField: 2,
  unknownContainer: 3,
  invalidEnvironment: 4,
  io: 5,
  decode: 6,
  invalidConfig: 7,
  tryAgain: 11,
  notAvailable: 50,
  limitedConnectivity: 51,
  /** Ours: CHECK found the attachment differs from its ledger. */
  differs: 100,
  /** Ours: the attach failed (no router, DAD, the kernel): the message names why. */
  failed: 101,
} as const;

export interface CniError {
  code: number;
  msg: string;
  details?: string;
}

export type Parsed<T> = { ok: true; value: T } | { ok: false; error: CniError };
const fail = (code: number, msg: string): { ok: false; error: CniError } => ({ ok: false, error: { code, msg } });

export interface CniEnv {
  command: CniCommand;
  containerId?: string;
  netns?: string;
  ifname?: string;
  /** CNI_ARGS, parsed (parseCniArgs). */
  args: CniArgs;
}

/** What each verb requires of the environment (SPEC.md §2). */
const REQUIRED: Record<CniCommand, readonly ('CNI_CONTAINERID' | 'CNI_NETNS' | 'CNI_IFNAME')[]> = {
  ADD: ['CNI_CONTAINERID', 'CNI_NETNS', 'CNI_IFNAME'],
  CHECK: ['CNI_CONTAINERID', 'CNI_NETNS', 'CNI_IFNAME'],
  DEL: ['CNI_CONTAINERID', 'CNI_IFNAME'],
  GC: [],
  STATUS: [],
  VERSION: [],
};

/** Bound on one environment value: a path, an id, CNI_ARGS. */
const MAX_ENV_CHARS = 4096;

/** The CNI_* environment: every error names the variable (code 4). */
export function parseCniEnv(env: Readonly<Record<string, string | undefined>>): Parsed<CniEnv> {
  const command = env.CNI_COMMAND;
  if (!(CNI_COMMANDS as readonly (string | undefined)[]).includes(command)) {
    return fail(CNI_ERRORS.invalidEnvironment, `CNI_COMMAND must be one of ${CNI_COMMANDS.join(', ')}, got ${command === undefined ? 'nothing' : shown(command)}`);
  }
  const cmd = command as CniCommand;
  for (const name of ['CNI_CONTAINERID', 'CNI_NETNS', 'CNI_IFNAME', 'CNI_ARGS'] as const) {
    const v = env[name];
    if (v !== undefined && v.length > MAX_ENV_CHARS) return fail(CNI_ERRORS.invalidEnvironment, `${name} is longer than ${MAX_ENV_CHARS} characters`);
  }
  for (const name of REQUIRED[cmd]) if (!env[name]) return fail(CNI_ERRORS.invalidEnvironment, `${name} is required for ${cmd}`);
  const out: CniEnv = { command: cmd, args: {} };
  if (REQUIRED[cmd].length === 0) return { ok: true, value: out }; // GC, STATUS, VERSION: no container
  const id = env.CNI_CONTAINERID ?? '';
  // SPEC.md §2: alphanumeric first, then alphanumerics, "_", "." or "-".
  if (!/^[A-Za-z0-9][A-Za-z0-9_.-]*$/.test(id) || !isContainerId(id)) return fail(CNI_ERRORS.invalidEnvironment, `CNI_CONTAINERID ${shown(id)} is not a container id (a letter or digit, then letters, digits, "_", "." or "-")`);
  out.containerId = id;
  const ifname = env.CNI_IFNAME ?? '';
  if (!isIfname(ifname)) return fail(CNI_ERRORS.invalidEnvironment, `CNI_IFNAME ${shown(ifname)} is not an interface name (1 to 15 of A-Z a-z 0-9 _ . -)`);
  out.ifname = ifname;
  const netns = env.CNI_NETNS;
  if (netns) {
    if (!netns.startsWith('/') || netns.includes('\0')) return fail(CNI_ERRORS.invalidEnvironment, `CNI_NETNS ${shown(netns)} is not an absolute path`);
    out.netns = netns;
  }
  const args = parseCniArgs(env.CNI_ARGS ?? '');
  if (!args.ok) return args;
  out.args = args.value;
  return { ok: true, value: out };
}

/** The CNI_ARGS keys read here: the Kubernetes pod (the stable name) and the runtime's own. */
export const KNOWN_CNI_ARGS = ['IgnoreUnknown', 'K8S_POD_NAMESPACE', 'K8S_POD_NAME', 'K8S_POD_INFRA_CONTAINER_ID', 'K8S_POD_UID'] as const;
export type CniArgs = Partial<Record<(typeof KNOWN_CNI_ARGS)[number], string>>;

/**
 * CNI_ARGS: `KEY=VALUE` pairs separated by ";" (SPEC.md §2). A key not known here is an error
 * unless IgnoreUnknown is 1 or true — as the reference plugins' types.LoadArgs has it, and as every
 * runtime that passes Kubernetes keys sets it.
 */
export function parseCniArgs(text: string): Parsed<CniArgs> {
  const pairs: [string, string][] = [];
  for (const part of text.split(';')) {
    if (part === '') continue;
    const eq = part.indexOf('=');
    if (eq <= 0) return fail(CNI_ERRORS.invalidEnvironment, `CNI_ARGS: ${shown(part)} is not KEY=VALUE`);
    const key = part.slice(0, eq);
    const value = part.slice(eq + 1);
    // eslint-disable-next-line no-control-regex
    if (!/^[A-Za-z0-9_]+$/.test(key) || /[\u0000-\u001f\u007f]/.test(value)) return fail(CNI_ERRORS.invalidEnvironment, `CNI_ARGS: ${shown(part)} is not KEY=VALUE (a key of letters, digits and "_"; no control characters)`);
    pairs.push([key, value]);
  }
  const ignoreUnknown = pairs.some(([k, v]) => k === 'IgnoreUnknown' && (v === '1' || v.toLowerCase() === 'true'));
  const out: CniArgs = {};
  for (const [key, value] of pairs) {
    if ((KNOWN_CNI_ARGS as readonly string[]).includes(key)) out[key as keyof CniArgs] = value;
    else if (!ignoreUnknown) return fail(CNI_ERRORS.invalidEnvironment, `CNI_ARGS: unknown key ${shown(key)} (set IgnoreUnknown=1 to pass keys for other plugins)`);
  }
  return { ok: true, value: out };
}

/** Keys of the CNI configuration itself (SPEC.md §1, §3): never ours to interpret as settings. */
const CNI_KEYS = new Set(['cniVersion', 'cniVersions', 'name', 'type', 'args', 'ipMasq', 'dns', 'prevResult', 'runtimeConfig', 'capabilities', 'disableCheck', 'disableGC', 'cni.dev/valid-attachments', 'cni.dev/attachments']);

export interface ValidAttachment {
  containerID: string;
  ifname: string;
}

/** A plugin configuration object as the runtime derives it for one invocation. */
export interface NetConf {
  cniVersion: CniVersion;
  name: string;
  type: string;
  /** `config`: a config.toml for what the network config leaves out (DNS, policy, …). */
  configFile?: string;
  /** Every other key: config.toml's top-level keys (parent, mode, dad, …), checked by core/config.ts. */
  settings: Record<string, unknown>;
  /** A chained plugin's input (ADD), or the cached result (DEL, CHECK). */
  prevResult?: CniResult;
  /** GC (1.1): the attachments the runtime still has. */
  validAttachments?: ValidAttachment[];
}

/** A network config on stdin: at most this many bytes (a conflist is a few hundred). */
export const MAX_NETCONF_BYTES = 1024 * 1024;

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** SPEC.md §1: a network name is alphanumeric first, then alphanumerics, "_", "." or "-". */
export const isNetworkName = (n: unknown): n is string => typeof n === 'string' && n.length <= 255 && /^[A-Za-z0-9][A-Za-z0-9_.-]*$/.test(n);

/** Decode the network config (JSON text) for `command` (not VERSION: encodeVersion). */
export function parseNetConf(text: string, command: Exclude<CniCommand, 'VERSION'>): Parsed<NetConf> {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return fail(CNI_ERRORS.decode, 'network configuration on stdin is not valid JSON');
  }
  if (!isObject(v)) return fail(CNI_ERRORS.decode, 'network configuration on stdin is not a JSON object');
  const version = v.cniVersion;
  if (!isCniVersion(version)) return fail(CNI_ERRORS.incompatibleVersion, `cniVersion ${version === undefined ? 'missing' : shown(version)}: this plugin speaks ${CNI_VERSIONS.join(', ')}`);
  if (!isNetworkName(v.name)) return fail(CNI_ERRORS.invalidConfig, `network name ${v.name === undefined ? 'missing' : shown(v.name)} is not a network name (a letter or digit, then letters, digits, "_", "." or "-")`);
  if (typeof v.type !== 'string' || v.type === '') return fail(CNI_ERRORS.invalidConfig, 'network configuration has no "type"');
  if (v.ipam !== undefined) return fail(CNI_ERRORS.unsupportedField, `"ipam": ${shown(v.ipam)}: addresses come from the router's advertisement (SLAAC), no IPAM plugin is used`);
  const out: NetConf = { cniVersion: version, name: v.name, type: v.type, settings: {} };
  for (const [key, value] of Object.entries(v)) {
    if (CNI_KEYS.has(key)) continue;
    if (key === 'config') {
      if (typeof value !== 'string' || !value.startsWith('/') || value.length > 4096 || value.includes('\0')) return fail(CNI_ERRORS.invalidConfig, `"config" must be the absolute path of a config.toml, got ${shown(value)}`);
      out.configFile = value;
      continue;
    }
    // Defined, not assigned: a "__proto__" key is a key like any other (refused as one), not the object's prototype.
    Object.defineProperty(out.settings, key, { value, enumerable: true, writable: true, configurable: true });
  }
  if (v.prevResult !== undefined && v.prevResult !== null) {
    const prev = parseResult(v.prevResult);
    if (!prev.ok) return prev;
    out.prevResult = prev.value;
  }
  if (command === 'GC') {
    const list = v['cni.dev/valid-attachments'];
    if (list !== undefined) {
      if (!Array.isArray(list)) return fail(CNI_ERRORS.invalidConfig, '"cni.dev/valid-attachments" must be an array');
      const valid: ValidAttachment[] = [];
      for (const a of list) {
        if (!isObject(a) || typeof a.containerID !== 'string' || typeof a.ifname !== 'string') return fail(CNI_ERRORS.invalidConfig, `"cni.dev/valid-attachments": ${shown(a)} is not {"containerID": …, "ifname": …}`);
        valid.push({ containerID: a.containerID, ifname: a.ifname });
      }
      out.validAttachments = valid;
    }
  }
  return { ok: true, value: out };
}

export interface CniInterface {
  name: string;
  mac?: string;
  mtu?: number;
  sandbox?: string;
}
export interface CniIp {
  address: string;
  gateway?: string;
  interface?: number;
}
export interface CniRoute {
  dst: string;
  gw?: string;
  mtu?: number;
  priority?: number;
}
export interface CniDns {
  nameservers?: string[];
  domain?: string;
  search?: string[];
  options?: string[];
}
/** SPEC.md §5 "ADD Success". Fields a previous plugin set that are not named here pass through untouched. */
export interface CniResult {
  cniVersion?: string;
  interfaces?: CniInterface[];
  ips?: CniIp[];
  routes?: CniRoute[];
  dns?: CniDns;
  [other: string]: unknown;
}

/** A prevResult: the shape checked as far as a chained plugin relies on it (its interfaces' names, its lists). */
export function parseResult(v: unknown): Parsed<CniResult> {
  if (!isObject(v)) return fail(CNI_ERRORS.invalidConfig, '"prevResult" is not a JSON object');
  for (const key of ['interfaces', 'ips', 'routes'] as const) {
    const list = v[key];
    if (list !== undefined && (!Array.isArray(list) || !list.every(isObject))) return fail(CNI_ERRORS.invalidConfig, `"prevResult.${key}" must be an array of objects`);
  }
  const interfaces = (v.interfaces as Record<string, unknown>[] | undefined) ?? [];
  if (!interfaces.every((i) => typeof i.name === 'string')) return fail(CNI_ERRORS.invalidConfig, '"prevResult.interfaces": every interface needs a "name"');
  if (v.dns !== undefined) {
    if (!isObject(v.dns)) return fail(CNI_ERRORS.invalidConfig, '"prevResult.dns" is not a JSON object');
    for (const key of ['nameservers', 'search', 'options'] as const) {
      const list = v.dns[key];
      if (list !== undefined && (!Array.isArray(list) || !list.every((x) => typeof x === 'string'))) return fail(CNI_ERRORS.invalidConfig, `"prevResult.dns.${key}" must be an array of strings`);
    }
    if (v.dns.domain !== undefined && typeof v.dns.domain !== 'string') return fail(CNI_ERRORS.invalidConfig, '"prevResult.dns.domain" must be a string');
  }
  // It is printed back in our result: a value nested too deep to print is refused now, before anything is made.
  try {
    JSON.stringify(v);
  } catch {
    return fail(CNI_ERRORS.invalidConfig, '"prevResult" is nested too deep to pass through');
  }
  return { ok: true, value: v as CniResult };
}

/** The error result (SPEC.md §5), one line of JSON. */
export function encodeError(version: string, error: CniError): string {
  return JSON.stringify({ cniVersion: version, code: error.code, msg: error.msg, ...(error.details ? { details: error.details } : {}) });
}

function askedVersion(stdin: string): unknown {
  try {
    const v: unknown = JSON.parse(stdin);
    return isObject(v) ? v.cniVersion : undefined;
  } catch {
    return undefined;
  }
}

/**
 * VERSION's answer: the version asked in (any: the runtime decides from our list whether we can
 * serve its config), and ours. Input that names none is answered with our newest.
 */
export function encodeVersion(stdin: string): string {
  const asked = askedVersion(stdin);
  const version = typeof asked === 'string' && /^\d{1,4}\.\d{1,4}\.\d{1,4}$/.test(asked) ? asked : '1.1.0';
  return JSON.stringify({ cniVersion: version, supportedVersions: CNI_VERSIONS });
}

/** The version an error is reported in: the config's, when it names one of ours. */
export function errorVersion(stdin: string): CniVersion {
  const v = askedVersion(stdin);
  return isCniVersion(v) ? v : '1.1.0';
}
