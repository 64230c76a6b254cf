/**
 * Processes as records keep them: a pid with its start time, so that a record outliving its
 * process is never mistaken for a live one when the pid is reused.
 */
import * as fs from 'node:fs';
import type { ProcessRef } from '../core/record';

/** The fields of /proc/PID/stat after COMM (field 3, the state, first); undefined when there is no such process. */
function statFields(pid: number): string[] | undefined {
  let stat: string;
  try {
    stat = fs.readFileSync(`/proc/${pid}/stat`, 'latin1');
  } catch {
    return undefined;
  }
  // "PID (COMM) STATE PPID …": COMM may hold spaces and parentheses; the fields follow its last ')'.
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
}

/** starttime (clock ticks after boot), field 22 of /proc/PID/stat. */
const startTime = (pid: number): string | undefined => statFields(pid)?.[19]; // the 20th after COMM

/** The parent of process `pid` (field 4 of /proc/PID/stat); undefined when there is no such process. */
export function parentPid(pid: number): number | undefined {
  const ppid = Number(statFields(pid)?.[1]);
  return Number.isInteger(ppid) && ppid > 0 ? ppid : undefined;
}

/** The process `pid` as it is now; undefined when there is none. */
export function processRef(pid: number): ProcessRef | undefined {
  if (!Number.isInteger(pid) || pid <= 0) return undefined;
  const start = startTime(pid);
  return start === undefined ? undefined : { pid, start };
}

/** The process a record names is still running (the same one, not a later process given its pid). */
export function processAlive(ref: ProcessRef): boolean {
  return startTime(ref.pid) === ref.start;
}

const sameFile = (a: string, b: string): boolean => {
  const x = fs.statSync(a);
  const y = fs.statSync(b);
  return x.dev === y.dev && x.ino === y.ino;
};

/**
 * Why process `pid` does not see paths and pids as this one does, or undefined when it does: the
 * same pid namespace (a pid it names is ours) and the same root directory (a path it names is
 * ours). Mount namespaces may differ (`ip netns exec` makes one for /sys alone).
 */
export function otherView(pid: number): string | undefined {
  try {
    if (!sameFile(`/proc/${pid}/ns/pid`, '/proc/self/ns/pid')) return `process ${pid} is in another pid namespace`;
    if (!sameFile(`/proc/${pid}/root`, '/')) return `process ${pid} has another root directory`;
  } catch (err) {
    return `cannot see process ${pid}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`;
  }
  return undefined;
}
