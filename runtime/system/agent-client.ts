/**
 * The hook's side of the agent's control protocol (runtime/wire/agent-protocol.ts): one request per
 * connection on `<state_dir>/agent.sock`, one JSON line each way. Never in the hook's way: no
 * socket (ENOENT), nobody listening (ECONNREFUSED), a slow agent (a short total timeout, 200 ms
 * by default), an answer that is not one JSON object on one line, larger than MAX_ANSWER_BYTES or
 * of the wrong shape — each is "no answer" (undefined, with the reason given to `onFailure` for a
 * debug line), and the hook does everything itself, as without an agent. Nothing here throws.
 *
 * An `AgentClient` remembers that the agent did not answer: the hook's later requests in the same
 * run (register, complete-dad) then cost nothing.
 */
import * as fs from 'node:fs';
import type * as Net from 'node:net';
import { agentSocketPath, MAX_ANSWER_BYTES, MAX_REQUEST_BYTES, type AgentAnswer, type AgentRequest, type CachedRa } from '../wire/agent-protocol';
import { ALL_NODES, isLinkLocal, parseIPv6 } from '../core/ipv6';
import type { HeardRa } from '../core/plan';
import { decodeNd } from '../wire/ndp/codec';

/** The whole exchange (connect, request, answer) within this, by default. */
export const AGENT_TIMEOUT_MS = 200;

export interface AgentCallOptions {
  timeoutMs?: number;
  /** Answers larger than this are refused (tests lower it). */
  maxAnswerBytes?: number;
}

export type AgentOutcome = { ok: true; answer: AgentAnswer } | { ok: false; why: string };

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

function isCachedRa(v: unknown): v is CachedRa {
  return isObject(v) && typeof v.router === 'string' && v.router.length <= 64 && typeof v.receivedAt === 'number' && Number.isFinite(v.receivedAt) && typeof v.icmp === 'string';
}

/** An answer's text as an AgentAnswer, or why it is not one (never quoting it). */
export function parseAnswer(text: string): AgentAnswer | string {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return 'answer is not JSON';
  }
  if (!isObject(v) || typeof v.ok !== 'boolean') return 'answer is not an object with "ok"';
  if (v.ok === false) return { ok: false, error: typeof v.error === 'string' ? v.error : 'error' };
  const answer: Extract<AgentAnswer, { ok: true }> = { ok: true };
  if (v.heard !== undefined) {
    if (!Array.isArray(v.heard) || !v.heard.every(isCachedRa)) return 'answer "heard" is not a list of cached RAs';
    answer.heard = v.heard;
  }
  if (typeof v.containers === 'number') answer.containers = v.containers;
  if (Array.isArray(v.parents) && v.parents.every((p) => typeof p === 'string')) answer.parents = v.parents as string[];
  return answer;
}

/** One request, one answer (or why none), within the timeout. Never rejects. */
export function callAgent(socketPath: string, request: AgentRequest, opts: AgentCallOptions = {}): Promise<AgentOutcome> {
  const timeoutMs = opts.timeoutMs ?? AGENT_TIMEOUT_MS;
  const maxBytes = opts.maxAnswerBytes ?? MAX_ANSWER_BYTES;
  const line = `${JSON.stringify(request)}\n`;
  if (Buffer.byteLength(line) > MAX_REQUEST_BYTES) return Promise.resolve({ ok: false, why: `request larger than ${MAX_REQUEST_BYTES} bytes` });
  return new Promise((resolve) => {
    let done = false;
    const chunks: Buffer[] = [];
    let size = 0;
    let sock: Net.Socket | undefined;
    const finish = (outcome: AgentOutcome): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      sock?.destroy();
      resolve(outcome);
    };
    const timer = setTimeout(() => finish({ ok: false, why: `no answer within ${timeoutMs} ms` }), timeoutMs);
    const complete = (): void => {
      const text = Buffer.concat(chunks, size).toString('utf8');
      const nl = text.indexOf('\n');
      const body = nl >= 0 ? text.slice(0, nl) : text;
      if (body.trim() === '') return finish({ ok: false, why: 'empty answer' });
      const answer = parseAnswer(body);
      finish(typeof answer === 'string' ? { ok: false, why: answer } : { ok: true, answer });
    };
    // No socket file, no agent: said without loading node:net (a hook on a host with no agent).
    if (!fs.existsSync(socketPath)) return finish({ ok: false, why: 'no agent (ENOENT)' });
    const net = require('node:net') as typeof Net;
    let s: Net.Socket;
    try {
      s = net.createConnection({ path: socketPath });
    } catch (err) {
      finish({ ok: false, why: `cannot connect (${(err as NodeJS.ErrnoException).code ?? 'error'})` });
      return;
    }
    sock = s;
    // No half-close after the request: a server without allowHalfOpen would end before it answers.
    s.on('connect', () => s.write(line));
    s.on('data', (chunk: Buffer) => {
      if (done) return;
      const nl = chunk.indexOf(0x0a);
      const take = nl >= 0 ? chunk.subarray(0, nl + 1) : chunk;
      size += take.length;
      if (size > maxBytes + 1) return finish({ ok: false, why: `answer larger than ${maxBytes} bytes` });
      chunks.push(take);
      if (nl >= 0) complete();
    });
    s.on('end', () => {
      if (!done) complete();
    });
    s.on('error', (err: NodeJS.ErrnoException) => {
      const code = err.code ?? 'error';
      finish({ ok: false, why: code === 'ENOENT' || code === 'ECONNREFUSED' ? `no agent (${code})` : `agent socket: ${code}` });
    });
  });
}

