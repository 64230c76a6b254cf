/**
 * The agent's side of the delegate protocol (wire/delegate-protocol.ts): a root hook hands over its
 * whole stage and waits; the agent runs it on the pipeline's stages (pipeline/stages.ts) with the
 * same ledger, locks and checks as the hook's own process, and answers with the stage's log lines.
 * The agent is warm — its code compiled, its RA cache at hand, no config or secret to read — so a
 * stage costs the hook little more than node's own start.
 *
 * Served to uid 0 only (SO_PEERCRED; the socket is mode 0600 besides). What the agent will not run
 * it answers "fallback", and the hook runs the stage itself as without an agent:
 *  - a request for another config file than the agent's (the socket's name is a hash of the path),
 *    or from a hook whose environment differs from the agent's where it changes a stage
 *    (STAGE_ENV_KEYS: the host secret's directory, a failpoint);
 *  - a hook in another pid namespace or with another root directory (a pid or a path in the state
 *    would name something else here);
 *  - a config file changed since the agent read it (it runs with the file's contents as they were:
 *    `systemctl reload` reads it again) — the hook reads the file as it is now, as it always did;
 *  - a request larger than a message takes.
 * The container's namespaces are checked against the hook's (SO_PEERCRED's pid), its runtime's
 * (that pid's parent), init's and the agent's own.
 */
import { oneLine } from '../core/errors';
import type { HookConfig } from '../core/config';
import type { ContainerRecord } from '../core/record';
import { Logger } from '../system/log';
import { hostNamespaces } from '../system/netns';
import { otherView, parentPid } from '../system/process';
import { SeqpacketServer, type SeqpacketMessage, type SocketPeer } from '../system/seqpacket';
import type { PipelineDeps } from '../pipeline/deps';
import { checkStageStatus, runStage } from '../pipeline/stages';
import { delegateSocketPath, encodeDelegate, MAX_DELEGATE_LINE, MAX_DELEGATE_LINES, MAX_DELEGATE_REQUEST_BYTES, parseDelegateRequest, sameStageEnvironment, stageEnvironment, type DelegateAnswer } from '../wire/delegate-protocol';
import { parseState, type HookStage } from '../wire/oci/spec';
import * as fs from 'node:fs';
import * as path from 'node:path';

/** Hooks at once: a runtime starting many containers runs their hooks together. */
const MAX_CONNECTIONS = 256;
/** A connection that sends no request within this long is closed. */
const REQUEST_TIMEOUT_MS = 2000;

export interface DelegateHost {
  /** The absolute path of the config file the agent runs with. */
  configPath: string;
  config(): HookConfig;
  /** Is the config file still what the agent read (else "fallback": the hook reads it as it is now)? */
  configCurrent(): boolean;
  /** The pipeline's dependencies for one stage, logging to `log`. */
  deps(log: Logger): PipelineDeps;
  /** A container attached here: looked after from now on (its optimistic DAD finished here). */
  adopt(record: ContainerRecord): void;
  /** A container detached here (poststop): no longer looked after. */
  detached(id: string): void;
  log: Logger;
}

export class DelegateServer {
  private server: SeqpacketServer | undefined;
  readonly counters = { stages: 0, failed: 0, fallbacks: 0, refused: 0 };

  constructor(private readonly host: DelegateHost) {}

  get socketPath(): string {
    return delegateSocketPath(this.host.configPath);
  }

  /** Listen (mode 0600); throws when another agent serves this config. */
  start(): void {
    // Its parent is the default state_dir, which others must be able to enter (rootless.sock): 0755
    // as the agent makes a state dir; the delegate dir itself is root's alone.
    const dir = path.dirname(this.socketPath);
    fs.mkdirSync(path.dirname(dir), { recursive: true, mode: 0o755 });
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    const server = new SeqpacketServer({
      path: this.socketPath,
      mode: 0o600,
      maxMessageBytes: MAX_DELEGATE_REQUEST_BYTES,
      maxFds: 0,
      maxPerUid: MAX_CONNECTIONS,
      maxConnections: MAX_CONNECTIONS,
      timeoutMs: REQUEST_TIMEOUT_MS,
      handle: (m, peer) => this.message(m, peer).then(encodeDelegate),
      note: (line) => this.host.log.warn(`delegate: ${line}`),
    });
    server.listen();
    this.server = server;
  }

  stop(): void {
    this.server?.close();
    this.server = undefined;
  }

  private async message(m: SeqpacketMessage, peer: SocketPeer): Promise<DelegateAnswer> {
    if (peer.uid !== 0) {
      this.counters.refused++;
      this.host.log.warn(`delegate: refused a client with uid ${peer.uid} (pid ${peer.pid}): root only`);
      return { ok: false, error: 'permission denied: the agent runs stages for root only', lines: [] };
    }
    const fallback = (why: string): DelegateAnswer => {
      this.counters.fallbacks++;
      this.host.log.info(`delegate: the hook (pid ${peer.pid}) runs its stage itself: ${why}`);
      return { ok: false, fallback: why };
    };
    if (m.truncated) return fallback(`request longer than ${MAX_DELEGATE_REQUEST_BYTES} bytes`);
    const request = parseDelegateRequest(m.data);
    if (typeof request === 'string') {
      this.counters.refused++;
      return { ok: false, error: `delegate: ${request}`, lines: [] };
    }
    if (request.config !== this.host.configPath) return fallback(`the agent runs with ${this.host.configPath}, not ${request.config}`);
    if (!sameStageEnvironment(request.env, stageEnvironment(process.env))) return fallback(`the hook's environment differs from the agent's (${Object.keys({ ...request.env, ...stageEnvironment(process.env) }).join(', ')})`);
    // The state's pid and the bundle's path are the hook's: they must be the agent's too.
    const view = otherView(peer.pid);
    if (view) return fallback(`the hook does not see what the agent sees (${view})`);
    if (!this.host.configCurrent()) return fallback(`${this.host.configPath} changed since the agent read it (systemctl reload oci-slaac-hook-agent)`);
    return this.stage(request.stage, request.state, peer);
  }

  /** The stage as the hook would run it, its lines collected for the answer. */
  private async stage(stage: HookStage, stdin: string, peer: SocketPeer): Promise<DelegateAnswer> {
    const lines: string[] = [];
    const log = new Logger('');
    log.onLine = (line) => {
      if (lines.length < MAX_DELEGATE_LINES) lines.push(line.slice(0, MAX_DELEGATE_LINE));
    };
    const deps = { ...this.host.deps(log), hostNamespaces: () => hostNamespaces({ pid: peer.pid, ppid: parentPid(peer.pid) }) };
    try {
      const state = parseState(stdin);
      log.forContainer(state.id);
      checkStageStatus(stage, state);
      let attached: ContainerRecord | undefined;
      await runStage(stage, state, this.host.config(), deps, { configPath: this.host.configPath, attached: async (record) => void (attached = record) });
      // Looked after from the next turn on, once the answer is out: the hook is not kept waiting
      // for the agent's own bookkeeping (registry, listeners, the DAD job).
      if (attached) setImmediate((record: ContainerRecord) => this.host.adopt(record), attached);
      if (stage === 'poststop') this.host.detached(state.id);
      this.counters.stages++;
      return { ok: true, lines };
    } catch (err) {
      this.counters.failed++;
      const error = oneLine(err);
      log.error(error);
      return { ok: false, error, lines };
    } finally {
      log.close();
    }
  }
}
