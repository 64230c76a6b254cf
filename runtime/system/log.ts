/**
 * Logging: every line to stderr and to syslog (/dev/log, RFC 3164 framing, facility daemon),
 * prefixed with the container id — crun drops a hook's stderr unless asked, so syslog is where
 * an operator finds out why a container did not start. No syslog socket, no syslog line.
 */
import * as fs from 'node:fs';
import { native } from './native';

const AF_UNIX = 1;
const SOCK_DGRAM = 2;
const FACILITY_DAEMON = 3;
const SEVERITY = { error: 3, warning: 4, info: 6, debug: 7 } as const;
export type Level = keyof typeof SEVERITY;

function sockaddrUn(file: string): Buffer {
  const sa = Buffer.alloc(2 + Buffer.byteLength(file) + 1);
  sa.writeUInt16LE(AF_UNIX, 0);
  sa.write(file, 2);
  return sa;
}

/**
 * Text to stderr, written directly: process.stderr builds a stream for a hook's few lines (and loads
 * node:net when stderr is a pipe, as runtimes give it). What a write cannot take (a full
 * non-blocking pipe, an error) goes through process.stderr, as every line did before.
 */
function toStderr(text: string): void {
  const bytes = Buffer.from(text);
  let written = 0;
  try {
    written = fs.writeSync(2, bytes);
  } catch {
    written = 0;
  }
  if (written < bytes.length) process.stderr.write(bytes.subarray(written));
}

/**
 * Control characters made visible: a name, an annotation or an error text a container chose
 * must not start a line of its own in stderr or syslog (a forged "attached" line) nor split a
 * status row. C0, DEL, C1 and the Unicode line/paragraph separators become \n, \r,
 * \xNN or \uNNNN; everything else is kept.
 */
export function escapeControls(text: string): string {
  // eslint-disable-next-line no-control-regex
  return text.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g, (c) => {
    if (c === '\n') return '\\n';
    if (c === '\t') return '\\t';
    if (c === '\r') return '\\r';
    const code = c.charCodeAt(0);
    return code <= 0xff ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16).padStart(4, '0')}`;
  });
}

export class Logger {
  private syslogFd: number | undefined | null = undefined; // null: tried, unavailable
  /** Every line as written (escaped, with its container prefix): the agent relays a hook's stage lines to it (agent/delegate.ts). */
  onLine: ((line: string) => void) | undefined;

  constructor(
    private tag: string,
    private readonly syslogPath = process.env.OCI_SLAAC_HOOK_SYSLOG ?? '/dev/log',
  ) {}

  /** Prefix every later line with this container id (12 characters, as runtimes show ids). */
  forContainer(id: string): void {
    this.tag = id.slice(0, 12);
  }

  /** One line, always: the one place every log line goes through (escapeControls). */
  log(level: Level, message: string): void {
    const line = escapeControls(this.tag ? `${this.tag}: ${message}` : message);
    toStderr(`oci-slaac-hook: ${line}\n`);
    this.syslog(level, line);
    this.onLine?.(line);
  }

  info(message: string): void {
    this.log('info', message);
  }
  warn(message: string): void {
    this.log('warning', message);
  }
  error(message: string): void {
    this.log('error', message);
  }

  private syslog(level: Level, line: string): void {
    const addon = native();
    if (this.syslogFd === undefined) {
      try {
        this.syslogFd = addon.socketat(-1, AF_UNIX, SOCK_DGRAM | addon.constants.SOCK_NONBLOCK, 0);
      } catch {
        this.syslogFd = null;
      }
    }
    if (this.syslogFd === null) return;
    const pri = FACILITY_DAEMON * 8 + SEVERITY[level];
    try {
      addon.sendmsg(this.syslogFd, Buffer.from(`<${pri}>oci-slaac-hook[${process.pid}]: ${line}`), sockaddrUn(this.syslogPath), null, 0);
    } catch {
      // No syslog daemon listening: stderr has the line.
    }
  }

  close(): void {
    if (typeof this.syslogFd === 'number') native().close(this.syslogFd);
    this.syslogFd = null;
  }
}
