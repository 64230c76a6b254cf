/**
 * The broker's protocol on `<state_dir>/rootless.sock`: what an unprivileged hook (rootless podman)
 * may ask of the agent, and nothing more. A Unix SOCK_SEQPACKET socket any local user may connect
 * to; one request per connection, one JSON object per message each way (a message is a message:
 * no framing to get wrong), at most MAX_ROOTLESS_REQUEST_BYTES. The container's netns travels as a
 * file descriptor beside the request (SCM_RIGHTS), never as a path: the broker opens nothing the
 * caller names (the lesson of lxc-user-nic's CVE-2018-6556). Who asks is what SO_PEERCRED says,
 * never what the request says.
 *
 * - attach: `{op, id, pid, name, parent?, mode?}` + the netns fd. `pid` is the container's
 *   process (the OCI state's), by which the agent finds the netns again after a restart: the
 *   broker checks that /proc/<pid>/ns/net is the very netns of the fd. `name` is the stable name
 *   the hook found (podman's name); the broker publishes it only under the caller's own name.
 * - detach: `{op, id}` (+ the netns fd when the hook still has one). Authorised by the whole
 *   record: the caller's uid, the id, and the netns (the fd's, or — the container gone — its
 *   process no longer running); never by a name or an id alone.
 *
 * Parsing never throws: it returns the request or a one-line reason.
 */
import { isIfname } from '../core/link-kinds';
import { isContainerId } from './oci/spec';
import { POLICY_KEYS } from '../core/policy';
import * as path from 'node:path';

export const MAX_ROOTLESS_REQUEST_BYTES = 4096;
export const MAX_ROOTLESS_ANSWER_BYTES = 16384;

export const rootlessSocketPath = (stateDir: string): string => path.join(stateDir, 'rootless.sock');

export type RootlessRequest =
  | { op: 'attach'; id: string; pid: number; name: string; parent?: string; mode?: 'macvlan' | 'ipvlan'; policy?: Record<string, string> }
  | { op: 'detach'; id: string };

export type RootlessAnswer =
  | { ok: true; op: 'attach'; interface: string; addresses: string[]; router: string; name: string; dns?: string; joined?: string }
  | { ok: true; op: 'detach'; withdrawn: string[] }
  | { ok: false; error: string };

/**
 * The one refusal for "not yours", "not allowed" and "not there" alike, so that the broker is no
 * oracle (what a user may learn of others' containers or namespaces by asking: nothing; lxc's
 * CVE-2022-47952 leaked file existence through distinct errors). The precise cause is the broker's
 * log's alone.
 */
export const refusal = (id: string): string => `container ${id}: refused by the rootless broker (not yours, not allowed, or not there; the host's log says which)`;

/** runc's container id rule (wire/oci/spec.ts), bounded at 128 here: rootless podman's are 64 hex. */
const isId = (v: unknown): v is string => typeof v === 'string' && v.length <= 128 && isContainerId(v);
/** A stable name: podman's name rule ([a-zA-Z0-9][a-zA-Z0-9_.-]*), or an annotation's, bounded. */
const NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/;

const PID_MAX = 4194304; // PID_MAX_LIMIT on 64-bit

type Parsed<T> = { ok: true; value: T } | { ok: false; error: string };

function object(text: string, what: 'request' | 'answer'): Parsed<Record<string, unknown>> {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return { ok: false, error: `${what} is not valid JSON` };
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return { ok: false, error: `${what} is not a JSON object` };
  return { ok: true, value: v as Record<string, unknown> };
}

const KEYS: Record<RootlessRequest['op'], readonly string[]> = { attach: ['op', 'id', 'pid', 'name', 'parent', 'mode', 'policy'], detach: ['op', 'id'] };

