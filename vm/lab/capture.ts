// Packet capture on the lab bridge with tcpdump (inside the lan netns).

import { spawn } from 'node:child_process';
import type { Lab } from './lab';
import { SIGNUMS } from './run';

export interface CaptureResult {
  /** tcpdump's own count ("N packets captured"), if it printed one. */
  packets: number | undefined;
  code: number;
  stderr: string;
}

export interface Capture {
  file: string;
  pid: number | undefined;
  /** SIGINT tcpdump and wait until it has flushed and exited. Idempotent. */
  stop(): Promise<CaptureResult>;
}

/**
 * Capture ICMPv6 on the lab bridge (inside the lan netns) into a pcap file.
 * Resolves once tcpdump is really capturing ("listening on" on stderr).
 */
export function capture(lab: Pick<Lab, 'lanNetns' | 'bridge'>, file: string, filter = 'icmp6'): Promise<Capture> {
  return new Promise((resolve, reject) => {
    const child = spawn('ip', ['netns', 'exec', lab.lanNetns, 'tcpdump', '-Z', 'root', '-n', '--immediate-mode', '-i', lab.bridge, '-w', file, '-U', filter], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    let ready = false;
    let exited: CaptureResult | undefined;
    const exitWaiters: ((r: CaptureResult) => void)[] = [];
    const timer = setTimeout(() => {
      if (!ready) {
        child.kill('SIGKILL');
        reject(new Error(`tcpdump did not start capturing within 5 s:\n${stderr}`));
      }
    }, 5000);
    child.stderr.setEncoding('utf8').on('data', (s: string) => {
      stderr += s;
      if (!ready && /listening on/.test(stderr)) {
        ready = true;
        clearTimeout(timer);
        resolve({ file, pid: child.pid, stop });
      }
    });
    child.on('error', (e) => {
      clearTimeout(timer);
      if (!ready) reject(e);
    });
    child.on('close', (code, signal) => {
      const m = /(\d+) packets? captured/.exec(stderr);
      exited = { packets: m ? Number(m[1]) : undefined, code: code ?? (signal ? 128 + (SIGNUMS[signal] ?? 0) : -1), stderr };
      clearTimeout(timer);
      if (!ready) reject(new Error(`tcpdump exited before capturing (code ${String(code)}):\n${stderr}`));
      for (const w of exitWaiters.splice(0)) w(exited);
    });
    function stop(): Promise<CaptureResult> {
      if (exited) return Promise.resolve(exited);
      return new Promise((res) => {
        exitWaiters.push(res);
        child.kill('SIGINT');
        setTimeout(() => {
          if (!exited) child.kill('SIGKILL');
        }, 5000).unref();
      });
    }
  });
}
