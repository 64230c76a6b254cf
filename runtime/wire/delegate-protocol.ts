/**
 * The delegate protocol: a root hook hands its whole stage to the agent, which runs it on the same
 * pipeline and ledger (runtime/pipeline/stages.ts) while the hook waits. The hook is then a thin
 * client — node's start, stdin, one message each way — instead of loading and compiling the whole
 * stage and doing the kernel work cold (issue 16: "with the agent running the hook is a thin client").
 *
 * A Unix SOCK_SEQPACKET socket at `/run/oci-slaac-hook/delegate/<hash of the config path>.sock`,
 * mode 0600, served to uid 0 only (SO_PEERCRED). Its name comes from the config file's absolute
 * path, because the hook knows that path before it reads the file (which is what a thin client
 * must not do); the agent checks the path in the request as well, so a hash that collides is
 * answered "not mine". One request per connection, one JSON object per message each way.
 *
 * - request: `{v: 1, stage, config, env, state}` — `config` the absolute path of the hook's config
 *   file, `env` the hook's environment variables that change what a stage does (STAGE_ENV_KEYS: the
 *   agent runs the stage only when its own are the same), `state` the OCI state exactly as the hook
 *   read it from stdin (the agent parses it, as the hook would: it trusts nothing in it).
 * - answer: `{ok: true, lines}` the stage ran; `{ok: false, error, lines}` it refused the
 *   container (the hook exits 1 with `error`); `{ok: false, fallback}` the agent will not run it
 *   (another config or environment, a config changed since it read it): the hook does the stage itself.
 *   `lines` are the stage's log lines, already escaped (system/log.ts), for the hook's stderr.
 *
 * Parsing never throws: it returns the message or a one-line reason.
 */
import * as path from 'node:path';
import { HOOK_STAGES, type HookStage } from './oci/spec';

export const DELEGATE_DIR = '/run/oci-slaac-hook/delegate';
export const DELEGATE_VERSION = 1;
/** A request carries the OCI state; a larger state is the hook's own to handle (a message is at most the socket's send buffer). */
export const MAX_DELEGATE_REQUEST_BYTES = 128 * 1024;
export const MAX_DELEGATE_ANSWER_BYTES = 64 * 1024;
/** Lines an answer carries, and the length of each (the rest is in the agent's log). */
export const MAX_DELEGATE_LINES = 64;
export const MAX_DELEGATE_LINE = 2048;

/** What besides config.toml changes a stage: where the host's secret is, a test's failpoint, another addon. */
export const STAGE_ENV_KEYS = ['OCI_SLAAC_HOOK_STATE_LIB', 'OCI_SLAAC_HOOK_FAILPOINT', 'OCI_SLAAC_HOOK_ADDON'] as const;

/** Of `env`, the STAGE_ENV_KEYS that are set. */
export function stageEnvironment(env: NodeJS.ProcessEnv): Record<string, string> {
  const out: Record<string, string> = {};
  for (const k of STAGE_ENV_KEYS) {
    const v = env[k];
    if (v !== undefined) out[k] = v;
  }
  return out;
}

/** The same stage environment (the keys of STAGE_ENV_KEYS, each set alike or unset in both)? */
export const sameStageEnvironment = (a: Record<string, string>, b: Record<string, string>): boolean => STAGE_ENV_KEYS.every((k) => a[k] === b[k]);

export interface DelegateRequest {
  stage: HookStage;
  config: string;
  env: Record<string, string>;
  state: string;
}

export type DelegateAnswer = { ok: true; lines: string[] } | { ok: false; error: string; lines: string[] } | { ok: false; fallback: string };

/** FNV-1a, 64 bits, as 16 hex digits: a short, stable file name for a path (no security rests on it). */
export function fnv1a64(text: string): string {
  let h = 0xcbf29ce484222325n;
  for (const b of Buffer.from(text, 'utf8')) h = BigInt.asUintN(64, (h ^ BigInt(b)) * 0x100000001b3n);
  return h.toString(16).padStart(16, '0');
}

/** The socket of the agent that runs with the config file at `configPath` (absolute). */
export const delegateSocketPath = (configPath: string, dir = DELEGATE_DIR): string => path.join(dir, `${fnv1a64(configPath)}.sock`);

export function encodeDelegate(message: DelegateRequest | DelegateAnswer): Buffer {
  return Buffer.from(JSON.stringify('stage' in message ? { v: DELEGATE_VERSION, ...message } : message), 'utf8');
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

function parseObject(bytes: Buffer, max: number): Record<string, unknown> | string {
  if (bytes.length > max) return `longer than ${max} bytes`;
  let v: unknown;
  try {
    v = JSON.parse(bytes.toString('utf8'));
  } catch {
    return 'not JSON';
  }
  return isObject(v) ? v : 'not a JSON object';
}

const REQUEST_KEYS = ['v', 'stage', 'config', 'env', 'state'];

/** A request as the agent receives it, or why it is not one. */
export function parseDelegateRequest(bytes: Buffer): DelegateRequest | string {
  const o = parseObject(bytes, MAX_DELEGATE_REQUEST_BYTES);
  if (typeof o === 'string') return `request ${o}`;
  const unknown = Object.keys(o).find((k) => !REQUEST_KEYS.includes(k));
  if (unknown !== undefined) return `request has an unknown key ${JSON.stringify(unknown.slice(0, 40))}`;
  if (o.v !== DELEGATE_VERSION) return `request version ${JSON.stringify(o.v)?.slice(0, 20)} is not ${DELEGATE_VERSION}`;
  if (typeof o.stage !== 'string' || !(HOOK_STAGES as readonly string[]).includes(o.stage)) return 'request "stage" is not a hook stage';
  if (typeof o.config !== 'string' || !path.isAbsolute(o.config) || o.config.length > 4096 || o.config.includes('\0')) return 'request "config" is not an absolute path';
  const env = o.env;
  if (!isObject(env) || !Object.entries(env).every(([k, v]) => (STAGE_ENV_KEYS as readonly string[]).includes(k) && typeof v === 'string' && v.length <= 4096)) return 'request "env" is not a stage environment';
  if (typeof o.state !== 'string') return 'request "state" is not a string';
  return { stage: o.stage as HookStage, config: o.config, env: env as Record<string, string>, state: o.state };
}

const isLines = (v: unknown): v is string[] => Array.isArray(v) && v.length <= MAX_DELEGATE_LINES && v.every((l) => typeof l === 'string' && l.length <= MAX_DELEGATE_LINE);

/** An answer as the hook receives it, or why it is not one. */
export function parseDelegateAnswer(bytes: Buffer): DelegateAnswer | string {
  const o = parseObject(bytes, MAX_DELEGATE_ANSWER_BYTES);
  if (typeof o === 'string') return `answer ${o}`;
  if (o.ok === true) return isLines(o.lines) ? { ok: true, lines: o.lines } : 'answer "lines" is not a list of lines';
  if (o.ok !== false) return 'answer has no "ok"';
  if (typeof o.fallback === 'string') return { ok: false, fallback: o.fallback.slice(0, MAX_DELEGATE_LINE) };
  if (typeof o.error !== 'string') return 'answer has neither "error" nor "fallback"';
  return isLines(o.lines) ? { ok: false, error: o.error.slice(0, MAX_DELEGATE_LINE), lines: o.lines } : 'answer "lines" is not a list of lines';
}