/** One request message; never throws. */
export function parseRootlessRequest(bytes: Uint8Array): Parsed<RootlessRequest> {
  if (bytes.length > MAX_ROOTLESS_REQUEST_BYTES) return { ok: false, error: `request longer than ${MAX_ROOTLESS_REQUEST_BYTES} bytes` };
  const o = object(Buffer.from(bytes).toString('utf8'), 'request');
  if (!o.ok) return o;
  const v = o.value;
  const op = v.op;
  if (op !== 'attach' && op !== 'detach') return { ok: false, error: `unknown request op ${JSON.stringify(String(op)).slice(0, 40)}` };
  const extra = Object.keys(v).find((k) => !KEYS[op].includes(k));
  if (extra !== undefined) return { ok: false, error: `${op}: unknown key ${JSON.stringify(extra).slice(0, 40)}` };
  if (!isId(v.id)) return { ok: false, error: `${op}: "id" must be a container id (1-128 of A-Z a-z 0-9 _ + . -)` };
  if (op === 'detach') return { ok: true, value: { op, id: v.id } };
  // pid 1 is well-formed (and refused by the broker like any netns not the caller's: the same words).
  if (typeof v.pid !== 'number' || !Number.isInteger(v.pid) || v.pid < 1 || v.pid > PID_MAX) return { ok: false, error: 'attach: "pid" must be the container\'s process id (a positive integer)' };
  if (typeof v.name !== 'string' || !NAME.test(v.name)) return { ok: false, error: 'attach: "name" must be 1-63 of A-Z a-z 0-9 _ . - starting with a letter or digit' };
  const request: RootlessRequest = { op, id: v.id, pid: v.pid, name: v.name };
  if (v.parent !== undefined) {
    if (typeof v.parent !== 'string' || !isIfname(v.parent)) return { ok: false, error: 'attach: "parent" must be an interface name' };
    request.parent = v.parent;
  }
  if (v.mode !== undefined) {
    if (v.mode !== 'macvlan' && v.mode !== 'ipvlan') return { ok: false, error: 'attach: "mode" must be "macvlan" or "ipvlan"' };
    request.mode = v.mode;
  }
  if (v.policy !== undefined) {
    // The container's policy annotations, as text (core/policy.ts parses them, as for any container).
    const p = v.policy;
    if (typeof p !== 'object' || p === null || Array.isArray(p)) return { ok: false, error: 'attach: "policy" must be an object of policy keys' };
    const entries = Object.entries(p as Record<string, unknown>);
    const bad = entries.find(([k, val]) => !POLICY_KEYS.includes(k as (typeof POLICY_KEYS)[number]) || typeof val !== 'string' || val.length > 1024);
    if (bad) return { ok: false, error: `attach: "policy" takes ${POLICY_KEYS.join(', ')} as strings of at most 1024 characters, not ${JSON.stringify(bad[0]).slice(0, 40)}` };
    request.policy = Object.fromEntries(entries) as Record<string, string>;
  }
  return { ok: true, value: request };
}

/** One answer message (the hook's side); never throws. */
export function parseRootlessAnswer(bytes: Uint8Array): Parsed<RootlessAnswer> {
  if (bytes.length > MAX_ROOTLESS_ANSWER_BYTES) return { ok: false, error: `answer longer than ${MAX_ROOTLESS_ANSWER_BYTES} bytes` };
  const o = object(Buffer.from(bytes).toString('utf8'), 'answer');
  if (!o.ok) return o;
  const v = o.value;
  const str = (x: unknown, max = 512): x is string => typeof x === 'string' && x.length <= max && !/[\0-\x1f]/.test(x);
  const strs = (x: unknown): x is string[] => Array.isArray(x) && x.length <= 64 && x.every((s) => str(s, 64));
  if (v.ok === false) return str(v.error) ? { ok: true, value: { ok: false, error: v.error } } : { ok: false, error: 'answer: "error" must be one line of text' };
  if (v.ok !== true) return { ok: false, error: 'answer: "ok" must be true or false' };
  if (v.op === 'detach') return strs(v.withdrawn) ? { ok: true, value: { ok: true, op: 'detach', withdrawn: v.withdrawn } } : { ok: false, error: 'answer: "withdrawn" must be a list of text' };
  if (v.op !== 'attach') return { ok: false, error: 'answer: "op" must be "attach" or "detach"' };
  if (!str(v.interface, 15) || !strs(v.addresses) || !str(v.router, 64) || !str(v.name, 255)) return { ok: false, error: 'answer: attach needs "interface", "addresses", "router" and "name"' };
  const answer: RootlessAnswer = { ok: true, op: 'attach', interface: v.interface, addresses: v.addresses, router: v.router, name: v.name };
  if (v.dns !== undefined) {
    if (!str(v.dns, 255)) return { ok: false, error: 'answer: "dns" must be a name' };
    answer.dns = v.dns;
  }
  if (v.joined !== undefined) {
    if (!str(v.joined, 128)) return { ok: false, error: 'answer: "joined" must be a container id' };
    answer.joined = v.joined;
  }
  return { ok: true, value: answer };
}

export const encodeRootless = (message: RootlessRequest | RootlessAnswer): Buffer => Buffer.from(JSON.stringify(message), 'utf8');
