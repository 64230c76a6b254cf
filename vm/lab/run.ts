// Run external programs to completion, as the lab tools and tests do: output
// collected, a time limit, optionally inside a named netns. Nothing throws from run().

import { type ChildProcess, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

/** The checkout: the nearest directory above this file (or the bundle using it) with vm/lab.sh. */
export const REPO_ROOT = ((): string => {
  for (let dir = __dirname; dir !== path.dirname(dir); dir = path.dirname(dir)) {
    if (fs.existsSync(path.join(dir, 'vm', 'lab.sh'))) return dir;
  }
  return path.resolve(__dirname, '..', '..');
})();

export interface RunOptions {
  /** Extra environment, merged over process.env (or over `baseEnv`). */
  env?: Record<string, string | undefined>;
  /** Replace process.env as the base environment. */
  baseEnv?: Record<string, string | undefined>;
  /** Run inside this named netns (`ip netns exec NAME ...`). */
  netns?: string;
  cwd?: string;
  /** Written to stdin, which is then closed. stdin is /dev/null otherwise. */
  input?: string | Buffer;
  /** SIGKILL after this many ms (code is then 128 + 9). Default 60000. */
  timeoutMs?: number;
  /** Called with each complete line of stdout as it arrives (stdout is collected all the same). */
  onLine?: (line: string) => void;
  /** Start it in a process group of its own: the time limit and `signal` then SIGKILL the whole group. */
  detached?: boolean;
  /** SIGKILL it (its group when detached) when this aborts; if already aborted, nothing starts (code -1). */
  signal?: AbortSignal;
}

export interface RunResult {
  /** Exit code; 128 + signal number if killed by a signal; -1 if it could not be started. */
  code: number;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** Set when the program could not be started (ENOENT, ...). */
  error?: Error;
  timedOut: boolean;
  /** process.hrtime.bigint() (CLOCK_MONOTONIC, ns) just before spawn(), and when the process exited. */
  startNs: bigint;
  exitNs: bigint;
}

export const SIGNUMS: Partial<Record<NodeJS.Signals, number>> = { SIGHUP: 1, SIGINT: 2, SIGQUIT: 3, SIGKILL: 9, SIGTERM: 15, SIGPIPE: 13, SIGABRT: 6, SIGSEGV: 11 };

function mergeEnv(opts: RunOptions): NodeJS.ProcessEnv {
  const out: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(opts.baseEnv ?? process.env)) if (v !== undefined) out[k] = v;
  for (const [k, v] of Object.entries(opts.env ?? {})) {
    if (v === undefined) delete out[k];
    else out[k] = v;
  }
  if (!out.PATH) out.PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
  return out;
}

function wrapNetns(cmd: string, args: readonly string[], netns: string | undefined): [string, string[]] {
  return netns ? ['ip', ['netns', 'exec', netns, cmd, ...args]] : [cmd, [...args]];
}

/** Run a program to completion; never throws, never rejects. */
export function run(cmd: string, args: readonly string[] = [], opts: RunOptions = {}): Promise<RunResult> {
  return new Promise((resolve) => {
    const [file, argv] = wrapNetns(cmd, args, opts.netns);
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    let settled = false;
    let exitNs = 0n;
    const finish = (r: Omit<RunResult, 'startNs' | 'exitNs'>): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      opts.signal?.removeEventListener('abort', kill);
      resolve({ ...r, startNs, exitNs: exitNs || process.hrtime.bigint() });
    };
    const startNs = process.hrtime.bigint();
    if (opts.signal?.aborted) {
      const error = new Error('aborted before start');
      resolve({ code: -1, signal: null, stdout: '', stderr: error.message, error, timedOut: false, startNs, exitNs: startNs });
      return;
    }
    let child: ChildProcess;
    try {
      child = spawn(file, argv, {
        env: mergeEnv(opts),
        cwd: opts.cwd ?? REPO_ROOT,
        stdio: [opts.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
        detached: opts.detached ?? false,
      });
    } catch (e) {
      const error = e instanceof Error ? e : new Error(String(e));
      resolve({ code: -1, signal: null, stdout: '', stderr: error.message, error, timedOut: false, startNs, exitNs: startNs });
      return;
    }
    function kill(): void {
      if (opts.detached && child.pid) {
        try {
          process.kill(-child.pid, 'SIGKILL');
          return;
        } catch {
          // no such group any more: the child alone, below
        }
      }
      child.kill('SIGKILL');
    }
    const timer = setTimeout(() => {
      timedOut = true;
      kill();
    }, opts.timeoutMs ?? 60_000);
    opts.signal?.addEventListener('abort', kill, { once: true });
    let partial = '';
    child.stdout?.setEncoding('utf8').on('data', (s: string) => {
      stdout += s;
      if (!opts.onLine) return;
      partial += s;
      for (let i = partial.indexOf('\n'); i >= 0; i = partial.indexOf('\n')) {
        const line = partial.slice(0, i);
        partial = partial.slice(i + 1);
        opts.onLine(line);
      }
    });
    child.stderr?.setEncoding('utf8').on('data', (s: string) => (stderr += s));
    if (opts.input !== undefined && child.stdin) {
      child.stdin.on('error', () => undefined);
      child.stdin.end(opts.input);
    }
    child.on('exit', () => {
      exitNs = process.hrtime.bigint();
    });
    child.on('error', (error) => {
      finish({ code: -1, signal: null, stdout, stderr: stderr + error.message, error, timedOut });
    });
    child.on('close', (code, signal) => {
      const c = code ?? (signal ? 128 + (SIGNUMS[signal] ?? 0) : -1);
      finish({ code: c, signal, stdout, stderr, timedOut });
    });
  });
}

/** The error for a command that failed: its code and both outputs. */
export function failure(what: string, r: RunResult): Error {
  return new Error(`${what} failed (code ${r.code}${r.timedOut ? ', timed out' : ''})\n--- stdout\n${r.stdout}--- stderr\n${r.stderr}`);
}

/** The median of `xs` (the mean of the middle two for an even count). */
export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
}

/** `r` when it exited 0, else an Error naming `what`, the exit and stderr's last line. */
export function succeeded(what: string, r: RunResult): RunResult {
  if (r.code !== 0) throw new Error(`${what} failed (${r.code}${r.timedOut ? ', timed out' : ''}): ${r.stderr.trim().split('\n').filter(Boolean).pop() ?? r.stdout.trim()}`);
  return r;
}
