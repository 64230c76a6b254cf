/**
 * The agent's control socket (protocol.ts): a Unix stream socket at `<state_dir>/agent.sock`, mode
 * 0600 (made under umask 0177, so it is never reachable by others even for a moment), one request
 * per connection, one JSON line each way. A peer is served only when SO_PEERCRED says uid 0; any
 * other gets one refusal line and the connection is closed.
 *
 * At start a socket file left by a killed agent is replaced — but if an agent answers on it, we
 * refuse to start; anything there that is not a socket is never removed.
 */
import * as fs from 'node:fs';
import * as net from 'node:net';
import { socketPeer, socketThere, type SocketPeer } from '../system/seqpacket';
import { MAX_REQUEST_BYTES, type AgentAnswer, type AgentRequest } from '../wire/agent-protocol';

/** A client that sends nothing (or no newline) is dropped after this long. */
const REQUEST_TIMEOUT_MS = 2000;

export type PeerCred = SocketPeer;

/** SO_PEERCRED of a connected Unix socket (Node's net.Socket: its fd). */
export function peerCred(socket: net.Socket): PeerCred {
  const fd = (socket as unknown as { _handle?: { fd?: number } })._handle?.fd;
  if (typeof fd !== 'number' || fd < 0) throw new Error('the connection has no file descriptor');
  return socketPeer(fd);
}

/** Parse one request line; throws a one-line error naming what is wrong. */
export function parseRequest(line: string): AgentRequest {
  let v: unknown;
  try {
    v = JSON.parse(line);
  } catch {
    throw new Error('request is not valid JSON');
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new Error('request is not a JSON object');
  const o = v as Record<string, unknown>;
  const str = (k: string): string => {
    const s = o[k];
    if (typeof s !== 'string' || s === '' || s.length > 1024) throw new Error(`request ${String(o.op)}: "${k}" must be a non-empty string of at most 1024 characters`);
    return s;
  };
  switch (o.op) {
    case 'ping':
      return { op: 'ping' };
    case 'ra':
      return { op: 'ra', parent: str('parent') };
    case 'register':
      return { op: 'register', id: str('id') };
    case 'complete-dad':
      return { op: 'complete-dad', id: str('id') };
    default:
      throw new Error(`unknown request op ${JSON.stringify(String(o.op)).slice(0, 40)}`);
  }
}

/** Is an agent answering at `file`? (connect, ping, one answer line). */
export function agentAnswers(file: string, timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.createConnection(file);
    let got = '';
    const done = (v: boolean): void => {
      clearTimeout(timer);
      s.destroy();
      resolve(v);
    };
    const timer = setTimeout(() => done(false), timeoutMs);
    s.on('connect', () => s.write(`${JSON.stringify({ op: 'ping' })}\n`));
    s.on('data', (d) => {
      got += d.toString('utf8');
      if (got.includes('\n')) done(true);
    });
    s.on('error', () => done(false));
    s.on('close', () => done(got.length > 0));
  });
}

export interface ControlServerOptions {
  path: string;
  handle(request: AgentRequest, peer: PeerCred): Promise<AgentAnswer>;
  /** One line for the log per refused or failed request. */
  note(line: string): void;
  /** Peers allowed (default: uid 0 only). */
  allowUid?: (uid: number) => boolean;
}

export class ControlServer {
  private server: net.Server | undefined;
  private readonly sockets = new Set<net.Socket>();
  readonly counters = { requests: 0, refused: 0, errors: 0 };

  constructor(private readonly opts: ControlServerOptions) {}

  /** Replace a stale socket file, refuse when an agent answers there, listen with mode 0600. */
  async listen(): Promise<void> {
    const file = this.opts.path;
    if (socketThere(file)) {
      if (await agentAnswers(file)) throw new Error(`another agent is running (it answers on ${file})`);
      fs.unlinkSync(file); // left by an agent that was killed
    }
    const server = net.createServer({ allowHalfOpen: true }, (s) => this.connection(s));
    this.server = server;
    const old = process.umask(0o177);
    try {
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(file, () => {
          server.off('error', reject);
          resolve();
        });
      });
    } finally {
      process.umask(old);
    }
    fs.chmodSync(file, 0o600);
  }

  /** Stop accepting, drop open connections, remove the socket file (only if it is still ours). */
  async close(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (!server) return;
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    // net.Server.close unlinks the socket path itself on Linux; make sure.
    try {
      if (fs.lstatSync(this.opts.path).isSocket()) fs.unlinkSync(this.opts.path);
    } catch {
      // gone already
    }
  }

  private connection(s: net.Socket): void {
    this.sockets.add(s);
    s.on('close', () => this.sockets.delete(s));
    s.on('error', () => undefined);
    let peer: PeerCred;
    try {
      peer = peerCred(s);
    } catch (err) {
      this.counters.errors++;
      this.opts.note(`control: cannot read the peer's credentials: ${(err as Error).message}`);
      s.destroy();
      return;
    }
    const allowed = this.opts.allowUid ?? ((uid: number) => uid === 0);
    if (!allowed(peer.uid)) {
      this.counters.refused++;
      this.opts.note(`control: refused a client with uid ${peer.uid} (pid ${peer.pid}): root only`);
      s.end(`${JSON.stringify({ ok: false, error: 'permission denied: the agent serves root only' } satisfies AgentAnswer)}\n`);
      return;
    }
    let buf = '';
    let done = false;
    const timer = setTimeout(() => finish({ ok: false, error: 'no request within 2 s' }), REQUEST_TIMEOUT_MS);
    const finish = (answer: AgentAnswer): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      s.end(`${JSON.stringify(answer)}\n`);
    };
    s.setEncoding('utf8');
    s.on('close', () => clearTimeout(timer));
    s.on('data', (chunk: string) => {
      if (done) return;
      buf += chunk;
      const nl = buf.indexOf('\n');
      if (nl < 0) {
        if (Buffer.byteLength(buf) > MAX_REQUEST_BYTES) finish({ ok: false, error: `request longer than ${MAX_REQUEST_BYTES} bytes` });
        return;
      }
      const line = buf.slice(0, nl);
      if (Buffer.byteLength(line) > MAX_REQUEST_BYTES) return finish({ ok: false, error: `request longer than ${MAX_REQUEST_BYTES} bytes` });
      let request: AgentRequest;
      try {
        request = parseRequest(line);
      } catch (err) {
        this.counters.errors++;
        return finish({ ok: false, error: (err as Error).message });
      }
      this.counters.requests++;
      this.opts.handle(request, peer).then(finish, (err: unknown) => {
        this.counters.errors++;
        finish({ ok: false, error: err instanceof Error ? err.message.replace(/\s*\n\s*/g, ' ') : String(err) });
      });
    });
    s.on('end', () => {
      if (!done && buf.indexOf('\n') < 0) finish({ ok: false, error: 'request without a newline' });
    });
  }
}
