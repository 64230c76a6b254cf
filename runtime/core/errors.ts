/**
 * Error types shared by the whole runtime.
 *
 * Every error the product reports is one line: what failed, and why, with the errno name and the
 * kernel's extended-ack text where there is one.
 */

/** A value as an error may show it: JSON-quoted, control characters escaped, at most 64 characters. */
export function shown(value: unknown): string {
  let text: string;
  try {
    text = typeof value === 'bigint' ? `${value}` : value instanceof Date ? value.toISOString() : (JSON.stringify(value) ?? String(value));
  } catch {
    text = Object.prototype.toString.call(value);
  }
  return text.length > 64 ? `${text.slice(0, 60)}…(${text.length} chars)` : text;
}

/** Bad input from a user, a runtime or a config file: the message names what was wrong. */
export class InputError extends Error {
  override name = 'InputError';
}

/** A system call failed. `code` is the errno name (EPERM, ENODEV, ...). */
export class SystemError extends Error {
  override name = 'SystemError';
  constructor(
    readonly syscall: string,
    readonly code: string,
    readonly errno: number,
    detail: string,
  ) {
    super(`${syscall}: ${code}${detail ? ` (${detail})` : ''}`);
  }
}

/** The kernel refused an rtnetlink request: errno plus the extended-ack message, if it gave one. */
export class NetlinkError extends Error {
  override name = 'NetlinkError';
  constructor(
    readonly request: string,
    readonly code: string,
    readonly errno: number,
    readonly extack: string | undefined,
  ) {
    super(`${request}: ${code}${extack ? `: ${extack}` : ''}`);
  }
}

/** Something did not happen in time (no RA, no netlink reply). */
export class TimeoutError extends Error {
  override name = 'TimeoutError';
}

/** The node-level errno shape the addon throws. */
export interface ErrnoLike {
  code?: unknown;
  errno?: unknown;
  syscall?: unknown;
  message: string;
}

export function isErrno(err: unknown, code: string): boolean {
  return typeof err === 'object' && err !== null && (err as ErrnoLike).code === code;
}

/**
 * Run a removal that may find its object already gone (ENOENT, ESRCH, ENODEV; EADDRNOTAVAIL for
 * an address): that is success.
 * Any other failure is returned as its message, for the caller to report as a warning.
 */
export function removeUnlessGone(fn: () => void): string | undefined {
  try {
    fn();
    return undefined;
  } catch (err) {
    if (['ENOENT', 'ESRCH', 'ENODEV', 'EADDRNOTAVAIL'].some((code) => isErrno(err, code))) return undefined;
    return (err as Error).message;
  }
}

/** Throw the failures `removeUnlessGone` returned, as one error (none: nothing). */
export function throwFailures(failures: (string | undefined)[]): void {
  const real = failures.filter((f): f is string => f !== undefined);
  if (real.length) throw new Error(real.join('; '));
}

/**
 * Like Promise.all, but waits for every promise to settle before throwing the first failure: no
 * sibling may still be acting (installing, recording) once the caller starts to undo.
 */
export async function settleAll<T>(promises: Promise<T>[]): Promise<T[]> {
  const settled = await Promise.allSettled(promises);
  const failed = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected');
  if (failed) throw failed.reason;
  return settled.map((s) => (s as PromiseFulfilledResult<T>).value);
}

export function oneLine(err: unknown): string {
  const text = err instanceof Error ? err.message : String(err);
  return text.replace(/\s*\n\s*/g, ' ').trim();
}