/**
 * A cached RA as the plan takes it: the ICMPv6 bytes decoded by the ND codec as if just received
 * from `router` with hop limit 255 (the agent checked that, and the checksum, when it heard it).
 * Undefined for anything that does not decode to an RA from a link-local router.
 */
export function decodeCachedRa(c: CachedRa): HeardRa | undefined {
  let router;
  try {
    router = parseIPv6(c.router);
  } catch {
    return undefined;
  }
  if (!isLinkLocal(router) || !Number.isFinite(c.receivedAt) || c.receivedAt < 0) return undefined;
  if (c.icmp.length > 2 * 65536 || !/^[A-Za-z0-9+/]*={0,2}$/.test(c.icmp)) return undefined;
  const bytes = Buffer.from(c.icmp, 'base64');
  const r = decodeNd(bytes, { source: router, destination: ALL_NODES, hopLimit: 255, ifindex: 0 }, { verifyChecksum: false });
  if (!r.ok || r.message.type !== 'router-advertisement') return undefined;
  return { router, advertisement: r.message, receivedAt: c.receivedAt };
}

/** The agent of one state dir, as the hook asks it; remembers that it did not answer. */
export class AgentClient {
  readonly socketPath: string;
  private silent: string | undefined;

  constructor(
    stateDir: string,
    private readonly opts: AgentCallOptions & { onFailure?: (request: AgentRequest['op'], why: string) => void } = {},
  ) {
    this.socketPath = agentSocketPath(stateDir);
  }

  /** Why the agent did not answer earlier in this process, if it did not. */
  get unavailable(): string | undefined {
    return this.silent;
  }

  /** The agent's answer, or undefined (no agent, a failure, an `ok: false`). Never rejects. */
  async ask(request: AgentRequest): Promise<Extract<AgentAnswer, { ok: true }> | undefined> {
    if (this.silent !== undefined) return undefined;
    const out = await callAgent(this.socketPath, request, this.opts);
    if (!out.ok) {
      this.silent = out.why;
      this.opts.onFailure?.(request.op, out.why);
      return undefined;
    }
    if (!out.answer.ok) {
      this.opts.onFailure?.(request.op, `agent said: ${out.answer.error.slice(0, 200)}`);
      return undefined;
    }
    return out.answer;
  }

  private readonly prefetched = new Map<string, Promise<HeardRa[] | undefined>>();

  /**
   * Ask for `parent`'s cached RAs now, for a later cachedRas(parent): the connection needs a turn
   * of the event loop, which the hook's own awaits before the attach give it.
   */
  prefetchRas(parent: string): void {
    if (!this.prefetched.has(parent)) this.prefetched.set(parent, this.fetchRas(parent));
  }

  /** The agent's cached RAs on `parent`, decoded (those that do not decode are left out); undefined without an answer. */
  cachedRas(parent: string): Promise<HeardRa[] | undefined> {
    const early = this.prefetched.get(parent);
    this.prefetched.delete(parent);
    return early ?? this.fetchRas(parent);
  }

  private async fetchRas(parent: string): Promise<HeardRa[] | undefined> {
    const answer = await this.ask({ op: 'ra', parent });
    if (!answer?.heard) return undefined;
    return answer.heard.flatMap((c) => decodeCachedRa(c) ?? []);
  }

  /** True when the agent took the request. */
  async register(id: string): Promise<boolean> {
    return (await this.ask({ op: 'register', id })) !== undefined;
  }

  async completeDad(id: string): Promise<boolean> {
    return (await this.ask({ op: 'complete-dad', id })) !== undefined;
  }
}
